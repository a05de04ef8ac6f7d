"""The django.tasks entry points (Django 6) with Django's immediate backend; a clear ImportError
on Django 5.2."""

from __future__ import annotations

import importlib
import sys

import django
import pytest

from django_zcrm.models import CRMRecord
from django_zcrm.sync import lease as sync_lease

from .conftest import zcrm_settings_for

DJANGO_6 = django.VERSION >= (6, 0)
IMMEDIATE = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


@pytest.mark.skipif(DJANGO_6, reason="Django 6 has django.tasks")
def test_before_django_6_the_import_says_what_is_needed():
    sys.modules.pop("django_zcrm.django_tasks", None)
    with pytest.raises(ImportError, match=r"needs Django 6\.0 or later .* this is Django 5\."):
        importlib.import_module("django_zcrm.django_tasks")


@pytest.fixture
def zoho(settings, fake_zoho, db):
    if not DJANGO_6:
        pytest.skip("django.tasks needs Django 6")
    settings.TASKS = IMMEDIATE
    settings.ZCRM = zcrm_settings_for(
        fake_zoho,
        SYNC_MODELS={"Leads": "django_zcrm.CRMRecord", "Accounts": "django_zcrm.CRMRecord"},
    )
    from django_zcrm.oauth import get_oauth_client

    get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    return fake_zoho


@pytest.mark.django_db
def test_sync_module_and_sync_all_run_on_the_immediate_backend(zoho):
    from django_zcrm import django_tasks

    zoho.crm.seed("Leads", 250)
    zoho.crm.seed("Accounts", 40)

    one = django_tasks.sync_module.enqueue("Leads")
    everything = django_tasks.sync_all.enqueue()

    assert one.status == "SUCCESSFUL" and one.return_value["created"] == 250
    assert everything.return_value["modules"] == ["Leads", "Accounts"]
    assert len(everything.return_value["task_ids"]) == 2
    assert CRMRecord.objects.filter(module="Accounts").count() == 40


@pytest.mark.django_db
def test_a_module_running_elsewhere_is_skipped(zoho):
    from django_zcrm import django_tasks

    lease = sync_lease.acquire("Leads", "django_zcrm.crmrecord")
    try:
        result = django_tasks.sync_module.enqueue("Leads")
    finally:
        lease.release()

    assert result.return_value["status"] == "skipped"
    assert result.return_value["reason"] == "running elsewhere"


@pytest.mark.django_db
def test_push_and_refresh_tokens_run_on_the_immediate_backend(zoho):
    from django_zcrm import django_tasks

    pushed = django_tasks.push_module.enqueue("testapp.Lead")
    refreshed = django_tasks.refresh_tokens.enqueue()

    assert pushed.return_value["status"] == "done" and pushed.return_value["total"] == 0
    assert refreshed.return_value["fresh"] == 1
