"""Smoke tests for benchmarks/crm_benchmark.py: tiny runs, so the benchmark cannot rot unnoticed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Runs its own project or process on its own database: once, in the SQLite run.
pytestmark = pytest.mark.once

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARK = REPO_ROOT / "benchmarks" / "crm_benchmark.py"
# 2,100 Leads: eleven pages, so the run goes past the 2,000-record page cap.
SMALL = [
    "--records",
    "2100",
    "--create",
    "150",
    "--rounds",
    "1",
    "--connect-delay",
    "0.001",
    "--request-delay",
    "0",
]


def run_benchmark(
    tmp_path: Path, *args: str, sdk_python: str | None = None
) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if k not in ("ZCRMSDK_PYTHON", "DJANGO_SETTINGS_MODULE")
    }
    if sdk_python is not None:
        env["ZCRMSDK_PYTHON"] = sdk_python
    return subprocess.run(
        [sys.executable, str(BENCHMARK), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )


def rows_by_key(report: dict) -> dict[tuple[str, str], dict]:
    return {(row["implementation"], row["operation"]): row for row in report["rows"]}


def test_small_benchmark_prints_table_with_request_and_connection_counts(tmp_path):
    out = tmp_path / "result.json"
    done = run_benchmark(tmp_path, *SMALL, "--json", str(out))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "implementation  operation" in done.stdout
    assert "target <= 1.15x" in done.stdout
    assert "zcrmsdk 3.1.0 not compared: set ZCRMSDK_PYTHON" in done.stdout
    rows = rows_by_key(json.loads(out.read_text()))
    assert set(rows) == {
        ("django-zcrm", "list"),
        ("bare requests", "list"),
        ("django-zcrm", "create"),
        ("bare requests", "create"),
    }
    for implementation in ("django-zcrm", "bare requests"):
        assert rows[(implementation, "list")]["requests"] == 11
        assert rows[(implementation, "create")]["requests"] == 2
        assert rows[(implementation, "list")]["connections"] == 1
        assert rows[(implementation, "list")]["problems"] == []
        assert rows[(implementation, "create")]["problems"] == []
    assert rows[("bare requests", "list")]["ratio"] == pytest.approx(1.0)
    assert rows[("django-zcrm", "list")]["verdict"] in ("PASS", "FAIL")
    assert rows[("django-zcrm", "create")]["ratio"] > 0


def test_unusable_sdk_python_is_reported_and_nothing_runs(tmp_path):
    # This venv has no zcrmsdk: the benchmark must say so instead of silently skipping it.
    done = run_benchmark(tmp_path, *SMALL, sdk_python=sys.executable)

    assert done.returncode == 2
    assert "cannot import zcrmsdk" in done.stderr
    assert "implementation  operation" not in done.stdout


@pytest.mark.skipif(
    not os.environ.get("ZCRMSDK_PYTHON"),
    reason="set ZCRMSDK_PYTHON to a Python with zcrmsdk==3.1.0 (see benchmarks/README.md)",
)
def test_zcrmsdk_rows_are_printed_beside_ours_when_the_sdk_is_available(tmp_path):
    out = tmp_path / "result.json"
    done = run_benchmark(
        tmp_path, *SMALL, "--json", str(out), sdk_python=os.environ["ZCRMSDK_PYTHON"]
    )

    assert done.returncode == 0, done.stdout + done.stderr
    rows = rows_by_key(json.loads(out.read_text()))
    sdk_list = rows[("zcrmsdk 3.1.0", "list")]
    assert sdk_list["requests"] == 11 and sdk_list["problems"] == []
    # The SDK opens one connection per request (module-level requests.get/post).
    assert sdk_list["connections"] == 11
    assert rows[("zcrmsdk 3.1.0", "create")]["requests"] == 2


# --------------------------------------------------------------------------------------------------
# benchmarks/sync_benchmark.py
# --------------------------------------------------------------------------------------------------

SYNC_BENCHMARK = REPO_ROOT / "benchmarks" / "sync_benchmark.py"


def run_sync_benchmark(tmp_path: Path, *args: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, str(SYNC_BENCHMARK), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )


def test_quick_sync_benchmark_prints_table_and_flat_memory_verdict(tmp_path):
    out = tmp_path / "sync.json"
    done = run_sync_benchmark(tmp_path, "--quick", "--json", str(out))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "backend  records  seconds  records/s  API calls" in done.stdout
    assert "memory flat, sqlite: traced peak" in done.stdout
    assert done.stdout.rstrip().endswith("PASS")
    report = json.loads(out.read_text())
    rows = {(row["backend"], row["records"]): row for row in report["rows"]}
    assert set(rows) == {("sqlite", 500), ("sqlite", 2500)}
    for (_, records), row in rows.items():
        assert row["problems"] == []
        assert row["rows_in_db"] == records
        # One call per 200-record page, plus one for the deleted-records listing.
        assert row["api_calls"] == -(-records // 200) + 1
        assert row["records_per_second"] > 0
        assert row["peak_rss_mib"] > 0 and row["traced_peak_mib"] > 0
    assert [v["verdict"] for v in report["verdicts"]] == ["PASS"]


def test_sync_benchmark_skips_unreachable_mysql_unless_required(tmp_path):
    unreachable = {"ZCRM_MYSQL_HOST": "127.0.0.1", "ZCRM_MYSQL_PORT": "9"}

    skipped = run_sync_benchmark(tmp_path, "--backends", "mysql", "--sizes", "10", **unreachable)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "SKIPPED mysql: " in skipped.stdout

    required = run_sync_benchmark(
        tmp_path, "--backends", "mysql", "--sizes", "10", "--require-mysql", **unreachable
    )
    assert required.returncode == 1
    assert "MariaDB/MySQL is required (--require-mysql)" in required.stderr


# --------------------------------------------------------------------------------------------------
# benchmarks/notify_benchmark.py
# --------------------------------------------------------------------------------------------------

NOTIFY_BENCHMARK = REPO_ROOT / "benchmarks" / "notify_benchmark.py"


def test_quick_notify_benchmark_stores_and_processes_every_callback(tmp_path):
    out = tmp_path / "notify.json"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, str(NOTIFY_BENCHMARK), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "callbacks  senders  db" in done.stdout
    report = json.loads(out.read_text())
    assert report["answered_200"] == report["stored"] == report["processed"] == 200
    assert report["rows"] == 200
    assert report["median_ms"] > 0
