"""Lease and lock files refuse symlinks and foreign folders; ``check --deploy`` names the risky
settings (issue 9)."""

from __future__ import annotations

import io
import logging
import os

import pytest
from django.core.management import call_command

from django_zcrm.checks import zcrm_deploy_check
from django_zcrm.exceptions import ZCRMPersistenceError
from django_zcrm.persistence import FilePersistence, base
from django_zcrm.persistence.base import check_private_folder
from django_zcrm.tokens import OAuthTokens

from .test_token_encryption import tokens


class MemoryStore(base.TokenPersistence):
    """A custom store that keeps the default (temp-folder) lease."""

    def __init__(self) -> None:
        self.rows: dict[str, OAuthTokens] = {}

    def save_oauth_tokens(self, tokens: OAuthTokens) -> None:
        self.rows[tokens.user_identifier] = tokens

    def get_oauth_tokens(self, user_identifier: str) -> OAuthTokens | None:
        return self.rows.get(user_identifier)

    def delete_oauth_tokens(self, user_identifier: str) -> None:
        self.rows.pop(user_identifier, None)


@pytest.fixture
def lease_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(base.tempfile, "gettempdir", lambda: str(tmp_path))
    return tmp_path


def test_default_lease_works_in_a_private_folder(lease_tmp):
    store = MemoryStore()
    assert store.acquire_refresh_lease("u@example.com", "me", 2000, 1000)
    assert not store.acquire_refresh_lease("u@example.com", "other", 2000, 1000)
    store.release_refresh_lease("u@example.com", "me")
    assert store.acquire_refresh_lease("u@example.com", "other", 2000, 1000)


def test_symlinked_lease_file_is_refused_with_a_typed_error(lease_tmp):
    store = MemoryStore()
    path = base._local_lease_path("u@example.com")
    target = lease_tmp / "elsewhere.json"
    target.write_text("{}")
    os.symlink(target, path)

    with pytest.raises(ZCRMPersistenceError, match="symbolic link"):
        store.acquire_refresh_lease("u@example.com", "me", 2000, 1000)
    assert target.read_text() == "{}"


def test_lease_folder_writable_by_others_is_refused(lease_tmp):
    folder = lease_tmp / f"django-zcrm-leases-{os.getuid()}"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    with pytest.raises(ZCRMPersistenceError, match="writable by other users"):
        MemoryStore().acquire_refresh_lease("u@example.com", "me", 2000, 1000)


def test_lease_folder_that_is_a_symlink_is_refused(lease_tmp):
    real = lease_tmp / "real"
    real.mkdir(mode=0o700)
    os.symlink(real, lease_tmp / f"django-zcrm-leases-{os.getuid()}")
    with pytest.raises(ZCRMPersistenceError, match="not a plain folder"):
        MemoryStore().acquire_refresh_lease("u@example.com", "me", 2000, 1000)


def test_folder_owned_by_someone_else_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "f"
    folder.mkdir(mode=0o700)
    monkeypatch.setattr(base.os, "getuid", lambda: os.geteuid() + 1)
    with pytest.raises(ZCRMPersistenceError, match="belongs to user id"):
        check_private_folder(str(folder))


def test_symlink_at_the_token_file_lock_path_is_a_typed_error(tmp_path):
    store = FilePersistence(str(tmp_path))
    os.symlink(tmp_path / "victim", store.lock_path)

    with pytest.raises(ZCRMPersistenceError, match="symbolic link"):
        store.save_oauth_tokens(tokens())
    assert not (tmp_path / "victim").exists()


# -- check --deploy ------------------------------------------------------------------------------


def ids(settings, **zcrm) -> list[str]:
    settings.ZCRM = {"CLIENT_ID": "1000.X", "CLIENT_SECRET": "s", **zcrm}
    return sorted(m.id for m in zcrm_deploy_check())


def test_plain_http_to_a_remote_host_is_reported_loopback_is_not(settings):
    assert ids(settings, ACCOUNTS_URL="http://accounts.example.com") == ["django_zcrm.W041"]
    assert ids(settings, ACCOUNTS_URL="http://127.0.0.1:8000", API_BASE_URL="http://[::1]") == []
    assert ids(settings, DATA_CENTER="EU") == []


def test_token_file_readable_by_others_is_reported(settings, tmp_path):
    tmp_path.chmod(0o700)
    FilePersistence(str(tmp_path)).save_oauth_tokens(tokens())
    assert ids(settings, TOKEN_PERSISTENCE_PATH=str(tmp_path)) == []
    (tmp_path / "zcrm_oauthtokens.txt").chmod(0o644)
    tmp_path.chmod(0o755)
    assert ids(settings, TOKEN_PERSISTENCE_PATH=str(tmp_path)) == ["django_zcrm.W042"] * 2


def test_debug_with_console_logging_at_debug_level_is_reported(settings):
    settings.DEBUG = True
    logger = logging.getLogger("django_zcrm")
    old = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        assert ids(settings, LOG_IN_CONSOLE=True) == ["django_zcrm.W043"]
        settings.DEBUG = False
        assert ids(settings, LOG_IN_CONSOLE=True) == []
    finally:
        logger.setLevel(old)


# Django 6 runs the database checks under `check` too: give it the test database.
@pytest.mark.django_db
def test_check_deploy_command_lists_encryption_off_and_http(settings):
    settings.ZCRM = {
        "CLIENT_ID": "1000.X",
        "CLIENT_SECRET": "s",
        "ACCOUNTS_URL": "http://accounts.example.com",
        "TOKEN_ENCRYPTION": False,
    }
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("check", "--deploy", "--tag", "security", stdout=out, stderr=err)
    except Exception as exc:  # SystemCheckError when Django's own deploy checks fail
        text = str(exc)
    else:
        text = out.getvalue() + err.getvalue()
    assert "django_zcrm.W040" in text and "django_zcrm.W041" in text
    # Without --deploy only the encryption warning shows (and the core http warning W003).
    plain = io.StringIO()
    call_command("check", "--tag", "security", stdout=plain, stderr=plain)
    assert "W040" in plain.getvalue() and "W041" not in plain.getvalue()
