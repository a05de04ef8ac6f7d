"""The README's Security examples run when pasted into ``manage.py shell`` of the sample project."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .test_readme_examples import ROOT, examples

# Runs its own project or process on its own database: once, in the SQLite run.
pytestmark = pytest.mark.once


@pytest.mark.slow
def test_security_examples_run_in_the_sample_project_shell(tmp_path):
    blocks = examples("security")
    assert len(blocks) == 2
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "sample_project.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'sample.sqlite3'}",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("ZCRM_TEST_DB_NAME_OVERRIDE", None)

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"manage.py {args[0]} failed: {done.stderr[-2000:]}"
        return done.stdout

    manage("migrate", "--verbosity", "0")
    # The shell may first say which objects it imported; the example prints the last line.
    key = manage("shell", "-c", blocks[0].code).strip().splitlines()[-1]
    assert len(key) == 44, key
    report = manage("shell", "-c", blocks[1].code)
    assert "database 'default': 0 checked, would rewrite 0" in report
