"""The zcrm_* token commands, end to end against the fake server; no token is ever printed."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django_zcrm.models import OAuthToken
from django_zcrm.redaction import TOKEN_RE
from django_zcrm.testing import FAKE_USER_EMAIL

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=out)
    text = out.getvalue()
    assert not TOKEN_RE.search(text), "a command printed a token"
    return text


def test_generate_token_stores_tokens_and_says_for_whom(zcrm_settings, fake_zoho):
    text = run("zcrm_generate_token", fake_zoho.accounts.issue_grant_token())
    assert f"Stored Zoho tokens for {FAKE_USER_EMAIL}" in text
    assert OAuthToken.objects.filter(useridentifier=FAKE_USER_EMAIL).exists()


def test_generate_token_with_user_option(zcrm_settings, fake_zoho):
    run("zcrm_generate_token", fake_zoho.accounts.issue_grant_token(), "--user", "ops@example.com")
    assert OAuthToken.objects.get().useridentifier == "ops@example.com"


def test_generate_token_with_a_used_code_is_a_command_error_in_plain_words(
    zcrm_settings, fake_zoho
):
    code = fake_zoho.accounts.issue_grant_token()
    run("zcrm_generate_token", code)
    with pytest.raises(CommandError, match="already used") as info:
        run("zcrm_generate_token", code)
    assert code not in str(info.value)


def test_token_status_shows_state_and_masked_tail_only(zoho_tokens):
    text = run("zcrm_token_status")
    assert FAKE_USER_EMAIL in text and "state=valid" in text
    assert "****" + zoho_tokens.access_token[-4:] in text


def test_token_status_with_nothing_stored_says_what_to_do(zcrm_settings):
    assert "zcrm_generate_token" in run("zcrm_token_status")


def test_token_status_of_an_unknown_user_is_a_command_error_naming_the_stored_users(zoho_tokens):
    with pytest.raises(
        CommandError, match="No Zoho tokens are stored for nobody@example.com"
    ) as info:
        run("zcrm_token_status", "--user", "nobody@example.com")
    assert f"stored users: {FAKE_USER_EMAIL}" in str(info.value)
    assert FAKE_USER_EMAIL in run("zcrm_token_status", "--user", FAKE_USER_EMAIL)


def test_refresh_token_mints_a_new_access_token(zoho_tokens, fake_zoho):
    text = run("zcrm_refresh_token")
    assert "Refreshed the access token" in text
    assert fake_zoho.accounts.token_requests("refresh_token") == 1
    assert OAuthToken.objects.get().accesstoken != zoho_tokens.access_token


def test_revoke_token_revokes_and_deletes(zoho_tokens, fake_zoho):
    assert "Revoked" in run("zcrm_revoke_token", "--user", FAKE_USER_EMAIL)
    assert not OAuthToken.objects.exists()
    assert fake_zoho.accounts.lookup_access_token(zoho_tokens.access_token) is None


def test_revoke_for_unknown_user_is_a_command_error(zcrm_settings):
    with pytest.raises(CommandError, match="nothing to revoke"):
        run("zcrm_revoke_token", "--user", "nobody@example.com")


def test_migrations_are_complete():
    out = StringIO()
    call_command("makemigrations", "django_zcrm", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
