"""Smoke tests for benchmarks/crm_benchmark.py: tiny runs, so the benchmark cannot rot unnoticed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARK = REPO_ROOT / "benchmarks" / "crm_benchmark.py"
# 2,100 Leads: eleven pages, so the run goes past the 2,000-record page cap.
SMALL = ["--records", "2100", "--create", "150", "--rounds", "1",
         "--connect-delay", "0.001", "--request-delay", "0"]


def run_benchmark(tmp_path: Path, *args: str, sdk_python: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("ZCRMSDK_PYTHON", "DJANGO_SETTINGS_MODULE")}
    if sdk_python is not None:
        env["ZCRMSDK_PYTHON"] = sdk_python
    return subprocess.run([sys.executable, str(BENCHMARK), *args], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=env)


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
    assert set(rows) == {("django-zcrm", "list"), ("bare requests", "list"),
                         ("django-zcrm", "create"), ("bare requests", "create")}
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


@pytest.mark.skipif(not os.environ.get("ZCRMSDK_PYTHON"),
                    reason="set ZCRMSDK_PYTHON to a Python with zcrmsdk==3.1.0 (see benchmarks/README.md)")
def test_zcrmsdk_rows_are_printed_beside_ours_when_the_sdk_is_available(tmp_path):
    out = tmp_path / "result.json"
    done = run_benchmark(tmp_path, *SMALL, "--json", str(out), sdk_python=os.environ["ZCRMSDK_PYTHON"])

    assert done.returncode == 0, done.stdout + done.stderr
    rows = rows_by_key(json.loads(out.read_text()))
    sdk_list = rows[("zcrmsdk 3.1.0", "list")]
    assert sdk_list["requests"] == 11 and sdk_list["problems"] == []
    # The SDK opens one connection per request (module-level requests.get/post).
    assert sdk_list["connections"] == 11
    assert rows[("zcrmsdk 3.1.0", "create")]["requests"] == 2
