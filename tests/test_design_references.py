"""Every Markdown file that django_zcrm's docstrings and comments name exists in the repository.

The design rules the code follows live in ``docs/design/``; a reference to a note a maintainer
cannot open (background research kept outside the repository) is a broken link.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MD_RE = re.compile(r"[\w./-]+\.md\b")


def cited_notes() -> dict[str, list[str]]:
    """``note name -> ["file:line", ...]`` for every ``*.md`` named in the package's sources."""
    cited: dict[str, list[str]] = {}
    for path in sorted((ROOT / "django_zcrm").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for name in MD_RE.findall(line):
                cited.setdefault(name, []).append(f"{path.relative_to(ROOT)}:{number}")
    return cited


def exists_in_repository(name: str) -> bool:
    """A path relative to the repository root, or a bare file name found in it (not in .venvs)."""
    if (ROOT / name).is_file():
        return True
    return any(
        p.is_file() and not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
        for p in ROOT.glob(f"**/{Path(name).name}")
    )


def test_every_markdown_file_named_in_the_package_exists_in_the_repository():
    missing = {
        name: where for name, where in cited_notes().items() if not exists_in_repository(name)
    }
    assert not missing, "Docstrings cite notes that are not in the repository: " + "; ".join(
        f"{name} (at {', '.join(where)})" for name, where in sorted(missing.items())
    )


def test_the_package_cites_the_design_notes():
    cited = cited_notes()
    assert any(name.startswith("docs/design/") for name in cited), sorted(cited)
    assert not {"reliability.md", "zoho-api.md"} & {Path(n).name for n in cited}
