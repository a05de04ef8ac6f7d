"""The fake server's ``/crm/{version}/actions/watch`` against the wire format (docs/design/wire-format.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from django_zcrm.client import get_client
from django_zcrm.exceptions import ZCRMValidationError

pytestmark = pytest.mark.django_db


def _enable(client, channel_id="100", expiry=None, token="tok", events=("Leads.all",)):
    item = {
        "channel_id": channel_id,
        "events": list(events),
        "notify_url": "https://example.invalid/n?k=v",
        "token": token,
    }
    if expiry is not None:
        item["channel_expiry"] = expiry
    return client.post("actions/watch", json={"watch": [item]})


def close(got: timedelta, wanted: timedelta) -> bool:
    """Equal within 2 s (the fake's clock may tick between our reading and its answer)."""
    return abs((got - wanted).total_seconds()) <= 2


def _expiry_of(response) -> datetime:
    entry = response.data["watch"][0]["details"]["events"][0]
    return datetime.fromisoformat(entry["channel_expiry"])


def test_enable_defaults_to_one_hour_and_caps_at_the_versions_maximum(
    zoho_tokens, fake_zoho, settings
):
    client = get_client()
    now = datetime.fromtimestamp(fake_zoho.crm.now(), tz=UTC)
    response = _enable(client)
    assert response.status == 201
    item = response.data["watch"][0]
    assert item["code"] == "SUCCESS"
    entry = item["details"]["events"][0]
    assert entry["resource_name"] == "Leads" and entry["channel_id"] == "100"
    assert entry["resource_uri"] == "https://www.zohoapis.com/crm/v2/Leads"
    assert close(_expiry_of(response) - now, timedelta(hours=1))
    # v2: at most one day; two days asked -> the default hour.
    two_days = (now + timedelta(days=2)).isoformat()
    assert close(_expiry_of(_enable(client, "101", two_days)) - now, timedelta(hours=1))
    day = (now + timedelta(hours=23)).isoformat()
    assert close(_expiry_of(_enable(client, "102", day)) - now, timedelta(hours=23))
    # v4+: a week.
    settings.ZCRM = {**settings.ZCRM, "API_VERSION": "v8"}
    six_days = (now + timedelta(days=6)).isoformat()
    assert close(_expiry_of(_enable(get_client(), "103", six_days)) - now, timedelta(days=6))


def test_get_lists_expanded_events_and_answers_204_when_empty(zoho_tokens, fake_zoho):
    client = get_client()
    assert client.get("actions/watch").status == 204
    _enable(client, events=("Leads.all", "Contacts.create"))
    listed = client.get("actions/watch").data["watch"]
    by_module = {e["resource_name"]: e for e in listed}
    assert sorted(by_module["Leads"]["events"]) == ["Leads.create", "Leads.delete", "Leads.edit"]
    assert by_module["Contacts"]["events"] == ["Contacts.create"]
    assert by_module["Leads"]["token"] == "tok"


def test_patch_renews_and_an_expired_channel_is_not_subscribed(zoho_tokens, fake_zoho):
    client = get_client()
    _enable(client)
    now = datetime.fromtimestamp(fake_zoho.crm.now(), tz=UTC)
    later = (now + timedelta(hours=20)).isoformat()
    patched = client.request(
        "PATCH",
        "actions/watch",
        json={"watch": [{"channel_id": "100", "events": ["Leads.all"], "channel_expiry": later}]},
    )
    assert patched.data["watch"][0]["message"] == "Successfully updated the subscribe details"
    assert close(_expiry_of(patched) - now, timedelta(hours=20))
    fake_zoho.clock.advance(21 * 3600)
    with pytest.raises(ZCRMValidationError) as caught:
        get_client().request(
            "PATCH",
            "actions/watch",
            json={"watch": [{"channel_id": "100", "events": ["Leads.all"]}]},
        )
    assert caught.value.code == "NOT_SUBSCRIBED" and caught.value.status == 400


def test_errors_and_disable(zoho_tokens, fake_zoho):
    client = get_client()
    with pytest.raises(ZCRMValidationError) as caught:
        client.post("actions/watch", json={"watch": [{"channel_id": "1", "events": ["Leads.all"]}]})
    assert caught.value.code == "MANDATORY_NOT_FOUND"
    with pytest.raises(ZCRMValidationError) as caught:
        _enable(client, token="x" * 51)
    assert caught.value.code == "INVALID_DATA"
    _enable(client, events=("Leads.all", "Deals.all"))
    removed = client.delete("actions/watch", params={"channel_ids": "100"})
    assert [i["details"]["resource_id"] for i in removed.data["watch"]]
    assert len(removed.data["watch"]) == 2
    assert client.get("actions/watch").status == 204
