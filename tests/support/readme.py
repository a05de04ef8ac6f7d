"""Follow README.md the way a person would: in a brand-new project, block by block.

The README marks each block meant to run with ``<!-- readme-example: KIND -->`` on the line
before its fence. :class:`Follower` runs the kinds that need a project (see
``tests/test_readme_examples.py`` for the list); the other kinds are run in-process by the tests.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_PORT = "8765"  # the port the README gives the fake; the tests use a free one

MARK_RE = re.compile(r"^<!--\s*readme-example:\s*([\w-]+)\s*-->\s*$")
FENCE_RE = re.compile(r"^```(\w*)\s*$")
HEADING_RE = re.compile(r"^(#{2,3}) (.+)$")

#: Kinds the Follower runs in a project (in README order).
PROJECT_KINDS = frozenset({"setup", "file", "append", "commands", "fake-server-command", "shell"})
#: Lines of a setup block the test environment stands in for (the checkout is on PYTHONPATH).
ENVIRONMENT_LINES = ("python -m venv", "python3 -m venv", "source ", ". ", "pip install")

#: Runs a shell block in a fresh ``manage.py shell``, as if pasted line by line at its prompt
#: (``code.interact``, the console Django's shell opens without IPython): a compound statement
#: needs a blank line after it, and the first error stops the paste with exit status 1.
PASTE_DRIVER = textwrap.dedent(
    """
    import code, os, sys

    class _Paste(code.InteractiveConsole):
        failed = False

        def showtraceback(self):
            self.failed = True
            super().showtraceback()

        def showsyntaxerror(self, filename=None, **kwargs):
            self.failed = True
            super().showsyntaxerror(filename, **kwargs)

    _console = _Paste(globals())
    _more = False
    with open(os.environ["README_BLOCK"], encoding="utf-8") as _block:
        for _line in _block.read().splitlines():
            _more = _console.push(_line)
            if _console.failed:
                sys.exit(1)
    if _more:
        _console.push("")
    if _console.failed:
        sys.exit(1)
    """
)


@dataclass(frozen=True)
class Block:
    """One fenced block of the README."""

    kind: str | None
    lang: str
    code: str
    line: int  # 1-based line of the opening fence
    section: str  # the "## " heading it sits under
    subsection: str  # the "### " heading, or ""

    def __str__(self) -> str:
        return f"README.md line {self.line} ({self.kind})"


def readme_text() -> str:
    """The README, as committed."""
    return README.read_text(encoding="utf-8")


def readme_blocks(text: str | None = None) -> list[Block]:
    """Every fenced block with its readme-example kind (None when unmarked) and section."""
    lines = (readme_text() if text is None else text).splitlines()
    blocks: list[Block] = []
    section = subsection = ""
    i = 0
    while i < len(lines):
        heading = HEADING_RE.match(lines[i])
        if heading:
            if heading.group(1) == "##":
                section, subsection = heading.group(2).strip(), ""
            else:
                subsection = heading.group(2).strip()
        match = FENCE_RE.match(lines[i])
        if not match:
            i += 1
            continue
        start = end = i
        end += 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        mark = MARK_RE.match(lines[start - 1]) if start else None
        blocks.append(
            Block(
                mark.group(1) if mark else None,
                match.group(1),
                "\n".join(lines[start + 1 : end]) + "\n",
                start + 1,
                section,
                subsection,
            )
        )
        i = end + 1
    return blocks


def examples(*kinds: str, section: str | None = None) -> list[Block]:
    """The blocks marked with one of ``kinds`` (in one ``## section`` when given)."""
    found = [
        b for b in readme_blocks() if b.kind in kinds and (section is None or b.section == section)
    ]
    assert found, f"README.md has no block marked readme-example: {', '.join(kinds)}"
    return found


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def file_of(block: Block) -> str:
    """The path a ``file``/``append`` block names in its first line: ``# mysite/urls.py ...``."""
    first = block.code.splitlines()[0]
    found = re.match(r"^#\s*([\w./-]+)", first)
    assert found, f"{block}: the first line must name the file, e.g. '# mysite/settings.py'"
    return found.group(1).rstrip(",:")


@dataclass
class Ran:
    """One command or shell block that ran, and what it printed."""

    what: str
    output: str
    block: Block


class FakeProcess:
    """``manage.py zcrm_fake_server ...`` started as the README says, in the background."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.args, self.cwd, self.env = args, cwd, env
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.wait_for("Press Ctrl-C")

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float = 60) -> str:
        """The first line starting with ``prefix``; AssertionError with the output after timeout."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"the fake never printed {prefix!r}: {self.seen}") from None
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def stop(self) -> None:
        """Ctrl-C, as a person stops it; waits until the state file is written."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=30)
        while not self.lines.empty():
            self.seen.append(self.lines.get_nowait())


@dataclass
class Follower:
    """Runs README blocks in ``workdir`` the way a person would, against a fake on ``port``.

    ``start_fake`` is called with the argument list of the README's ``zcrm_fake_server`` line
    (the port already replaced) when that line comes up; a person runs it in another terminal.
    """

    workdir: Path
    port: int
    start_fake: Callable[[list[str], Path], None]
    extra_env: dict[str, str] = field(default_factory=dict)
    cwd: Path = field(init=False)
    ran: list[Ran] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cwd = self.workdir

    @property
    def env(self) -> dict[str, str]:
        """A clean environment: the test's Python first on PATH, the checkout importable."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ZCRM_", "DJANGO_", "PYTEST_")) and k != "PYTHONPATH"
        }
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONPATH"] = str(ROOT)  # "pip install -e path/to/django-zcrm"
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        return env

    def localise(self, text: str) -> str:
        """The README's fake port replaced by this run's."""
        return text.replace(f"127.0.0.1:{README_PORT}", f"127.0.0.1:{self.port}").replace(
            f"--port {README_PORT}", f"--port {self.port}"
        )

    # -- kinds ------------------------------------------------------------------------------------

    def run(self, block: Block) -> None:
        """Run one block according to its kind."""
        handler = {
            "setup": self.setup,
            "file": self.write_file,
            "append": self.append_file,
            "commands": self.commands,
            "fake-server-command": self.commands,
            "shell": self.shell,
        }.get(block.kind or "")
        assert handler is not None, f"{block}: the follower does not run kind {block.kind!r}"
        handler(block)

    def setup(self, block: Block) -> None:
        """Environment lines are the test's job; ``startproject`` once; ``cd`` moves."""
        self.cwd = self.workdir  # a setup block starts where the person started
        for line in _command_lines(block):
            for part in (p.strip() for p in line.split("&&")):
                if part.startswith(ENVIRONMENT_LINES):
                    continue
                words = shlex.split(part, comments=True)
                if words[:1] == ["cd"]:
                    self.cwd = (self.cwd / words[1]).resolve()
                elif words[:2] == ["django-admin", "startproject"]:
                    if not (self.cwd / words[2]).exists():  # done already on a second pass
                        self._bash(block, part)
                else:
                    self._bash(block, part)

    def write_file(self, block: Block) -> None:
        """A whole file, as the block shows it."""
        path = self.cwd / file_of(block)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.localise(block.code), encoding="utf-8")

    def append_file(self, block: Block) -> None:
        """Lines added at the end of a file (once: a second pass finds them there)."""
        path = self.cwd / file_of(block)
        text = path.read_text(encoding="utf-8")
        addition = self.localise(block.code)
        if addition not in text:
            path.write_text(text.rstrip("\n") + "\n\n" + addition, encoding="utf-8")

    def commands(self, block: Block) -> None:
        """Each line in bash, in the project; the fake's line goes to ``start_fake``."""
        for line in _command_lines(block):
            if "zcrm_fake_server" in line:
                words = shlex.split(self.localise(line), comments=True)
                words = [w for w in words if w != "&"]
                self.start_fake(words, self.cwd)
                continue
            self._bash(block, line)

    def shell(self, block: Block) -> str:
        """The block pasted into a fresh ``python manage.py shell``; returns what it printed."""
        path = self.workdir / f"readme-block-{block.line}.py"
        path.write_text(self.localise(block.code), encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", PASTE_DRIVER],
            cwd=self.cwd,
            env={**self.env, "README_BLOCK": str(path)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        output = result.stdout + result.stderr
        if result.returncode != 0:
            raise AssertionError(
                f"{block} failed when pasted into `python manage.py shell`:\n{output}\n"
                f"--- the block ---\n{block.code}"
            )
        self.ran.append(Ran(f"shell: README.md line {block.line}", output, block))
        return output

    def _bash(self, block: Block, line: str) -> str:
        command = self.localise(line)
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        output = result.stdout + result.stderr
        if result.returncode != 0:
            raise AssertionError(f"{block}: `{line}` exited {result.returncode}:\n{output}")
        self.ran.append(Ran(line, output, block))
        return output

    def output_of(self, command: str) -> str:
        """What the first run of ``command`` (as the README writes it) printed."""
        wanted = shlex.split(command, comments=True)
        found = [r.output for r in self.ran if _words(r.what) == wanted]
        assert found, f"the README no longer runs `{command}`; ran {[r.what for r in self.ran]}"
        return found[0]


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return []


def _command_lines(block: Block) -> list[str]:
    """A bash block's commands: comments and blank lines dropped, continuations joined."""
    lines, pending = [], ""
    for raw in block.code.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line and not line.startswith("#"):
            lines.append(line)
    return lines
