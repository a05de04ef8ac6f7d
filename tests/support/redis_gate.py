"""Skip the real-worker Celery tests loudly when Redis is not there, or fail when it must be.

A newcomer's laptop without Redis gets a skip, a pytest warning and a banner in the terminal
summary (like the MySQL run in scripts/test.sh); with ``CI=true`` or ``ZCRM_REQUIRE_REDIS=1`` a
missing Redis (or a missing ``celery``/``redis`` package) fails the run instead.
"""

from __future__ import annotations

import os
import warnings

import pytest

REDIS_URL = os.environ.get("ZCRM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_skipped: list[str] = []


class RedisMissingWarning(UserWarning):
    """The Celery worker tests did not run: no Redis (or no celery/redis package)."""


def redis_problem(url: str = REDIS_URL) -> str | None:
    """Why the worker tests cannot run here, or None when Redis answers."""
    try:
        import celery  # noqa: F401
        import redis
    except ImportError as exc:
        return f"the {exc.name} package is not installed (pip install -e '.[test,celery]')"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"no Redis answered at {url} ({exc})"
    return None


def required() -> bool:
    """True when a missing Redis must fail the run (CI, or ZCRM_REQUIRE_REDIS=1)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes") or (
        os.environ.get("ZCRM_REQUIRE_REDIS") == "1"
    )


def require_redis(what: str) -> None:
    """Call at module level: skip the module loudly without Redis, or fail it when required."""
    problem = redis_problem()
    if problem is None:
        return
    if required():
        pytest.fail(
            f"{what} need Redis and it is required here (CI / ZCRM_REQUIRE_REDIS=1): {problem}. "
            "Start it with `redis-server --daemonize yes` (or set ZCRM_TEST_REDIS_URL).",
            pytrace=False,
        )
    message = f"{what} SKIPPED: {problem}"
    _skipped.append(message)
    warnings.warn(RedisMissingWarning(message), stacklevel=2)
    pytest.skip(message, allow_module_level=True)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """The banner: which Celery/Redis tests did not run, and how to run them."""
    for message in _skipped:
        terminalreporter.write_sep("#", message, yellow=True, bold=True)
        terminalreporter.write_line(
            "# Start Redis on 127.0.0.1:6379 (`redis-server --daemonize yes`) to run them; "
            "CI requires them (CI=true or ZCRM_REQUIRE_REDIS=1).",
            yellow=True,
        )
