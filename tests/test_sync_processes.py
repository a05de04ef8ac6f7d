"""Sync runs in real processes: killed with SIGKILL part-way and re-run, and two at once.

The worker (tests/sync_worker.py) opens this test's database (a file for SQLite, or MariaDB)
and the fake Zoho server over HTTP, exactly like a cron job would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from django_zcrm.models import CRMRecord, SyncState
from django_zcrm.oauth import get_oauth_client
from django_zcrm.sync import sync_module

from .conftest import zcrm_settings_for

ROOT = Path(__file__).resolve().parent.parent
LIST = "GET /crm/{version}/{module}"
WAIT_SECONDS = 60


def start_worker(zcrm: dict, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "ZCRM_WORKER_SETTINGS": json.dumps(zcrm),
        "ZCRM_TEST_DB_NAME_OVERRIDE": connection.settings_dict["NAME"],
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.sync_worker", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    if line != "started":
        proc.kill()
        raise AssertionError(f"worker failed to start: {line!r} {proc.stderr.read()[-2000:]}")
    return proc


def wait_for(condition, what: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(
                f"worker exited ({proc.returncode}) before {what}: "
                f"{proc.stdout.read()[-1000:]} {proc.stderr.read()[-2000:]}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def assert_mirror_equals_server(fake) -> None:
    server = {r["id"]: r for r in fake.crm.records("Leads")}
    rows = list(
        CRMRecord.objects.filter(module="Leads", deleted=False).values_list("zoho_id", "data")
    )
    local = dict(rows)
    assert len(rows) == len(local), "a record is stored twice"
    assert sorted(local) == sorted(server), (
        f"missing {len(set(server) - set(local))}, extra {len(set(local) - set(server))}"
    )
    assert all(local[rid] == server[rid] for rid in server), "a row differs from the server"


@pytest.fixture
def leads_in_worker_reach(settings, fake_zoho):
    settings.ZCRM = zcrm_settings_for(fake_zoho)
    get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    fake_zoho.crm.seed("Leads", 5000)
    return fake_zoho


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kill_at_rows", [200, 2400, 5000])
def test_sync_killed_part_way_and_rerun_ends_with_exactly_the_servers_records(
    settings, leads_in_worker_reach, kill_at_rows
):
    fake = leads_in_worker_reach
    # A slow network widens every request, so the kill lands mid-request or mid-write.
    fake.set_network(request_delay=0.03)
    proc = start_worker(settings.ZCRM, "Leads", "--no-progress")
    try:
        wait_for(lambda: CRMRecord.objects.count() >= kill_at_rows, f"{kill_at_rows} rows", proc)
        proc.kill()  # SIGKILL: no cleanup, no lease release, a transaction possibly open
        proc.wait(timeout=WAIT_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    fake.set_network()
    committed = CRMRecord.objects.count()
    ids = [r["id"] for r in fake.crm.records("Leads")]
    # Zoho keeps changing meanwhile: the re-run must pick that up too.
    fake.crm.modify("Leads", ids[:5] + ids[-5:], {"City": "After the crash"})
    fake.crm.delete("Leads", ids[100:103])
    fake.reset_counters()

    result = sync_module("Leads")

    assert_mirror_equals_server(fake)
    assert CRMRecord.objects.filter(deleted=True).count() == 3
    remaining_pages = -(-(5000 - committed) // 200)
    # At most the page in flight is read again (plus the changed records at the end).
    assert fake.count(endpoint=LIST) <= remaining_pages + 2
    state = SyncState.objects.get(module="Leads")
    assert state.status == SyncState.DONE and state.run_id == "" and state.lease_owner is None
    if committed < 5000:
        assert result.resumed


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_second_sync_of_the_same_module_exits_with_already_running(
    settings, leads_in_worker_reach
):
    fake = leads_in_worker_reach
    fake.inject(endpoint=LIST, delay=1.5)  # hold the first page while the second run starts
    proc = start_worker(settings.ZCRM, "Leads", "--no-progress")
    try:
        wait_for(
            lambda: (
                SyncState.objects.filter(lease_owner__isnull=False).exists()
                and fake.in_flight() > 0
            ),
            "the first run to hold the lease",
            proc,
        )
        requests_before = len(fake.requests)

        with pytest.raises(CommandError, match="already running"):
            call_command("zcrm_sync", "Leads", "--no-progress")

        out, err = proc.communicate(timeout=WAIT_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out + err
    assert "5000 created" in out
    assert requests_before == 0 or all(r.endpoint != LIST for r in fake.requests[:requests_before])
    assert fake.count(endpoint=LIST) == 25, "the refused run must not have sent a request"
    assert_mirror_equals_server(fake)
