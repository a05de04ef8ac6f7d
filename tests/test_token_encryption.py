"""Tokens at rest: encrypted in the database and the token file, keys, rotation, a wrong key,
SDK-written plaintext rows, and the checks that report them (issue 9)."""

from __future__ import annotations

import base64
import io
import json
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from django_zcrm.checks import zcrm_token_encryption_check
from django_zcrm.crypto import PREFIX, derive_key, generate_key, get_cipher
from django_zcrm.exceptions import (
    ZCRMConfigurationError,
    ZCRMPersistenceError,
    ZCRMTokenDecryptionError,
)
from django_zcrm.key_rotation import rotate_database, rotate_tokens
from django_zcrm.models import OAuthToken
from django_zcrm.oauth import get_oauth_client
from django_zcrm.persistence import DatabasePersistence, FilePersistence, get_persistence
from django_zcrm.testing import FAKE_USER_EMAIL
from django_zcrm.tokens import OAuthTokens

from .conftest import zcrm_settings_for

OLD, NEW = generate_key(), generate_key()


def tokens(user: str = "a@example.com", access: str = "A" * 40) -> OAuthTokens:
    return OAuthTokens(
        user_identifier=user,
        access_token=access,
        refresh_token="R" * 40,
        expiry_time=int(time.time() * 1000) + 3600_000,
    )


def stored_columns(user: str = FAKE_USER_EMAIL) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT accesstoken, refreshtoken FROM oauthtokens WHERE useridentifier = %s", [user]
        )
        return cursor.fetchone()


def assert_hidden(blob: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in blob
        for encoded in (base64.b64encode, base64.urlsafe_b64encode):
            assert encoded(secret.encode()).decode().rstrip("=") not in blob


def use_keys(settings, *keys: str, **extra) -> None:
    settings.ZCRM = {**settings.ZCRM, "TOKEN_ENCRYPTION_KEYS": list(keys), **extra}


# -- done when: after zcrm_generate_token, neither store holds a token, and both still work ----


@pytest.mark.django_db
def test_generate_token_stores_no_token_in_the_row_and_they_still_work(zcrm_settings, fake_zoho):
    call_command(
        "zcrm_generate_token", fake_zoho.accounts.issue_grant_token(), stdout=io.StringIO()
    )

    access, refresh = stored_columns()
    plain = get_persistence().get_oauth_tokens(FAKE_USER_EMAIL)
    assert access.startswith(PREFIX) and refresh.startswith(PREFIX)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM oauthtokens")
        row_text = json.dumps([list(map(str, r)) for r in cursor.fetchall()])
    assert_hidden(row_text, plain.access_token, plain.refresh_token)

    # Used normally: a CRM call with the stored access token, then a forced refresh.
    client = get_oauth_client()
    assert client.get_access_token() == plain.access_token
    refreshed = client.refresh_access_token()
    assert refreshed.access_token != plain.access_token
    assert fake_zoho.accounts.lookup_access_token(refreshed.access_token) is not None
    assert stored_columns()[0].startswith(PREFIX)


@pytest.mark.django_db
def test_generate_token_stores_no_token_in_the_file_and_they_still_work(
    settings, fake_zoho, tmp_path
):
    settings.ZCRM = zcrm_settings_for(fake_zoho, TOKEN_PERSISTENCE_PATH=str(tmp_path))
    call_command(
        "zcrm_generate_token", fake_zoho.accounts.issue_grant_token(), stdout=io.StringIO()
    )

    blob = (tmp_path / "zcrm_oauthtokens.txt").read_text()
    plain = get_persistence().get_oauth_tokens(FAKE_USER_EMAIL)
    assert_hidden(blob, plain.access_token, plain.refresh_token)
    entry = json.loads(blob)["tokens"][FAKE_USER_EMAIL]
    assert entry["access_token"].startswith(PREFIX)
    assert entry["refresh_token"].startswith(PREFIX)
    refreshed = get_oauth_client().refresh_access_token()
    assert fake_zoho.accounts.lookup_access_token(refreshed.access_token) is not None
    assert not OAuthToken.objects.exists()


# -- keys ----------------------------------------------------------------------------------------


def test_derived_keys_come_from_secret_key_then_each_fallback(settings):
    settings.SECRET_KEY = "new-secret"
    settings.SECRET_KEY_FALLBACKS = ["old-secret"]
    settings.ZCRM = {"CLIENT_ID": "x", "CLIENT_SECRET": "y"}
    cipher = get_cipher()
    assert len(cipher.fernets) == 2
    assert derive_key("new-secret") != derive_key("old-secret")

    # A token written under the old SECRET_KEY is read after Django's own key rotation.
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "old-secret", []
    written = get_cipher().encrypt("token-under-old-secret")
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-secret", ["old-secret"]
    assert get_cipher().decrypt(written) == "token-under-old-secret"
    assert not get_cipher().is_current(written)


@pytest.mark.django_db
def test_keys_new_old_read_old_tokens_rotation_rewrites_then_new_alone_reads(settings):
    use_keys(settings, OLD)
    store = DatabasePersistence()
    for n in range(5):
        store.save_oauth_tokens(tokens(f"u{n}@example.com", access=f"access-{n}-" + "x" * 30))
    before = dict(OAuthToken.objects.values_list("useridentifier", "accesstoken"))

    use_keys(settings, NEW, OLD)
    assert store.get_oauth_tokens("u3@example.com").access_token.startswith("access-3-")
    report = rotate_database("default", batch_size=2)  # several batches

    assert (report.checked, report.rewritten, report.plaintext_before) == (5, 5, 0)
    assert report.undecryptable == 0
    after = dict(OAuthToken.objects.values_list("useridentifier", "accesstoken"))
    assert all(after[u] != before[u] for u in before)
    use_keys(settings, NEW)
    for n in range(5):
        assert store.get_oauth_tokens(f"u{n}@example.com").access_token.startswith(f"access-{n}-")
    # A second run has nothing left to do.
    assert rotate_database("default").rewritten == 0


@pytest.mark.django_db
def test_rotation_check_only_reports_and_writes_nothing(settings):
    use_keys(settings, OLD)
    DatabasePersistence().save_oauth_tokens(tokens())
    before = stored_columns("a@example.com")
    use_keys(settings, NEW, OLD)
    out = io.StringIO()

    call_command("zcrm_rotate_token_key", "--check", stdout=out)

    assert "would rewrite 1" in out.getvalue()
    assert stored_columns("a@example.com") == before


@pytest.mark.django_db
def test_rotation_rewrites_the_token_file(settings, tmp_path):
    use_keys(settings, OLD, TOKEN_PERSISTENCE_PATH=str(tmp_path))
    FilePersistence(str(tmp_path)).save_oauth_tokens(tokens())
    use_keys(settings, NEW, OLD, TOKEN_PERSISTENCE_PATH=str(tmp_path))

    file_report = rotate_tokens()[0]

    assert (file_report.checked, file_report.rewritten) == (1, 1)
    use_keys(settings, NEW, TOKEN_PERSISTENCE_PATH=str(tmp_path))
    assert FilePersistence(str(tmp_path)).get_oauth_tokens("a@example.com").access_token == (
        "A" * 40
    )


# -- SDK rows: only the four columns, plaintext -------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sdk_insert_of_four_columns_is_read_then_encrypted_by_rotation(settings):
    settings.ZCRM = {**settings.ZCRM}
    expiry = int(time.time() * 1000) + 3600_000
    with connection.cursor() as cursor:
        # Exactly what Zoho's SDKs write: their four columns, tokens in plaintext.
        cursor.execute(
            "INSERT INTO oauthtokens (useridentifier, accesstoken, refreshtoken, expirytime) "
            "VALUES (%s, %s, %s, %s)",
            ["sdk@example.com", "1000.sdkaccess", "1000.sdkrefresh", expiry],
        )

    tokens_read = DatabasePersistence().get_oauth_tokens("sdk@example.com")
    assert (tokens_read.access_token, tokens_read.refresh_token) == (
        "1000.sdkaccess",
        "1000.sdkrefresh",
    )
    assert tokens_read.expiry_time == expiry and tokens_read.needs_reauth is False
    row = OAuthToken.objects.get(useridentifier="sdk@example.com")
    assert row.last_error == "" and row.created_at is not None

    out = io.StringIO()
    call_command("zcrm_rotate_token_key", stdout=out)
    assert "rewrote 1, 1 plaintext before, 0 cannot be decrypted" in out.getvalue()
    access, refresh = stored_columns("sdk@example.com")
    assert access.startswith(PREFIX) and "sdkaccess" not in access
    assert refresh.startswith(PREFIX) and "sdkrefresh" not in refresh
    assert DatabasePersistence().get_oauth_tokens("sdk@example.com").access_token == (
        "1000.sdkaccess"
    )


@pytest.mark.django_db
def test_plaintext_row_is_encrypted_the_next_time_it_is_saved():
    OAuthToken.objects.create(
        useridentifier="old@example.com",
        accesstoken="plain-a",
        refreshtoken="plain-r",
        expirytime=1,
    )
    store = DatabasePersistence()
    store.save_oauth_tokens(store.get_oauth_tokens("old@example.com"))
    assert all(v.startswith(PREFIX) for v in stored_columns("old@example.com"))


@pytest.mark.django_db
def test_encryption_off_stores_plaintext_and_still_reads_ciphertext(settings):
    DatabasePersistence().save_oauth_tokens(tokens())  # encrypted (the default)
    settings.ZCRM = {**settings.ZCRM, "TOKEN_ENCRYPTION": False}

    assert DatabasePersistence().get_oauth_tokens("a@example.com").access_token == "A" * 40
    report = rotate_database("default")
    assert report.rewritten == 1
    assert stored_columns("a@example.com") == ("A" * 40, "R" * 40)
    messages = zcrm_token_encryption_check()
    assert [m.id for m in messages] == ["django_zcrm.W040"]


# -- a wrong key -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_wrong_key_typed_error_status_check_and_nothing_overwritten(settings, fake_zoho):
    settings.ZCRM = zcrm_settings_for(fake_zoho, TOKEN_ENCRYPTION_KEYS=[OLD])
    get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    before = stored_columns()
    use_keys(settings, NEW)

    with pytest.raises(ZCRMTokenDecryptionError) as caught:
        get_oauth_client().get_access_token()
    assert isinstance(caught.value, ZCRMPersistenceError)
    assert "TOKEN_ENCRYPTION_KEYS" in str(caught.value)
    assert "add the key it was written with" in str(caught.value)
    with pytest.raises(ZCRMTokenDecryptionError):
        get_oauth_client().refresh_access_token()

    out = io.StringIO()
    call_command("zcrm_token_status", stdout=out)
    assert "state=cannot_decrypt" in out.getvalue()
    assert "TOKEN_ENCRYPTION_KEYS" in out.getvalue()

    messages = zcrm_token_encryption_check(databases=["default"])
    assert [m.id for m in messages] == ["django_zcrm.E041"]
    assert "TOKEN_ENCRYPTION_KEYS" in messages[0].msg
    # Without --database the check does not query (Django's rule for database checks).
    assert zcrm_token_encryption_check() == []

    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("zcrm_rotate_token_key", stdout=io.StringIO())
    assert stored_columns() == before
    assert fake_zoho.accounts.token_requests("refresh_token") == 0


@pytest.mark.django_db
def test_derived_key_error_names_secret_key(settings):
    settings.SECRET_KEY = "first-secret"
    DatabasePersistence().save_oauth_tokens(tokens())
    settings.SECRET_KEY = "another-secret"

    with pytest.raises(ZCRMTokenDecryptionError, match="SECRET_KEY"):
        DatabasePersistence().get_oauth_tokens("a@example.com")
    settings.SECRET_KEY_FALLBACKS = ["first-secret"]
    assert DatabasePersistence().get_oauth_tokens("a@example.com").refresh_token == "R" * 40


@pytest.mark.django_db
def test_check_says_nothing_for_an_empty_table_and_reads_a_good_row(settings):
    assert zcrm_token_encryption_check(databases=["default"]) == []
    DatabasePersistence().save_oauth_tokens(tokens())
    assert zcrm_token_encryption_check(databases=["default"]) == []


def test_check_reports_a_token_file_no_key_decrypts(settings, tmp_path):
    use_keys(settings, OLD, TOKEN_PERSISTENCE_PATH=str(tmp_path))
    FilePersistence(str(tmp_path)).save_oauth_tokens(tokens())
    use_keys(settings, NEW, TOKEN_PERSISTENCE_PATH=str(tmp_path))

    assert [m.id for m in zcrm_token_encryption_check()] == ["django_zcrm.E041"]
    with pytest.raises(ZCRMTokenDecryptionError):
        FilePersistence(str(tmp_path)).get_oauth_tokens("a@example.com")


@pytest.mark.parametrize("value", [[], ["not-a-key"], "abc", 42])
def test_unusable_keys_are_a_check_error_and_a_configuration_error(settings, value):
    settings.ZCRM = {**settings.ZCRM, "TOKEN_ENCRYPTION_KEYS": value}
    messages = zcrm_token_encryption_check()
    assert messages and {m.id for m in messages} == {"django_zcrm.E040"}
    assert all("not-a-key" not in m.msg for m in messages)  # a key is never echoed
    with pytest.raises(ZCRMConfigurationError):
        get_cipher()


def test_keys_may_come_as_a_comma_separated_string(settings):
    settings.ZCRM = {**settings.ZCRM, "TOKEN_ENCRYPTION_KEYS": f"{NEW}, {OLD}"}
    assert len(get_cipher().fernets) == 2
    assert zcrm_token_encryption_check() == []


def test_too_long_value_is_refused_before_writing(db):
    with pytest.raises(ZCRMPersistenceError, match="more than the 2048"):
        DatabasePersistence().save_oauth_tokens(tokens(access="x" * 3000))
    assert not OAuthToken.objects.exists()
