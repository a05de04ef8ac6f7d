"""Instant notifications over real HTTP: fake Zoho -> live Django server -> inbox -> worker."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from django_zcrm.models import CRMRecord, NotificationChannel, NotificationEvent
from django_zcrm.notifications import channels, inline
from django_zcrm.notifications.processor import process_forever, process_pending
from django_zcrm.notifications.secrets import token_hash
from django_zcrm.signals import zoho_records_changed, zoho_records_deleted
from django_zcrm.sync import sync_module
from django_zcrm.testing._crm.watch import Channel
from tests.conftest import zcrm_settings_for
from tests.testapp.models import Lead

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(predicate, timeout=2.0, step=0.02):
    """Poll ``predicate`` until true (real HTTP and threads: no clock to inject here)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def post(url, body, *, raw=None):
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def notify_env(live_server, settings, fake_zoho, transactional_db):
    """Settings pointing at the fake (modules Leads typed, Contacts mirror) and stored tokens."""
    from django_zcrm.oauth import get_oauth_client

    settings.ZCRM = zcrm_settings_for(
        fake_zoho,
        NOTIFY_URL=f"{live_server.url}/zoho/notify/",
        NOTIFY_MODULES=["Leads", "Contacts"],
        NOTIFY_CHANNEL_HOURS=24,
        SYNC_MODELS={"Leads": "testapp.Lead"},
    )
    get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    return live_server.url + "/zoho/notify/"


@pytest.fixture
def worker(notify_env):
    """``process_forever`` in a thread (as ``zcrm_process_notifications --watch`` runs it)."""
    stop = threading.Event()
    thread = threading.Thread(target=process_forever, kwargs={"poll": 0.05, "stop": stop})
    thread.start()
    yield thread
    stop.set()
    thread.join(10)


@pytest.fixture
def signals_seen():
    seen = []

    def changed(sender, module, ids, operation, **kwargs):
        seen.append(("changed", module, tuple(ids), operation))

    def deleted(sender, module, ids, **kwargs):
        seen.append(("deleted", module, tuple(ids)))

    zoho_records_changed.connect(changed, weak=False)
    zoho_records_deleted.connect(deleted, weak=False)
    yield seen
    zoho_records_changed.disconnect(changed)
    zoho_records_deleted.disconnect(deleted)


def test_create_update_delete_reach_typed_model_and_mirror(
    notify_env, worker, fake_zoho, signals_seen
):
    call_command("zcrm_watch")
    channel = NotificationChannel.objects.get()
    assert channel.modules == ["Leads", "Contacts"]
    assert len(fake_zoho.crm.live_channels()) == 1

    crm = fake_zoho.crm
    lead = crm.add_records("Leads", [{"Last_Name": "Ada", "Company": "Acme"}])[0]
    contact = crm.add_records("Contacts", [{"Last_Name": "Bob"}])[0]
    lead_id, contact_id = lead["id"], contact["id"]
    assert wait_until(lambda: Lead.objects.filter(zoho_id=lead_id).exists())
    assert wait_until(
        lambda: CRMRecord.objects.filter(module="Contacts", zoho_id=contact_id).exists()
    )
    assert Lead.objects.get(zoho_id=lead_id).last_name == "Ada"

    fake_zoho.clock.advance(5)
    crm.modify("Leads", lead_id, {"Last_Name": "Lovelace"})
    crm.modify("Contacts", contact_id, {"Last_Name": "Builder"})
    assert wait_until(lambda: Lead.objects.get(zoho_id=lead_id).last_name == "Lovelace")
    assert wait_until(
        lambda: (
            CRMRecord.objects.get(module="Contacts", zoho_id=contact_id).data["Last_Name"]
            == "Builder"
        )
    )

    fake_zoho.clock.advance(5)
    crm.delete("Leads", lead_id)
    crm.delete("Contacts", contact_id)
    assert wait_until(lambda: Lead.objects.get(zoho_id=lead_id).zoho_deleted)
    assert wait_until(lambda: CRMRecord.objects.get(module="Contacts", zoho_id=contact_id).deleted)
    assert wait_until(lambda: len(signals_seen) == 6)
    time.sleep(0.2)  # nothing more may arrive
    assert sorted(signals_seen) == sorted(
        [
            ("changed", "Leads", (lead_id,), "insert"),
            ("changed", "Contacts", (contact_id,), "insert"),
            ("changed", "Leads", (lead_id,), "update"),
            ("changed", "Contacts", (contact_id,), "update"),
            ("deleted", "Leads", (lead_id,)),
            ("deleted", "Contacts", (contact_id,)),
        ]
    )
    assert not NotificationEvent.objects.filter(processed_at__isnull=True).exists()


def _callback(channel_id, token, ids, operation="update", server_time=1718117126473):
    return {
        "server_time": server_time,
        "query_params": {},
        "module": "Leads",
        "resource_uri": "https://www.zohoapis.com/crm/v2/Leads",
        "ids": ids,
        "affected_fields": [],
        "operation": operation,
        "channel_id": channel_id,
        "token": token,
    }


def _channel(token="right-token", channel_id="1234567890"):
    from django.utils import timezone

    now = timezone.now()
    return NotificationChannel.objects.create(
        channel_id=channel_id,
        modules=["Leads"],
        events=["Leads.all"],
        notify_url="http://127.0.0.1/zoho/notify/",
        token_hash=token_hash(token),
        expires_at=now + timedelta(hours=1),
        renewed_at=now,
    )


def test_wrong_token_and_unknown_channel_get_403_and_store_nothing(notify_env, caplog):
    _channel()
    assert post(notify_env, _callback("1234567890", "wrong-token", ["1"])) == 403
    assert post(notify_env, _callback("999", "right-token", ["1"])) == 403
    assert post(notify_env, _callback("1234567890", None, ["1"])) == 403
    assert NotificationEvent.objects.count() == 0
    assert "wrong-token" not in caplog.text and "right-token" not in caplog.text
    assert "wrong token" in caplog.text and "unknown channel" in caplog.text


def test_malformed_and_oversized_bodies(notify_env, settings, caplog):
    _channel()
    assert post(notify_env, None, raw=b"{not json") == 400
    assert post(notify_env, {"channel_id": "1234567890", "token": "right-token"}) == 400
    settings.ZCRM = {**settings.ZCRM, "NOTIFY_MAX_BODY_BYTES": 200}
    big = _callback("1234567890", "right-token", [str(i) for i in range(100)])
    assert post(notify_env, big) == 413
    assert NotificationEvent.objects.count() == 0
    assert "malformed" in caplog.text


def test_replayed_callback_is_stored_once_and_changes_nothing(notify_env, fake_zoho, signals_seen):
    lead = fake_zoho.crm.add_records("Leads", [{"Last_Name": "Ada", "Company": "Acme"}])[0]
    _channel()
    body = _callback("1234567890", "right-token", [lead["id"]], "insert")
    assert post(notify_env, body) == 200
    assert post(notify_env, body) == 200
    assert NotificationEvent.objects.count() == 1
    assert process_pending().created == 1
    # The same change again with another server time: stored, processed, nothing written.
    body["server_time"] += 1
    assert post(notify_env, body) == 200
    second = process_pending()
    assert (second.events, second.created, second.updated, second.unchanged) == (1, 0, 0, 1)
    assert signals_seen == [("changed", "Leads", (lead["id"],), "insert")]


def test_failures_are_retried_with_backoff_and_visible(notify_env, fake_zoho, settings):
    settings.ZCRM = {**settings.ZCRM, "MAX_RETRIES": 0}
    lead = fake_zoho.crm.add_records("Leads", [{"Last_Name": "Ada", "Company": "Acme"}])[0]
    _channel()
    assert post(notify_env, _callback("1234567890", "right-token", [lead["id"]])) == 200
    fake_zoho.crm.fail_next("500", times=1)
    result = process_pending()
    assert result.failed_events == 1
    event = NotificationEvent.objects.get()
    assert event.attempts == 1 and event.processed_at is None and event.last_error
    assert event.next_attempt_at > event.received_at
    assert process_pending().events == 0  # not due yet
    later = event.next_attempt_at + timedelta(seconds=1)
    assert process_pending(now=later).created == 1
    assert NotificationEvent.objects.get().processed_at is not None


def test_burst_of_1000_callbacks_all_stored_and_processed(notify_env, fake_zoho):
    fake_zoho.crm.seed("Leads", 50)
    ids = sorted(fake_zoho.crm.stores["Leads"].rows)
    _channel()
    statuses = []

    def send(start):
        for n in range(start, 1000, 4):
            statuses.append(
                post(
                    notify_env,
                    _callback("1234567890", "right-token", [ids[n % 50]], server_time=10**12 + n),
                )
            )

    threads = [threading.Thread(target=send, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(200) == 1000
    assert NotificationEvent.objects.count() == 1000
    total = 0
    while True:
        done = process_pending().events
        if not done:
            break
        total += done
    assert total == 1000
    assert Lead.objects.count() == 50
    assert not NotificationEvent.objects.filter(processed_at__isnull=True).exists()


def test_inline_processing_after_the_response(notify_env, fake_zoho, settings):
    settings.ZCRM = {**settings.ZCRM, "NOTIFY_PROCESS_INLINE": True}
    lead = fake_zoho.crm.add_records("Leads", [{"Last_Name": "Ada", "Company": "Acme"}])[0]
    _channel()
    assert post(notify_env, _callback("1234567890", "right-token", [lead["id"]])) == 200
    assert wait_until(lambda: Lead.objects.filter(zoho_id=lead["id"]).exists())
    for thread in list(inline.threads):
        thread.join(5)


def test_channel_renewed_before_it_lapses_and_resubscribed_after(notify_env, fake_zoho):
    from django.utils import timezone

    channels.enable()
    channel = NotificationChannel.objects.get()
    first_hash = channel.token_hash
    # Not yet in the last third of its life: nothing to do.
    assert channels.renew().renewed == []
    # Two thirds on (the fake's clock and ours): renewed by PATCH, new expiry, new token.
    later = timezone.now() + channel.lifetime * 0.7
    fake_zoho.clock.advance(channel.lifetime.total_seconds() * 0.7)
    result = channels.renew(now=later)
    assert [i.channel_id for i in result.renewed] == [channel.channel_id]
    channel.refresh_from_db()
    assert channel.token_hash != first_hash and channel.previous_token_hash == first_hash
    assert channel.expires_at > later + timedelta(hours=23)
    # (The fake clock moved past the access token's hour: one 401, a refresh, the PATCH again.)
    patches = [r for r in fake_zoho.requests if r.method == "PATCH" and r.status == 200]
    assert len(patches) == 1
    # The fake lets it lapse: --renew subscribes again with a new channel id.
    fake_zoho.crm.expire_channel(channel.channel_id)
    result = channels.renew(force=True, now=later)
    assert len(result.resubscribed) == 1
    channel.refresh_from_db()
    assert [c.channel_id for c in fake_zoho.crm.live_channels()] == [channel.channel_id]
    # Callbacks still reach the new channel.
    fake_zoho.crm.add_records("Leads", [{"Last_Name": "Ada", "Company": "Acme"}])
    assert wait_until(lambda: NotificationEvent.objects.filter(channel=channel).exists())


def test_lapsing_channel_logs_a_warning(notify_env, caplog):
    from django.utils import timezone

    channel = _channel()
    later = timezone.now() + timedelta(minutes=55)
    assert channels.warn_lapsing(later) == [channel]
    assert "was not renewed" in caplog.text


def test_dropped_callback_is_repaired_by_the_next_sync(notify_env, worker, fake_zoho):
    call_command("zcrm_watch")
    sync_module("Leads")
    fake_zoho.crm.notifier.drop_next(1)
    lead = fake_zoho.crm.add_records("Leads", [{"Last_Name": "Lost", "Company": "Acme"}])[0]
    second = fake_zoho.crm.add_records("Leads", [{"Last_Name": "Seen", "Company": "Acme"}])[0]
    assert wait_until(lambda: Lead.objects.filter(zoho_id=second["id"]).exists())
    assert not Lead.objects.filter(zoho_id=lead["id"]).exists()
    fake_zoho.clock.advance(60)
    sync_module("Leads")
    assert Lead.objects.filter(zoho_id=lead["id"]).exists()


def test_duplicated_and_reordered_callbacks_are_harmless(
    notify_env, worker, fake_zoho, signals_seen
):
    call_command("zcrm_watch")
    crm = fake_zoho.crm
    crm.notifier.duplicate_next(1)
    lead = crm.add_records("Leads", [{"Last_Name": "Ada", "Company": "Acme"}])[0]
    assert wait_until(lambda: Lead.objects.filter(zoho_id=lead["id"]).exists())
    crm.notifier.hold()
    fake_zoho.clock.advance(5)
    crm.modify("Leads", lead["id"], {"Last_Name": "B"})
    fake_zoho.clock.advance(5)
    crm.modify("Leads", lead["id"], {"Last_Name": "C"})
    assert crm.notifier.release() == 2
    assert crm.notifier.wait_idle()
    assert wait_until(
        lambda: not NotificationEvent.objects.filter(processed_at__isnull=True).exists()
    )
    assert Lead.objects.get(zoho_id=lead["id"]).last_name == "C"
    inserts = [s for s in signals_seen if s[-1] == "insert"]
    assert len(inserts) == 1


def test_disable_and_status(notify_env, fake_zoho):
    channels.enable()
    status = channels.status()
    assert len(status.unchanged) == 1 and not status.unchanged[0].expired
    result = channels.disable()
    assert len(result.disabled) == 1
    assert fake_zoho.crm.live_channels() == []
    assert NotificationChannel.objects.get().state == NotificationChannel.DISABLED


@override_settings(
    ZCRM={"CLIENT_ID": "x", "CLIENT_SECRET": "y", "NOTIFY_URL": "http://example.com/n/"}
)
def test_checks_refuse_plain_http_notify_url():
    from django_zcrm.conf import raw_settings, validate

    ids = {p.id for p in validate(raw_settings())}
    assert "django_zcrm.E051" in ids


def test_readme_notify_examples_run(notify_env, worker, fake_zoho, caplog):
    """The README's "Real-time updates" blocks, run as pasted into ``manage.py shell``."""
    import logging

    from django.dispatch import Signal

    from django_zcrm.conf import validate
    from tests.test_readme_examples import examples, run_python

    blocks = examples("notify")
    assert len(blocks) == 4
    settings_block, urls_block, receivers_block, code_block = blocks
    namespace: dict = {}
    run_python(settings_block, namespace)
    problems = [p.id for p in validate(namespace["ZCRM"]) if p.id.startswith("django_zcrm.E05")]
    assert problems == []
    run_python(urls_block, {})
    caplog.set_level(logging.INFO, logger="crm")
    try:
        kept: dict = {}  # the receivers are weakly connected: keep them alive, as a shell does
        run_python(receivers_block, kept)
        call_command("zcrm_watch")
        lead = fake_zoho.crm.add_records("Leads", [{"Last_Name": "Ada", "Company": "Acme"}])[0]
        assert wait_until(lambda: f"Leads insert in Zoho: {lead['id']}" in caplog.text)
        fake_zoho.crm.delete("Leads", lead["id"])
        assert wait_until(lambda: f"Leads deleted in Zoho: {lead['id']}" in caplog.text)
    finally:
        signal: Signal
        for signal, uid in (
            (zoho_records_changed, "crm-zoho-changed"),
            (zoho_records_deleted, "crm-zoho-deleted"),
        ):
            signal.disconnect(dispatch_uid=uid)
    run_python(code_block, {})


def test_fake_watch_control_endpoints(fake_zoho):
    """The notifier's switches over HTTP (for tests in another process)."""
    fake_zoho.crm.watch_channels["7"] = Channel(
        "7", {"Leads": {"create"}}, "http://127.0.0.1:9/", "t", fake_zoho.crm.now() + 60
    )
    listed = json.loads(
        urllib.request.urlopen(
            urllib.request.Request(f"{fake_zoho.url}/_fake/watch/channels", method="POST")
        ).read()
    )
    assert [c["channel_id"] for c in listed["channels"]] == ["7"]
    urllib.request.urlopen(
        urllib.request.Request(f"{fake_zoho.url}/_fake/watch/drop?count=2", method="POST")
    )
    assert fake_zoho.crm.notifier.drop == 2
    urllib.request.urlopen(
        urllib.request.Request(f"{fake_zoho.url}/_fake/watch/expire?channel_id=7", method="POST")
    )
    assert fake_zoho.crm.live_channels() == []


def test_admin_lists_channels_and_inbox_with_their_actions(notify_env, client, superuser):
    from django.urls import reverse

    channel = _channel()
    NotificationEvent.objects.create(
        channel=channel,
        channel_ref=channel.channel_id,
        module="Leads",
        operation="update",
        ids=["1"],
        idempotency_key="k1",
        attempts=3,
        last_error="ZCRMServerError: boom",
        next_attempt_at=timezone.now() + timedelta(hours=1),
    )
    client.force_login(superuser)
    page = client.get(reverse("admin:django_zcrm_notificationchannel_changelist"))
    assert page.status_code == 200
    assert channel.channel_id in page.content.decode() and "token_hash" not in page.content.decode()
    inbox = client.get(reverse("admin:django_zcrm_notificationevent_changelist") + "?status=failed")
    assert inbox.status_code == 200 and "boom" in inbox.content.decode()
    event = NotificationEvent.objects.get()
    client.post(
        reverse("admin:django_zcrm_notificationevent_changelist"),
        {"action": "retry", "_selected_action": [event.pk]},
    )
    event.refresh_from_db()
    assert event.next_attempt_at <= timezone.now()


def test_burst_of_1000_changes_through_the_fake_none_lost(notify_env, worker, fake_zoho):
    """1,000 records created at once: 1,000 callbacks from the fake, all stored and applied."""
    call_command("zcrm_watch")
    fake_zoho.crm.seed("Leads", 1000)
    assert fake_zoho.crm.notifier.wait_idle(120)
    deliveries = fake_zoho.crm.notifier.deliveries
    assert len(deliveries) == 1000 and {d.status for d in deliveries} == {200}
    assert NotificationEvent.objects.count() == 1000
    assert wait_until(lambda: Lead.objects.count() == 1000, timeout=60)
    assert wait_until(
        lambda: not NotificationEvent.objects.filter(processed_at__isnull=True).exists()
    )


def test_notify_settings_from_the_environment(monkeypatch):
    from django_zcrm.conf import settings_from_env, validate

    monkeypatch.setenv("ZCRM_NOTIFY_URL", "https://example.com/zoho/notify/")
    monkeypatch.setenv("ZCRM_NOTIFY_MODULES", "Leads,Contacts")
    monkeypatch.setenv("ZCRM_NOTIFY_CHANNEL_HOURS", "12")
    monkeypatch.setenv("ZCRM_NOTIFY_PROCESS_INLINE", "true")
    raw = {"CLIENT_ID": "x", "CLIENT_SECRET": "y", **settings_from_env()}
    assert raw["NOTIFY_MODULES"] == ["Leads", "Contacts"]
    assert raw["NOTIFY_CHANNEL_HOURS"] == 12 and raw["NOTIFY_PROCESS_INLINE"] is True
    assert [p.id for p in validate(raw)] == []


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"NOTIFY_URL": "ftp://x/"}, "django_zcrm.E050"),
        ({"NOTIFY_MODULES": "Leads"}, "django_zcrm.E052"),
        ({"NOTIFY_CHANNEL_HOURS": 0}, "django_zcrm.E053"),
        ({"NOTIFY_CHANNEL_HOURS": 48}, "django_zcrm.W050"),
        ({"NOTIFY_PROCESS_INLINE": "yes"}, "django_zcrm.E054"),
        ({"NOTIFY_MAX_BODY_BYTES": -1}, "django_zcrm.E055"),
    ],
)
def test_notify_checks(extra, expected):
    from django_zcrm.conf import validate

    assert [p.id for p in validate({"CLIENT_ID": "x", "CLIENT_SECRET": "y", **extra})] == [expected]


def test_commands_print_what_they_did(notify_env, fake_zoho):
    import io

    out = io.StringIO()
    call_command("zcrm_watch", stdout=out)
    assert "Enabled channel" in out.getvalue() and "Leads, Contacts" in out.getvalue()
    out = io.StringIO()
    call_command("zcrm_watch", "--status", stdout=out)
    assert "(ok)" in out.getvalue()
    out = io.StringIO()
    call_command("zcrm_watch", "--renew", "--force", stdout=out)
    assert "Renewed channel" in out.getvalue()
    fake_zoho.crm.add_records("Leads", [{"Last_Name": "Ada", "Company": "Acme"}])
    assert fake_zoho.crm.notifier.wait_idle()
    out = io.StringIO()
    call_command("zcrm_process_notifications", stdout=out)
    assert "1 notifications processed: 1 created" in out.getvalue()
    out = io.StringIO()
    call_command("zcrm_watch", "--disable", stdout=out)
    assert "Disabled channel" in out.getvalue()


def test_the_watch_command_in_its_own_process(notify_env, fake_zoho, settings):
    """``zcrm_process_notifications --watch`` as a process: applies callbacks, stops on SIGTERM."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from django.db import connection

    if connection.vendor == "sqlite" and "memory" in str(connection.settings_dict["NAME"]):
        pytest.skip("the test database must be a file another process can open")
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.notify_worker", "--poll", "0.1"],
        cwd=root,
        env={
            **os.environ,
            "ZCRM_WORKER_SETTINGS": json.dumps(settings.ZCRM),
            "ZCRM_TEST_DB_NAME_OVERRIDE": str(connection.settings_dict["NAME"]),
            "PYTHONPATH": str(root),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "started"
        call_command("zcrm_watch")
        lead = fake_zoho.crm.add_records("Leads", [{"Last_Name": "Ada", "Company": "Acme"}])[0]
        assert wait_until(lambda: Lead.objects.filter(zoho_id=lead["id"]).exists(), timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err[-2000:]
    assert "1 notifications processed: 1 created" in out and "stopped" in out
