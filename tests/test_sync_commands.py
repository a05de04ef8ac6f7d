"""The thin commands around the sync: zcrm_sync, zcrm_inspect, zcrm_push (arguments, output)."""

from __future__ import annotations

import io
import os
import select
import threading
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django_zcrm.models import CRMRecord, SyncState
from django_zcrm.sync import mapping as zoho
from django_zcrm.sync.mapping import get_mapping
from tests.testapp.models import Lead

pytestmark = pytest.mark.django_db


def run(*args: str, **kwargs) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


def test_zcrm_sync_prints_one_summary_line_per_module_and_no_bar_off_a_terminal(
    zoho_tokens, fake_zoho
):
    fake_zoho.crm.seed("Leads", 250)
    fake_zoho.crm.seed("Accounts", 3)

    out, err = run("zcrm_sync", "Leads", "Accounts")

    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        "Leads -> django_zcrm.crmrecord: 250 created, 0 updated, 0 deleted, "
        "0 unchanged, 0 failed, 3 API calls, "
    )
    assert lines[1].startswith("Accounts -> django_zcrm.crmrecord: 3 created")
    assert lines[0].endswith(" s")
    assert err == ""


def test_zcrm_sync_shows_a_progress_bar_on_a_terminal(zoho_tokens, fake_zoho):
    fake_zoho.crm.seed("Leads", 1000)
    master, slave = os.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        # Keep reading so a full pty buffer can never block the command.
        while True:
            ready, _, _ = select.select([master], [], [], 5)
            if not ready:
                return
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    with open(slave, "w", closefd=True) as terminal:
        out = io.StringIO()
        call_command("zcrm_sync", "Leads", stdout=out, stderr=terminal)
        terminal.flush()
        # Linux drops unread pty output once the terminal side closes: read it all first.
        deadline = time.monotonic() + 10
        while b"records" not in b"".join(chunks) and time.monotonic() < deadline:
            time.sleep(0.05)
    reader.join(timeout=10)
    os.close(master)

    shown = b"".join(chunks).decode("utf-8", "replace")
    assert "Leads" in shown and "records" in shown
    assert "1000 created" in out.getvalue()


def test_zcrm_sync_defaults_to_the_modules_of_sync_models(zoho_tokens, fake_zoho, settings):
    settings.ZCRM = {**settings.ZCRM, "SYNC_MODELS": {"Leads": "testapp.Lead"}}
    fake_zoho.crm.seed("Leads", 12)

    out, _ = run("zcrm_sync")

    assert out.startswith("Leads -> testapp.lead: 12 created")
    assert Lead.objects.count() == 12


def test_zcrm_sync_without_modules_or_sync_models_explains_what_to_do(zoho_tokens):
    with pytest.raises(CommandError, match="Name the modules to sync"):
        run("zcrm_sync")


@pytest.mark.parametrize(
    "args, message",
    [
        (["Leads", "--batch-size", "0"], "between 1 and 200"),
        (["Leads", "--batch-size", "500"], "between 1 and 200"),
        (["Leads", "--full", "--since", "2024-01-01"], "either --full or --since"),
        (["Leads", "Deals", "--model", "testapp.Lead"], "exactly one module"),
        (["Leads", "--since", "yesterday"], "not an ISO date"),
        (["Leads", "--model", "testapp.Missing"], "not an installed model"),
    ],
)
def test_zcrm_sync_refuses_bad_arguments_with_a_clear_message(
    zoho_tokens, fake_zoho, args, message
):
    with pytest.raises(CommandError, match=message):
        run("zcrm_sync", *args)
    assert fake_zoho.count(endpoint="GET /crm/{version}/{module}") == 0


def test_zcrm_sync_dry_run_reports_and_writes_nothing(zoho_tokens, fake_zoho):
    fake_zoho.crm.seed("Leads", 30)

    out, _ = run("zcrm_sync", "Leads", "--dry-run")

    assert out.startswith("[dry run] Leads -> django_zcrm.crmrecord: 30 created")
    assert not CRMRecord.objects.exists() and not SyncState.objects.exists()


def test_zcrm_sync_into_a_model_given_on_the_command_line(zoho_tokens, fake_zoho):
    fake_zoho.crm.seed("Leads", 5)

    out, _ = run("zcrm_sync", "Leads", "--model", "testapp.Lead", "--since", "2000-01-01")

    assert "Leads -> testapp.lead: 5 created" in out
    assert Lead.objects.count() == 5 and not CRMRecord.objects.exists()


def test_zcrm_sync_goes_on_with_other_modules_when_one_fails(zoho_tokens, fake_zoho):
    fake_zoho.crm.seed("Leads", 3)

    with pytest.raises(CommandError, match="1 of 2 modules failed"):
        run("zcrm_sync", "Nope", "Leads")

    assert CRMRecord.objects.filter(module="Leads").count() == 3


def test_zcrm_sync_says_how_many_records_wait_for_a_retry_and_lists_them_at_verbosity_2(
    zoho_tokens, fake_zoho, settings, monkeypatch
):
    settings.ZCRM = {**settings.ZCRM, "SYNC_MODELS": {"Leads": "testapp.Lead"}}
    # Lead.phone as if it were an integer column: the spaced phone cannot be stored.
    mapping = get_mapping(Lead)
    monkeypatch.setitem(mapping.converters, "Phone", zoho.Integer("phone").bind(Lead, "Phone"))
    leads = fake_zoho.crm.seed(
        "Leads",
        3,
        start=fake_zoho.crm.now() - 3600,
        factory=lambda i: {"Phone": "+1 555 010 0101" if i == 1 else f"555010{i:04d}"},
    )

    out, _ = run("zcrm_sync", "Leads", verbosity=2)
    again, _ = run("zcrm_sync", "Leads")

    first_line, detail = out.strip().splitlines()
    assert first_line.startswith(
        "Leads -> testapp.lead: 2 created, 0 updated, 0 deleted, "
        "0 unchanged, 1 failed, 2 API calls, "
    )
    assert first_line.endswith(" s (1 pending retry)")
    assert detail.startswith(f"    {leads[1]['id']}: Phone: not an integer")
    assert again.startswith(
        "Leads -> testapp.lead: 0 created, 0 updated, 0 deleted, "
        "0 unchanged, 1 failed, 3 API calls, "
    )
    assert again.strip().endswith(" s (1 pending retry)")
    assert SyncState.objects.get(module="Leads").failed_ids.keys() == {leads[1]["id"]}


def test_zcrm_sync_for_a_user_without_tokens_says_how_to_get_them(zoho_tokens, fake_zoho):
    with pytest.raises(CommandError, match="zcrm_generate_token"):
        run("zcrm_sync", "Leads", "--user", "nobody@example.com")


def test_zcrm_sync_is_quiet_at_verbosity_zero(zoho_tokens, fake_zoho):
    fake_zoho.crm.seed("Leads", 3)

    out, err = run("zcrm_sync", "Leads", verbosity=0)

    assert out == "" and err == ""
    assert CRMRecord.objects.count() == 3


def test_zcrm_inspect_prints_model_code(zoho_tokens, fake_zoho):
    out, _ = run("zcrm_inspect", "Contacts")

    assert "class Contact(ZohoSyncedModel):" in out
    assert (
        '"Account_Name": zoho.Lookup("account_id", name="account_name", module="Accounts")' in out
    )
    compile(out, "<zcrm_inspect>", "exec")


def test_zcrm_push_dry_run_counts_rows_with_local_changes(zoho_tokens, fake_zoho, settings):
    settings.ZCRM = {**settings.ZCRM, "SYNC_MODELS": {"Leads": "testapp.Lead"}}
    Lead.objects.create(last_name="A", company="B")
    Lead.objects.create(last_name="C", company="D")

    out, _ = run("zcrm_push", "Leads", "--dry-run")

    assert out.strip() == "testapp.lead: 2 rows with local changes would be sent."
    assert len(fake_zoho.requests) <= 1  # at most the token exchange of the fixture


def test_zcrm_push_by_model_label_reports_what_it_did(zoho_tokens, fake_zoho):
    Lead.objects.create(last_name="Pushed", company="Co", email="pushed@example.org")

    out, _ = run("zcrm_push", "testapp.Lead")

    assert out.startswith("testapp.lead -> Leads: 1 local changes, 1 created, 0 updated, 0 failed")
    assert Lead.objects.get().zoho_id in {r["id"] for r in fake_zoho.crm.records("Leads")}


def test_zcrm_push_of_an_unknown_target_explains_what_it_accepts(zoho_tokens):
    with pytest.raises(CommandError, match="neither a module of ZCRM"):
        run("zcrm_push", "Leads")


def test_test_app_and_sample_app_have_their_migrations():
    out = io.StringIO()
    call_command("makemigrations", "testapp", "django_zcrm", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_zcrm_sync_warns_that_debug_makes_large_syncs_use_more_memory(
    zoho_tokens, fake_zoho, settings
):
    settings.DEBUG = True
    fake_zoho.crm.seed("Leads", 3)
    fake_zoho.crm.seed("Contacts", 2)
    out, err = run("zcrm_sync", "Leads", "Contacts")
    assert "3 created" in out and "2 created" in out
    assert err.count("DEBUG is True") == 1  # once per run, not once per module
    assert "DEBUG" not in run("zcrm_sync", "Leads", "Contacts")[1]  # nothing changed: no warning
    settings.DEBUG = False
    assert "DEBUG" not in run("zcrm_sync", "Leads")[1]
