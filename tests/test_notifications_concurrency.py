"""The sync and the notification processor writing the same rows at once (MariaDB, PostgreSQL).

Each test holds one side's transaction open at a chosen point (the way a zcrm_sync page holds
its row locks) while the other side runs for real, then checks that the newer value won.
SQLite has no row locks (one writer at a time), so these run on the server databases only.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from django_zcrm.models import NotificationChannel, NotificationEvent, SyncState
from django_zcrm.notifications.processor import process_pending
from django_zcrm.notifications.secrets import token_hash
from django_zcrm.sync import sync_module
from django_zcrm.sync.lease import acquire
from django_zcrm.sync.targets import resolve_target
from django_zcrm.sync.timeutil import parse_zoho_datetime
from tests.conftest import zcrm_settings_for
from tests.testapp.models import Lead

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor == "sqlite", reason="row locks: MariaDB/MySQL and PostgreSQL only"
    ),
]


@pytest.fixture
def env(settings, fake_zoho, transactional_db):
    from django_zcrm.oauth import get_oauth_client

    settings.ZCRM = zcrm_settings_for(
        fake_zoho, SYNC_MODELS={"Leads": "testapp.Lead"}, MAX_RETRIES=0
    )
    get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    now = timezone.now()
    NotificationChannel.objects.create(
        channel_id="42",
        modules=["Leads"],
        events=["Leads.all"],
        notify_url="https://example.invalid/n/",
        token_hash=token_hash("t"),
        expires_at=now + timedelta(hours=1),
        renewed_at=now,
    )
    return fake_zoho


def _event(rid: str, n: int = 1, operation: str = "update") -> None:
    NotificationEvent.objects.create(
        channel_ref="42",
        module="Leads",
        operation=operation,
        ids=[rid],
        server_time=10**12 + n,
        idempotency_key=f"k{rid}-{n}",
    )


def _hold_sync_page(record: dict, started: threading.Event, release: threading.Event) -> None:
    """What a zcrm_sync page does for ``record``: lock, build, upsert; commit on ``release``."""
    try:
        target = resolve_target("Leads")
        with transaction.atomic():
            target.existing([record["id"]], lock=True)
            modified = parse_zoho_datetime(record["Modified_Time"])
            target.write([target.build(record, modified, timezone.now())])
            started.set()
            release.wait(10)
    finally:
        connections.close_all()


def _run(target_fn, *args):
    box: dict = {}

    def run():
        try:
            box["result"] = target_fn(*args)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


@pytest.mark.parametrize("row_exists", [True, False])
def test_processor_with_an_older_copy_waits_for_the_sync_and_keeps_its_newer_value(env, row_exists):
    crm = env.crm
    lead = crm.add_records("Leads", [{"Last_Name": "v1", "Company": "Acme"}])[0]
    if row_exists:
        sync_module("Leads")
    env.clock.advance(10)
    crm.modify("Leads", lead["id"], {"Last_Name": "v2"})
    _event(lead["id"])
    # The sync page holds a newer copy (v3, 10 s later) than Zoho will give the processor (v2).
    newer = dict(crm.stores["Leads"].rows[lead["id"]])
    newer.update(
        Last_Name="v3",
        Modified_Time=(
            parse_zoho_datetime(newer["Modified_Time"]) + timedelta(seconds=10)
        ).isoformat(),
    )
    started, release = threading.Event(), threading.Event()
    sync_thread = threading.Thread(target=_hold_sync_page, args=(newer, started, release))
    sync_thread.start()
    assert started.wait(10)
    worker, box = _run(process_pending)
    time.sleep(0.5)
    assert worker.is_alive(), "the processor must wait for the sync page's lock"
    release.set()
    sync_thread.join(10)
    worker.join(10)
    assert box["result"].events == 1
    assert Lead.objects.get(zoho_id=lead["id"]).last_name == "v3"


def test_sync_with_an_older_copy_never_overwrites_what_the_processor_wrote(env):
    crm = env.crm
    lead = crm.add_records("Leads", [{"Last_Name": "v1", "Company": "Acme"}])[0]
    sync_module("Leads")
    older = dict(crm.stores["Leads"].rows[lead["id"]])
    env.clock.advance(10)
    crm.modify("Leads", lead["id"], {"Last_Name": "v2"})
    _event(lead["id"])
    # The processor commits v2 first; a sync page then comes with the older v1: it must skip.
    assert process_pending().updated == 1
    target = resolve_target("Leads")
    with transaction.atomic():
        existing = target.existing([lead["id"]], lock=True)[lead["id"]]
        assert existing.modified > parse_zoho_datetime(older["Modified_Time"])
    sync_module("Leads", since="2000-01-01")
    assert Lead.objects.get(zoho_id=lead["id"]).last_name == "v2"


def test_new_rows_wait_while_a_sync_run_holds_the_lease(env):
    crm = env.crm
    lead = crm.add_records("Leads", [{"Last_Name": "new", "Company": "Acme"}])[0]
    _event(lead["id"], operation="insert")
    target = resolve_target("Leads")
    lease = acquire("Leads", target.label)
    try:
        result = process_pending()
        assert (result.events, result.deferred_events) == (0, 1)
        assert not Lead.objects.filter(zoho_id=lead["id"]).exists()
        event = NotificationEvent.objects.get()
        assert event.attempts == 0 and "zcrm_sync" in event.last_error
    finally:
        lease.release()
    later = timezone.now() + timedelta(seconds=2)
    assert process_pending(now=later).created == 1
    assert SyncState.objects.get(module="Leads").lease_owner is None


def test_a_sync_run_starting_while_the_processor_creates_rows_sees_them(env):
    crm = env.crm
    lead = crm.add_records("Leads", [{"Last_Name": "new", "Company": "Acme"}])[0]
    _event(lead["id"], operation="insert")
    assert process_pending().created == 1
    result = sync_module("Leads")
    assert result.created == 0
    assert Lead.objects.filter(zoho_id=lead["id"]).count() == 1
