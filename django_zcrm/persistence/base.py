"""The token persistence contract (the SDK's save/get/delete) plus the refresh lease.

A handler stores one :class:`~django_zcrm.tokens.OAuthTokens` per user identifier. The refresh
lease is what lets many processes agree that exactly one of them asks Zoho for a new access
token: it is a time-limited claim, so a process killed mid-refresh blocks the others only until
the lease lapses.
"""

from __future__ import annotations

import abc
import errno
import hashlib
import json
import os
import stat
import tempfile

from ..exceptions import ZCRMPersistenceError
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
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise ZCRMPersistenceError(
            f"Cannot create the refresh lease folder {folder}: {exc.strerror}."
        ) from exc
    check_private_folder(folder)
    digest = hashlib.sha256(user_identifier.encode("utf-8")).hexdigest()[:32]
    return os.path.join(folder, digest + ".json")


def check_private_folder(folder: str) -> None:
    """Refuse a folder in a shared place (the temp folder) that someone else could control.

    It must be a real folder (not a symlink), owned by this user, and not writable by group or
    others: otherwise another local user could plant or swap the lease files in it.
    """
    try:
        info = os.lstat(folder)
    except OSError as exc:
        raise ZCRMPersistenceError(f"Cannot inspect {folder}: {exc.strerror}.") from exc
    problem = None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        problem = "is not a plain folder (a symbolic link or a file)"
    elif info.st_uid != os.getuid():
        problem = f"belongs to user id {info.st_uid}, not to this process's user ({os.getuid()})"
    elif info.st_mode & 0o022:
        problem = f"is writable by other users (mode {stat.S_IMODE(info.st_mode):o})"
    if problem:
        raise ZCRMPersistenceError(
            f"Refusing to use the refresh lease folder {folder}: it {problem}. Remove it (it only "
            "holds lease files) and let django-zcrm create it again."
        )


def _open_nofollow(path: str, flags: int) -> int:
    """``os.open`` that refuses a symbolic link, with a typed error instead of a raw OSError."""
    try:
        return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ZCRMPersistenceError(
                f"Refusing to open {path}: it is a symbolic link. Remove it."
            ) from exc
        raise ZCRMPersistenceError(f"Cannot open {path}: {exc.strerror}.") from exc


def _read_json(path: str) -> dict:
    try:
        fd = _open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        return {}
    with os.fdopen(fd, encoding="utf-8") as fh:
        content = fh.read()
    if not content.strip():
        return {}
    try:
        data = json.loads(content)
    except ValueError:
        # A torn lease file means nobody holds a valid lease; it is rewritten on next acquire.
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: str, data: dict) -> None:
    fd = _open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
