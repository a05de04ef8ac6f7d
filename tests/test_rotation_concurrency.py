"""Key rotation while other processes refresh tokens: every row stays readable and no refresh
is lost (the rotation's conditional UPDATE lets a concurrent save win)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from django_zcrm.crypto import generate_key
from django_zcrm.key_rotation import rotate_database
from django_zcrm.persistence import DatabasePersistence
from django_zcrm.tokens import OAuthTokens

from .conftest import zcrm_settings_for

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 3
USERS_PER_WORKER = 4
ROUNDS = 8
#: One key per rotation pass, so that every pass has every row to rewrite.
PASS_KEYS = [generate_key() for _ in range(60)]
OLD_KEY = generate_key()


def start_worker(zcrm: dict, users: list[str]) -> subprocess.Popen:
    env = {
        **os.environ,
        "ZCRM_WORKER_SETTINGS": json.dumps(zcrm),
        "ZCRM_WORKER_USERS": json.dumps(users),
        "ZCRM_WORKER_ROUNDS": str(ROUNDS),
        "ZCRM_TEST_DB_NAME_OVERRIDE": connection.settings_dict["NAME"],
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.rotation_worker"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_rotation_during_refreshes_loses_no_refresh_and_leaves_every_row_readable(
    settings, fake_zoho
):
    fake_zoho.accounts.max_mints_per_window = None  # many refreshes per token in this test
    fake_zoho.accounts.max_active_access_tokens = None
    settings.ZCRM = zcrm_settings_for(fake_zoho, TOKEN_ENCRYPTION_KEYS=[OLD_KEY])
    store = DatabasePersistence()
    users = [f"user{n}@example.com" for n in range(WORKERS * USERS_PER_WORKER)]
    for user in users:
        refresh = fake_zoho.accounts.issue_refresh_token(user_email=user)
        store.save_oauth_tokens(
            OAuthTokens(user, "1000.initial", refresh, int(time.time() * 1000) + 3600_000)
        )
    # Workers may meet a row under any key the parent rotates to.
    every_key = [OLD_KEY, *PASS_KEYS]
    worker_settings = {**settings.ZCRM, "TOKEN_ENCRYPTION_KEYS": every_key}
    procs = [start_worker(worker_settings, users[i::WORKERS]) for i in range(WORKERS)]
    passes, rewritten, lost_races = 0, 0, 0
    try:
        for proc in procs:
            line = proc.stdout.readline().strip()
            assert line == "ready", f"worker failed to start: {line!r} {proc.stderr.read()[-2000:]}"
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        # Rotate again and again, each pass to a new first key, until the workers are done.
        while any(p.poll() is None for p in procs) and passes < len(PASS_KEYS):
            key = PASS_KEYS[passes]
            settings.ZCRM = {
                **settings.ZCRM,
                "TOKEN_ENCRYPTION_KEYS": [key, *(k for k in every_key if k != key)],
            }
            report = rotate_database("default", batch_size=3)
            assert report.undecryptable == 0
            passes += 1
            rewritten += report.rewritten
            lost_races += report.conflicts
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert out.strip(), f"worker printed nothing: {err[-2000:]}"
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()

    assert all(r["ok"] for r in results), results
    assert passes >= 2 and rewritten > 0, (passes, rewritten)
    settings.ZCRM = {**settings.ZCRM, "TOKEN_ENCRYPTION_KEYS": every_key}
    last = {user: digest for r in results for user, digest in r["last"].items()}
    assert sorted(last) == sorted(users)
    for user in users:
        stored = store.get_oauth_tokens(user)  # readable
        # The last refresh each worker made is the one stored: no rotation wrote an older token.
        assert hashlib.sha256(stored.access_token.encode()).hexdigest() == last[user], user
        assert fake_zoho.accounts.lookup_access_token(stored.access_token) is not None
    # A final rotation leaves every row under one key, readable by that key alone.
    settings.ZCRM = {**settings.ZCRM, "TOKEN_ENCRYPTION_KEYS": [PASS_KEYS[-1], *every_key]}
    rotate_database("default")
    settings.ZCRM = {**settings.ZCRM, "TOKEN_ENCRYPTION_KEYS": [PASS_KEYS[-1]]}
    assert all(store.get_oauth_tokens(user) for user in users)
    print(f"rotation passes={passes} rows rewritten={rewritten} conflicts={lost_races}")
