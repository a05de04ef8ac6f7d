"""The README's first command, ``bash scripts/demo.sh``, does what the README says."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# Runs its own project or process on its own database: once, in the SQLite run.
pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_stores_tokens_then_syncs_leads_and_an_incremental_change(tmp_path):
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "FAKE_ZOHO_PORT": str(_free_port()),
        "TMPDIR": str(tmp_path),
    }
    for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "ZCRM_TEST_DB"):
        env.pop(name, None)
    done = subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Stored Zoho tokens for admin@example.com" in out
    assert "state=valid" in out and "access=****" in out
    assert "Leads -> crm.lead: 500 created" in out
    assert "0 created, 1 updated, 0 deleted" in out
    assert "500 Leads stored locally; 1 shows the change" in out
