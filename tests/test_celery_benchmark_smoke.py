"""Smoke test for benchmarks/celery_benchmark.py: a tiny run, so the benchmark cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .support.redis_gate import require_redis

# Runs its own project or process on its own database: once, in the SQLite run.
pytestmark = pytest.mark.once

require_redis("The Celery benchmark smoke test (tests/test_celery_benchmark_smoke.py)")

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARK = REPO_ROOT / "benchmarks" / "celery_benchmark.py"


@pytest.mark.slow
def test_small_run_prints_the_speed_up_table(tmp_path):
    out = tmp_path / "result.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARK),
            "--records",
            "250",
            "--request-delay",
            "0.01",
            "--workers",
            "1",
            "2",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env=env,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "workers  wall s  records/s  speed-up" in done.stdout
    assert "within your edition's concurrent-call limit" in done.stdout
    rows = json.loads(out.read_text())["rows"]
    assert [r["workers"] for r in rows] == [1, 2]
    assert all(r["records"] == 1000 and not r["problems"] for r in rows)
    # 2 pages per module (250 records) plus the deleted-records sweep: 3 requests each.
    assert all(r["requests"] == 12 for r in rows)
    assert [r["peak_in_flight"] <= r["workers"] for r in rows] == [True, True]
