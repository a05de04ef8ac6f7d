"""What one database refuses and another stores: the sync absorbs the difference.

PostgreSQL refuses a NUL character in text and ``jsonb`` values, which SQLite and MySQL/MariaDB
store. A Zoho record holding one must still be stored there, not retried on every run.
"""

from __future__ import annotations

import pytest
from django.db import connection

from django_zcrm.models import CRMRecord, SyncState
from django_zcrm.sync import sync_module
from django_zcrm.sync.targets import GenericTarget
from tests.testapp.models import Lead

pytestmark = pytest.mark.django_db

NUL_NAME = "Nul\x00Name"


def expected_name() -> str:
    """How the database at hand holds NUL_NAME."""
    return "NulName" if connection.vendor == "postgresql" else NUL_NAME


def test_a_record_with_a_nul_character_is_stored_in_crmrecord(zoho_tokens, fake_zoho):
    fake_zoho.crm.add_records(
        "Leads",
        [
            {"Last_Name": NUL_NAME, "Company": "Nul\x00 Inc"},
            {"Last_Name": "Plain", "Company": "Plain Ltd"},
        ],
    )

    result = sync_module("Leads")

    assert (result.created, result.failed) == (2, 0)
    assert not SyncState.objects.get(module="Leads").failed_ids  # nothing left to retry
    stored = next(r.data for r in CRMRecord.objects.all() if r.data["Last_Name"] != "Plain")
    assert stored["Last_Name"] == expected_name()
    assert stored["Company"] == ("Nul Inc" if connection.vendor == "postgresql" else "Nul\x00 Inc")
    assert sync_module("Leads").failed == 0


def test_a_record_with_a_nul_character_is_stored_in_a_typed_model(settings, zoho_tokens, fake_zoho):
    settings.ZCRM = {**settings.ZCRM, "SYNC_MODELS": {"Leads": "testapp.Lead"}}
    fake_zoho.crm.add_records("Leads", [{"Last_Name": NUL_NAME, "Company": "Acme"}])

    result = sync_module("Leads")

    assert (result.created, result.failed) == (1, 0)
    assert Lead.objects.get().last_name == expected_name()


def test_storable_reaches_nested_values_and_keys():
    record = {"id": "1", "Owner": {"name": "A\x00da"}, "Tags": ["x\x00", 3, None], "K\x00": True}

    stored = GenericTarget("Leads").storable(record)

    if connection.vendor == "postgresql":
        assert stored == {"id": "1", "Owner": {"name": "Ada"}, "Tags": ["x", 3, None], "K": True}
    else:
        assert stored is record
