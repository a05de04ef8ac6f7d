"""Done-when of the README's "Use it in your own project": a newcomer following it succeeds.

A brand-new project is made with ``django-admin startproject`` in a temporary folder, the app
importable from this checkout (PYTHONPATH stands in for ``pip install -e``), and every command and
block of that section runs in order, twice, against the fake started exactly as the section says
(``manage.py zcrm_fake_server ... --state-file fake-zoho.json``, a separate process). Between the
two passes the fake is stopped with Ctrl-C and started again: the stored tokens must still work.
How the blocks are run: ``tests/support/readme.py`` (and the docstring of
``tests/test_readme_examples.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.readme import PROJECT_KINDS, FakeProcess, Follower, examples, free_port

# Runs its own project or process on its own database: once, in the SQLite run.
pytestmark = pytest.mark.once

SECTION = "Use it in your own project"


class Terminal:
    """The second terminal where the README has the newcomer run the fake."""

    def __init__(self) -> None:
        self.fake: FakeProcess | None = None
        self.command: tuple[list[str], Path] | None = None
        self.env: dict[str, str] = {}

    def start(self, args: list[str], cwd: Path) -> None:
        if self.fake is not None and self.fake.proc.poll() is None:
            return  # still running from the first pass, as a person leaves it
        self.command = (args, cwd)
        self.fake = FakeProcess(args, cwd, self.env)

    def restart(self) -> FakeProcess:
        assert self.fake is not None and self.command is not None
        self.fake.stop()
        assert any(line.startswith("Saved tokens and records to") for line in self.fake.seen)
        self.fake = FakeProcess(*self.command, self.env)
        return self.fake

    def close(self) -> None:
        if self.fake is not None:
            self.fake.stop()


@pytest.mark.slow
def test_a_newcomer_following_the_readme_gets_a_working_project_twice(tmp_path: Path) -> None:
    blocks = examples(*PROJECT_KINDS, section=SECTION)
    assert [b.kind for b in blocks][:2] == ["setup", "append"], "the section starts elsewhere"
    assert {b.kind for b in blocks} >= {"fake-server-command", "commands", "shell", "file"}
    terminal = Terminal()
    follower = Follower(tmp_path, free_port(), terminal.start)
    terminal.env = follower.env
    try:
        for block in blocks:
            follower.run(block)
        project = follower.cwd
        assert (project / "manage.py").is_file() and project.parent == tmp_path
        first_sync = follower.output_of("python manage.py zcrm_sync Leads")
        assert first_sync.startswith("Leads -> django_zcrm.crmrecord: 2500 created")
        assert "valid" in follower.output_of("python manage.py zcrm_token_status")

        restarted = terminal.restart()
        assert (project / "fake-zoho.json").stat().st_size > 0  # written at Ctrl-C
        assert any(line.startswith("Loaded tokens and records from") for line in restarted.seen)
        # The tokens stored before the restart still work: a refresh at the restarted fake.
        before = len(follower.ran)
        follower._bash(blocks[-1], "python manage.py zcrm_refresh_token")
        follower._bash(blocks[-1], "python manage.py zcrm_token_status")
        assert "needs_reauth" not in follower.ran[-1].output
        assert "valid" in follower.ran[-1].output

        for block in blocks:  # the whole section again, in the same folder
            follower.run(block)
        second = "\n".join(r.output for r in follower.ran[before:])
        assert "Leads -> django_zcrm.crmrecord: 0 created" in second  # the records survived too
        assert "admin@example.com" in second
    finally:
        terminal.close()
