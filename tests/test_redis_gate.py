"""Without Redis the real-worker Celery tests skip loudly; where Redis is required they fail."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("celery", reason="Celery is not installed")

ROOT = Path(__file__).resolve().parent.parent


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_worker_tests(**env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("CI", "ZCRM_REQUIRE_REDIS")}
    environment.update(
        ZCRM_TEST_REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0", PYTHONPATH=str(ROOT), **env
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_celery_workers.py",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_missing_redis_skips_with_a_warning_and_a_banner():
    done = run_worker_tests()

    # 5: pytest's "no tests ran", since the whole module was skipped (not a failure).
    assert done.returncode in (0, 5), done.stdout + done.stderr
    assert "1 skipped" in done.stdout and "RedisMissingWarning" in done.stdout
    banner = "The Celery real-worker tests (tests/test_celery_workers.py) SKIPPED: no Redis"
    assert any(line.startswith("#") and banner in line for line in done.stdout.splitlines())
    assert "redis-server --daemonize yes" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("env", [{"CI": "true"}, {"ZCRM_REQUIRE_REDIS": "1"}])
def test_missing_redis_fails_where_it_is_required(env):
    done = run_worker_tests(**env)

    assert done.returncode != 0
    assert "need Redis and it is required here" in done.stdout
