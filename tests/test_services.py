"""CRM services against the bundled fake Zoho over real HTTP, counting the requests they cost."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from django_zcrm.client import ZCRMClient
from django_zcrm.exceptions import (
    ZCRMError,
    ZCRMNotFoundError,
    ZCRMServerError,
    ZCRMValidationError,
)
from django_zcrm.redaction import TOKEN_RE
from django_zcrm.services import (
    FAILED,
    NOT_ATTEMPTED,
    SUCCEEDED,
    UNKNOWN,
    DeletedRecord,
    Module,
    Modules,
    Org,
    Record,
    Users,
    coql,
)
from django_zcrm.testing import FAKE_USER_EMAIL
from tests.support.sleeps import SleepRecorder

LIST = "GET /crm/{version}/{module}"


@pytest.fixture
def client(zoho_tokens):
    with ZCRMClient(sleep=SleepRecorder()) as crm:
        yield crm


@pytest.fixture
def leads(client):
    return Module("Leads", client=client)


def crm_requests(fake, method: str | None = None, prefix: str = "/crm/"):
    return [
        r
        for r in fake.requests
        if r.path.startswith(prefix) and (method is None or r.method == method)
    ]


def new_lead(n: int, **extra) -> dict:
    return {
        "Last_Name": f"Lead {n}",
        "Company": f"Company {n}",
        "Email": f"lead{n}@example.com",
        **extra,
    }


# -- listing ---------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("version", ["v2", "v8"])
def test_listing_5001_records_yields_each_once_in_26_requests_through_the_2000_cap(
    fake_zoho, leads, settings, version
):
    settings.ZCRM = {**settings.ZCRM, "API_VERSION": version}
    fake_zoho.crm.seed("Leads", 5001)
    fake_zoho.reset_counters()

    ids = [record.id for record in leads.iter_records(fields=["Last_Name", "Email"])]

    assert len(ids) == 5001
    assert len(set(ids)) == 5001
    assert set(ids) == {r["id"] for r in fake_zoho.crm.records("Leads")}
    listed = crm_requests(fake_zoho)
    assert len(listed) == 26
    assert all(r.path == f"/crm/{version}/Leads" for r in listed)
    assert all(r.status == 200 for r in listed)
    assert all(r.query["per_page"] == ["200"] for r in listed)
    # Past record 2,000 the pages are asked for by token, not by number.
    assert "page_token" in listed[-1].query and "page" not in listed[-1].query


@pytest.mark.django_db
def test_a_token_rejected_mid_listing_is_refreshed_once_and_nothing_is_missed(fake_zoho, leads):
    fake_zoho.crm.seed("Leads", 1000)
    fake_zoho.reset_counters()

    seen = []
    for n, record in enumerate(leads.iter_records()):
        if n == 450:
            fake_zoho.accounts.expire_access_tokens()
        seen.append(record.id)

    assert len(seen) == 1000 == len(set(seen))
    assert fake_zoho.accounts.token_requests("refresh_token") == 1
    assert [r.status for r in crm_requests(fake_zoho)] == [200, 200, 200, 401, 200, 200]


@pytest.mark.django_db
def test_a_429_mid_listing_is_waited_out_and_nothing_is_missed(fake_zoho, zoho_tokens):
    fake_zoho.crm.seed("Leads", 600)
    fake_zoho.reset_counters()
    sleeps = SleepRecorder()
    leads = Module("Leads", client=ZCRMClient(sleep=sleeps))

    records = leads.iter_records()
    first = next(records)
    fake_zoho.crm.fail_next("429", retry_after=7, endpoint=LIST)
    rest = list(records)

    assert len({first.id, *(r.id for r in rest)}) == 600
    assert sleeps.delays == [7.0]
    assert [r.status for r in crm_requests(fake_zoho)] == [200, 429, 200, 200]


@pytest.mark.django_db
def test_malformed_json_mid_listing_raises_a_typed_error(fake_zoho, leads):
    from django_zcrm.exceptions import ZCRMMalformedResponseError

    fake_zoho.crm.seed("Leads", 300)
    records = leads.iter_records()
    next(records)
    fake_zoho.inject(method="GET", path_prefix="/crm/v2/Leads", malformed=True)

    with pytest.raises(ZCRMMalformedResponseError) as caught:
        list(records)
    assert caught.value.status == 200


@pytest.mark.django_db
def test_listing_is_lazy_one_request_per_page_consumed(fake_zoho, leads):
    fake_zoho.crm.seed("Leads", 450)
    fake_zoho.reset_counters()

    records = leads.iter_records()
    first = [next(records) for _ in range(5)]

    assert len(first) == 5
    assert len(crm_requests(fake_zoho)) == 1
    assert len(list(records)) == 445
    assert len(crm_requests(fake_zoho)) == 3


@pytest.mark.django_db
def test_records_are_mappings_with_id_module_and_an_aware_modified_time(fake_zoho, leads):
    fake_zoho.crm.seed("Leads", 3)

    record = next(leads.iter_records())

    assert isinstance(record, Record) and isinstance(record, dict)
    assert record.module == "Leads"
    assert record.id == record["id"] and record.id.isdigit()
    assert record.modified_time is not None and record.modified_time.tzinfo is not None
    assert record.modified_time.isoformat(timespec="seconds") == record["Modified_Time"]
    assert set(record["Owner"]) >= {"name", "id"}
    assert isinstance(record["Preferred_Channels"], list)
    json.dumps(record)  # sendable and storable as it is


@pytest.mark.django_db
def test_fields_sort_and_other_params_are_sent(fake_zoho, leads):
    fake_zoho.crm.seed("Leads", 5)
    fake_zoho.reset_counters()

    records = list(
        leads.iter_records(
            fields=["Last_Name", "Modified_Time"],
            sort_by="Modified_Time",
            sort_order="asc",
            params={"converted": "false"},
        )
    )

    assert len(records) == 5
    assert set(records[0]) == {"id", "Last_Name", "Modified_Time"}
    query = crm_requests(fake_zoho)[0].query
    assert query["fields"] == ["Last_Name,Modified_Time"]
    assert query["sort_by"] == ["Modified_Time"] and query["sort_order"] == ["asc"]
    assert query["converted"] == ["false"]
    times = [r.modified_time for r in records]
    assert times == sorted(times)


@pytest.mark.django_db
def test_modified_since_sends_if_modified_since_and_a_304_yields_nothing(fake_zoho, leads):
    fake_zoho.crm.seed("Leads", 20)
    fake_zoho.reset_counters()
    later = datetime.now(timezone(timedelta(hours=5, minutes=30))) + timedelta(days=1)

    records = list(leads.iter_records(modified_since=later))

    assert records == []
    sent = crm_requests(fake_zoho)
    assert len(sent) == 1
    assert sent[0].status == 304
    assert sent[0].headers["If-Modified-Since"] == later.replace(microsecond=0).isoformat()
    assert "+05:30" in sent[0].headers["If-Modified-Since"]


@pytest.mark.django_db
def test_modified_since_returns_only_records_changed_after_it(fake_zoho, leads):
    fake_zoho.crm.seed("Leads", 10)
    everything = list(leads.iter_records(sort_by="Modified_Time", sort_order="asc"))
    cutoff = everything[4].modified_time

    changed = list(leads.iter_records(modified_since=cutoff))

    assert changed
    assert all(r.modified_time > cutoff for r in changed)


@pytest.mark.django_db
def test_empty_module_is_no_records_not_an_error(fake_zoho, leads):
    assert list(leads.iter_records()) == []
    assert crm_requests(fake_zoho)[-1].status == 204


@pytest.mark.django_db
def test_get_returns_one_record_and_unknown_ids_are_not_found(fake_zoho, leads):
    fake_zoho.crm.seed("Leads", 2)
    existing = next(leads.iter_records())

    record = leads.get(existing.id)

    assert record.id == existing.id and record.module == "Leads"
    assert record["Last_Name"] == existing["Last_Name"]
    with pytest.raises(ZCRMNotFoundError):
        leads.get("4150868000000999999")


# -- writing ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_creating_250_records_takes_exactly_three_posts_of_100_100_and_50(fake_zoho, leads):
    fake_zoho.reset_counters()

    result = leads.create(new_lead(i) for i in range(250))

    posts = crm_requests(fake_zoho, "POST")
    assert [len(json.loads(p.body)["data"]) for p in posts] == [100, 100, 50]
    assert result.ok and len(result) == 250 and result.requests == 3
    assert len(result.created) == 250
    assert len(set(result.ids)) == 250 and all(result.ids)
    stored = {r["Email"]: r.id for r in leads.iter_records()}
    assert [stored[f"lead{i}@example.com"] for i in range(250)] == result.ids


@pytest.mark.django_db
def test_a_batch_with_three_invalid_records_reports_them_and_creates_the_rest(fake_zoho, leads):
    records = [new_lead(i) for i in range(250)]
    del records[7]["Last_Name"]  # MANDATORY_NOT_FOUND
    records[120]["No_of_Employees"] = "many"  # INVALID_DATA
    records[249]["Email"] = records[3]["Email"]  # DUPLICATE_DATA

    result = leads.create(records, key="Email")

    assert [r.index for r in result.failed] == [7, 120, 249]
    by_index = {r.index: r for r in result.failed}
    assert (by_index[7].code, by_index[7].field) == ("MANDATORY_NOT_FOUND", "Last_Name")
    assert (by_index[120].code, by_index[120].field) == ("INVALID_DATA", "No_of_Employees")
    assert (by_index[249].code, by_index[249].field) == ("DUPLICATE_DATA", "Email")
    assert by_index[249].duplicate_of == result[3].id
    assert by_index[7].input is records[7] and by_index[249].key == records[3]["Email"]
    assert len(result.succeeded) == 247 and len(result.created) == 247
    assert result.counts() == {SUCCEEDED: 247, FAILED: 3, UNKNOWN: 0, NOT_ATTEMPTED: 0}
    assert [r.index for r in result] == list(range(250))
    assert len(list(leads.iter_records())) == 247
    assert "247 succeeded, 3 failed in 3 requests" in result.summary()


@pytest.mark.django_db
def test_upsert_by_email_updates_existing_inserts_new_and_says_which(fake_zoho, leads):
    created = leads.create([new_lead(i) for i in range(3)])
    fake_zoho.reset_counters()

    result = leads.upsert(
        [new_lead(1, City="Lyon"), new_lead(7), new_lead(2, City="Oslo"), new_lead(8)],
        duplicate_check_fields=["Email"],
    )

    assert [r.action for r in result] == ["updated", "created", "updated", "created"]
    assert result[0].id == created[1].id and result[2].id == created[2].id
    assert [r.index for r in result.updated] == [0, 2]
    assert [r.index for r in result.created] == [1, 3]
    posts = crm_requests(fake_zoho, "POST")
    assert len(posts) == 1 and posts[0].path == "/crm/v2/Leads/upsert"
    assert json.loads(posts[0].body)["duplicate_check_fields"] == ["Email"]
    assert leads.get(created[1].id)["City"] == "Lyon"
    assert len(list(leads.iter_records())) == 5


@pytest.mark.django_db
def test_update_in_batches_reports_each_record(fake_zoho, leads):
    created = leads.create([new_lead(i) for i in range(150)])
    fake_zoho.reset_counters()
    changes = [{"id": rid, "City": "Berlin"} for rid in created.ids]
    changes.append({"City": "nowhere"})  # no id

    result = leads.update(changes, trigger=[])

    puts = crm_requests(fake_zoho, "PUT")
    assert [len(json.loads(p.body)["data"]) for p in puts] == [100, 51]
    assert json.loads(puts[0].body)["trigger"] == []
    assert len(result.updated) == 150
    assert result[150].status == FAILED and result[150].code == "MANDATORY_NOT_FOUND"
    assert leads.get(created.ids[42])["City"] == "Berlin"


@pytest.mark.django_db
def test_delete_in_batches_of_100_reports_each_id(fake_zoho, leads):
    created = leads.create([new_lead(i) for i in range(120)])
    fake_zoho.reset_counters()

    result = leads.delete([*created.ids, "4150868000000999999"])

    deletes = crm_requests(fake_zoho, "DELETE")
    assert [len(d.query["ids"][0].split(",")) for d in deletes] == [100, 21]
    assert len(result.succeeded) == 120
    assert all(r.action == "deleted" for r in result.succeeded)
    assert result[120].status == FAILED
    assert list(leads.iter_records()) == []
    deleted = list(leads.iter_deleted())
    assert len(deleted) == 120 and all(isinstance(d, DeletedRecord) for d in deleted)
    assert deleted[0].deleted_time is not None and deleted[0].deleted_time.tzinfo is not None
    assert {d.id for d in deleted} == set(created.ids)


@pytest.mark.django_db
def test_a_server_error_on_insert_is_not_repeated_and_every_record_is_accounted_for(
    fake_zoho, leads
):
    fake_zoho.inject(method="POST", path_prefix="/crm/v2/Leads", status=500)

    result = leads.create(new_lead(i) for i in range(250))

    assert len(crm_requests(fake_zoho, "POST")) == 1
    assert isinstance(result.error, ZCRMServerError)
    assert result.counts() == {SUCCEEDED: 0, FAILED: 0, UNKNOWN: 100, NOT_ATTEMPTED: 150}
    assert "look the records up" in result[0].message
    assert not result.ok
    with pytest.raises(ZCRMServerError):
        result.raise_for_error()


@pytest.mark.django_db
def test_a_server_error_on_the_second_insert_keeps_the_first_batch_and_reports_the_rest(
    fake_zoho, leads
):
    def records():
        for i in range(250):
            if i == 100:  # the first POST has been answered; make the next one fail
                fake_zoho.inject(method="POST", path_prefix="/crm/v2/Leads", status=502)
            yield new_lead(i)

    result = leads.create(records())

    assert result.counts() == {SUCCEEDED: 100, FAILED: 0, UNKNOWN: 100, NOT_ATTEMPTED: 50}
    assert [r.status for r in result[99:101]] == [SUCCEEDED, UNKNOWN]
    assert result.requests == 2
    assert len(crm_requests(fake_zoho, "POST")) == 2
    assert len(list(leads.iter_records())) == 100


@pytest.mark.django_db
def test_an_insert_applied_but_answered_with_500_is_not_repeated_so_nothing_is_duplicated(
    fake_zoho, leads
):
    fake_zoho.crm.fail_next("500", endpoint="POST /crm/{version}/{module}", after_write=True)

    result = leads.create([new_lead(1), new_lead(2)])

    assert len(crm_requests(fake_zoho, "POST")) == 1
    assert [r.status for r in result] == [UNKNOWN, UNKNOWN]
    assert len(fake_zoho.crm.records("Leads")) == 2  # applied once, never twice


@pytest.mark.django_db
def test_a_delete_applied_but_answered_with_500_is_repeated_and_counted_as_done(fake_zoho, leads):
    ids = leads.create([new_lead(i) for i in range(3)]).ids
    fake_zoho.crm.fail_next("500", endpoint="DELETE /crm/{version}/{module}", after_write=True)

    result = leads.delete(ids)

    assert result.ok and [r.action for r in result] == ["deleted"] * 3
    assert [r.status for r in crm_requests(fake_zoho, "DELETE")] == [500, 400]
    assert fake_zoho.crm.records("Leads") == []


@pytest.mark.django_db
def test_a_single_failing_record_answered_400_is_reported_not_raised(fake_zoho, leads):
    result = leads.create([{"Company": "No Name Inc"}])

    assert crm_requests(fake_zoho, "POST")[0].status == 400
    assert result.error is None
    assert result[0].status == FAILED
    assert (result[0].code, result[0].field) == ("MANDATORY_NOT_FOUND", "Last_Name")


@pytest.mark.django_db
def test_mixed_results_answered_200_instead_of_207_are_read_the_same_way(fake_zoho, leads):
    fake_zoho.crm.options.mixed_status = 200

    result = leads.create([new_lead(1), {"Company": "No Name Inc"}])

    assert crm_requests(fake_zoho, "POST")[0].status == 200
    assert [r.status for r in result] == [SUCCEEDED, FAILED]


@pytest.mark.django_db
def test_records_never_sent_for_want_of_a_token_are_not_attempted(fake_zoho, zoho_tokens):
    from django_zcrm.exceptions import ZCRMTokenNotFoundError

    stranger = Module("Leads", client=ZCRMClient("nobody@example.com"))

    result = stranger.create(new_lead(i) for i in range(150))

    assert isinstance(result.error, ZCRMTokenNotFoundError)
    assert result.counts() == {SUCCEEDED: 0, FAILED: 0, UNKNOWN: 0, NOT_ATTEMPTED: 150}
    assert crm_requests(fake_zoho) == []


@pytest.mark.django_db
def test_records_that_could_not_reach_zoho_are_not_attempted(fake_zoho, leads, settings):
    settings.ZCRM = {**settings.ZCRM, "MAX_RETRIES": 1}
    leads.client.oauth_client.get_tokens()
    fake_zoho.stop()

    result = leads.create([new_lead(1), new_lead(2)])

    assert [r.status for r in result] == [NOT_ATTEMPTED, NOT_ATTEMPTED]
    assert "could not connect" in result[0].message


@pytest.mark.django_db
def test_a_rejected_whole_call_fails_its_records_and_stops_the_run(fake_zoho, leads):
    fake_zoho.inject(
        method="POST",
        path_prefix="/crm/v2/Leads",
        status=400,
        body={
            "code": "LIMIT_EXCEEDED",
            "details": {},
            "message": "limit exceeded",
            "status": "error",
        },
    )

    result = leads.create(new_lead(i) for i in range(150))

    assert result.counts() == {SUCCEEDED: 0, FAILED: 100, UNKNOWN: 0, NOT_ATTEMPTED: 50}
    assert result[0].code == "LIMIT_EXCEEDED"
    assert isinstance(result.error, ZCRMValidationError)
    assert len(crm_requests(fake_zoho, "POST")) == 1


@pytest.mark.django_db
def test_inputs_that_are_not_mappings_fail_locally_without_costing_a_call(fake_zoho, leads):
    result = leads.create([new_lead(1), "not a record", new_lead(2)])

    assert [r.status for r in result] == [SUCCEEDED, FAILED, SUCCEEDED]
    assert result[1].code == "INVALID_INPUT"
    sent = json.loads(crm_requests(fake_zoho, "POST")[0].body)["data"]
    assert len(sent) == 2


# -- ids are checked before any request ------------------------------------------------------------

ID_CALLS = {
    "get": lambda m, bad: m.get(bad),
    "delete": lambda m, bad: m.delete(["4150868000000000001", bad]),
    "delete one": lambda m, bad: m.delete(bad),
    "iter_related": lambda m, bad: m.iter_related(bad, "Notes"),
    "link_related": lambda m, bad: m.link_related("4150868000000000001", "Products", bad),
    "unlink_related": lambda m, bad: m.unlink_related(bad, "Products", "4150868000000000001"),
    "notes": lambda m, bad: m.notes(bad),
    "add_note": lambda m, bad: m.add_note(bad, "text"),
    "delete_note": lambda m, bad: m.delete_note("4150868000000000001", bad),
    "attachments": lambda m, bad: m.attachments(bad),
    "upload_attachment": lambda m, bad: m.upload_attachment(bad, b"hello", "a.txt"),
    "download_attachment": lambda m, bad: m.download_attachment(bad, "4150868000000000001"),
    "delete_attachment": lambda m, bad: m.delete_attachment("4150868000000000001", bad),
    "add_tags": lambda m, bad: m.add_tags([bad], ["vip"]),
    "remove_tags": lambda m, bad: m.remove_tags([bad], ["vip"]),
}
ID_ARGUMENT = {
    "delete": "ids[1]",
    "delete one": "ids[0]",
    "link_related": "related_id",
    "delete_note": "note_id",
    "download_attachment": "record_id",
    "delete_attachment": "attachment_id",
    "add_tags": "ids[0]",
    "remove_tags": "ids[0]",
}


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [None, "", "  ", "abc", "12x", 1.5], ids=repr)
@pytest.mark.parametrize("call", list(ID_CALLS))
def test_a_missing_or_malformed_id_is_refused_before_any_request(fake_zoho, leads, call, bad):
    fake_zoho.reset_counters()

    with pytest.raises(ZCRMValidationError) as caught:
        ID_CALLS[call](leads, bad)

    argument = ID_ARGUMENT.get(call, "record_id")
    assert caught.value.message.startswith(f"{argument} is ")
    assert "string of digits" in caught.value.message and caught.value.code == "INVALID_ID"
    assert fake_zoho.count() == 0


@pytest.mark.django_db
def test_a_users_get_with_no_id_is_refused_before_any_request(fake_zoho, client):
    fake_zoho.reset_counters()

    with pytest.raises(ZCRMValidationError, match=r"^user_id is None"):
        Users(client=client).get(None)

    assert fake_zoho.count() == 0


@pytest.mark.django_db
def test_an_update_record_with_a_bad_id_fails_alone_and_is_never_sent(fake_zoho, leads):
    fake_zoho.crm.seed("Leads", 1)
    existing = next(leads.iter_records())
    fake_zoho.reset_counters()

    result = leads.update([{"id": None, "City": "x"}, {"id": existing.id, "City": "Oslo"}])

    assert [r.status for r in result] == [FAILED, SUCCEEDED]
    assert (result[0].code, result[0].field) == ("INVALID_ID", "id")
    assert result[0].message.startswith("records[0]['id'] is None")
    sent = json.loads(crm_requests(fake_zoho, "PUT")[0].body)["data"]
    assert [r["id"] for r in sent] == [existing.id]

    only_bad = leads.update([{"id": "", "City": "x"}])

    assert only_bad[0].code == "INVALID_ID" and fake_zoho.count(method="PUT") == 1


@pytest.mark.django_db
def test_ids_given_as_ints_or_with_spaces_are_accepted(fake_zoho, leads):
    fake_zoho.crm.seed("Leads", 1)
    existing = next(leads.iter_records())

    assert leads.get(f" {existing.id} ").id == existing.id
    assert leads.get(int(existing.id)).id == existing.id


# -- search and COQL -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_search_by_criteria_email_and_word(fake_zoho, leads):
    leads.create([new_lead(1, City="Lyon"), new_lead(2, City="Oslo"), new_lead(3, City="Lyon")])
    fake_zoho.reset_counters()

    by_city = list(leads.search([("City", "equals", "Lyon")]))
    by_email = list(leads.search(email="lead2@example.com"))
    nothing = list(leads.search(criteria="(City:equals:Atlantis)"))

    assert sorted(r["Email"] for r in by_city) == ["lead1@example.com", "lead3@example.com"]
    assert [r["Email"] for r in by_email] == ["lead2@example.com"]
    assert nothing == []
    sent = crm_requests(fake_zoho)
    assert len(sent) == 3 and all(r.path == "/crm/v2/Leads/search" for r in sent)
    assert sent[0].query["criteria"] == ["(City:equals:Lyon)"]
    with pytest.raises(ZCRMValidationError):
        list(leads.search())


@pytest.mark.django_db
def test_coql_returns_records_of_the_queried_module(fake_zoho, client):
    fake_zoho.crm.seed("Leads", 30)

    page = coql(
        "select Last_Name, Email from Leads where Last_Name is not null limit 10", client=client
    )

    assert len(page.records) == 10
    assert all(r.module == "Leads" and r.id for r in page.records)
    assert page.more_records is True
    assert (
        Module("Leads", client=client)
        .coql("select Last_Name from Leads where Last_Name is not null limit 200")
        .more_records
        is False
    )


# -- metadata --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_fields_layouts_and_related_lists_metadata(fake_zoho, leads):
    fields = leads.fields()
    layouts = leads.layouts()
    related = leads.related_lists()

    names = {f["api_name"] for f in fields}
    assert {"Last_Name", "Email", "Owner", "Modified_Time"} <= names
    assert layouts and layouts[0]["id"]
    assert {r["api_name"] for r in related} >= {"Notes", "Attachments"}


@pytest.mark.django_db
def test_users_org_and_modules_services(fake_zoho, client):
    fake_zoho.accounts.add_user("second@example.com", "Second", "User")
    users = Users(client=client)

    assert users.current()["email"] == FAKE_USER_EMAIL
    everyone = users.list()
    assert {u["email"] for u in everyone} == {FAKE_USER_EMAIL, "second@example.com"}
    assert users.get(everyone[1]["id"])["email"] == everyone[1]["email"]
    assert [u["email"] for u in users.iter_users("AdminUsers")] == [FAKE_USER_EMAIL]
    with pytest.raises(ZCRMNotFoundError):
        users.get("4150868000000099999")
    with pytest.raises(ZCRMValidationError):
        users.list("Everybody")

    org = Org(client=client).get()
    assert org["id"] and org["zgid"] and "company_name" in org

    modules = Modules(client=client)
    assert {"Leads", "Contacts", "Accounts", "Deals"} <= set(modules.api_names())
    assert modules.get("Leads")["api_name"] == "Leads"
    with pytest.raises(ZCRMError):
        modules.get("No_Such_Module")
    queries = [r.query.get("type") for r in crm_requests(fake_zoho, prefix="/crm/v2/users")]
    assert queries[:2] == [["CurrentUser"], ["AllUsers"]]


# -- related records, notes, attachments, tags ------------------------------------------------------


@pytest.mark.django_db
def test_related_records_of_an_account(fake_zoho, client):
    accounts = Module("Accounts", client=client)
    contacts = Module("Contacts", client=client)
    account_id = accounts.create([{"Account_Name": "Globex"}]).ids[0]
    contacts.create([{"Last_Name": f"C{i}", "Account_Name": {"id": account_id}} for i in range(3)])
    contacts.create([{"Last_Name": "Elsewhere"}])

    related = list(accounts.iter_related(account_id, "Contacts"))

    assert sorted(r["Last_Name"] for r in related) == ["C0", "C1", "C2"]


@pytest.mark.django_db
def test_notes_can_be_added_listed_and_deleted(fake_zoho, leads):
    lead_id = leads.create([new_lead(1)]).ids[0]

    note_id = leads.add_note(lead_id, "Called, wants a demo", title="Call summary")
    leads.add_note(lead_id, "Second note")
    notes = list(leads.notes(lead_id))

    assert note_id and note_id in {n.id for n in notes}
    assert len(notes) == 2
    assert {n["Note_Content"] for n in notes} == {"Called, wants a demo", "Second note"}
    leads.delete_note(lead_id, note_id)
    assert [n.id for n in leads.notes(lead_id)] != [] and note_id not in {
        n.id for n in leads.notes(lead_id)
    }


@pytest.mark.django_db
def test_attachments_can_be_uploaded_listed_downloaded_and_deleted(fake_zoho, leads, tmp_path):
    lead_id = leads.create([new_lead(1)]).ids[0]
    path = tmp_path / "quote été.pdf"
    path.write_bytes(b"%PDF-1.4 fake \x00\xff")

    attachment_id = leads.upload_attachment(lead_id, path)
    listed = list(leads.attachments(lead_id))
    downloaded = leads.download_attachment(lead_id, attachment_id)

    assert [a.id for a in listed] == [attachment_id]
    assert listed[0]["File_Name"] == "quote été.pdf"
    assert downloaded.content == b"%PDF-1.4 fake \x00\xff"
    assert downloaded.filename == "quote été.pdf"
    leads.delete_attachment(lead_id, attachment_id)
    assert list(leads.attachments(lead_id)) == []


@pytest.mark.django_db
def test_tags_are_added_and_removed_by_name(fake_zoho, leads):
    ids = leads.create([new_lead(i) for i in range(3)]).ids

    added = leads.add_tags(ids[:2], ["vip", "2025"])
    assert added.ok and len(added) == 2
    assert {t["name"] for t in leads.get(ids[0])["Tag"]} == {"vip", "2025"}
    removed = leads.remove_tags(ids[:1], ["vip"])
    assert removed.ok
    assert {t["name"] for t in leads.get(ids[0])["Tag"]} == {"2025"}
    assert "vip" in {t["name"] for t in leads.tags()}


# -- API versions ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("version", ["v2", "v2.1", "v3", "v4", "v5", "v6", "v7", "v8"])
def test_every_api_version_speaks_its_own_rules(fake_zoho, client, settings, version):
    settings.ZCRM = {**settings.ZCRM, "API_VERSION": version}
    leads = Module("Leads", client=client)
    fake_zoho.crm.seed("Leads", 250)

    listed = list(leads.iter_records())  # v7+: the fields are looked up and sent
    created = leads.create([new_lead(1), new_lead(2)])
    upserted = leads.upsert([new_lead(1, City="Lyon"), new_lead(3)], ["Email"])
    note_id = leads.add_note(created.ids[0], "hello")  # v6+: Parent_Id is an object
    tagged = leads.add_tags(created.ids, ["vip"])  # v7+: tags in a JSON body
    found = list(leads.search(email="lead2@example.com"))
    deleted = leads.delete([created.ids[1]])

    assert len(listed) == 250 and "Last_Name" in listed[0]
    assert created.ok and [r.action for r in upserted] == ["updated", "created"]
    assert note_id in {n.id for n in leads.notes(created.ids[0])}
    assert tagged.ok and {t["name"] for t in leads.get(created.ids[0])["Tag"]} == {"vip"}
    assert [r.id for r in found] == [created.ids[1]]
    assert deleted.ok and [d.id for d in leads.iter_deleted()] == [created.ids[1]]
    assert {r.path.split("/")[2] for r in crm_requests(fake_zoho)} == {version}
    assert all(r.status < 400 for r in crm_requests(fake_zoho))


# -- secrets ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_token_outside_the_authorization_header_or_in_logs(
    fake_zoho, leads, zoho_tokens, caplog
):
    caplog.set_level(logging.DEBUG, logger="django_zcrm")
    fake_zoho.crm.seed("Leads", 250)
    list(leads.iter_records())
    fake_zoho.accounts.expire_access_tokens()
    leads.create([new_lead(i) for i in range(3)])
    fake_zoho.inject(method="GET", path_prefix="/crm/v2/Leads", status=500)
    list(leads.search(word="Lead"))

    for record in crm_requests(fake_zoho):
        others = {k: v for k, v in record.headers.items() if k.lower() != "authorization"}
        for place in (
            record.path,
            repr(record.query),
            record.body.decode("utf-8", "replace"),
            repr(others),
        ):
            assert not TOKEN_RE.search(place), record
    assert any(r.name == "django_zcrm.client" for r in caplog.records)
    assert not any(TOKEN_RE.search(r.getMessage()) for r in caplog.records)
    assert zoho_tokens.access_token not in caplog.text
