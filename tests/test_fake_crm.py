"""The fake CRM REST API (django_zcrm.testing.crm), driven over real HTTP with requests."""

from __future__ import annotations

import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests

from django_zcrm.testing import FakeZoho
from django_zcrm.testing.crm import SOURCE_API, SOURCE_CONTROL, FakeCRM, RecordChange

LIST = "GET /crm/{version}/{module}"
INSERT = "POST /crm/{version}/{module}"


class Api:
    """A requests session bound to one fake, one API version and one access token."""

    def __init__(self, fake: FakeZoho, version: str = "v2", token: str | None = None) -> None:
        self.fake = fake
        self.version = version
        self.session = requests.Session()
        self.token = token or fake.accounts.issue_access_token()
        self.session.headers["Authorization"] = f"Zoho-oauthtoken {self.token}"

    def url(self, path: str) -> str:
        return f"{self.fake.url}/crm/{self.version}/{path.lstrip('/')}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.url(path), timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.session.post(self.url(path), timeout=10, **kwargs)

    def put(self, path: str, **kwargs) -> requests.Response:
        return self.session.put(self.url(path), timeout=10, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.session.delete(self.url(path), timeout=10, **kwargs)

    def at(self, version: str) -> Api:
        return Api(self.fake, version, self.token)


@pytest.fixture
def fake(fake_zoho: FakeZoho) -> FakeZoho:
    return fake_zoho


@pytest.fixture
def api(fake: FakeZoho) -> Api:
    return Api(fake)


def lead(n: int, **extra) -> dict:
    return {
        "Last_Name": f"Lead {n}",
        "Company": f"Company {n}",
        "Email": f"lead{n}@example.com",
        **extra,
    }


# --------------------------------------------------------------------------------------------------
# Listing and paging
# --------------------------------------------------------------------------------------------------


def test_5001_records_are_listed_by_page_then_by_page_token(fake, api):
    seeded = fake.crm.seed("Leads", 5001)

    seen: list[str] = []
    for page in range(1, 11):
        body = api.get("Leads", params={"page": page, "per_page": 200}).json()
        seen += [r["id"] for r in body["data"]]
        assert set(body["info"]) == {"per_page", "count", "page", "more_records", "next_page_token"}
    token = body["info"]["next_page_token"]
    for _ in range(20):
        response = api.get("Leads", params={"page_token": token, "per_page": 200})
        body = response.json()
        seen += [r["id"] for r in body["data"]]
        if not body["info"]["more_records"]:
            break
        token = body["info"]["next_page_token"]

    assert seen == [r["id"] for r in seeded]
    assert body["info"] == {"per_page": 200, "count": 1, "page": 26, "more_records": False}
    assert fake.count(endpoint=LIST) == 26


def test_page_past_2000_records_is_refused_without_a_page_token(fake, api):
    fake.crm.seed("Leads", 2100)

    assert api.get("Leads", params={"page": 10, "per_page": 200}).status_code == 200
    response = api.get("Leads", params={"page": 11, "per_page": 200})

    assert response.status_code == 400
    assert response.json()["code"] == "DISCRETE_PAGINATION_LIMIT_EXCEEDED"
    assert response.json()["status"] == "error"


def test_page_token_is_bound_to_its_parameters_and_expires(fake, api):
    fake.crm.seed("Leads", 30)
    token = api.get("Leads", params={"per_page": 10}).json()["info"]["next_page_token"]

    mismatch = api.get("Leads", params={"page_token": token, "sort_by": "Modified_Time"})
    ambiguous = api.get("Leads", params={"page_token": token, "page": 2})
    fake.clock.advance(86_401)
    api.token = fake.accounts.issue_access_token()  # the old access token expired as well
    expired = Api(fake, token=api.token).get("Leads", params={"page_token": token})

    assert mismatch.json()["code"] == "TOKEN_BOUND_DATA_MISMATCH"
    assert ambiguous.json()["code"] == "AMBIGUITY_DURING_PROCESSING"
    assert expired.status_code == 400 and expired.json()["code"] == "EXPIRED_VALUE"


def test_v8_list_requires_fields_and_reports_page_token_keys(fake, api):
    fake.crm.seed("Contacts", 3)
    v8 = api.at("v8")

    missing = v8.get("Contacts")
    body = v8.get("Contacts", params={"fields": "Last_Name,Email", "per_page": 2}).json()

    assert missing.status_code == 400
    assert missing.json() == {
        "code": "REQUIRED_PARAM_MISSING",
        "details": {"param_name": "fields"},
        "message": "One of the expected parameter is missing",
        "status": "error",
    }
    assert all(set(r) == {"id", "Last_Name", "Email"} for r in body["data"])
    assert body["info"]["more_records"] is True and body["info"]["next_page_token"]
    assert {"sort_by", "sort_order", "previous_page_token", "page_token_expiry"} <= set(
        body["info"]
    )


def test_empty_list_is_204_and_nothing_modified_is_304(fake, api):
    empty = api.get("Deals")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    records = fake.crm.seed("Leads", 10, start=start, step_seconds=60)
    last = records[-1]["Modified_Time"]

    not_modified = api.get("Leads", headers={"If-Modified-Since": last})
    later = api.get("Leads", headers={"If-Modified-Since": records[6]["Modified_Time"]})

    assert empty.status_code == 204 and empty.content == b""
    assert empty.headers["Content-Type"].startswith("application/json")
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert [r["id"] for r in later.json()["data"]] == [r["id"] for r in records[7:]]


def test_modified_records_reappear_after_if_modified_since(fake, api):
    records = fake.crm.seed("Accounts", 5, start=datetime(2024, 1, 1, tzinfo=UTC))
    checkpoint = fake.crm.now()
    fake.clock.advance(5)
    api = Api(fake)  # a fresh token: the clock moved

    fake.crm.modify("Accounts", records[2]["id"], {"Phone": "+49 30 1234"})
    body = api.get(
        "Accounts",
        headers={"If-Modified-Since": datetime.fromtimestamp(checkpoint, UTC).isoformat()},
    ).json()

    assert [r["id"] for r in body["data"]] == [records[2]["id"]]
    assert body["data"][0]["Phone"] == "+49 30 1234"
    assert datetime.fromisoformat(body["data"][0]["Modified_Time"]).timestamp() > checkpoint


def test_sorting_is_deterministic_and_per_page_over_200_is_clamped(fake, api):
    records = fake.crm.seed("Leads", 250)

    default = api.get("Leads", params={"per_page": 500}).json()
    by_modified = api.get("Leads", params={"sort_by": "Modified_Time", "per_page": 3}).json()
    by_name = api.get("Leads", params={"sort_by": "Last_Name", "sort_order": "asc"}).json()["data"]

    assert default["info"]["per_page"] == 200 and default["info"]["count"] == 200
    assert [r["id"] for r in default["data"]] == [r["id"] for r in records[:200]]
    assert [r["id"] for r in by_modified["data"]] == [r["id"] for r in records[::-1][:3]]
    names = [r["Last_Name"].casefold() for r in by_name]
    assert names == sorted(names)


def test_single_record_and_unknown_id(fake, api):
    record = fake.crm.seed("Contacts", 1)[0]

    found = api.get(f"Contacts/{record['id']}")
    unknown = api.get("Contacts/4150868000009999999")

    assert found.json() == {"data": [found.json()["data"][0]]}
    assert found.json()["data"][0]["Email"] == record["Email"]
    assert unknown.status_code == 204


def test_seeded_e_mail_addresses_keep_non_ascii_letters_of_the_name(fake):
    leads = fake.crm.seed("Leads", 60)

    accented = [r for r in leads if not f"{r['First_Name']}{r['Last_Name']}".isascii()]
    assert accented, "the seed should include names such as José or Müller"
    for lead in accented:
        local = lead["Email"].split("@")[0]
        assert local.startswith(lead["First_Name"].lower() + ".")
        assert lead["Last_Name"].lower().replace("'", "").replace(" ", "") in local


def test_seeded_records_look_like_zoho_records(fake):
    fake.crm.seed("Accounts", 2)
    contacts = fake.crm.seed("Contacts", 4)
    deals = fake.crm.seed("Deals", 2)

    contact = contacts[0]
    assert len(contact["id"]) == 19 and contact["id"].isdigit()
    assert set(contact["Owner"]) == {"name", "id", "email"}
    assert set(contact["Account_Name"]) == {"name", "id"}
    assert isinstance(contact["Languages"], list)
    parsed = datetime.fromisoformat(contact["Modified_Time"])
    assert parsed.utcoffset() is not None and parsed.microsecond == 0
    assert deals[0]["Contact_Name"]["id"] == contacts[0]["id"]
    assert [datetime.fromisoformat(c["Modified_Time"]) for c in contacts] == sorted(
        datetime.fromisoformat(c["Modified_Time"]) for c in contacts
    )


# --------------------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------------------


def test_insert_answers_201_with_zoho_details(fake, api):
    response = api.post("Leads", json={"data": [lead(1), lead(2)], "trigger": []})

    assert response.status_code == 201
    items = response.json()["data"]
    assert [i["code"] for i in items] == ["SUCCESS", "SUCCESS"]
    assert items[0]["message"] == "record added" and items[0]["status"] == "success"
    assert set(items[0]["details"]) == {
        "Modified_Time",
        "Modified_By",
        "Created_Time",
        "id",
        "Created_By",
    }
    assert fake.crm.get_record("Leads", items[1]["details"]["id"])["Email"] == "lead2@example.com"


def test_mixed_insert_is_207_with_per_item_errors_in_input_order(fake, api):
    fake.crm.add_records("Leads", [lead(9)])
    batch = [lead(1), {"Company": "No name"}, lead(3, No_of_Employees="many"), lead(9), lead(5)]

    v2 = api.post("Leads", json={"data": batch})
    v3 = api.at("v3").post("Leads", json={"data": [lead(20), {"Company": "No name"}]})
    fake.crm.options.mixed_status = 200
    configured = api.post("Leads", json={"data": [lead(30), {"Company": "No name"}]})

    assert v2.status_code == 207
    codes = [i["code"] for i in v2.json()["data"]]
    assert codes == ["SUCCESS", "MANDATORY_NOT_FOUND", "INVALID_DATA", "DUPLICATE_DATA", "SUCCESS"]
    items = v2.json()["data"]
    assert items[1]["details"] == {"api_name": "Last_Name"}
    assert items[2]["details"] == {"expected_data_type": "integer", "api_name": "No_of_Employees"}
    assert items[3]["details"]["api_name"] == "Email"
    assert items[3]["details"]["id"] == fake.crm.records("Leads")[0]["id"]
    assert v3.json()["data"][1]["details"] == {
        "api_name": "Last_Name",
        "json_path": "$.data[1].Last_Name",
    }
    assert configured.status_code == 200
    assert len(fake.crm.records("Leads")) == 5


def test_single_failing_item_is_400_with_a_data_body(api):
    response = api.post("Leads", json={"data": [{"Last_Name": "X"}]})

    assert response.status_code == 400
    assert response.json() == {
        "data": [
            {
                "code": "MANDATORY_NOT_FOUND",
                "details": {"api_name": "Company"},
                "message": "required field not found",
                "status": "error",
            }
        ]
    }


def test_more_than_100_items_is_limit_exceeded(fake, api):
    insert = api.post("Leads", json={"data": [lead(n) for n in range(101)]})
    delete = api.delete(
        "Leads", params={"ids": ",".join(str(4150868000000400001 + n) for n in range(101))}
    )

    assert insert.status_code == 400 and insert.json()["code"] == "LIMIT_EXCEEDED"
    assert delete.status_code == 400 and delete.json()["code"] == "LIMIT_EXCEEDED"
    assert fake.crm.records("Leads") == []


def test_lookups_as_strings_or_objects_and_ids_as_numbers_in_bare_json(fake, api):
    account = fake.crm.seed("Accounts", 1)[0]
    body = {
        "data": [
            {"Last_Name": "Plain", "Account_Name": account["id"]},
            {"Last_Name": "Object", "Account_Name": {"id": int(account["id"])}},
            {"Last_Name": "Nowhere", "Account_Name": "4150868000009999999"},
        ]
    }

    # Old SDKs send the JSON body without a Content-Type header.
    response = api.session.post(api.url("Contacts"), data=json.dumps(body), timeout=10)

    items = response.json()["data"]
    assert response.status_code == 207
    assert [i["code"] for i in items] == ["SUCCESS", "SUCCESS", "INVALID_DATA"]
    stored = fake.crm.get_record("Contacts", items[1]["details"]["id"])
    assert stored["Account_Name"] == {"name": account["Account_Name"], "id": account["id"]}
    assert "Content-Type" not in response.request.headers


def test_updates_bump_modified_time_and_report_bad_items(fake, api):
    records = fake.crm.seed("Leads", 2, start=datetime(2024, 1, 1, tzinfo=UTC))

    batch = api.put(
        "Leads",
        json={
            "data": [
                {"id": records[0]["id"], "Lead_Status": "Contacted"},
                {"Lead_Status": "Contacted"},
                {"id": "4150868000009999999", "Lead_Status": "Contacted"},
            ]
        },
    )
    single = api.put(f"Leads/{records[1]['id']}", json={"data": [{"Company": ""}]})

    assert batch.status_code == 207
    assert [(i["code"], i["message"]) for i in batch.json()["data"]] == [
        ("SUCCESS", "record updated"),
        ("MANDATORY_NOT_FOUND", "required field not found"),
        ("INVALID_DATA", "the id given seems to be invalid"),
    ]
    updated = fake.crm.get_record("Leads", records[0]["id"])
    assert updated["Lead_Status"] == "Contacted"
    assert datetime.fromisoformat(updated["Modified_Time"]).timestamp() == fake.crm.now()
    assert (
        single.status_code == 400 and single.json()["data"][0]["details"]["api_name"] == "Company"
    )


def test_upsert_updates_by_duplicate_check_field_and_inserts_otherwise(fake, api):
    existing = fake.crm.add_records(
        "Contacts", [{"Last_Name": "Old", "Email": "Same@Example.com"}]
    )[0]

    response = api.post(
        "Contacts/upsert",
        json={
            "data": [
                {"Last_Name": "New name", "Email": "same@example.com"},
                {"Last_Name": "Brand new", "Email": "other@example.com"},
            ],
            "duplicate_check_fields": ["Email"],
        },
    )

    assert response.status_code == 200
    first, second = response.json()["data"]
    assert (first["action"], first["duplicate_field"], first["message"]) == (
        "update",
        "Email",
        "record updated",
    )
    assert first["details"]["id"] == existing["id"]
    assert (second["action"], second["duplicate_field"], second["message"]) == (
        "insert",
        None,
        "record added",
    )
    assert fake.crm.get_record("Contacts", existing["id"])["Last_Name"] == "New name"
    assert len(fake.crm.records("Contacts")) == 2


def test_delete_reports_unknown_ids_and_fills_the_recycle_bin(fake, api):
    records = fake.crm.seed("Deals", 3)
    unknown = "4150868000009999999"

    response = api.delete("Deals", params={"ids": f"{records[0]['id']},{unknown}"})
    single = api.delete(f"Deals/{records[1]['id']}")
    fake.crm.delete("Deals", records[2]["id"], permanent=True)
    recycle = api.get("Deals/deleted", params={"type": "recycle"}).json()["data"]
    permanent = api.get("Deals/deleted", params={"type": "permanent"}).json()["data"]
    everything = api.get("Deals/deleted").json()

    assert response.status_code == 207
    assert response.json()["data"] == [
        {
            "code": "SUCCESS",
            "details": {"id": records[0]["id"]},
            "message": "record deleted",
            "status": "success",
        },
        {
            "code": "INVALID_DATA",
            "details": {"id": unknown},
            "message": "record not deleted",
            "status": "error",
        },
    ]
    assert single.status_code == 200
    assert sorted(e["id"] for e in recycle) == sorted(r["id"] for r in records[:2])
    assert [e["id"] for e in permanent] == [records[2]["id"]]
    assert set(everything["data"][0]) == {
        "deleted_by",
        "id",
        "display_name",
        "type",
        "created_by",
        "deleted_time",
    }
    assert everything["info"]["count"] == 3
    assert fake.crm.records("Deals") == []
    assert (
        api.get("Deals/deleted", params={"type": "bogus"}).json()["code"] == "PATTERN_NOT_MATCHED"
    )


def test_deleted_listing_honours_if_modified_since(fake, api):
    records = fake.crm.seed("Leads", 2)
    fake.crm.delete("Leads", records[0]["id"])
    checkpoint = datetime.fromtimestamp(fake.crm.now(), UTC).isoformat()
    fake.clock.advance(10)
    api = Api(fake)

    nothing_new = api.get("Leads/deleted", headers={"If-Modified-Since": checkpoint})
    fake.crm.delete("Leads", records[1]["id"])
    newer = api.get("Leads/deleted", headers={"If-Modified-Since": checkpoint}).json()["data"]

    assert nothing_new.status_code == 304
    assert [e["id"] for e in newer] == [records[1]["id"]]


# --------------------------------------------------------------------------------------------------
# Search and COQL
# --------------------------------------------------------------------------------------------------


def test_search_by_criteria_email_phone_and_word(fake, api):
    fake.crm.add_records(
        "Leads",
        [
            lead(1, Last_Name="Burns", First_Name="Bea", Phone="+1 555 123 4567"),
            lead(2, Last_Name="Burnside", City="Lyon"),
            lead(3, Last_Name="Adams", Email="adams@example.org"),
        ],
    )

    def names(**params) -> list[str]:
        response = api.get("Leads/search", params=params)
        return (
            []
            if response.status_code == 204
            else sorted(r["Last_Name"] for r in response.json()["data"])
        )

    assert names(criteria="(Last_Name:equals:burns)") == ["Burns"]
    assert names(criteria="(Last_Name:starts_with:Burn)") == ["Burns", "Burnside"]
    assert names(criteria="((Last_Name:starts_with:Burn)and(City:equals:Lyon))") == ["Burnside"]
    assert names(criteria="((Last_Name:equals:Adams)or(First_Name:equals:Bea))") == [
        "Adams",
        "Burns",
    ]
    assert names(email="ADAMS@example.org") == ["Adams"]
    assert names(phone="1234567") == ["Burns"]
    assert names(word="lyon") == ["Burnside"]
    assert names(criteria="(Last_Name:equals:Nobody)") == []
    bad = api.get("Leads/search", params={"criteria": "(No_Such_Field:equals:x)"})
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_QUERY"
    assert api.get("Leads/search").json()["code"] == "REQUIRED_PARAM_MISSING"


def test_search_cannot_reach_past_2000_records(fake, api):
    fake.crm.seed("Contacts", 2001)

    last_page = api.get("Contacts/search", params={"word": "example", "page": 10, "per_page": 200})
    beyond = api.get("Contacts/search", params={"word": "example", "page": 11, "per_page": 200})

    assert last_page.status_code == 200 and last_page.json()["info"]["more_records"] is True
    assert beyond.status_code == 400 and beyond.json()["code"] == "LIMIT_REACHED"


def test_coql_filters_orders_and_pages(fake, api):
    account = fake.crm.add_records("Accounts", [{"Account_Name": "Globex"}])[0]
    fake.crm.add_records(
        "Contacts",
        [
            {
                "Last_Name": "Ames",
                "Loyalty_Points": 10,
                "Account_Name": account["id"],
                "Languages": ["German"],
            },
            {"Last_Name": "Baker", "Loyalty_Points": 500, "Email": "baker@example.com"},
            {"Last_Name": "Marsh", "Loyalty_Points": 900, "Account_Name": account["id"]},
            {"Last_Name": "Mills", "Loyalty_Points": 50},
        ],
    )

    def coql(query: str) -> requests.Response:
        return api.post("coql", json={"select_query": query})

    body = coql(
        "select Last_Name, Account_Name.Account_Name, Account_Name from Contacts "
        "where (Loyalty_Points >= 50 and Last_Name like 'M%') or Email is not null "
        "order by Loyalty_Points desc limit 2"
    ).json()
    paged = coql(
        "select Last_Name from Contacts where Last_Name in ('Ames', 'Baker', 'Mills') "
        "order by Last_Name limit 1, 1"
    ).json()

    assert [r["Last_Name"] for r in body["data"]] == ["Marsh", "Baker"]
    assert body["data"][0]["Account_Name.Account_Name"] == "Globex"
    assert body["data"][0]["Account_Name"] == {"id": account["id"]}
    assert body["info"] == {"count": 2, "more_records": True}
    assert paged["data"] == [{"Last_Name": "Baker", "id": paged["data"][0]["id"]}]
    assert coql("select Last_Name from Contacts where Last_Name = 'Nobody'").status_code == 204
    assert (
        coql("select Last_Name from Contacts where Languages = 'German'").json()["info"]["count"]
        == 1
    )
    assert coql("select Last_Name Contacts").json()["code"] == "SYNTAX_ERROR"
    assert coql("select Nope from Contacts").json()["code"] == "INVALID_QUERY"
    assert (
        coql("select Last_Name from Contacts where Loyalty_Points = 'ten'").json()["code"]
        == "INVALID_QUERY"
    )
    assert coql("select Last_Name from Contacts limit 5000").json()["code"] == "LIMIT_EXCEEDED"


# --------------------------------------------------------------------------------------------------
# Metadata, users, org
# --------------------------------------------------------------------------------------------------


def test_field_metadata_describes_types_mandatory_fields_and_lookups(api):
    fields = {
        f["api_name"]: f
        for f in api.get("settings/fields", params={"module": "Deals"}).json()["fields"]
    }
    v8_fields = {
        f["api_name"]: f
        for f in api.at("v8").get("settings/fields", params={"module": "Deals"}).json()["fields"]
    }

    assert fields["Deal_Name"]["required"] is True and fields["Stage"]["required"] is True
    assert fields["Amount"]["required"] is False and fields["Amount"]["data_type"] == "currency"
    assert "Closed Won" in [v["actual_value"] for v in fields["Stage"]["pick_list_values"]]
    assert fields["Account_Name"]["lookup"]["module"] == "Accounts"
    assert v8_fields["Contact_Name"]["lookup"]["module"]["api_name"] == "Contacts"
    assert fields["Owner"]["data_type"] == "ownerlookup"
    assert {f["data_type"] for f in fields.values()} >= {
        "text",
        "picklist",
        "multiselectpicklist",
        "date",
        "datetime",
        "currency",
        "integer",
        "double",
        "lookup",
    }
    assert set(fields["Stage"]["view_type"]) == {"view", "edit", "create", "quick_create"}
    assert api.get("settings/fields", params={"module": "Nope"}).json()["code"] == "INVALID_MODULE"


def test_modules_layouts_org_and_users_carry_the_keys_old_sdks_index(fake, api):
    fake.accounts.add_user("second@example.com", "Sam", "Second")

    modules = api.get("settings/modules").json()["modules"]
    one = api.get("settings/modules/Leads").json()["modules"][0]
    layouts = api.get("settings/layouts", params={"module": "Leads"}).json()["layouts"]
    org = api.get("org").json()["org"][0]
    users = api.get("users", params={"type": "AllUsers"}).json()
    current = api.get("users", params={"type": "CurrentUser"}).json()["users"]
    by_id = api.get(f"users/{current[0]['id']}").json()["users"]

    required_module_keys = {
        "api_name",
        "viewable",
        "creatable",
        "convertable",
        "editable",
        "deletable",
        "singular_label",
        "plural_label",
        "id",
        "modified_time",
        "api_supported",
        "scoring_supported",
        "module_name",
        "modified_by",
        "profiles",
    }
    assert {"Leads", "Contacts", "Accounts", "Deals", "Tasks"} <= {m["api_name"] for m in modules}
    assert all(required_module_keys <= set(m) for m in modules)
    assert one["related_lists"] and one["api_name"] == "Leads"
    assert {
        "id",
        "created_time",
        "modified_time",
        "name",
        "visible",
        "status",
        "created_by",
        "modified_by",
        "profiles",
        "sections",
    } <= set(layouts[0])
    assert {
        "company_name",
        "id",
        "alias",
        "city",
        "country",
        "country_code",
        "currency_locale",
        "currency_symbol",
        "description",
        "employee_count",
        "fax",
        "gapps_enabled",
        "iso_code",
        "mc_status",
        "mobile",
        "phone",
        "primary_email",
        "primary_zuid",
        "state",
        "street",
        "time_zone",
        "website",
        "zgid",
        "zip",
        "license_details",
    } <= set(org)
    assert [u["email"] for u in users["users"]] == ["admin@example.com", "second@example.com"]
    assert users["info"]["count"] == 2
    assert current[0]["email"] == "admin@example.com" and by_id == current


def test_related_records_and_relinking(fake, api):
    accounts = fake.crm.add_records("Accounts", [{"Account_Name": "A"}, {"Account_Name": "B"}])
    contacts = fake.crm.add_records(
        "Contacts",
        [
            {"Last_Name": "C1", "Account_Name": accounts[0]["id"]},
            {"Last_Name": "C2", "Account_Name": accounts[1]["id"]},
        ],
    )

    before = api.get(f"Accounts/{accounts[0]['id']}/Contacts").json()["data"]
    linked = api.put(
        f"Accounts/{accounts[0]['id']}/Contacts/{contacts[1]['id']}", json={"data": [{}]}
    )
    after = api.get(f"Accounts/{accounts[0]['id']}/Contacts").json()["data"]
    none = api.get(f"Accounts/{accounts[1]['id']}/Contacts")
    bad = api.get(f"Accounts/{accounts[0]['id']}/Nonsense")

    assert [c["Last_Name"] for c in before] == ["C1"]
    assert linked.json()["data"][0]["code"] == "SUCCESS"
    assert [c["Last_Name"] for c in after] == ["C1", "C2"]
    assert none.status_code == 204
    assert bad.status_code == 400


# --------------------------------------------------------------------------------------------------
# Notes, attachments, tags
# --------------------------------------------------------------------------------------------------


def test_notes_use_a_string_parent_in_v2_and_an_object_in_v8(fake, api):
    parent = fake.crm.seed("Leads", 1)[0]
    v8 = api.at("v8")

    v2_note = api.post(
        "Notes",
        json={
            "data": [{"Note_Content": "v2 note", "Parent_Id": parent["id"], "se_module": "Leads"}]
        },
    )
    v8_note = v8.post(
        "Notes",
        json={
            "data": [
                {
                    "Note_Content": "v8 note",
                    "Parent_Id": {"module": {"api_name": "Leads"}, "id": parent["id"]},
                }
            ]
        },
    )
    v8_with_v2_shape = v8.post(
        "Notes",
        json={"data": [{"Note_Content": "x", "Parent_Id": parent["id"], "se_module": "Leads"}]},
    )
    v2_without_module = api.post(
        "Notes", json={"data": [{"Note_Content": "x", "Parent_Id": parent["id"]}]}
    )
    nested = api.post(
        f"Leads/{parent['id']}/Notes", json={"data": [{"Note_Title": "T", "Note_Content": "c"}]}
    )

    assert v2_note.status_code == 201 and v8_note.status_code == 201 and nested.status_code == 201
    assert v8_with_v2_shape.status_code == 400
    assert v8_with_v2_shape.json()["data"][0]["details"]["api_name"] == "Parent_Id"
    assert v2_without_module.json()["data"][0]["details"]["api_name"] == "se_module"
    listed_v2 = api.get(f"Leads/{parent['id']}/Notes").json()["data"]
    listed_v8 = v8.get("Notes").json()["data"]
    assert [n["Note_Content"] for n in listed_v2] == ["v2 note", "v8 note", "c"]
    assert set(listed_v2[0]["Parent_Id"]) == {"name", "id"}
    assert listed_v8[0]["Parent_Id"]["module"]["api_name"] == "Leads"
    assert listed_v2[0]["$se_module"] == "Leads"


def test_notes_are_deleted_by_id_list_single_id_and_under_their_record(fake, api):
    parent = fake.crm.seed("Contacts", 1)[0]
    notes = [fake.crm.add_note("Contacts", parent["id"], f"note {n}") for n in range(4)]

    by_ids = api.delete("Notes", params={"ids": f"{notes[0]['id']},{notes[1]['id']}"})
    single = api.delete(f"Notes/{notes[2]['id']}")
    nested = api.delete(f"Contacts/{parent['id']}/Notes/{notes[3]['id']}")
    again = api.delete(f"Notes/{notes[3]['id']}")

    assert [i["code"] for i in by_ids.json()["data"]] == ["SUCCESS", "SUCCESS"]
    assert single.status_code == 200 and nested.status_code == 200
    assert again.status_code == 400 and again.json()["data"][0]["message"] == "record not deleted"
    assert api.get("Notes").status_code == 204


def test_attachment_upload_list_download_delete_round_trip(fake, api):
    parent = fake.crm.seed("Deals", 1)[0]
    content = "Angebot für Q3 ✓".encode() + bytes(range(256))
    path = f"Deals/{parent['id']}/Attachments"

    upload = api.post(path, files={"file": ("Angebot Q3 ✓.pdf", content, "application/pdf")})
    link = api.post(path, data={"attachmentUrl": "https://example.com/spec.html"})
    listed = api.get(path).json()["data"]
    download = api.get(f"{path}/{listed[0]['id']}")
    deleted = api.delete(f"{path}/{listed[0]['id']}")

    assert (
        upload.status_code == 200
        and upload.json()["data"][0]["message"] == "attachment uploaded successfully"
    )
    assert link.json()["data"][0]["code"] == "SUCCESS"
    assert [a["$type"] for a in listed] == ["Attachment", "Link URL"]
    assert listed[0]["Size"] == str(len(content)) and listed[0]["Parent_Id"]["id"] == parent["id"]
    assert download.content == content
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;filename*=UTF-8''")
    assert requests.utils.unquote(disposition.rsplit("'", 1)[1]) == "Angebot Q3 ✓.pdf"
    assert deleted.json()["data"][0]["code"] == "SUCCESS"
    assert api.get(f"{path}/{listed[0]['id']}").status_code == 204
    assert len(fake.crm.attachments("Deals", parent["id"])) == 1


def test_v2_tags_are_added_and_removed_by_query_parameters(fake, api):
    records = fake.crm.seed("Leads", 2)
    ids = ",".join(r["id"] for r in records)

    added = api.post("Leads/actions/add_tags", params={"ids": ids, "tag_names": "vip,2024"})
    removed = api.post(f"Leads/{records[0]['id']}/actions/remove_tags", params={"tag_names": "vip"})

    assert added.json()["data"][0]["details"] == {"id": records[0]["id"], "tags": ["vip", "2024"]}
    assert removed.json()["data"][0]["details"]["tags"] == ["2024"]
    assert [t["name"] for t in fake.crm.get_record("Leads", records[1]["id"])["Tag"]] == [
        "vip",
        "2024",
    ]
    assert {
        t["name"] for t in api.get("settings/tags", params={"module": "Leads"}).json()["tags"]
    } == {"vip", "2024"}


# --------------------------------------------------------------------------------------------------
# Authentication, scopes and faults
# --------------------------------------------------------------------------------------------------


def test_only_the_authorization_header_authenticates(fake, api):
    fake.crm.seed("Leads", 1)
    # urllib3 logs request lines, and this one carries a token on purpose.
    urllib3_logger = logging.getLogger("urllib3")
    level = urllib3_logger.level
    urllib3_logger.setLevel(logging.INFO)
    try:
        in_query = requests.get(
            api.url("Leads"), params={"authtoken": api.token, "access_token": api.token}, timeout=10
        )
    finally:
        urllib3_logger.setLevel(level)
    bearer = requests.get(
        api.url("Leads"), headers={"Authorization": "Zoho-oauthtoken not-a-token"}, timeout=10
    )

    assert in_query.status_code == 401
    assert in_query.json() == {
        "code": "INVALID_TOKEN",
        "details": {},
        "message": "invalid oauth token",
        "status": "error",
    }
    assert bearer.status_code == 401
    assert api.get("Leads").status_code == 200


def test_expired_token_is_refused_with_the_configured_code(fake, api):
    fake.clock.advance(3601)

    default = api.get("Leads")
    fake.crm.options.auth_failure_code = "AUTHENTICATION_FAILURE"
    configured = api.get("Leads")

    assert default.status_code == 401 and default.json()["code"] == "INVALID_TOKEN"
    assert configured.status_code == 401 and configured.json()["code"] == "AUTHENTICATION_FAILURE"


def test_missing_scope_is_oauth_scope_mismatch(fake):
    reader = Api(fake, token=fake.accounts.issue_access_token(scope="ZohoCRM.modules.leads.READ"))

    allowed = reader.get("Leads")
    write = reader.post("Leads", json={"data": [lead(1)]})
    other_module = reader.get("Contacts")
    search = reader.get("Leads/search", params={"word": "abc"})

    assert allowed.status_code == 204
    for response in (write, other_module, search):
        assert response.status_code == 401 and response.json()["code"] == "OAUTH_SCOPE_MISMATCH"


def test_answers_carry_json_content_type_and_token_expiry_header(api):
    response = api.get("org")

    assert response.headers["Content-Type"] == "application/json;charset=utf-8"
    expiry = datetime.fromisoformat(response.headers["X-Accesstoken-Reset"])
    assert expiry.utcoffset() is not None


def test_429_fault_carries_retry_after_and_then_clears(fake, api):
    fake.crm.fail_next("429", retry_after=7, endpoint=LIST)

    limited = api.get("Leads")
    other_endpoint = api.get("org")
    again = api.get("Leads")

    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert limited.json()["code"] == "TOO_MANY_REQUESTS"
    assert other_endpoint.status_code == 200
    assert again.status_code == 204
    assert fake.count(endpoint=LIST) == 2


def test_500_before_the_write_stores_nothing_and_after_the_write_stores_it(fake, api):
    fake.crm.fail_next("500", endpoint=INSERT)
    before = api.post("Leads", json={"data": [lead(1)]})
    stored_before = len(fake.crm.records("Leads"))

    fake.crm.fail_next("500", endpoint=INSERT, after_write=True)
    after = api.post("Leads", json={"data": [lead(2)]})

    assert before.status_code == 500 and before.json()["code"] == "INTERNAL_ERROR"
    assert stored_before == 0
    assert after.status_code == 500
    assert [r["Email"] for r in fake.crm.records("Leads")] == ["lead2@example.com"]
    assert fake.crm.pending_faults() == 0


def test_invalid_token_fault_refuses_a_valid_token_once(fake, api):
    fake.crm.fail_next("invalid_token", times=2)

    first, second, third = (api.get("users", params={"type": "CurrentUser"}) for _ in range(3))

    assert [first.status_code, second.status_code, third.status_code] == [401, 401, 200]
    assert first.json()["code"] == "INVALID_TOKEN"


def test_unknown_module_and_unknown_option():
    with FakeZoho() as fake:
        response = Api(fake).get("Nope")
        assert response.status_code == 400 and response.json()["code"] == "INVALID_MODULE"
    with pytest.raises(TypeError, match="unknown FakeCRM option"):
        FakeZoho(crm_options={"mixed_statuz": 200})


def test_concurrent_writers_and_readers_see_consistent_data(fake, api):
    fake.crm.seed("Leads", 500)

    def write(worker: int) -> list[int]:
        client = Api(fake, token=api.token)
        statuses = []
        for batch in range(10):
            records = [lead(worker * 1000 + batch * 10 + n) for n in range(5)]
            statuses.append(client.post("Leads", json={"data": records}).status_code)
        return statuses

    def read(_: int) -> list[int]:
        client = Api(fake, token=api.token)
        return [
            client.get("Leads", params={"page": page}).status_code
            for page in (1, 2, 3)
            for _ in range(3)
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        writers = [pool.submit(write, w) for w in range(4)]
        readers = [pool.submit(read, r) for r in range(4)]
        statuses = [s for f in writers for s in f.result(timeout=60)]
        reads = [s for f in readers for s in f.result(timeout=60)]

    ids = [r["id"] for r in fake.crm.records("Leads")]
    assert statuses == [201] * 40 and set(reads) == {200}
    assert len(ids) == len(set(ids)) == 700


# --------------------------------------------------------------------------------------------------
# Paging a large module (its speed is measured by benchmarks/crm_benchmark.py, not here)
# --------------------------------------------------------------------------------------------------


def test_ten_pages_of_a_5000_record_module_are_distinct_and_ordered(fake, api):
    fake.crm.seed("Accounts", 50)
    fake.crm.seed("Contacts", 5000)

    pages = [api.get("Contacts", params={"page": page}).json() for page in range(1, 11)]

    ids = [record["id"] for body in pages for record in body["data"]]
    assert len(ids) == len(set(ids)) == 2000
    assert ids == sorted(ids, key=int)  # no sort_by: by id
    assert [body["info"]["more_records"] for body in pages] == [True] * 10


def test_every_declared_route_answers_its_own_path(fake):
    # Families are tried in order; a generic pattern registered too early would shadow later ones.
    samples = {
        "{version}": "v2",
        "{module}": "Leads",
        "{related_list}": "Contacts",
    }
    session = requests.Session()
    for family in FakeCRM.route_families:
        for route in family.ROUTES:
            path = route.path
            for placeholder, value in samples.items():
                path = path.replace(placeholder, value)
            path = re.sub(r"\{[a-z_]+\}", "4150868000000400001", path)
            session.request(route.method, fake.url + path, timeout=10)
            assert fake.requests[-1].endpoint == route.name, path


def test_record_changes_from_api_and_control_reach_the_change_listeners(fake, api):
    changes: list[RecordChange] = []
    fake.crm.change_listeners.append(changes.append)
    first, second = fake.crm.seed("Leads", 2)
    fake.crm.add_note("Leads", first["id"], "call back")
    inserted = api.post("Leads", json={"data": [lead(1)]}).json()["data"][0]["details"]["id"]
    api.put("Leads", json={"data": [{"id": inserted, "Company": "Renamed"}]})
    fake.crm.modify("Leads", second["id"], {"Company": "Changed"})
    api.delete(f"Leads/{second['id']}")
    fake.crm.delete("Leads", first["id"])

    assert [(c.module, c.operation, c.source) for c in changes] == [
        ("Leads", "insert", SOURCE_CONTROL),
        ("Leads", "insert", SOURCE_CONTROL),
        ("Notes", "insert", SOURCE_CONTROL),
        ("Leads", "insert", SOURCE_API),
        ("Leads", "update", SOURCE_API),
        ("Leads", "update", SOURCE_CONTROL),
        ("Leads", "delete", SOURCE_API),
        ("Notes", "delete", SOURCE_CONTROL),  # a record's notes go with it
        ("Leads", "delete", SOURCE_CONTROL),
    ]
    assert [c.record_id for c in changes][-3] == second["id"]
