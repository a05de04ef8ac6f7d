"""Imports inside django_zcrm flow one way: no cycle, and no sibling imported inside a function.

The graph counts every import statement wherever it stands (module level, inside functions,
under ``if TYPE_CHECKING``), with relative imports resolved and ``from pkg import submodule``
counted as an import of the submodule. Importing ``a.b.c`` also runs the packages ``a`` and
``a.b`` first, so it adds edges to those packages too, except to packages the importer itself
lives in (they are already running by then, so a package ``__init__`` importing its own
submodules is not a cycle).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "django_zcrm"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

# Where a function-level import of a sibling is the right tool: AppConfig.ready() runs once the
# app registry is ready, and testing/ is a separate tool shipped with the package.
FUNCTION_IMPORTS_ALLOWED = (f"{PACKAGE}.apps", f"{PACKAGE}.testing")


@dataclass(frozen=True)
class Import:
    """One import of a package module by another."""

    importer: str
    imported: str
    line: int
    in_function: bool
    parent_of: str = ""  # set when ``imported`` is only run as the package of this module


def module_name(path: Path) -> str:
    """``django_zcrm/sync/engine.py`` -> ``django_zcrm.sync.engine`` (packages drop __init__)."""
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    """Every module of the package (migrations included: they are imported too)."""
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _resolve(importer: str, is_package: bool, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _target(dotted: str, modules: dict[str, Path]) -> str | None:
    """The package module ``dotted`` names, or its closest importable parent."""
    while dotted:
        if dotted in modules:
            return dotted
        dotted = dotted.rpartition(".")[0]
    return None


def _packages_run_first(importer: str, target: str, modules: dict[str, Path]) -> list[str]:
    """The packages Python imports before ``target`` that ``importer`` is not already inside."""
    parts = target.split(".")
    packages = [".".join(parts[:n]) for n in range(1, len(parts))]
    return [
        package
        for package in packages
        if package in modules and not (importer + ".").startswith(package + ".")
    ]


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import of another package module in ``path``, flagged when it stands in a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(name, path.name == "__init__.py", child.level, child.module)
                # ``from pkg import sub`` imports the submodule ``pkg.sub`` when it is one.
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in child.names
                ]
            for dotted in targets:
                target = _target(dotted, modules) if dotted.startswith(PACKAGE) else None
                if target and target != name:
                    found.append(Import(name, target, child.lineno, in_function))
                    found.extend(
                        Import(name, package, child.lineno, in_function, parent_of=target)
                        for package in _packages_run_first(name, target, modules)
                    )
            visit(child, nested)

    visit(tree, False)
    return found


def import_graph() -> tuple[dict[str, set[str]], list[Import]]:
    """The package's import graph (module -> modules it imports) and every import behind it."""
    modules = package_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    every: list[Import] = []
    for name, path in modules.items():
        for imp in imports_of(name, path, modules):
            graph[name].add(imp.imported)
            every.append(imp)
    return graph, every


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_one_cycle(graph, set(component)) for component in components]


def knots(graph: dict[str, set[str]]) -> list[set[str]]:
    """Every group of modules that reach each other (the members of the cycles above)."""
    return [set(cycle) | _reach_back(graph, cycle[0]) for cycle in find_cycles(graph)]


def _reach_back(graph: dict[str, set[str]], start: str) -> set[str]:
    def reachable(origin: str, edges: dict[str, set[str]]) -> set[str]:
        seen, todo = {origin}, [origin]
        while todo:
            for successor in edges[todo.pop()]:
                if successor not in seen:
                    seen.add(successor)
                    todo.append(successor)
        return seen

    reverse: dict[str, set[str]] = {node: set() for node in graph}
    for node, successors in graph.items():
        for successor in successors:
            reverse[successor].add(node)
    return reachable(start, graph) & reachable(start, reverse)


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A concrete path a -> b -> ... -> a inside one strongly connected component."""
    start = min(component)
    # Breadth-first from start back to start, staying inside the component: the shortest cycle.
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(graph[node] & component):
                if successor == start:
                    return paths[node] + [start]
                if successor not in paths:
                    paths[successor] = paths[node] + [successor]
                    following.append(successor)
        frontier = following
    return sorted(component)  # not reached: a component of size > 1 always has a cycle


def _describe(cycle: list[str], every: list[Import]) -> str:
    steps = []
    for importer, imported in zip(cycle, cycle[1:], strict=False):
        candidates = [imp for imp in every if (imp.importer, imp.imported) == (importer, imported)]
        # Prefer the explicit import over the implicit package run, for a readable report.
        where = min(candidates, key=lambda imp: bool(imp.parent_of), default=None)
        place = ""
        if where is not None:
            how = f", as the package of {where.parent_of}" if where.parent_of else ""
            place = f" (line {where.line}{', in a function' if where.in_function else ''}{how})"
        steps.append(f"{importer} imports {imported}{place}")
    return " -> ".join(cycle) + "\n      " + "\n      ".join(steps)


def _allowed_in_function(importer: str) -> bool:
    return any(importer == m or importer.startswith(m + ".") for m in FUNCTION_IMPORTS_ALLOWED)


def test_the_import_graph_of_django_zcrm_has_no_cycle():
    graph, every = import_graph()
    cycles = find_cycles(graph)
    report = [
        _describe(cycle, every) + "\n    modules in this knot: " + ", ".join(sorted(knot))
        for cycle, knot in zip(cycles, knots(graph), strict=True)
    ]
    assert not cycles, "import cycles in django_zcrm (function-level imports count):\n  " + (
        "\n  ".join(report)
    )


def test_no_module_imports_a_sibling_inside_a_function():
    _, every = import_graph()
    offenders = [
        f"{imp.importer}:{imp.line} imports {imp.imported} inside a function"
        for imp in every
        if imp.in_function and not imp.parent_of and not _allowed_in_function(imp.importer)
    ]
    assert not offenders, "move these imports to the top of their module:\n  " + "\n  ".join(
        offenders
    )


def test_the_graph_sees_relative_function_level_and_submodule_imports(tmp_path, monkeypatch):
    # The checker checks itself on a tiny package, so a pass above means something.
    package = tmp_path / PACKAGE
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from . import b\n")
    (package / "b.py").write_text("def f():\n    from .sub import c\n")
    (package / "sub" / "__init__.py").write_text("from . import c\n")
    (package / "sub" / "c.py").write_text(f"import {PACKAGE}.a\n")
    (package / "d.py").write_text("from .sub.c import x\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", package)
    graph, every = import_graph()
    assert graph[f"{PACKAGE}.a"] == {f"{PACKAGE}.b"}
    assert graph[f"{PACKAGE}.b"] == {f"{PACKAGE}.sub", f"{PACKAGE}.sub.c"}
    assert graph[f"{PACKAGE}.sub"] == {f"{PACKAGE}.sub.c"}
    # Importing sub.c from outside runs the package sub first; from inside sub it does not.
    assert graph[f"{PACKAGE}.d"] == {f"{PACKAGE}.sub", f"{PACKAGE}.sub.c"}
    assert [(imp.line, imp.parent_of) for imp in every if imp.in_function] == [
        (2, ""),
        (2, f"{PACKAGE}.sub.c"),
    ]
    assert find_cycles(graph) == [
        [f"{PACKAGE}.a", f"{PACKAGE}.b", f"{PACKAGE}.sub.c", f"{PACKAGE}.a"]
    ]
