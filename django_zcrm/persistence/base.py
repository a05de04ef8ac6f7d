"""The token persistence contract (the SDK's save/get/delete) plus the refresh lease.

A handler stores one :class:`~django_zcrm.tokens.OAuthTokens` per user identifier. The refresh
lease is what lets many processes agree that exactly one of them asks Zoho for a new access
token: it is a time-limited claim, so a process killed mid-refresh blocks the others only until
the lease lapses.
"""

from __future__ import annotations

import abc
import hashlib
import json
import os
import tempfile

from ..leases import is_held
from ..tokens import OAuthTokens
from .filelock import file_lock


class TokenPersistence(abc.ABC):
    """Where tokens live. Subclass it (or provide the three SDK methods) for a custom store."""

    @abc.abstractmethod
    def save_oauth_tokens(self, tokens: OAuthTokens) -> None:
        """Insert or replace the tokens of ``tokens.user_identifier``."""

    @abc.abstractmethod
    def get_oauth_tokens(self, user_identifier: str) -> OAuthTokens | None:
        """Return the stored tokens of a user, or None when there are none."""

    @abc.abstractmethod
    def delete_oauth_tokens(self, user_identifier: str) -> None:
        """Remove a user's tokens (no error when there are none)."""

    def list_user_identifiers(self) -> list[str]:
        """Every user with stored tokens (stores that cannot enumerate return [])."""
        return []

    # The lease. The default keeps it in lock files in the system temp folder, which is right
    # for every process on one host; a store shared by several hosts should override both.

    def acquire_refresh_lease(self, user_identifier: str, owner: str, until: int, now: int) -> bool:
        """Claim the right to refresh until ``until`` (epoch ms); False if someone holds it."""
        path = _local_lease_path(user_identifier)
        with file_lock(path + ".lock"):
            lease = _read_json(path)
            if is_held(lease.get("owner"), int(lease.get("until") or 0), now):
                return False
            _write_json(path, {"owner": owner, "until": until})
            return True

    def release_refresh_lease(self, user_identifier: str, owner: str) -> None:
        """Give the lease back, if ``owner`` still holds it."""
        path = _local_lease_path(user_identifier)
        with file_lock(path + ".lock"):
            if _read_json(path).get("owner") == owner:
                _write_json(path, {})


class SDKHandlerAdapter(TokenPersistence):
    """Wraps a custom handler written to the SDK's three-method contract without subclassing."""

    def __init__(self, handler: object) -> None:
        self.handler = handler

    def save_oauth_tokens(self, tokens: OAuthTokens) -> None:
        """Delegate to the custom handler."""
        self.handler.save_oauth_tokens(tokens)  # type: ignore[attr-defined]

    def get_oauth_tokens(self, user_identifier: str) -> OAuthTokens | None:
        """Delegate to the custom handler."""
        return self.handler.get_oauth_tokens(user_identifier)  # type: ignore[attr-defined]

    def delete_oauth_tokens(self, user_identifier: str) -> None:
        """Delegate to the custom handler."""
        self.handler.delete_oauth_tokens(user_identifier)  # type: ignore[attr-defined]

    def list_user_identifiers(self) -> list[str]:
        """Delegate when the handler can enumerate users."""
        lister = getattr(self.handler, "list_user_identifiers", None)
        return list(lister()) if callable(lister) else []

    def acquire_refresh_lease(self, user_identifier: str, owner: str, until: int, now: int) -> bool:
        """Use the handler's own lease when it has one, else the host-local default."""
        own = getattr(self.handler, "acquire_refresh_lease", None)
        if callable(own):
            return bool(own(user_identifier, owner, until, now))
        return super().acquire_refresh_lease(user_identifier, owner, until, now)

    def release_refresh_lease(self, user_identifier: str, owner: str) -> None:
        """Use the handler's own lease when it has one, else the host-local default."""
        own = getattr(self.handler, "release_refresh_lease", None)
        if callable(own):
            own(user_identifier, owner)
        else:
            super().release_refresh_lease(user_identifier, owner)


def _local_lease_path(user_identifier: str) -> str:
    folder = os.path.join(tempfile.gettempdir(), f"django-zcrm-leases-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    digest = hashlib.sha256(user_identifier.encode("utf-8")).hexdigest()[:32]
    return os.path.join(folder, digest + ".json")


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            content = fh.read()
    except FileNotFoundError:
        return {}
    if not content.strip():
        return {}
    try:
        data = json.loads(content)
    except ValueError:
        # A torn lease file means nobody holds a valid lease; it is rewritten on next acquire.
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: str, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
