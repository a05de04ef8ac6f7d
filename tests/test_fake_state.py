"""The fake's state file: what a restart keeps (django_zcrm.testing.state)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from django_zcrm.testing import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, FakeZoho
from django_zcrm.testing.state import StateFile, StateFileError


def _tokens(fake: FakeZoho, user: str) -> dict:
    code = fake.accounts.issue_grant_token(user_email=user)
    return requests.post(
        f"{fake.url}/oauth/v2/token",
        timeout=5,
        data={
            "grant_type": "authorization_code",
            "client_id": FAKE_CLIENT_ID,
            "client_secret": FAKE_CLIENT_SECRET,
            "code": code,
        },
    ).json()


def test_a_restart_keeps_users_tokens_records_deletions_attachments_and_tags(tmp_path: Path):
    path = tmp_path / "state.json"
    with FakeZoho() as fake:
        state = StateFile(path)
        assert state.load(fake) is False  # no file yet: a fresh start
        fake.crm.seed("Leads", 5)
        tokens = _tokens(fake, "sales@example.com")
        auth = {"Authorization": f"Zoho-oauthtoken {tokens['access_token']}"}
        lead_id = fake.crm.records("Leads")[0]["id"]
        gone_id = fake.crm.records("Leads")[1]["id"]
        requests.post(
            f"{fake.url}/crm/v2/Leads/{lead_id}/Attachments",
            files={"file": ("a.bin", b"\x00\xffdata")},
            headers=auth,
            timeout=5,
        ).raise_for_status()
        requests.post(
            f"{fake.url}/crm/v2/Leads/actions/add_tags",
            params={"ids": lead_id, "tag_names": "vip"},
            headers=auth,
            timeout=5,
        ).raise_for_status()
        requests.delete(
            f"{fake.url}/crm/v2/Leads", params={"ids": gone_id}, headers=auth, timeout=5
        ).raise_for_status()
        assert state.save() is True
        assert state.save() is False  # nothing changed since
        before = {r["id"]: r for r in fake.crm.records("Leads")}

    assert json.loads(path.read_text())["version"] == 1
    with FakeZoho() as again:
        assert StateFile(path).load(again) is True
        assert {r["id"]: r for r in again.crm.records("Leads")} == before
        auth = {"Authorization": f"Zoho-oauthtoken {tokens['access_token']}"}
        attachments = requests.get(
            f"{again.url}/crm/v2/Leads/{lead_id}/Attachments", headers=auth, timeout=5
        ).json()["data"]
        blob = requests.get(
            f"{again.url}/crm/v2/Leads/{lead_id}/Attachments/{attachments[0]['id']}",
            headers=auth,
            timeout=5,
        )
        assert blob.content == b"\x00\xffdata"
        assert {t["name"] for t in again.crm.get_record("Leads", lead_id)["Tag"]} == {"vip"}
        deleted = requests.get(
            f"{again.url}/crm/v2/Leads/deleted", params={"type": "all"}, headers=auth, timeout=5
        ).json()["data"]
        assert [d["id"] for d in deleted] == [gone_id]
        assert again.accounts.lookup_access_token(tokens["access_token"]).user_email == (
            "sales@example.com"
        )
        refreshed = requests.post(
            f"{again.url}/oauth/v2/token",
            timeout=5,
            data={
                "grant_type": "refresh_token",
                "client_id": FAKE_CLIENT_ID,
                "client_secret": FAKE_CLIENT_SECRET,
                "refresh_token": tokens["refresh_token"],
            },
        ).json()
        assert "access_token" in refreshed
        new = again.crm.add_records("Leads", [{"Last_Name": "After", "Company": "X"}])[0]
        assert int(new["id"]) > max(int(i) for i in before)  # ids keep increasing


def test_a_file_that_is_not_a_state_file_is_refused_in_words(tmp_path: Path):
    path = tmp_path / "state.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with FakeZoho() as fake, pytest.raises(StateFileError, match="not a fake Zoho state file"):
        StateFile(path).load(fake)
    with FakeZoho() as fake, pytest.raises(StateFileError, match="does not exist"):
        StateFile(tmp_path / "missing" / "state.json").load(fake)
