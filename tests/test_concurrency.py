"""Eight processes that need a refresh of the same expired token at the same moment cause exactly
one refresh request at Zoho: with the database store (SQLite file / MariaDB) and the file store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from django_zcrm.oauth import get_oauth_client
from django_zcrm.persistence import get_persistence
from django_zcrm.testing import FAKE_USER_EMAIL

from .conftest import zcrm_settings_for

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = 8


def run_workers(zcrm: dict, count: int = PROCESSES) -> list[dict]:
    env = {
        **os.environ,
        "ZCRM_WORKER_SETTINGS": json.dumps(zcrm),
        "ZCRM_TEST_DB_NAME_OVERRIDE": connection.settings_dict["NAME"],
        "PYTHONPATH": str(ROOT),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.concurrency_worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for proc in procs:
            line = proc.stdout.readline().strip()
            assert line == "ready", f"worker failed to start: {line!r} {proc.stderr.read()[-2000:]}"
        for proc in procs:  # as close to "the same moment" as two cores allow
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert out.strip(), f"worker printed nothing: {err[-2000:]}"
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def expire_stored_token() -> None:
    store = get_persistence()
    tokens = store.get_oauth_tokens(FAKE_USER_EMAIL)
    tokens.expiry_time = int(time.time() * 1000) - 1000
    store.save_oauth_tokens(tokens)


def assert_one_refresh(fake, results) -> None:
    failures = [r for r in results if not r["ok"]]
    assert not failures, failures
    assert len({r["token_hash"] for r in results}) == 1, (
        "every process must end with the same token"
    )
    assert fake.accounts.token_requests("refresh_token") == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_expired_token_is_refreshed_once_by_eight_processes_database_store(settings, fake_zoho):
    settings.ZCRM = zcrm_settings_for(fake_zoho)
    get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    expire_stored_token()
    fake_zoho.accounts.token_delay = 0.5  # a slow Zoho widens the race window

    results = run_workers(settings.ZCRM)

    assert_one_refresh(fake_zoho, results)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_expired_token_is_refreshed_once_by_eight_processes_file_store(
    settings, fake_zoho, tmp_path
):
    settings.ZCRM = zcrm_settings_for(fake_zoho, TOKEN_PERSISTENCE_PATH=str(tmp_path))
    get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    expire_stored_token()
    fake_zoho.accounts.token_delay = 0.5

    results = run_workers(settings.ZCRM)

    assert_one_refresh(fake_zoho, results)
    assert (tmp_path / "zcrm_oauthtokens.txt").stat().st_mode & 0o777 == 0o600


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_refresh_owner_killed_mid_refresh_blocks_others_only_for_the_lease(settings, fake_zoho):
    """A process that took the lease and died never released it; the next one waits it out."""
    settings.ZCRM = zcrm_settings_for(fake_zoho, REFRESH_LEASE_SECONDS=2)
    get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    expire_stored_token()
    now = int(time.time() * 1000)
    assert get_persistence().acquire_refresh_lease(FAKE_USER_EMAIL, "dead-process", now + 2000, now)

    started = time.monotonic()
    results = run_workers(settings.ZCRM, count=2)
    elapsed = time.monotonic() - started

    assert_one_refresh(fake_zoho, results)
    assert elapsed < 2 + 8, "waiters must take over once the lease lapses"
