"""The sync's write path: one prepared upsert per page, rows identical to the ORM's, bad records alone.

Runs on every backend of the suite (SQLite, MariaDB/MySQL, PostgreSQL through ``ZCRM_TEST_DB``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from django_zcrm.models import CRMRecord, SyncState
from django_zcrm.sync import push_model, sync_module
from django_zcrm.sync.targets import GenericTarget, TypedTarget
from django_zcrm.sync.timeutil import now as current_time
from django_zcrm.sync.timeutil import parse_zoho_datetime
from tests.testapp.models import Deal, Lead

pytestmark = pytest.mark.django_db

LIST = "GET /crm/{version}/{module}"
BAD_IDS = {
    "4150868000000700001": '"Modified_Time": "9999-12-31T23:59:59-05:00"',  # past year 9999 in UTC
    "4150868000000700002": '"Modified_Time": "9999-06-01T10:00:00+00:00"',  # far in the future
    "4150868000000700003": '"No_of_Employees": 9223372036854775808',  # 2**63
    "4150868000000700004": '"Annual_Revenue": NaN',
    "4150868000000700005": '"Annual_Revenue": "NaN"',
}


@pytest.fixture
def typed(settings, zoho_tokens, fake_zoho):
    settings.ZCRM = {
        **settings.ZCRM,
        "SYNC_MODELS": {"Leads": "testapp.Lead", "Deals": "testapp.Deal"},
    }
    return fake_zoho


def _page_with_bad_records(fake, good: list[dict[str, Any]]) -> str:
    """One listing page (raw JSON, for NaN and 2**63): good[0], the bad records, the rest."""
    items = [json.dumps(good[0])]
    for rid, bad in BAD_IDS.items():
        base = {k: v for k, v in good[0].items() if k not in ("id",)}
        text = json.dumps({"id": rid, **base})
        key = bad.split(":", 1)[0].strip('"')
        # Replace the field's value with the raw token (JSON that json.dumps would not write).
        record = json.loads(text)
        record.pop(key, None)
        items.append(json.dumps(record)[:-1] + ", " + bad + "}")
    items += [json.dumps(r) for r in good[1:]]
    info = {"per_page": 200, "count": len(items), "page": 1, "more_records": False}
    return '{"data": [' + ", ".join(items) + '], "info": ' + json.dumps(info) + "}"


@pytest.mark.parametrize("read_ahead", [True, False], ids=["rows-built-ahead", "rows-built-inline"])
def test_records_no_database_can_hold_fail_alone_and_wait_on_the_retry_list(
    typed, settings, read_ahead
):
    # SYNC_PREFETCH on: rows are built in the fetching thread and their failures handed over.
    settings.ZCRM = {**settings.ZCRM, "SYNC_PREFETCH": read_ahead}
    fake = typed
    good = fake.crm.seed("Leads", 3)
    fake.inject(endpoint=LIST, status=200, body=_page_with_bad_records(fake, good))

    result = sync_module("Leads")

    assert result.created == 3 and result.failed == len(BAD_IDS), result.failures
    assert {rid for rid, _ in result.failures} == set(BAD_IDS)
    assert set(Lead.objects.values_list("zoho_id", flat=True)) == {r["id"] for r in good}
    state = SyncState.objects.get(module="Leads", target="testapp.lead")
    assert set(state.failed_ids) == set(BAD_IDS)
    # The checkpoint moved with the good records, not to year 9999.
    assert state.cursor is not None and state.cursor.year < 3000
    newest_good = max(parse_zoho_datetime(r["Modified_Time"]) for r in good)
    assert state.cursor >= newest_good.astimezone(UTC).replace(microsecond=0)


def test_the_mirror_stores_what_json_can_hold_and_fails_the_rest_alone(
    settings, zoho_tokens, fake_zoho
):
    fake = fake_zoho
    good = fake.crm.seed("Leads", 3)
    fake.inject(endpoint=LIST, status=200, body=_page_with_bad_records(fake, good))

    result = sync_module("Leads")

    stored = set(CRMRecord.objects.filter(module="Leads").values_list("zoho_id", flat=True))
    failed = {rid for rid, _ in result.failures}
    # Both far-future stamps fail everywhere; the others depend on the database's JSON type.
    assert {"4150868000000700001", "4150868000000700002"} <= failed
    assert stored | failed == {r["id"] for r in good} | set(BAD_IDS)
    assert {r["id"] for r in good} <= stored and not stored & failed
    state = SyncState.objects.get(module="Leads", target="django_zcrm.crmrecord")
    assert set(state.failed_ids) == failed and state.cursor.year < 3000


# -- the fast path writes what the ORM writes ------------------------------------------------------


def _edge_cases(records: list[dict[str, Any]], module: str) -> list[dict[str, Any]]:
    """The seeded records plus copies with empty, odd and boundary values of every field type."""
    first = records[0]
    cases = [dict(r) for r in records]
    blank = {k: None for k in first if k not in ("id", "Modified_Time", "Created_Time")}
    cases.append({**first, **blank, "id": "4150868000000800001"})
    odd = {
        "id": "4150868000000800002",
        "Modified_Time": "2024-02-29T23:59:59-11:00",
        "Created_Time": "2024-02-29T23:59:59+14:00",
    }
    if module == "Leads":
        odd.update(
            Annual_Revenue=12345.675,
            No_of_Employees=-(2**31),
            Email_Opt_Out="true",
            Preferred_Channels="Email;Phone",
            Follow_Up_Date="2031-12-31",
            Lead_Score_Ratio=0.1,
            Lead_Source="-None-",
            Owner={"id": "111", "name": "Zoë \u00e9", "email": "z@example.com"},
        )
    else:
        odd.update(
            Amount=0,
            Probability=100,
            Competitors=["A", "B;C"],
            Closing_Date="2000-01-01",
            Discount_Rate=1e-9,
            Account_Name={"id": "222"},
            Stage="-None-",
        )
    cases.append({**first, **odd})
    return cases


def _rows(model) -> dict[str, dict[str, Any]]:
    rows = model._base_manager.order_by("zoho_id").values()
    return {row["zoho_id"]: {k: v for k, v in row.items() if k != "id"} for row in rows}


@pytest.mark.parametrize("model,module,count", [(Lead, "Leads", 12), (Deal, "Deals", 12)])
def test_rows_written_by_the_fast_path_equal_the_orms(typed, model, module, count):
    fake = typed
    if module == "Deals":
        fake.crm.seed("Accounts", 2)
        fake.crm.seed("Contacts", 2)
    records = _edge_cases(fake.crm.seed(module, count), module)
    now = current_time()
    target = TypedTarget(module, model)

    fast = [target.build(r, parse_zoho_datetime(r.get("Modified_Time")), now) for r in records]
    assert target.write(fast) == {}
    by_fast = _rows(model)
    model._base_manager.all().delete()
    target.write_instances(
        [
            target.build_instance(r, parse_zoho_datetime(r.get("Modified_Time")), now)
            for r in records
        ]
    )
    by_orm = _rows(model)

    assert len(by_fast) == len(records)
    assert by_fast == by_orm


def test_an_upsert_of_the_fast_path_updates_in_place_as_the_orm_does(typed):
    fake = typed
    records = fake.crm.seed("Leads", 3)
    target = TypedTarget("Leads", Lead)
    first = current_time()
    target.write([target.build(r, parse_zoho_datetime(r["Modified_Time"]), first) for r in records])
    pks = dict(Lead.objects.values_list("zoho_id", "pk"))

    changed = [{**r, "City": "Lima", "Modified_Time": "2026-12-01T00:00:00+00:00"} for r in records]
    later = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)
    target.write([target.build(r, parse_zoho_datetime(r["Modified_Time"]), later) for r in changed])

    assert dict(Lead.objects.values_list("zoho_id", "pk")) == pks
    assert set(Lead.objects.values_list("city", flat=True)) == {"Lima"}
    assert {lead.synced_at for lead in Lead.objects.all()} == {later}


def test_the_mirror_fast_path_equals_the_orms(settings, zoho_tokens, fake_zoho):
    records = _edge_cases(fake_zoho.crm.seed("Leads", 5), "Leads")
    now = current_time()
    target = GenericTarget("Leads")
    target.write(
        [target.build(r, parse_zoho_datetime(r.get("Modified_Time")), now) for r in records]
    )
    by_fast = {
        row["zoho_id"]: {k: v for k, v in row.items() if k != "id"}
        for row in CRMRecord.objects.values()
    }
    CRMRecord.objects.all().delete()
    target.write_instances(
        [
            target.build_instance(r, parse_zoho_datetime(r.get("Modified_Time")), now)
            for r in records
        ]
    )
    by_orm = {
        row["zoho_id"]: {k: v for k, v in row.items() if k != "id"}
        for row in CRMRecord.objects.values()
    }
    assert by_fast == by_orm and len(by_fast) == len(records)


# -- push and service writes: batches in flight together, outcomes per batch ---------------------

UPSERT = "POST /crm/{version}/{module}/upsert"
CREATE = "POST /crm/{version}/{module}"


def test_push_sends_batches_concurrently_within_the_cap_and_records_every_outcome(typed):
    fake = typed
    fake.crm.seed("Leads", 150)
    sync_module("Leads")
    for n, lead in enumerate(Lead.objects.order_by("zoho_id")):
        lead.city = f"City {n}"
        if n < 3:
            lead.email = "not-an-email"  # Zoho refuses these three
        lead.save()
    for n in range(200):
        Lead.objects.create(last_name=f"New {n}", company="Co", email=f"new{n}@example.org")
    fake.reset_counters()
    fake.set_network(request_delay=0.05)  # long enough for the calls to overlap

    result = push_model(Lead, concurrency=3)

    fake.set_network()
    assert fake.count(endpoint=UPSERT) == 4
    assert 2 <= fake.peak_concurrency(UPSERT) <= 3
    assert (result.total, result.created, result.updated, result.failed) == (350, 200, 147, 3)
    assert Lead.objects.filter(zoho_dirty=True).count() == 3
    assert not Lead.objects.filter(zoho_dirty=False, zoho_id__isnull=True).exists()
    assert len(fake.crm.records("Leads")) == 350


def test_the_cap_bounds_push_concurrency(typed, settings):
    fake = typed
    settings.ZCRM = {**settings.ZCRM, "MAX_CONCURRENT_REQUESTS": 2}
    for n in range(500):
        Lead.objects.create(last_name=f"New {n}", company="Co", email=f"cap{n}@example.org")
    fake.set_network(request_delay=0.05)

    result = push_model(Lead)  # default: MAX_CONCURRENT_REQUESTS calls in flight

    fake.set_network()
    assert result.ok and result.created == 500
    assert fake.peak_concurrency(UPSERT) == 2


def test_concurrent_creates_keep_input_order_one_outcome_per_input(typed):
    from django_zcrm.services import Module

    fake = typed
    records = [
        {"Last_Name": f"Lead {n}", "Company": "Co", "Email": f"c{n}@example.com"}
        for n in range(450)
    ]
    fake.set_network(request_delay=0.05)

    result = Module("Leads").create(records, concurrency=4)

    fake.set_network()
    assert result.ok and fake.count(endpoint=CREATE) == 5
    assert 2 <= fake.peak_concurrency(CREATE) <= 4
    assert [r.index for r in result] == list(range(450))
    assert [r.input for r in result] == records
    server = {r["id"]: r["Email"] for r in fake.crm.records("Leads")}
    assert [server[r.id] for r in result] == [r["Email"] for r in records]


def test_a_concurrent_create_whose_first_call_fails_sends_nothing_more_and_repeats_nothing(typed):
    from django_zcrm.services import Module

    fake = typed
    records = [{"Last_Name": f"L{n}", "Company": "Co"} for n in range(450)]
    fake.inject(endpoint=CREATE, status=503)

    result = Module("Leads").create(records, concurrency=4)

    assert fake.count(endpoint=CREATE) == 1  # the insert is not repeated, nothing fans out
    states = [r.status for r in result]
    assert states == ["unknown"] * 100 + ["not_attempted"] * 350
    assert result.error is not None and fake.crm.records("Leads") == []


def test_concurrent_updates_and_deletes_cover_every_input(typed):
    from django_zcrm.services import Module

    fake = typed
    seeded = fake.crm.seed("Leads", 250)
    leads = Module("Leads")
    fake.set_network(request_delay=0.03)

    updated = leads.update([{"id": r["id"], "City": "Oslo"} for r in seeded], concurrency=3)
    deleted = leads.delete([r["id"] for r in seeded], concurrency=3)

    fake.set_network()
    assert updated.ok and [r.id for r in updated] == [r["id"] for r in seeded]
    assert deleted.ok and [r.id for r in deleted] == [r["id"] for r in seeded]
    assert fake.crm.records("Leads") == []


def test_iter_records_with_concurrency_reads_numbered_pages_ahead_then_tokens_in_order(typed):
    from django_zcrm.services import Module

    fake = typed
    fake.crm.seed("Leads", 2_450)
    leads = Module("Leads")
    plain = [r["id"] for r in leads.iter_records(fields=["Last_Name"])]
    fake.reset_counters()
    fake.set_network(request_delay=0.03)

    ahead = [r["id"] for r in leads.iter_records(fields=["Last_Name"], concurrency=4)]

    fake.set_network()
    assert ahead == plain and len(ahead) == 2_450
    listing = [r for r in fake.requests if r.endpoint == LIST]
    assert 2 <= fake.peak_concurrency(LIST) <= 4
    numbered = [int(r.query["page"][0]) for r in listing if "page" in r.query]
    assert sorted(numbered) == list(range(1, 11))  # the first 2,000 records, by number
    assert sum(1 for r in listing if "page_token" in r.query) == 3  # the rest, by token


def test_iter_records_with_concurrency_stops_at_the_last_page(typed):
    from django_zcrm.services import Module

    fake = typed
    fake.crm.seed("Leads", 450)
    fake.reset_counters()

    ids = [r["id"] for r in Module("Leads").iter_records(fields=["Last_Name"], concurrency=5)]

    assert len(ids) == len(set(ids)) == 450
    # Pages 1-3 hold the records; at most concurrency - 1 calls were asked beyond the end.
    assert 3 <= fake.count(endpoint=LIST) <= 3 + 4
