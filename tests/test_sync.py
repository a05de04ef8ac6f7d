"""The sync engine against the fake Zoho server (real HTTP) and a real database.

Covers the request-count targets of issue 4 (first sync, incremental, nothing-changed re-run),
deletions, the guard against older versions, records changing while a sync is paging, resuming
an interrupted run, restarts at Zoho's paging caps, dry runs and the per-module lease.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from django_zcrm.exceptions import ZCRMServerError, ZCRMSyncAlreadyRunningError, ZCRMValidationError
from django_zcrm.models import CRMRecord, SyncState
from django_zcrm.sync import SyncProgress, sync_module
from django_zcrm.sync import lease as sync_lease

LIST = "GET /crm/{version}/{module}"
DELETED = "GET /crm/{version}/{module}/deleted"

pytestmark = pytest.mark.django_db


def server_records(fake, module="Leads") -> dict[str, dict]:
    return {r["id"]: r for r in fake.crm.records(module)}


def local_records(module="Leads") -> dict[str, dict]:
    return {row.zoho_id: row.data for row in CRMRecord.objects.filter(module=module, deleted=False)}


def assert_mirror_equals_server(fake, module="Leads") -> None:
    server = server_records(fake, module)
    local = local_records(module)
    assert sorted(local) == sorted(server), (
        f"missing {sorted(set(server) - set(local))[:5]}, extra {sorted(set(local) - set(server))[:5]}"
    )
    stale = [rid for rid in server if local[rid] != server[rid]]
    assert not stale, f"{len(stale)} rows differ from the server, e.g. {stale[:3]}"
    assert (
        CRMRecord.objects.filter(module=module).values("zoho_id").distinct().count()
        == CRMRecord.objects.filter(module=module).count()
    )


def statuses(fake, endpoint: str) -> list[int]:
    return [r.status for r in fake.requests if r.endpoint == endpoint]


@pytest.fixture
def leads_5000(zoho_tokens, fake_zoho):
    fake_zoho.crm.seed("Leads", 5000)
    fake_zoho.reset_counters()
    return fake_zoho


def test_first_sync_of_5000_leads_stores_them_with_25_list_requests_and_one_deleted_sweep(
    leads_5000,
):
    fake = leads_5000

    result = sync_module("Leads")

    assert fake.count(endpoint=LIST) == 25
    assert fake.count(endpoint=DELETED) == 1
    assert result.api_calls == 26 == len(fake.requests)
    assert (result.created, result.updated, result.deleted, result.failed) == (5000, 0, 0, 0)
    assert result.pages == 25
    assert_mirror_equals_server(fake)
    state = SyncState.objects.get(module="Leads", target="django_zcrm.crmrecord")
    assert state.status == SyncState.DONE and state.run_id == "" and state.lease_owner is None
    newest = CRMRecord.objects.order_by("-modified_time").first().modified_time
    assert state.cursor == result.cursor and result.cursor >= newest


def test_incremental_sync_reads_30_changes_and_10_deletions_with_two_requests(leads_5000):
    fake = leads_5000
    sync_module("Leads")
    ids = [r["id"] for r in fake.crm.records("Leads")]
    changed, removed = ids[100:130], ids[2000:2010]
    fake.crm.modify("Leads", changed, {"City": "Lisbon", "Lead_Status": "Contacted"})
    fake.crm.delete("Leads", removed)
    fake.reset_counters()

    result = sync_module("Leads")

    assert fake.count(endpoint=LIST) == 1
    assert fake.count(endpoint=DELETED) == 1
    assert result.api_calls == 2
    assert (result.created, result.updated, result.deleted, result.failed) == (0, 30, 10, 0)
    assert set(CRMRecord.objects.filter(deleted=True).values_list("zoho_id", flat=True)) == set(
        removed
    )
    assert all(CRMRecord.objects.get(zoho_id=rid).deleted_at is not None for rid in removed)
    assert {row.data["City"] for row in CRMRecord.objects.filter(zoho_id__in=changed)} == {"Lisbon"}
    assert_mirror_equals_server(fake)

    fake.reset_counters()
    again = sync_module("Leads")

    assert again.changed == 0 and again.failed == 0
    assert (fake.count(endpoint=LIST), fake.count(endpoint=DELETED)) == (1, 1)
    assert_mirror_equals_server(fake)


def test_rerun_with_nothing_new_gets_not_modified_answers(zoho_tokens, fake_zoho, settings):
    settings.ZCRM = {**settings.ZCRM, "SYNC_LOOKBACK_SECONDS": 0}
    fake_zoho.crm.seed("Leads", 300)
    sync_module("Leads")
    ids = [r["id"] for r in fake_zoho.crm.records("Leads")]
    fake_zoho.crm.modify("Leads", ids[:3], {"City": "Oslo"})
    fake_zoho.crm.delete("Leads", ids[3:5])
    assert sync_module("Leads").changed == 5
    fake_zoho.reset_counters()

    result = sync_module("Leads")

    assert result.changed == 0 and result.unchanged == 0 and result.api_calls == 2
    assert statuses(fake_zoho, LIST) == [304]
    assert statuses(fake_zoho, DELETED) == [304]


def test_delete_mode_removes_rows_of_records_deleted_in_zoho(zoho_tokens, fake_zoho, settings):
    settings.ZCRM = {**settings.ZCRM, "SYNC_DELETE_MODE": "delete"}
    fake_zoho.crm.seed("Leads", 50)
    sync_module("Leads")
    gone = [r["id"] for r in fake_zoho.crm.records("Leads")][:7]
    fake_zoho.crm.delete("Leads", gone)

    result = sync_module("Leads")

    assert result.deleted == 7
    assert not CRMRecord.objects.filter(zoho_id__in=gone).exists()
    assert CRMRecord.objects.count() == 43
    assert_mirror_equals_server(fake_zoho)


def test_an_older_version_never_overwrites_a_newer_row(zoho_tokens, fake_zoho):
    fake_zoho.crm.seed("Leads", 20)
    sync_module("Leads")
    row = CRMRecord.objects.order_by("zoho_id").first()
    # A newer version already stored (say, by a webhook) than the one Zoho lists.
    newer = {**row.data, "City": "Newer City"}
    CRMRecord.objects.filter(pk=row.pk).update(
        data=newer, modified_time=row.modified_time.replace(year=row.modified_time.year + 1)
    )

    result = sync_module("Leads", full=True)

    assert CRMRecord.objects.get(pk=row.pk).data["City"] == "Newer City"
    assert result.updated == 0 and result.created == 0


def test_full_sync_flags_rows_zoho_no_longer_has(zoho_tokens, fake_zoho):
    fake_zoho.crm.seed("Leads", 30)
    sync_module("Leads")
    # Gone from Zoho longer than its recycle bin remembers: only a full run can notice.
    CRMRecord.objects.create(module="Leads", zoho_id="4150868000000999999", data={"id": "x"})
    CRMRecord.objects.create(module="Contacts", zoho_id="4150868000000999998", data={"id": "y"})

    result = sync_module("Leads", full=True)

    assert result.deleted == 1 and result.unchanged == 30 and result.api_calls == 2
    assert CRMRecord.objects.get(zoho_id="4150868000000999999").deleted
    assert not CRMRecord.objects.get(zoho_id="4150868000000999998").deleted
    assert_mirror_equals_server(fake_zoho)


def test_records_changed_and_deleted_while_paging_are_caught_by_the_next_run(
    zoho_tokens, fake_zoho, settings
):
    # The scenario needs page 3 fetched after page 2 is stored: no fetching ahead.
    settings.ZCRM = {**settings.ZCRM, "SYNC_PREFETCH": False}
    fake_zoho.crm.seed("Leads", 1000)
    ids = [r["id"] for r in fake_zoho.crm.records("Leads")]
    done = []

    def meddle(report: SyncProgress) -> None:
        # After page 2, someone edits a record of page 1 and deletes another: every later
        # record shifts up one place in Zoho's offset paging, so one is skipped at a boundary.
        if report.phase == "records" and report.pages == 2 and not done:
            done.append(True)
            fake_zoho.crm.modify("Leads", ids[5], {"City": "Moved"})
            fake_zoho.crm.delete("Leads", ids[10])

    first = sync_module("Leads", progress=meddle)
    skipped = ids[400]
    assert skipped not in local_records(), "the scenario must make offset paging skip a record"
    second = sync_module("Leads")

    assert done and first.rewound
    assert_mirror_equals_server(fake_zoho)
    assert CRMRecord.objects.get(zoho_id=ids[10]).deleted
    assert CRMRecord.objects.get(zoho_id=ids[5]).data["City"] == "Moved"
    assert not second.rewound


def test_a_failed_run_is_resumed_from_its_last_committed_page(zoho_tokens, fake_zoho, settings):
    # The fault is armed after page 3 is stored, for the next fetch: no fetching ahead.
    settings.ZCRM = {
        **settings.ZCRM,
        "RETRY_BACKOFF_BASE": 0,
        "MAX_RETRIES": 1,
        "SYNC_PREFETCH": False,
    }
    fake_zoho.crm.seed("Leads", 1000)
    pages = []

    def fail_after_three(report: SyncProgress) -> None:
        pages.append(report.pages)
        if report.pages == 3:
            fake_zoho.crm.fail_next("500", times=2, endpoint=LIST)

    with pytest.raises(ZCRMServerError):
        sync_module("Leads", progress=fail_after_three)
    state = SyncState.objects.get(module="Leads")
    assert state.status == SyncState.FAILED and state.run_id and state.lease_owner is None
    assert CRMRecord.objects.count() == 600
    fake_zoho.reset_counters()

    result = sync_module("Leads")

    assert result.resumed
    # Pages 4 and 5 plus the one re-read around the checkpoint; never the first 600 again.
    assert fake_zoho.count(endpoint=LIST) == 3
    assert result.created == 400
    assert_mirror_equals_server(fake_zoho)


def test_listing_continues_from_the_checkpoint_when_zoho_ends_the_paging(zoho_tokens, fake_zoho):
    fake_zoho.crm.options.page_token_max_records = 1000
    fake_zoho.crm.seed("Leads", 2500)

    result = sync_module("Leads")

    assert result.created == 2500
    assert_mirror_equals_server(fake_zoho)


def test_batch_size_sets_records_per_request(zoho_tokens, fake_zoho):
    fake_zoho.crm.seed("Leads", 500)
    fake_zoho.reset_counters()

    result = sync_module("Leads", batch_size=50)

    assert fake_zoho.count(endpoint=LIST) == 10 and result.pages == 10
    assert {r.query["per_page"][0] for r in fake_zoho.requests if r.endpoint == LIST} == {"50"}
    with pytest.raises(ZCRMValidationError):
        sync_module("Leads", batch_size=201)


def test_dry_run_counts_changes_and_writes_nothing(zoho_tokens, fake_zoho):
    fake_zoho.crm.seed("Leads", 120)
    sync_module("Leads")
    ids = [r["id"] for r in fake_zoho.crm.records("Leads")]
    fake_zoho.crm.modify("Leads", ids[:4], {"City": "Rome"})
    fake_zoho.crm.delete("Leads", ids[4:6])
    fake_zoho.crm.add_records("Leads", [{"Last_Name": "New", "Company": "Co"}])
    before = list(CRMRecord.objects.order_by("pk").values())
    state_before = list(SyncState.objects.values())

    result = sync_module("Leads", dry_run=True)

    assert (result.created, result.updated, result.deleted) == (1, 4, 2)
    assert list(CRMRecord.objects.order_by("pk").values()) == before
    assert list(SyncState.objects.values()) == state_before


def test_since_reads_only_records_modified_after_it(zoho_tokens, fake_zoho):
    records = fake_zoho.crm.seed("Leads", 100)
    cut = records[60]["Modified_Time"]

    result = sync_module("Leads", since=cut)

    assert result.created == 39
    assert set(CRMRecord.objects.values_list("zoho_id", flat=True)) == {
        r["id"] for r in records[61:]
    }


def test_a_second_run_of_the_same_module_is_refused_before_any_api_call(zoho_tokens, fake_zoho):
    fake_zoho.crm.seed("Leads", 10)
    lease = sync_lease.acquire("Leads", "django_zcrm.crmrecord")
    fake_zoho.reset_counters()

    with pytest.raises(ZCRMSyncAlreadyRunningError, match="already running"):
        sync_module("Leads")

    assert len(fake_zoho.requests) == 0
    lease.release()
    assert sync_module("Leads").created == 10


def test_the_lease_of_a_process_that_died_on_this_host_is_taken_over(zoho_tokens, fake_zoho):
    fake_zoho.crm.seed("Leads", 10)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    holder = f"{socket.gethostname()[:80]}:{dead.stdout.strip()}:abc"
    state = sync_lease.get_state("Leads", "django_zcrm.crmrecord")
    SyncState.objects.filter(pk=state.pk).update(
        lease_owner=holder, lease_until=timezone.now() + timedelta(hours=1)
    )

    assert sync_module("Leads").created == 10


def test_other_modules_sync_independently(zoho_tokens, fake_zoho):
    fake_zoho.crm.seed("Accounts", 5)
    fake_zoho.crm.seed("Contacts", 8)

    sync_module("Accounts")
    sync_module("Contacts")

    assert CRMRecord.objects.filter(module="Accounts").count() == 5
    assert CRMRecord.objects.filter(module="Contacts").count() == 8
    contact = CRMRecord.objects.filter(module="Contacts").first()
    assert contact.data["Account_Name"]["id"] in set(
        CRMRecord.objects.filter(module="Accounts").values_list("zoho_id", flat=True)
    )
    assert SyncState.objects.count() == 2
