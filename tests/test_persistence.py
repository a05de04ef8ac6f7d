"""One contract suite run against every token store: database, file, and two custom handlers."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from django_zcrm.exceptions import ZCRMPersistenceError
from django_zcrm.persistence import (
    DatabasePersistence,
    FilePersistence,
    SDKHandlerAdapter,
    build_persistence,
    get_persistence,
)
from django_zcrm.tokens import OAuthTokens

from .support import custom_stores

HERE = Path(__file__).resolve().parent


def tokens(
    user: str = "a@example.com", *, access: str = "A" * 40, expiry: int | None = None
) -> OAuthTokens:
    return OAuthTokens(
        user_identifier=user,
        access_token=access,
        refresh_token="R" * 40,
        expiry_time=expiry or int(time.time() * 1000) + 3600_000,
        api_domain="https://www.zohoapis.eu",
    )


@pytest.fixture(params=["database", "file", "custom-dotted", "custom-file"])
def store(request, settings, tmp_path, db):
    base = {"CLIENT_ID": "1000.X", "CLIENT_SECRET": "secret-secret"}
    if request.param == "database":
        settings.ZCRM = base
    elif request.param == "file":
        settings.ZCRM = {**base, "TOKEN_PERSISTENCE_PATH": str(tmp_path / "tokens")}
    elif request.param == "custom-dotted":
        custom_stores.clear()
        settings.ZCRM = {
            **base,
            "PERSISTENCE_HANDLER_CLASS": "tests.support.custom_stores.MemoryTokenStore",
            "TOKEN_PERSISTENCE_PATH": str(tmp_path / "ignored"),
        }
    else:
        settings.ZCRM = {
            **base,
            "PERSISTENCE_HANDLER_CLASS": "SDKStyleHandler",
            "PERSISTENCE_HANDLER_CLASS_PATH": str(HERE / "support" / "sdk_style_handler.py"),
        }
    store = get_persistence()
    yield store
    for user in ("a@example.com", "b@example.com"):
        store.delete_oauth_tokens(user)


def test_precedence_is_custom_then_file_then_database(settings, tmp_path):
    base = {"CLIENT_ID": "1000.X", "CLIENT_SECRET": "secret-secret"}
    settings.ZCRM = {**base}
    assert isinstance(get_persistence(), DatabasePersistence)
    settings.ZCRM = {**base, "TOKEN_PERSISTENCE_PATH": str(tmp_path)}
    assert isinstance(get_persistence(), FilePersistence)
    settings.ZCRM = {
        **base,
        "TOKEN_PERSISTENCE_PATH": str(tmp_path),
        "PERSISTENCE_HANDLER_CLASS": "tests.support.custom_stores.MemoryTokenStore",
    }
    assert isinstance(get_persistence(), custom_stores.MemoryTokenStore)
    settings.ZCRM = {
        **base,
        "PERSISTENCE_HANDLER_CLASS": "SDKStyleHandler",
        "PERSISTENCE_HANDLER_CLASS_PATH": str(HERE / "support" / "sdk_style_handler.py"),
    }
    assert isinstance(get_persistence(), SDKHandlerAdapter)


def test_get_of_an_unknown_user_is_none(store):
    assert store.get_oauth_tokens("nobody@example.com") is None


def test_saved_tokens_come_back_unchanged(store):
    saved = tokens()
    store.save_oauth_tokens(saved)
    loaded = store.get_oauth_tokens("a@example.com")
    assert (
        loaded.user_identifier,
        loaded.access_token,
        loaded.refresh_token,
        loaded.expiry_time,
        loaded.api_domain,
    ) == (
        saved.user_identifier,
        saved.access_token,
        saved.refresh_token,
        saved.expiry_time,
        saved.api_domain,
    )


def test_saving_again_replaces_the_users_tokens_and_keeps_others(store):
    store.save_oauth_tokens(tokens("a@example.com", access="A" * 40))
    store.save_oauth_tokens(tokens("b@example.com", access="B" * 40))
    store.save_oauth_tokens(tokens("a@example.com", access="C" * 40))
    assert store.get_oauth_tokens("a@example.com").access_token == "C" * 40
    assert store.get_oauth_tokens("b@example.com").access_token == "B" * 40


def test_delete_removes_only_that_user(store):
    store.save_oauth_tokens(tokens("a@example.com"))
    store.save_oauth_tokens(tokens("b@example.com"))
    store.delete_oauth_tokens("a@example.com")
    store.delete_oauth_tokens("a@example.com")  # twice is not an error
    assert store.get_oauth_tokens("a@example.com") is None
    assert store.get_oauth_tokens("b@example.com") is not None


def test_refresh_lease_is_exclusive_until_released_or_lapsed(store):
    store.save_oauth_tokens(tokens())
    now = int(time.time() * 1000)
    assert store.acquire_refresh_lease("a@example.com", "one", now + 30_000, now)
    assert not store.acquire_refresh_lease("a@example.com", "two", now + 30_000, now)
    store.release_refresh_lease("a@example.com", "two")  # not the owner: no effect
    assert not store.acquire_refresh_lease("a@example.com", "two", now + 30_000, now)
    store.release_refresh_lease("a@example.com", "one")
    assert store.acquire_refresh_lease("a@example.com", "two", now + 30_000, now)
    # "two" died holding it: once the lease lapses, a third process can take over
    later = now + 31_000
    assert store.acquire_refresh_lease("a@example.com", "three", later + 30_000, later)
    store.release_refresh_lease("a@example.com", "three")


def test_saving_tokens_does_not_break_a_held_lease(store):
    store.save_oauth_tokens(tokens())
    now = int(time.time() * 1000)
    assert store.acquire_refresh_lease("a@example.com", "one", now + 30_000, now)
    store.save_oauth_tokens(tokens(access="N" * 40))
    assert not store.acquire_refresh_lease("a@example.com", "two", now + 30_000, now)
    store.release_refresh_lease("a@example.com", "one")


# --- file store specifics -------------------------------------------------------------------


def test_token_file_is_created_0600_in_a_new_folder(tmp_path):
    folder = tmp_path / "new" / "folder"
    FilePersistence(str(folder)).save_oauth_tokens(tokens())
    path = folder / "zcrm_oauthtokens.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Encrypted at rest; the store reads it back as it was saved.
    assert "A" * 40 not in path.read_text()
    assert FilePersistence(str(folder)).get_oauth_tokens("a@example.com").access_token == "A" * 40


def test_token_file_write_is_atomic_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    store = FilePersistence(str(tmp_path))
    store.save_oauth_tokens(tokens(access="OLD" * 14))
    before = (tmp_path / "zcrm_oauthtokens.txt").read_text()

    def exploding_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", exploding_fsync)
    with pytest.raises(OSError):
        store.save_oauth_tokens(tokens(access="NEW" * 14))
    monkeypatch.undo()
    assert (tmp_path / "zcrm_oauthtokens.txt").read_text() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".zcrm")] == []


def test_symlinked_token_file_is_refused(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_text("{}")
    (tmp_path / "zcrm_oauthtokens.txt").symlink_to(target)
    with pytest.raises(ZCRMPersistenceError, match="symbolic link"):
        FilePersistence(str(tmp_path)).get_oauth_tokens("a@example.com")


def test_loose_permissions_are_tightened(tmp_path):
    store = FilePersistence(str(tmp_path))
    store.save_oauth_tokens(tokens())
    path = tmp_path / "zcrm_oauthtokens.txt"
    path.chmod(0o644)
    assert store.get_oauth_tokens("a@example.com") is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_file_from_another_sdk_gives_a_clear_error(tmp_path):
    (tmp_path / "zcrm_oauthtokens.txt").write_bytes(b"\x04\x08[\x06o:\x1dZCRMSDK")  # Ruby Marshal
    with pytest.raises(ZCRMPersistenceError, match="not valid JSON"):
        FilePersistence(str(tmp_path)).get_oauth_tokens("a@example.com")


def test_build_persistence_uses_the_token_database_alias(settings):
    settings.ZCRM = {"CLIENT_ID": "1000.X", "CLIENT_SECRET": "s" * 10, "TOKEN_DATABASE": "default"}
    store = build_persistence()
    assert isinstance(store, DatabasePersistence) and store.using == "default"
