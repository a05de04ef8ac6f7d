"""Smoke test for benchmarks/fetch_benchmark.py: a tiny run, so the benchmark cannot rot unnoticed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Runs its own project or process on its own database: once, in the SQLite run.
pytestmark = pytest.mark.once

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARK = REPO_ROOT / "benchmarks" / "fetch_benchmark.py"


def test_the_fetch_benchmark_prints_one_row_per_strategy():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCHMARK),
            "--sizes",
            "300",
            "--latencies",
            "0",
            "--connect-ms",
            "0",
            "--strategies",
            "sequential,coql,bulk,planner,coql-nowrite",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| 300 |")]
    strategies = [row.split("|")[3].strip() for row in rows]
    assert [s.split(" ")[0] for s in strategies] == [
        "bound",
        "sequential",
        "coql",
        "bulk",
        "planner",
        "coql-nowrite",
    ]
    assert "planner (rest)" in strategies  # 300 known records < SYNC_COQL_MIN_RECORDS
