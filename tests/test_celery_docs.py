"""The Celery and django.tasks examples of the README's Celery section run.

Blocks are found by their ``<!-- readme-example: KIND -->`` mark in README.md.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import django
import pytest

from django_zcrm.models import CRMRecord

from .conftest import zcrm_settings_for

celery = pytest.importorskip("celery", reason="Celery is not installed")

from celery._state import get_current_app  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (ROOT / "README.md",)
BLOCK_RE = re.compile(r"^<!--\s*readme-example:\s*([\w-]+)\s*-->\n```\w*\n(.*?)^```", re.M | re.S)


def example(kind: str) -> str:
    for source in SOURCES:
        found = [code for name, code in BLOCK_RE.findall(source.read_text()) if name == kind]
        if found:
            (code,) = found
            return code.replace("crm.Lead", "testapp.Lead")
    raise AssertionError(f"no block marked readme-example: {kind} in README.md")


@pytest.fixture
def current_app_restored():
    previous = get_current_app()
    yield
    previous.set_current()


@pytest.fixture
def zoho(settings, fake_zoho, db):
    settings.ZCRM = zcrm_settings_for(
        fake_zoho,
        SYNC_MODELS={"Leads": "testapp.Lead", "Accounts": "django_zcrm.CRMRecord"},
        SYNC_INTERVAL_MINUTES={"Leads": 5, "*": 60},
    )
    from django_zcrm.oauth import get_oauth_client

    get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    fake_zoho.crm.seed("Accounts", 30)
    fake_zoho.crm.seed("Leads", 40)
    return fake_zoho


@pytest.mark.django_db
def test_the_celery_app_example_installs_the_schedule(zoho, tmp_path, current_app_restored):
    (tmp_path / "docs_celery_app.py").write_text(example("celery-app"))
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("docs_celery_app")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("docs_celery_app", None)

    schedule = module.app.conf.beat_schedule
    assert {k: v["schedule"].total_seconds() for k, v in schedule.items()} == {
        "django_zcrm.sync_module:Leads": 300,
        "django_zcrm.sync_module:Accounts": 3600,
        "django_zcrm.refresh_tokens": 600,
    }
    # What a worker or beat does at start: import the task modules autodiscover_tasks() found.
    module.app.loader.import_default_modules()
    assert "django_zcrm.sync_all" in module.app.tasks


@pytest.mark.django_db
def test_the_sync_all_example_syncs_every_configured_module(zoho, current_app_restored):
    from tests.testapp.models import Lead

    app = celery.Celery("docs-eager", set_as_current=False)
    app.conf.task_always_eager = True  # the worker's part, in this process
    app.set_current()

    exec(compile(example("celery-sync-all"), "celery-sync-all", "exec"), {})  # noqa: S102

    assert Lead.objects.count() == 40
    assert CRMRecord.objects.filter(module="Accounts").count() == 30


@pytest.mark.skipif(django.VERSION < (6, 0), reason="django.tasks needs Django 6")
@pytest.mark.django_db
def test_the_django_tasks_example_runs(zoho, settings):
    from tests.testapp.models import Lead

    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    namespace: dict = {}

    exec(compile(example("django-tasks-entry-points"), "django-tasks", "exec"), namespace)  # noqa: S102

    assert namespace["result"].return_value["status"] in ("done", "skipped")
    assert Lead.objects.count() == 40
    assert CRMRecord.objects.filter(module="Accounts").count() == 30
