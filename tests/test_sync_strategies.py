"""The read planner and its strategies (issue 11): COQL windows, prefetch, caps, resume.

Against the fake Zoho server over real HTTP and a real database. Timing is left to the
benchmark (benchmarks/fetch_benchmark.py); these tests assert calls, calls in flight and that the
local table ends identical to the server.
"""

from __future__ import annotations

import pytest

from django_zcrm.models import SyncState
from django_zcrm.sync import sync_module
from django_zcrm.sync.mapping import get_mapping
from tests.testapp.models import Lead

COQL = "POST /crm/{version}/coql"
LIST = "GET /crm/{version}/{module}"
DELETED = "GET /crm/{version}/{module}/deleted"
USERS = "GET /crm/{version}/users"

pytestmark = pytest.mark.django_db


@pytest.fixture
def typed(settings, zoho_tokens, fake_zoho):
    settings.ZCRM = {**settings.ZCRM, "SYNC_MODELS": {"Leads": "testapp.Lead"}}
    return fake_zoho


def assert_typed_equals_server(fake) -> None:
    """Every server record has a local row with the values the REST mapping gives it."""
    mapping = get_mapping(Lead)
    server = {r["id"]: r for r in fake.crm.records("Leads")}
    local = {row.zoho_id: row for row in Lead.objects.filter(zoho_deleted=False)}
    assert sorted(local) == sorted(server)
    fields = [f for f in mapping.model_fields]
    stale = []
    for rid, record in server.items():
        expected = mapping.values_from_record(record)
        row = local[rid]
        if any(getattr(row, f) != expected[f] for f in fields if f in expected):
            stale.append(rid)
    assert not stale, f"{len(stale)} rows differ from the server, e.g. {stale[:3]}"


def test_full_sync_of_20000_leads_by_coql_windows_stays_within_the_caps(typed, settings):
    fake = typed
    settings.ZCRM = {**settings.ZCRM, "MAX_CONCURRENT_REQUESTS": 4}
    fake.crm.seed("Leads", 20_000)
    fake.set_network(request_delay=0.02)
    fake.reset_counters()

    result = sync_module("Leads", full=True, strategy="coql")

    assert result.created == 20_000 and result.failed == 0
    # 1 plain id scan, then window bounds 4 at a time by OFFSET (3 rounds; the last finds one
    # bound and the module's end), 1 scan of the (empty) tail, 10 windows, 1 user list, 1 sweep.
    assert fake.count(endpoint=COQL) == 24
    assert fake.count(endpoint=LIST) == 0
    assert fake.count(endpoint=USERS) == 1
    assert result.api_calls == len(fake.requests) == 26
    assert 2 <= fake.peak_concurrency() <= 4
    assert_typed_equals_server(fake)
    state = SyncState.objects.get(module="Leads")
    assert state.strategy == "coql" and state.run_position == "" and state.module_size == 20_000
    assert "read by coql" in result.summary()


def test_the_planner_reads_a_known_large_module_by_coql_and_incremental_runs_by_pages(
    typed, settings
):
    fake = typed
    settings.ZCRM = {**settings.ZCRM, "SYNC_COQL_MIN_RECORDS": 1000}
    fake.crm.seed("Leads", 1500)
    first = sync_module("Leads")  # size unknown: pages
    assert first.strategy == "rest" and first.created == 1500
    ids = [r["id"] for r in fake.crm.records("Leads")]
    fake.crm.modify("Leads", ids[:5], {"City": "Lisbon"})
    fake.reset_counters()

    again = sync_module("Leads")  # incremental: one page
    assert again.strategy == "rest" and again.updated == 5
    assert fake.count(endpoint=COQL) == 0

    fake.reset_counters()
    full = sync_module("Leads", full=True)  # 1,500 known >= 1,000: windows
    assert full.strategy.startswith("coql") and fake.count(endpoint=LIST) == 0
    assert SyncState.objects.get(module="Leads").strategy == "coql"
    assert_typed_equals_server(fake)


def test_coql_windows_split_columns_above_the_version_limit(typed):
    fake = typed
    fake.crm.options.coql_max_columns = 10
    fake.crm.seed("Leads", 300)

    result = sync_module("Leads", full=True, strategy="coql")

    # The table allows 50 columns, this server 10: one refused query, then 4 per window.
    assert result.created == 300
    assert fake.count(endpoint=COQL) == 1 + 1 + 4
    assert_typed_equals_server(fake)


def test_changes_during_a_windowed_run_are_read_by_the_next_run(typed):
    fake = typed
    fake.crm.seed("Leads", 4500)
    sync_module("Leads", full=True, strategy="coql")
    ids = [r["id"] for r in fake.crm.records("Leads")]
    fake.crm.modify("Leads", [ids[0], ids[-1]], {"City": "Porto"})

    later = sync_module("Leads")
    assert later.updated == 2
    assert_typed_equals_server(fake)


def test_a_429_lowers_the_windows_in_flight(typed, settings):
    fake = typed
    settings.ZCRM = {**settings.ZCRM, "RETRY_BACKOFF_BASE": 0.01, "RETRY_BACKOFF_MAX": 0.02}
    fake.crm.seed("Leads", 8000)
    fake.inject(endpoint=COQL, status=429, times=1, headers={"Retry-After": "0"})

    result = sync_module("Leads", full=True, strategy="coql")

    assert result.created == 8000
    assert "4 windows in flight" in result.strategy
    assert_typed_equals_server(fake)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("strategy", "kill_at_rows"), [("coql", 2000), ("coql", 8000), ("bulk", 4000)]
)
def test_a_windowed_run_killed_part_way_resumes_where_it_stopped(
    settings, fake_zoho, strategy, kill_at_rows
):
    from django_zcrm.oauth import get_oauth_client

    from .conftest import zcrm_settings_for
    from .test_sync_processes import WAIT_SECONDS, start_worker, wait_for

    fake = fake_zoho
    settings.ZCRM = {
        **zcrm_settings_for(fake),
        "SYNC_MODELS": {"Leads": "testapp.Lead"},
        "SYNC_STRATEGY": strategy,
    }
    fake.crm.options.bulk_read_delay = 0.0
    get_oauth_client().generate_access_token(fake.accounts.issue_grant_token())
    fake.crm.seed("Leads", 12_000)
    fake.set_network(request_delay=0.03)
    proc = start_worker(settings.ZCRM, "Leads", "--full", "--no-progress")
    try:
        wait_for(lambda: Lead.objects.count() >= kill_at_rows, f"{kill_at_rows} rows", proc)
        proc.kill()  # SIGKILL mid-run: a window may be half-fetched or mid-transaction
        proc.wait(timeout=WAIT_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    fake.set_network()
    state = SyncState.objects.get(module="Leads")
    assert state.strategy == strategy and state.run_id
    position = state.run_position
    committed = Lead.objects.count()
    assert committed % 2000 == 0  # whole windows only
    ids = [r["id"] for r in fake.crm.records("Leads")]
    fake.crm.modify("Leads", ids[:3] + ids[-3:], {"City": "After the crash"})
    fake.crm.delete("Leads", ids[100:102])
    fake.reset_counters()

    result = sync_module("Leads", full=True)

    assert result.resumed and result.strategy.startswith(strategy)
    if position:
        assert result.created == 12_000 - committed
    if strategy == "bulk":
        assert fake.count(endpoint=BULK_CREATE) == 0  # the same job, downloaded again
    second = sync_module("Leads")  # picks up what changed after the first run's start
    assert second.failed == 0
    assert_typed_equals_server(fake)
    assert Lead.objects.filter(zoho_deleted=True).count() == 2


BULK_CREATE = "POST /crm/bulk/{version}/read"
BULK_STATUS = "GET /crm/bulk/{version}/read/{id}"
BULK_RESULT = "GET /crm/bulk/{version}/read/{id}/result"


def test_full_sync_by_bulk_read_streams_the_csv_into_the_typed_model(typed):
    fake = typed
    fake.crm.options.bulk_read_delay = 0.0
    fake.crm.seed("Leads", 4500)
    fake.reset_counters()

    result = sync_module("Leads", full=True, strategy="bulk")

    assert result.created == 4500 and result.failed == 0 and result.strategy == "bulk"
    assert result.pages == 3  # chunks of 2,000 rows, each its own transaction
    assert [fake.count(endpoint=e) for e in (BULK_CREATE, BULK_STATUS, BULK_RESULT)] == [1, 1, 1]
    assert fake.count(endpoint=LIST) == 0
    assert_typed_equals_server(fake)
    assert SyncState.objects.get(module="Leads").strategy == "bulk"
    ids = [r["id"] for r in fake.crm.records("Leads")]
    fake.crm.modify("Leads", ids[:2], {"Email_Opt_Out": True, "Preferred_Channels": ["Email"]})
    assert sync_module("Leads").updated == 2
    assert_typed_equals_server(fake)


def test_bulk_read_jobs_in_the_fake_move_through_their_states_and_limit_downloads(typed, settings):
    from django_zcrm.exceptions import ZCRMRateLimitError
    from django_zcrm.services import BulkRead, iter_csv

    fake = typed
    fake.crm.options.bulk_read_delay = 10.0
    fake.crm.seed("Leads", 3)
    bulk = BulkRead("Leads")
    job = bulk.create(["Last_Name", "Owner", "Email_Opt_Out", "Preferred_Channels"])
    assert bulk.status(job)["state"] == "ADDED"
    fake.clock.advance(5)
    assert bulk.status(job)["state"] == "IN PROGRESS"
    fake.clock.advance(5)
    done = bulk.status(job)
    assert done["state"] == "COMPLETED" and done["result"]["count"] == 3
    import io

    archive = io.BytesIO()
    bulk.download(job, archive)
    rows = list(iter_csv(archive))
    server = {r["id"]: r for r in fake.crm.records("Leads")}
    assert [r["id"] for r in rows] == sorted(server, key=int)
    first = rows[0]
    assert first["Owner"] == server[first["id"]]["Owner"]["id"]
    assert first["Email_Opt_Out"] in ("true", "false")
    for _ in range(9):
        bulk.download(job, io.BytesIO())
    # The 11th download in a minute: 429 with a Retry-After longer than we agree to wait.
    settings.ZCRM = {**settings.ZCRM, "MAX_RETRY_AFTER": 0}
    with pytest.raises(ZCRMRateLimitError):
        bulk.download(job, io.BytesIO())


@pytest.mark.parametrize(
    ("extra", "check_id"),
    [
        ({"MAX_CONCURRENT_HEAVY_REQUESTS": -1}, "django_zcrm.E060"),
        ({"SYNC_STRATEGY": "fastest"}, "django_zcrm.E061"),
        ({"SYNC_COQL_MIN_RECORDS": "many"}, "django_zcrm.E062"),
        ({"SYNC_BULK_MIN_RECORDS": -5}, "django_zcrm.E062"),
    ],
)
def test_planner_and_heavy_cap_settings_are_checked(settings, extra, check_id):
    from django_zcrm.conf import validate
    from django_zcrm.sync.checks import validate_sync

    raw = {**settings.ZCRM, **extra}
    ids = [p.id for p in [*validate(raw), *validate_sync(raw)]]
    assert check_id in ids


def test_heavy_calls_never_exceed_their_own_cap(typed, settings):
    fake = typed
    settings.ZCRM = {**settings.ZCRM, "MAX_CONCURRENT_HEAVY_REQUESTS": 2}
    fake.crm.seed("Leads", 10_000)
    fake.set_network(request_delay=0.02)

    result = sync_module("Leads", full=True, strategy="coql")

    assert result.created == 10_000
    assert fake.peak_concurrency(COQL) <= 2
    assert_typed_equals_server(fake)


def test_bulk_csv_rows_become_the_json_the_rest_api_gives():
    from django_zcrm.sync.fetch_bulk import CsvRecords, record_from_csv

    types = {
        "Owner": "ownerlookup",
        "Email_Opt_Out": "boolean",
        "Tags": "multiselectpicklist",
        "No_of_Employees": "integer",
        "Annual_Revenue": "currency",
        "City": "text",
    }
    header = ["id", "Owner", "Email_Opt_Out", "Tags", "No_of_Employees", "Annual_Revenue", "City"]
    to_record = CsvRecords(header, types)

    full = to_record(["7", "42", "TRUE ", "a;b", "-12", "3.5", "Lima"])
    assert full == {
        "id": "7",
        "Owner": {"id": "42"},
        "Email_Opt_Out": True,
        "Tags": ["a", "b"],
        "No_of_Employees": -12,
        "Annual_Revenue": 3.5,
        "City": "Lima",
    }
    empty = to_record(["8", "", "", "", "", "", ""])
    assert empty == {**{name: None for name in header}, "id": "8", "Tags": []}
    # A short row's missing cells are empty; a long row's extra cells have no name and go.
    assert to_record(["8"]) == empty
    assert to_record(["7", "42", "TRUE ", "a;b", "-12", "3.5", "Lima", "extra"]) == full
    # Numbers that are not numbers stay text, for the mapping to refuse record by record.
    odd = to_record(["9", "", "false", "", "12a", "lots", " "])
    assert odd["No_of_Employees"] == "12a" and odd["Annual_Revenue"] == "lots"
    assert odd["Email_Opt_Out"] is False and odd["City"] == " "
    # The dict form (as iter_csv gives rows) converts the same way.
    assert record_from_csv(dict(zip(header, ["8"] + [""] * 6, strict=True)), types) == empty


def test_a_converter_that_overrides_convert_without_declaring_yields_is_adapted(typed):
    import decimal

    from django_zcrm.sync import mapping as zoho
    from django_zcrm.sync.mapping import ModelMapping
    from django_zcrm.sync.targets import TypedTarget
    from django_zcrm.sync.timeutil import now, parse_zoho_datetime

    class Rounded(zoho.Text):
        def convert(self, value):
            return decimal.Decimal("1.50")  # not a str: the column's adapter must see it

    record = typed.crm.seed("Leads", 1)[0]
    target = TypedTarget("Leads", Lead)
    mapping = ModelMapping(Lead)  # a copy: the cached mapping stays as it is
    assert mapping.converters["City"].output_types() == frozenset({str})
    mapping.converters["City"] = Rounded("city").bind(Lead, "City")
    assert mapping.converters["City"].output_types() is None
    target.mapping = mapping
    assert "city" not in target.trusted_types()

    row = target.build(record, parse_zoho_datetime(record["Modified_Time"]), now())
    assert target.write([row]) == {}
    assert Lead.objects.get(zoho_id=record["id"]).city == "1.50"


def _zip(files: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return data.getvalue()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>not a zip</html>", "BadZipFile"),
        (_zip({"Leads.csv": b"id,Last_Name\n1,\xff\xfe\n"}), "UnicodeDecodeError"),
        (_zip({"a.csv": b"id\n1\n", "b.csv": b"id\n2\n"}), "holds 2"),
    ],
    ids=["not-a-zip", "not-utf8", "two-csv-files"],
)
def test_a_bulk_read_download_that_cannot_be_read_fails_the_run_clearly(typed, body, says):
    from django_zcrm.exceptions import ZCRMMalformedResponseError

    fake = typed
    fake.crm.options.bulk_read_delay = 0.0
    fake.crm.seed("Leads", 30)
    fake.inject(
        endpoint=BULK_RESULT, status=200, body=body, headers={"Content-Type": "application/zip"}
    )

    with pytest.raises(ZCRMMalformedResponseError, match=says):
        sync_module("Leads", full=True, strategy="bulk")

    assert Lead.objects.count() == 0
    # The next run downloads a good file and stores everything.
    assert sync_module("Leads", full=True, strategy="bulk").created == 30
    assert_typed_equals_server(fake)


def test_window_bounds_found_by_offset_fall_back_to_the_plain_scan_when_zoho_refuses(typed):
    fake = typed
    # OFFSET + LIMIT may reach 2,000 records only: the second bound's lookup is refused.
    fake.crm.options.coql_max_reach = 2000
    fake.crm.seed("Leads", 9000)

    result = sync_module("Leads", full=True, strategy="coql")

    assert result.created == 9000 and result.failed == 0
    assert_typed_equals_server(fake)


def test_a_window_holding_more_records_than_one_answer_is_read_in_full(typed):
    fake = typed
    fake.crm.seed("Leads", 2500)
    ids = sorted(int(r["id"]) for r in fake.crm.records("Leads"))
    # The first scan says the first window ends at the 2,100th id (as when records restored
    # from the recycle bin, with their old ids, arrive between the scan and the window).
    scan = [{"id": str(i)} for i in ids[:1999]] + [{"id": str(ids[2099])}]
    fake.inject(
        endpoint=COQL,
        status=200,
        body={"data": scan, "info": {"count": 2000, "more_records": True}},
    )

    result = sync_module("Leads", full=True, strategy="coql")

    assert result.created == 2500 and result.failed == 0
    assert_typed_equals_server(fake)
