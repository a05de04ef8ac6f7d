"""Typed models: code written by zcrm_inspect, sync into them, and zcrm_push back to Zoho.

``tests/testapp/models.py`` *is* the output of ``zcrm_inspect Leads Deals`` against the fake
server (a test below keeps it that way), so these tests use generated models, as a project would.
"""

from __future__ import annotations

import io
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, models
from django.test.utils import isolate_apps

from django_zcrm.admin import SyncStateAdmin
from django_zcrm.exceptions import ZCRMConfigurationError, ZCRMServerError
from django_zcrm.models import SyncState
from django_zcrm.oauth import get_oauth_client
from django_zcrm.services import parse_datetime
from django_zcrm.sync import ZohoSyncedModel, generate_models, push_model, retry, sync_module
from django_zcrm.sync import mapping as zoho
from django_zcrm.sync.mapping import get_mapping
from tests.testapp.models import Deal, Lead

from .conftest import zcrm_settings_for

ROOT = Path(__file__).resolve().parent.parent
UPSERT = "POST /crm/{version}/{module}/upsert"
LIST = "GET /crm/{version}/{module}"
DELETED = "GET /crm/{version}/{module}/deleted"
GET_ONE = "GET /crm/{version}/{module}/{id}"

pytestmark = pytest.mark.django_db


@pytest.fixture
def typed(settings, zoho_tokens, fake_zoho):
    settings.ZCRM = {
        **settings.ZCRM,
        "SYNC_MODELS": {"Leads": "testapp.Lead", "Deals": "testapp.Deal"},
    }
    return fake_zoho


@pytest.fixture
def deals(typed):
    typed.crm.seed("Accounts", 3)
    typed.crm.seed("Contacts", 4)
    typed.crm.seed("Deals", 30)
    return typed


# -- zcrm_inspect --------------------------------------------------------------------------------


def test_zcrm_inspect_writes_the_test_apps_models_exactly(typed):
    out = io.StringIO()

    call_command("zcrm_inspect", "Leads", "Deals", stdout=out)

    assert out.getvalue() == (ROOT / "tests" / "testapp" / "models.py").read_text()


def test_sample_projects_lead_model_is_zcrm_inspect_output(typed):
    assert generate_models(["Leads"]) == (ROOT / "sample_project" / "crm" / "models.py").read_text()


def test_inspected_models_of_every_module_pass_djangos_model_checks(typed):
    source = generate_models(["Leads", "Contacts", "Accounts", "Deals", "Tasks", "Notes"])
    namespace = {"__name__": "tests.testapp.inspected"}

    with isolate_apps("tests.testapp"):
        exec(compile(source, "<zcrm_inspect>", "exec"), namespace)  # noqa: S102 - our own output
        classes = [
            v
            for v in namespace.values()
            if isinstance(v, type) and issubclass(v, ZohoSyncedModel) and v is not ZohoSyncedModel
        ]
        problems = [str(e) for cls in classes for e in cls.check()]
        mappings = {cls.__name__: get_mapping(cls) for cls in classes}

    assert sorted(mappings) == ["Account", "Contact", "Deal", "Lead", "Note", "Task"]
    assert problems == []
    contact = mappings["Contact"].converters
    assert isinstance(contact["Account_Name"], zoho.Lookup)
    assert contact["Account_Name"].module == "Accounts"
    assert isinstance(contact["Languages"], zoho.MultiSelect)
    assert isinstance(contact["Date_of_Birth"], zoho.Date)
    assert contact["Full_Name"].read_only and not contact["Last_Name"].read_only
    assert isinstance(mappings["Account"].converters["Annual_Revenue"], zoho.Decimal)


def test_inspect_maps_types_picklists_and_lookups_sensibly():
    stage = Deal._meta.get_field("stage")
    assert ("Closed Won", "Closed Won") in stage.choices and stage.max_length >= 26
    assert isinstance(Deal._meta.get_field("closing_date"), models.DateField)
    amount = Deal._meta.get_field("amount")
    assert isinstance(amount, models.DecimalField) and amount.decimal_places == 2
    assert isinstance(Deal._meta.get_field("competitors"), models.JSONField)
    assert Deal._meta.get_field("account_id").max_length == 32
    assert isinstance(Lead._meta.get_field("email"), models.EmailField)
    assert Lead.ZohoMeta.duplicate_check_fields == ["Email"]


# -- sync into typed models ------------------------------------------------------------------------


def test_typed_sync_round_trips_lookups_picklists_dates_and_currency(deals):
    fake = deals
    result = sync_module("Deals")

    assert result.created == 30 and result.model == "testapp.deal"
    accounts = {r["id"]: r["Account_Name"] for r in fake.crm.records("Accounts")}
    for record in fake.crm.records("Deals"):
        row = Deal.objects.get(zoho_id=record["id"])
        assert row.deal_name == record["Deal_Name"]
        assert row.stage == record["Stage"]
        assert row.closing_date == date.fromisoformat(record["Closing_Date"])
        assert row.amount == Decimal(str(record["Amount"])).quantize(Decimal("0.01"))
        assert row.account_id == record["Account_Name"]["id"]
        assert row.account_name == accounts[row.account_id]
        assert row.contact_id == record["Contact_Name"]["id"]
        assert row.competitors == record["Competitors"]
        assert row.owner_id == record["Owner"]["id"] and row.owner_name == record["Owner"]["name"]
        assert row.created_time == parse_datetime(record["Created_Time"])
        assert row.zoho_modified_time == parse_datetime(record["Modified_Time"])
        assert not row.zoho_dirty

    # ... and back: change lookups, a picklist, a date, money and a multi-select locally.
    row = Deal.objects.order_by("zoho_id").first()
    other_account = next(a for a in accounts if a != row.account_id)
    row.stage = "Closed Won"
    row.closing_date = date(2031, 1, 2)
    row.account_id = other_account
    row.amount = Decimal("1234.50")
    row.competitors = ["Acme", "Initech"]
    row.save()
    assert row.zoho_dirty

    pushed = push_model("testapp.Deal")

    assert pushed.ok and pushed.updated == 1 and fake.count(endpoint=UPSERT) == 1
    server = fake.crm.get_record("Deals", row.zoho_id)
    assert server["Stage"] == "Closed Won"
    assert server["Closing_Date"] == "2031-01-02"
    assert server["Account_Name"] == {"id": other_account, "name": accounts[other_account]}
    assert server["Amount"] == 1234.5
    assert server["Competitors"] == ["Acme", "Initech"]

    again = sync_module("Deals")

    row.refresh_from_db()
    assert again.updated == 1 and not row.zoho_dirty
    assert row.account_name == accounts[other_account]
    assert row.zoho_modified_time == parse_datetime(server["Modified_Time"])


def test_sync_does_not_overwrite_rows_with_unpushed_local_changes(typed):
    fake = typed
    fake.crm.seed("Leads", 10)
    sync_module("Leads")
    lead = Lead.objects.order_by("zoho_id").first()
    lead.city = "Local edit"
    lead.save()
    fake.crm.modify("Leads", lead.zoho_id, {"City": "Zoho edit", "Country": "Peru"})

    result = sync_module("Leads")

    lead.refresh_from_db()
    assert result.kept_local == 1 and result.updated == 0
    assert lead.city == "Local edit" and lead.zoho_dirty

    push_model(Lead)
    sync_module("Leads")

    lead.refresh_from_db()
    assert fake.crm.get_record("Leads", lead.zoho_id)["City"] == "Local edit"
    assert lead.city == "Local edit" and not lead.zoho_dirty and lead.country == "Peru"


def test_a_value_the_model_cannot_hold_fails_that_record_only(typed):
    fake = typed
    good = fake.crm.seed("Leads", 2)
    bad = {**good[0], "id": "4150868000000555555", "Follow_Up_Date": "next tuesday"}
    fake.inject(
        endpoint=LIST,
        status=200,
        body={
            "data": [good[0], bad, good[1]],
            "info": {"per_page": 200, "count": 3, "page": 1, "more_records": False},
        },
    )

    result = sync_module("Leads")

    assert result.created == 2 and result.failed == 1
    assert result.failures[0][0] == "4150868000000555555"
    assert "Follow_Up_Date" in result.failures[0][1]
    assert "1 failed" in result.summary()
    # The checkpoint moved past it, but its id waits to be read again (tests below).
    assert result.pending_failures == 1 and result.summary().endswith("(1 pending retry)")
    assert list(lead_state().failed_ids) == ["4150868000000555555"]


# -- records the model could not store: kept and read again by id ------------------------------------


def lead_state() -> SyncState:
    return SyncState.objects.get(module="Leads", target="testapp.lead")


def retry_calls(fake) -> list[list[str]]:
    """The ids asked for by each `GET /{module}?ids=...` (the retries), in order."""
    return [
        r.query["ids"][0].split(",")
        for r in fake.requests
        if r.endpoint == LIST and "ids" in r.query
    ]


def listing_calls(fake) -> int:
    return sum(1 for r in fake.requests if r.endpoint == LIST and "ids" not in r.query)


@pytest.fixture
def phone_as_number(monkeypatch):
    """Map Lead's Phone as if ``Lead.phone`` were an integer column; return the fix.

    Zoho's data stays valid and unchanged: it is the local model that cannot hold a phone such
    as "+1 555 010 0101", as when a developer picks a column too narrow for some values. Calling
    the returned function puts the real mapping back, as the developer's fix (a wider column,
    migrated) would; no Modified_Time moves in Zoho, so only a retry can bring those records in.
    """
    mapping = get_mapping(Lead)
    real = mapping.converters["Phone"]
    monkeypatch.setitem(mapping.converters, "Phone", zoho.Integer("phone").bind(Lead, "Phone"))
    return lambda: mapping.converters.__setitem__("Phone", real)


def seed_leads(fake, count: int, bad: set[int] = frozenset(), step: int = 1) -> list[dict]:
    """Leads modified an hour ago (outside any lookback): those in ``bad`` have a spaced phone."""
    return fake.crm.seed(
        "Leads",
        count,
        start=fake.crm.now() - 7200,
        step_seconds=step,
        factory=lambda i: {"Phone": f"+1 555 010 {i:04d}" if i in bad else f"555010{i:04d}"},
    )


def test_a_record_the_model_cannot_hold_is_retried_by_id_until_the_fixed_model_stores_it(
    typed, phone_as_number
):
    fake = typed
    leads = seed_leads(fake, 5, bad={2})
    bad = leads[2]["id"]

    first = sync_module("Leads")

    assert (first.created, first.failed, first.pending_failures) == (4, 1, 1)
    assert first.failures[0][0] == bad and "Phone" in first.failures[0][1]
    assert first.summary().endswith("(1 pending retry)")
    assert list(lead_state().failed_ids) == [bad]
    assert lead_state().last_result["pending_failures"] == 1

    # Unchanged in Zoho and behind the checkpoint: the listing no longer returns it, the retry
    # reads it by id (one call) and it fails again.
    fake.reset_counters()
    second = sync_module("Leads")

    assert (listing_calls(fake), fake.count(endpoint=DELETED), retry_calls(fake)) == (1, 1, [[bad]])
    assert second.api_calls == 3 == len(fake.requests)
    assert (second.created, second.updated, second.failed, second.pending_failures) == (0, 0, 1, 1)
    assert second.failures == [(bad, first.failures[0][1])]
    assert list(lead_state().failed_ids) == [bad]
    assert not Lead.objects.filter(zoho_id=bad).exists()

    phone_as_number()  # the developer fixes the model
    fake.reset_counters()
    third = sync_module("Leads")

    assert retry_calls(fake) == [[bad]] and third.api_calls == 3
    assert (third.created, third.failed, third.pending_failures) == (1, 0, 0)
    assert "pending" not in third.summary()
    assert Lead.objects.get(zoho_id=bad).phone == "+1 555 010 0002"
    assert lead_state().failed_ids == {}

    fake.reset_counters()
    fourth = sync_module("Leads")

    assert fourth.api_calls == 2 and retry_calls(fake) == []
    assert fourth.changed == 0 and fourth.failed == 0
    assert Lead.objects.count() == 5


def test_a_failed_record_the_listing_reads_again_and_stores_leaves_the_retry_list(
    typed, phone_as_number
):
    fake = typed
    bad = seed_leads(fake, 3, bad={0})[0]["id"]
    assert sync_module("Leads").pending_failures == 1
    fake.crm.modify("Leads", bad, {"Phone": "5550109999"})  # fixed in Zoho: a normal change
    fake.reset_counters()

    result = sync_module("Leads")

    assert (result.created, result.failed, result.pending_failures) == (1, 0, 0)
    assert retry_calls(fake) == [] and result.api_calls == 2  # settled by the listing
    assert lead_state().failed_ids == {}


def test_a_pending_record_deleted_in_zoho_is_flagged_and_dropped_from_the_retry_list(
    typed, phone_as_number
):
    fake = typed
    leads = seed_leads(fake, 4)
    sync_module("Leads")
    gone = leads[1]["id"]
    fake.crm.modify("Leads", gone, {"Phone": "+1 555 010 0001"})  # an update the model cannot hold
    failed = sync_module("Leads")
    assert (failed.failed, failed.pending_failures) == (1, 1)
    assert list(lead_state().failed_ids) == [gone]
    fake.crm.delete("Leads", gone)
    fake.reset_counters()

    result = sync_module("Leads")

    assert retry_calls(fake) == [[gone]]  # Zoho answers with nothing: it no longer has it
    assert (result.deleted, result.failed, result.pending_failures) == (1, 0, 0)
    assert Lead.objects.get(zoho_id=gone).zoho_deleted
    assert lead_state().failed_ids == {}
    fake.reset_counters()
    assert sync_module("Leads").api_calls == 2 and retry_calls(fake) == []


def test_a_full_run_keeps_only_the_ids_that_fail_again_and_retries_nothing(typed, phone_as_number):
    fake = typed
    leads = seed_leads(fake, 6, bad={1, 4})
    still_bad, deleted = leads[1]["id"], leads[4]["id"]
    sync_module("Leads")
    assert set(lead_state().failed_ids) == {still_bad, deleted}
    fake.crm.delete("Leads", deleted, permanent=True)
    fake.reset_counters()

    full = sync_module("Leads", full=True)

    assert retry_calls(fake) == [] and full.api_calls == 2  # one listing, one sweep
    assert (full.failed, full.pending_failures) == (1, 1)
    assert list(lead_state().failed_ids) == [still_bad]

    phone_as_number()
    fixed = sync_module("Leads", full=True)

    assert (fixed.created, fixed.failed, fixed.pending_failures) == (1, 0, 0)
    assert lead_state().failed_ids == {}
    assert Lead.objects.filter(zoho_deleted=False).count() == 5


def test_a_full_retry_list_is_reported_and_asks_for_a_full_run(
    typed, phone_as_number, monkeypatch, caplog
):
    monkeypatch.setattr(retry, "MAX_PENDING_FAILURES", 2)
    fake = typed
    leads = seed_leads(fake, 5, bad={0, 1, 3})
    kept = [leads[0]["id"], leads[1]["id"]]

    first = sync_module("Leads")

    assert (first.failed, first.pending_failures, first.retry_overflow) == (3, 2, 1)
    assert first.full_sync_needed
    assert (
        "2 pending retry; 1 failed records not kept for retry (list full): run --full once "
        "the model is fixed"
    ) in first.summary()
    assert any("were not kept for retry" in m and "--full" in m for m in caplog.messages)
    state = lead_state()
    assert sorted(state.failed_ids) == sorted(kept) and state.failed_overflow_at is not None
    assert SyncStateAdmin(SyncState, admin.site).pending_retry(state) == (
        "2 (list full: run zcrm_sync --full)"
    )

    # Later runs still retry what they kept, and keep saying that only --full finds the rest.
    fake.reset_counters()
    second = sync_module("Leads")

    assert retry_calls(fake) == [kept] and second.retry_overflow == 0
    assert second.full_sync_needed and "run --full once the model is fixed" in second.summary()

    phone_as_number()
    third = sync_module("Leads")
    assert (third.created, third.pending_failures) == (2, 0) and third.full_sync_needed
    full = sync_module("Leads", full=True)

    assert (full.created, full.failed, full.pending_failures) == (1, 0, 0)
    assert not full.full_sync_needed and "--full" not in full.summary()
    assert lead_state().failed_overflow_at is None
    assert SyncStateAdmin(SyncState, admin.site).pending_retry(lead_state()) == "-"
    assert Lead.objects.count() == 5


def test_retries_read_100_ids_per_call(typed, phone_as_number):
    fake = typed
    leads = seed_leads(fake, 230, bad=set(range(0, 230, 2)) | {1})  # 116 cannot be stored
    assert sync_module("Leads").pending_failures == 116
    fake.reset_counters()

    result = sync_module("Leads")

    assert [len(ids) for ids in retry_calls(fake)] == [100, 16]
    assert result.api_calls == 4 and result.failed == 116
    phone_as_number()
    fake.reset_counters()
    fixed = sync_module("Leads")
    assert fixed.created == 116 and fixed.api_calls == 4
    assert Lead.objects.count() == len(leads)


def test_a_retry_zoho_refuses_to_batch_reads_the_records_one_by_one(typed, phone_as_number):
    fake = typed
    leads = seed_leads(fake, 4, bad={0, 2})
    bad = [leads[0]["id"], leads[2]["id"]]
    sync_module("Leads")
    fake.crm.delete("Leads", bad[1])
    fake.crm.modify("Leads", leads[3]["id"], {"City": "Quito"})  # the listing returns one page
    fake.reset_counters()

    def refuse_ids_once(report) -> None:
        if report.phase == "records":  # the next listing request is the retry by ids
            fake.inject(
                endpoint=LIST,
                status=400,
                body={
                    "code": "INVALID_DATA",
                    "details": {"param_name": "ids"},
                    "message": "invalid data",
                    "status": "error",
                },
            )

    phone_as_number()
    result = sync_module("Leads", progress=refuse_ids_once)

    assert retry_calls(fake) == [bad] and fake.count(endpoint=GET_ONE) == 2
    assert (result.created, result.updated, result.pending_failures) == (1, 1, 0)
    assert lead_state().failed_ids == {}


def test_typed_delete_mode_drops_clean_rows_and_flags_rows_with_local_changes(typed, settings):
    settings.ZCRM = {**settings.ZCRM, "SYNC_DELETE_MODE": "delete"}
    fake = typed
    fake.crm.seed("Leads", 5)
    sync_module("Leads")
    clean, edited = Lead.objects.order_by("zoho_id")[:2]
    edited.city = "Keep me"
    edited.save()
    fake.crm.delete("Leads", [clean.zoho_id, edited.zoho_id])

    result = sync_module("Leads")

    assert result.deleted == 2
    assert not Lead.objects.filter(pk=clean.pk).exists()
    edited.refresh_from_db()
    assert edited.zoho_deleted and edited.city == "Keep me" and edited.zoho_dirty


def test_save_marks_a_row_for_push_only_when_a_mapped_writable_field_changes(typed):
    typed.crm.seed("Leads", 1)
    sync_module("Leads")
    lead = Lead.objects.get()

    lead.save()
    assert not Lead.objects.get().zoho_dirty
    lead.full_name = "Read only, never pushed"
    lead.save()
    assert not Lead.objects.get().zoho_dirty
    lead.zoho_push_error = "x"
    lead.save(update_fields=["zoho_push_error"])
    assert not Lead.objects.get().zoho_dirty
    lead.city = "Changed"
    lead.save(update_fields=["city"])
    fresh = Lead.objects.get()
    assert fresh.zoho_dirty and fresh.local_modified_at is not None

    new = Lead.objects.create(last_name="Local", company="Only here")
    assert new.zoho_dirty and new.zoho_id is None


# -- zcrm_push --------------------------------------------------------------------------------------


def test_zcrm_push_of_150_local_changes_makes_two_upsert_calls_and_records_every_outcome(typed):
    fake = typed
    fake.crm.seed("Leads", 110)
    sync_module("Leads")
    existing = list(Lead.objects.order_by("zoho_id"))
    for n, lead in enumerate(existing):
        lead.city = f"City {n}"
        if n < 2:
            lead.email = "not-an-email"  # Zoho refuses these two
        lead.save()
    for n in range(40):
        Lead.objects.create(
            last_name="" if n < 3 else f"New {n}",
            company="Fresh Co",
            email=f"new{n}@example.org",
            lead_status="Not Contacted",
        )
    fake.reset_counters()
    out = io.StringIO()

    with pytest.raises(CommandError, match="5 of 150 rows were not accepted"):
        call_command("zcrm_push", "Leads", stdout=out)

    assert fake.count(endpoint=UPSERT) == 2
    assert "150 local changes, 37 created, 108 updated, 5 failed" in out.getvalue()
    failed = Lead.objects.filter(zoho_dirty=True)
    assert failed.count() == 5
    assert {row.zoho_push_error.split(" ")[0] for row in failed} == {
        "INVALID_DATA",
        "MANDATORY_NOT_FOUND",
    }
    assert all("on Email" in r.zoho_push_error for r in failed if r.email == "not-an-email")
    assert all("on Last_Name" in r.zoho_push_error for r in failed if r.last_name == "")
    accepted = Lead.objects.filter(zoho_dirty=False)
    assert accepted.count() == 145 and not accepted.filter(zoho_id__isnull=True).exists()
    assert set(accepted.values_list("zoho_push_error", flat=True)) == {""}
    server = {r["id"]: r for r in fake.crm.records("Leads")}
    assert len(server) == 147
    for row in accepted:
        record = server[row.zoho_id]
        if row.city:
            assert record["City"] == row.city
        else:
            assert (record["Last_Name"], record["Company"], record["Lead_Status"]) == (
                row.last_name,
                "Fresh Co",
                "Not Contacted",
            )

    # Nothing is lost: fix the five and push again; only they are sent.
    for row in failed:
        row.email = f"fixed{row.pk}@example.org"
        row.last_name = row.last_name or "Fixed"
        row.save()
    fake.reset_counters()

    second = push_model(Lead)

    assert second.ok and second.total == 5 and fake.count(endpoint=UPSERT) == 1
    assert not Lead.objects.filter(zoho_dirty=True).exists()


@pytest.mark.django_db(transaction=True)
def test_a_row_edited_while_its_push_is_in_flight_stays_marked(settings, fake_zoho):
    settings.ZCRM = {**zcrm_settings_for(fake_zoho), "SYNC_MODELS": {"Leads": "testapp.Lead"}}
    get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    fake_zoho.crm.seed("Leads", 1)
    sync_module("Leads")
    lead = Lead.objects.get()
    lead.city = "First edit"
    lead.save()
    fake_zoho.inject(endpoint=UPSERT, delay=0.5)
    errors = []

    def edit_during_push() -> None:
        try:
            deadline = time.monotonic() + 10
            while fake_zoho.in_flight() == 0 and time.monotonic() < deadline:
                time.sleep(0.005)
            row = Lead.objects.get()
            row.city = "Second edit"
            row.save()
        except Exception as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    editor = threading.Thread(target=edit_during_push)
    editor.start()
    result = push_model(Lead)
    editor.join(timeout=15)

    assert not errors and result.ok
    row = Lead.objects.get()
    assert row.zoho_dirty and row.city == "Second edit"
    assert fake_zoho.crm.get_record("Leads", row.zoho_id)["City"] == "First edit"

    push_model(Lead)

    assert not Lead.objects.get().zoho_dirty
    assert fake_zoho.crm.get_record("Leads", row.zoho_id)["City"] == "Second edit"


# -- configuration errors -----------------------------------------------------------------------------


def test_sync_models_naming_a_missing_model_says_which_setting_to_fix(typed, settings):
    settings.ZCRM = {**settings.ZCRM, "SYNC_MODELS": {"Leads": "testapp.Nope"}}

    with pytest.raises(ZCRMConfigurationError, match=r"SYNC_MODELS.*Leads.*not an installed model"):
        sync_module("Leads")


def test_a_model_not_derived_from_zoho_synced_model_is_refused(typed, settings):
    settings.ZCRM = {**settings.ZCRM, "SYNC_MODELS": {"Leads": "django_zcrm.SyncState"}}

    with pytest.raises(ZCRMConfigurationError, match="ZohoSyncedModel"):
        sync_module("Leads")


@isolate_apps("tests.testapp")
def test_a_mapping_to_a_missing_field_names_the_model_and_the_field():
    class Broken(ZohoSyncedModel):
        name = models.CharField(max_length=10)

        class ZohoMeta:
            module = "Leads"
            fields = {"Last_Name": "name", "City": "town"}

        class Meta:
            app_label = "testapp"

    with pytest.raises(ZCRMConfigurationError, match=r"testapp.Broken.*'City'.*'town'"):
        get_mapping(Broken)


def test_syncing_a_module_into_another_modules_model_is_refused(typed, settings):
    settings.ZCRM = {**settings.ZCRM, "SYNC_MODELS": {"Contacts": "testapp.Lead"}}

    with pytest.raises(ZCRMConfigurationError, match="ZohoMeta.module is 'Leads'"):
        sync_module("Contacts")


def test_a_run_that_fails_during_its_retries_keeps_the_retry_list_for_the_next_run(
    typed, phone_as_number, settings
):
    settings.ZCRM = {**settings.ZCRM, "RETRY_BACKOFF_BASE": 0, "MAX_RETRIES": 1}
    fake = typed
    leads = seed_leads(fake, 4, bad={1})
    bad = leads[1]["id"]
    sync_module("Leads")
    fake.crm.delete("Leads", leads[3]["id"])  # so the sweep reports a page

    def zoho_fails_the_retry(report) -> None:
        if report.phase == "deleted":
            fake.crm.fail_next("500", times=2, endpoint=LIST)

    phone_as_number()
    with pytest.raises(ZCRMServerError):
        sync_module("Leads", progress=zoho_fails_the_retry)

    state = lead_state()
    assert state.status == SyncState.FAILED and list(state.failed_ids) == [bad]
    fake.reset_counters()

    result = sync_module("Leads")

    assert result.resumed and retry_calls(fake) == [[bad]]
    assert (result.created, result.pending_failures) == (1, 0)
    assert lead_state().failed_ids == {} and Lead.objects.get(zoho_id=bad).phone


def test_an_interrupted_full_run_keeps_the_ids_it_failed_before_the_interruption(
    typed, phone_as_number, settings
):
    # The fault is armed after page 1 is stored, for the next fetch: no fetching ahead.
    settings.ZCRM = {
        **settings.ZCRM,
        "RETRY_BACKOFF_BASE": 0,
        "MAX_RETRIES": 1,
        "SYNC_PREFETCH": False,
    }
    fake = typed
    # A minute apart: the resumed listing's lookback does not reach back to the first page.
    leads = seed_leads(fake, 6, bad={0, 5}, step=60)
    bad, gone = leads[0]["id"], leads[5]["id"]
    sync_module("Leads")
    fake.crm.delete("Leads", gone, permanent=True)

    def fail_after_first_page(report) -> None:
        if report.phase == "records" and report.pages == 1:
            fake.crm.fail_next("500", times=2, endpoint=LIST)

    with pytest.raises(ZCRMServerError):
        sync_module("Leads", full=True, batch_size=2, progress=fail_after_first_page)
    assert set(lead_state().failed_ids) == {bad, gone}
    fake.reset_counters()

    resumed = sync_module("Leads", full=True, batch_size=2)

    # The resumed part never read the first page again; its failure still counts as this run's.
    assert resumed.resumed and resumed.failed == 0 and retry_calls(fake) == []
    assert list(lead_state().failed_ids) == [bad] and resumed.pending_failures == 1


# -- moving a module from the CRMRecord mirror to a typed model ---------------------------------------


def test_generated_models_name_their_records(typed):
    typed.crm.seed("Leads", 2)
    typed.crm.seed("Deals", 1)
    sync_module("Leads")
    sync_module("Deals")
    lead, deal = Lead.objects.first(), Deal.objects.get()
    assert str(lead) == lead.full_name and lead.full_name
    assert str(deal) == deal.deal_name and deal.deal_name
    assert str(Lead(zoho_id="4150868000000999001")) == "4150868000000999001"


def test_a_mirror_superseded_by_a_typed_model_is_logged_and_marked_in_the_admin(
    typed, settings, caplog, rf, admin_user
):
    typed.crm.seed("Leads", 4)
    mirror = {"Leads": "django_zcrm.CRMRecord", "Deals": "testapp.Deal"}
    settings.ZCRM = {**settings.ZCRM, "SYNC_MODELS": mirror}
    with caplog.at_level("WARNING", logger="django_zcrm"):
        sync_module("Leads")
    assert "no longer update" not in caplog.text
    model_admin = SyncStateAdmin(SyncState, admin.site)
    state = SyncState.objects.get(module="Leads", target="django_zcrm.crmrecord")
    assert model_admin.superseded(state) == "-"

    settings.ZCRM = {**settings.ZCRM, "SYNC_MODELS": {"Leads": "testapp.Lead"}}
    with caplog.at_level("WARNING", logger="django_zcrm"):
        sync_module("Leads")

    assert "Leads now syncs into testapp.lead: the 4 django_zcrm.crmrecord rows" in caplog.text
    assert model_admin.superseded(state) == "by testapp.lead: no longer updated"
    typed_state = SyncState.objects.get(module="Leads", target="testapp.lead")
    assert model_admin.superseded(typed_state) == "-"
    request = rf.get("/admin/django_zcrm/syncstate/")
    request.user = admin_user
    assert "superseded" in model_admin.get_list_display(request)
