"""The Celery tasks in this process (Celery's ``apply``: no broker), their schedule and settings.

Real workers on a Redis broker are in tests/test_celery_workers.py; these pin the behaviour of
each task body: results, skip when the module runs elsewhere, which errors retry.
"""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest

from django_zcrm.checks import check_settings
from django_zcrm.persistence import get_persistence
from django_zcrm.sync import lease as sync_lease
from django_zcrm.testing import FAKE_USER_EMAIL

from .conftest import zcrm_settings_for

celery = pytest.importorskip("celery", reason="Celery is not installed")

from celery._state import get_current_app  # noqa: E402

from django_zcrm import jobs, tasks  # noqa: E402

PACKAGE = Path(__file__).resolve().parent.parent / "django_zcrm"
LIST = "GET /crm/{version}/{module}"


@pytest.fixture
def eager_app():
    """A Celery app that runs what is queued at once, in this process (for sync_all's fan-out)."""
    app = celery.Celery("zcrm-eager-tests", set_as_current=False)
    app.conf.update(task_always_eager=True, task_eager_propagates=False)
    previous = get_current_app()
    app.set_current()
    try:
        yield app
    finally:
        previous.set_current()


@pytest.fixture
def zoho(settings, fake_zoho, db):
    settings.ZCRM = zcrm_settings_for(fake_zoho, MAX_RETRIES=0)
    from django_zcrm.oauth import get_oauth_client

    get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    return fake_zoho


def test_the_tasks_have_stable_names_and_survive_a_lost_worker():
    for name, task in {
        "django_zcrm.sync_module": tasks.sync_module,
        "django_zcrm.sync_all": tasks.sync_all,
        "django_zcrm.push_module": tasks.push_module,
        "django_zcrm.refresh_tokens": tasks.refresh_tokens,
        "django_zcrm.process_notifications": tasks.process_notifications,
        "django_zcrm.renew_channels": tasks.renew_channels,
    }.items():
        assert task.name == name
        assert task.acks_late is True and task.reject_on_worker_lost is True


def test_nothing_else_in_the_package_imports_celery_or_the_task_modules():
    pattern = re.compile(
        r"^\s*(from|import)\s+(celery\b|django_zcrm\.(django_)?tasks\b|\.+(django_)?tasks\b)", re.M
    )
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("tasks.py", "django_tasks.py") and pattern.search(path.read_text())
    ]
    assert offenders == []


@pytest.mark.django_db
def test_sync_module_returns_a_small_json_summary(zoho):
    zoho.crm.seed("Leads", 250)

    result = tasks.sync_module.apply(args=("Leads",)).get()

    assert json.loads(json.dumps(result)) == result
    assert result["status"] == "done" and result["created"] == 250 and result["pages"] == 2
    assert len(json.dumps(result)) < 2000


@pytest.mark.django_db
def test_a_module_running_elsewhere_is_skipped_without_a_request(zoho):
    zoho.crm.seed("Leads", 10)
    lease = sync_lease.acquire("Leads", "django_zcrm.crmrecord")
    try:
        result = tasks.sync_module.apply(args=("Leads",), kwargs={"full": True}).get()
    finally:
        lease.release()

    assert result["status"] == "skipped" and result["reason"] == "running elsewhere"
    assert result["module"] == "Leads" and "already running" in result["detail"]
    assert zoho.count(endpoint=LIST) == 0


@pytest.mark.django_db
@pytest.mark.parametrize("fault", [{"status": 503}, {"status": 429}, {"drop": True}])
def test_a_transient_zoho_error_retries_the_task(zoho, fault, monkeypatch):
    zoho.crm.seed("Leads", 10)
    zoho.inject(endpoint=LIST, times=1, **fault)
    delays = []
    monkeypatch.setattr(jobs, "retry_delay", lambda exc, n: delays.append(n) or 0)

    result = tasks.sync_module.apply(args=("Leads",))

    assert result.successful(), result.traceback
    assert result.get()["created"] == 10
    assert delays == [0], "one retry, the first"


@pytest.mark.django_db
def test_an_authorisation_error_is_not_retried(zoho, monkeypatch):
    store = get_persistence()
    tokens = store.get_oauth_tokens(FAKE_USER_EMAIL)
    tokens.needs_reauth = True
    store.save_oauth_tokens(tokens)
    zoho.reset_counters()
    delays = []
    monkeypatch.setattr(jobs, "retry_delay", lambda exc, n: delays.append(n) or 0)

    result = tasks.sync_module.apply(args=("Leads",))

    assert result.failed() and type(result.result).__name__ == "ZCRMReauthorizationRequiredError"
    assert delays == [] and zoho.count() == 0


def test_retry_delay_grows_and_respects_retry_after():
    from django_zcrm.exceptions import ZCRMRateLimitError, ZCRMServerError

    first = [jobs.retry_delay(ZCRMServerError(), 0) for _ in range(50)]
    late = [jobs.retry_delay(ZCRMServerError(), 10) for _ in range(50)]
    assert all(jobs.RETRY_BASE_SECONDS / 2 <= d <= jobs.RETRY_BASE_SECONDS for d in first)
    assert all(d <= jobs.RETRY_MAX_SECONDS for d in late) and max(late) > max(first)
    assert jobs.retry_delay(ZCRMRateLimitError(retry_after=900), 0) == 900


@pytest.mark.django_db
def test_sync_all_queues_one_sync_per_configured_module(zoho, settings, eager_app):
    settings.ZCRM = {
        **settings.ZCRM,
        "SYNC_MODELS": {m: "django_zcrm.CRMRecord" for m in ("Leads", "Accounts")},
    }
    zoho.crm.seed("Leads", 20)
    zoho.crm.seed("Accounts", 30)

    result = tasks.sync_all.apply().get()

    assert result["modules"] == ["Leads", "Accounts"] and len(result["task_ids"]) == 2
    from django_zcrm.models import CRMRecord

    assert CRMRecord.objects.filter(module="Leads").count() == 20
    assert CRMRecord.objects.filter(module="Accounts").count() == 30


@pytest.mark.django_db
def test_refresh_tokens_refreshes_only_tokens_about_to_expire(zoho):
    zoho.accounts.reset_counters()
    assert tasks.refresh_tokens.apply().get()["fresh"] == 1
    assert zoho.accounts.token_requests("refresh_token") == 0

    store = get_persistence()
    tokens = store.get_oauth_tokens(FAKE_USER_EMAIL)
    tokens.expiry_time = int(time.time() * 1000) + 60_000  # inside interval + margin
    store.save_oauth_tokens(tokens)
    result = tasks.refresh_tokens.apply().get()

    assert result["refreshed"] == 1 and result["needs_reauth"] == [] and result["failed"] == {}
    assert zoho.accounts.token_requests("refresh_token") == 1
    assert store.get_oauth_tokens(FAKE_USER_EMAIL).remaining_ms() > 30 * 60_000


@pytest.mark.django_db
def test_push_module_with_nothing_changed_sends_nothing(zoho):
    result = tasks.push_module.apply(args=("testapp.Lead",)).get()

    assert result["status"] == "done" and result["total"] == 0
    assert zoho.count(path_prefix="/crm/") == 0


def test_beat_schedule_from_settings(settings):
    settings.ZCRM = {
        **settings.ZCRM,
        "SYNC_MODELS": {"Leads": "testapp.Lead", "Deals": "testapp.Deal"},
        "SYNC_INTERVAL_MINUTES": {"Leads": 5, "Notes": 60, "*": 30},
        "TOKEN_REFRESH_INTERVAL_MINUTES": 20,
    }

    schedule = tasks.beat_schedule()

    assert {k: (v["task"], v.get("args"), v["schedule"]) for k, v in schedule.items()} == {
        "django_zcrm.sync_module:Leads": (
            "django_zcrm.sync_module",
            ("Leads",),
            timedelta(minutes=5),
        ),
        "django_zcrm.sync_module:Deals": (
            "django_zcrm.sync_module",
            ("Deals",),
            timedelta(minutes=30),
        ),
        "django_zcrm.sync_module:Notes": (
            "django_zcrm.sync_module",
            ("Notes",),
            timedelta(minutes=60),
        ),
        "django_zcrm.refresh_tokens": ("django_zcrm.refresh_tokens", None, timedelta(minutes=20)),
    }


def test_beat_schedule_defaults_and_switching_entries_off(settings):
    settings.ZCRM = {**settings.ZCRM, "SYNC_MODELS": {"Leads": "testapp.Lead"}}
    assert set(tasks.beat_schedule()) == {
        "django_zcrm.sync_module:Leads",
        "django_zcrm.refresh_tokens",
    }
    assert tasks.beat_schedule()["django_zcrm.sync_module:Leads"]["schedule"] == timedelta(
        minutes=15
    )
    settings.ZCRM = {
        **settings.ZCRM,
        "SYNC_INTERVAL_MINUTES": {"Leads": 0},
        "TOKEN_REFRESH_INTERVAL_MINUTES": None,
    }
    assert tasks.beat_schedule() == {}


@pytest.mark.parametrize(
    ("key", "value", "check"),
    [
        ("SYNC_INTERVAL_MINUTES", -1, "E030"),
        ("SYNC_INTERVAL_MINUTES", "15", "E030"),
        ("SYNC_INTERVAL_MINUTES", {"Leads": True}, "E030"),
        ("SYNC_INTERVAL_MINUTES", {"": 5}, "E030"),
        ("TOKEN_REFRESH_INTERVAL_MINUTES", "often", "E031"),
    ],
)
def test_schedule_settings_are_checked(settings, key, value, check):
    raw = {**settings.ZCRM, key: value}
    ids = [m.id for m in check_settings(raw)]
    assert ids == [f"django_zcrm.{check}"]
    assert check_settings({**settings.ZCRM, key: 5}) == []


class _RetryCalled(Exception):
    pass


@pytest.mark.django_db
@pytest.mark.parametrize("redelivered", [True, False])
def test_a_redelivered_task_skipped_for_a_held_lease_tries_once_more_after_it_lapses(
    zoho, monkeypatch, redelivered
):
    """The task of a worker lost on another host comes back while that host's lease still
    holds: it is tried again once the lease has lapsed, instead of waiting for the schedule."""
    task = tasks.sync_module._get_current_object()
    asked = {}

    def retry(**kwargs):
        asked.update(kwargs)
        raise _RetryCalled

    monkeypatch.setattr(task, "retry", retry)
    lease = sync_lease.acquire("Leads", "django_zcrm.crmrecord")
    task.push_request(delivery_info={"redelivered": redelivered}, retries=0)
    try:
        if redelivered:
            with pytest.raises(_RetryCalled):
                task("Leads")
        else:
            assert task("Leads")["status"] == "skipped"
    finally:
        task.pop_request()
        lease.release()

    if redelivered:
        assert asked == {"countdown": 305.0, "max_retries": 1}
    else:
        assert asked == {}


@pytest.fixture
def watching(live_server, settings, fake_zoho, transactional_db):
    """Tokens at the fake, and NOTIFY_URL pointing the fake's callbacks at the live server."""
    from django_zcrm.oauth import get_oauth_client

    settings.ZCRM = zcrm_settings_for(
        fake_zoho,
        MAX_RETRIES=0,
        NOTIFY_URL=f"{live_server.url}/zoho/notify/",
        NOTIFY_MODULES=["Leads"],
        SYNC_MODELS={"Leads": "testapp.Lead"},
    )
    get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    return fake_zoho


def test_notification_tasks_drain_the_inbox_and_renew_channels(watching):
    from django_zcrm.models import NotificationChannel, NotificationEvent
    from django_zcrm.notifications import channels
    from tests.testapp.models import Lead

    channels.enable()
    watching.crm.add_records("Leads", [{"Last_Name": "Lovelace", "Company": "Engines"}])
    deadline = time.monotonic() + 5
    while not NotificationEvent.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.02)

    drained = tasks.process_notifications.apply().get()
    assert drained["status"] == "done" and drained["events"] >= 1 and drained["created"] == 1
    assert list(Lead.objects.values_list("last_name", flat=True)) == ["Lovelace"]
    assert not NotificationEvent.objects.filter(processed_at__isnull=True).exists()
    assert tasks.process_notifications.apply().get()["events"] == 0  # nothing left

    channel = NotificationChannel.objects.get()
    assert tasks.renew_channels.apply().get() == {
        "status": "done",
        "renewed": [],
        "resubscribed": [],
        "unchanged": [channel.channel_id],
        "errors": [],
    }
    forced = tasks.renew_channels.apply(kwargs={"force": True}).get()
    assert forced["renewed"] == [channel.channel_id] and forced["errors"] == []


def test_beat_schedule_drains_notifications_and_renews_channels_when_watching(settings):
    settings.ZCRM = {**settings.ZCRM, "SYNC_MODELS": {}, "TOKEN_REFRESH_INTERVAL_MINUTES": 0}
    assert tasks.beat_schedule() == {}  # no NOTIFY_URL: no channel feeds the inbox

    settings.ZCRM = {**settings.ZCRM, "NOTIFY_URL": "https://example.com/zoho/notify/"}
    schedule = tasks.beat_schedule()
    assert {k: (v["task"], v["schedule"]) for k, v in schedule.items()} == {
        "django_zcrm.process_notifications": (
            "django_zcrm.process_notifications",
            timedelta(seconds=5),
        ),
        "django_zcrm.renew_channels": ("django_zcrm.renew_channels", timedelta(minutes=60)),
    }
    settings.ZCRM = {
        **settings.ZCRM,
        "NOTIFY_PROCESS_INTERVAL_SECONDS": None,
        "NOTIFY_RENEW_INTERVAL_MINUTES": 0,
    }
    assert tasks.beat_schedule() == {}


@pytest.mark.parametrize(
    "key", ["NOTIFY_PROCESS_INTERVAL_SECONDS", "NOTIFY_RENEW_INTERVAL_MINUTES"]
)
def test_notification_schedule_settings_are_checked(key):
    ids = [m.id for m in check_settings({"CLIENT_ID": "x", "CLIENT_SECRET": "y", key: "often"})]
    assert "django_zcrm.E032" in ids
