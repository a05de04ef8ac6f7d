"""Tokens in ``zcrm_oauthtokens.txt`` inside ``TOKEN_PERSISTENCE_PATH``.

The file holds JSON (never pickle or Marshal, which execute code when tampered with), is created
with mode 0600, and every change is a read-modify-write under an exclusive lock on a sidecar
lock file, written to a temporary file, fsynced and renamed over the old one: a crash leaves the
old file or the new one, never a torn one. ``access_token`` and ``refresh_token`` are stored as
``zcrm1:`` ciphertext unless ``ZCRM['TOKEN_ENCRYPTION']`` is False (see :mod:`django_zcrm.crypto`).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import Any

from ..crypto import TokenCipher, get_cipher
from ..exceptions import ZCRMPersistenceError
from ..leases import is_held
from ..redaction import get_logger
from ..tokens import OAuthTokens
from .base import TokenPersistence
from .filelock import file_lock

logger = get_logger(__name__)

FILE_NAME = "zcrm_oauthtokens.txt"
_TOKEN_FIELDS = {f.name for f in fields(OAuthTokens)}
#: The entries' fields stored encrypted.
SECRET_FIELDS = ("access_token", "refresh_token")


class FilePersistence(TokenPersistence):
    """A JSON token file shared safely by every process on the host."""

    def __init__(self, directory: str) -> None:
        self.directory = os.path.abspath(directory)
        self.path = os.path.join(self.directory, FILE_NAME)
        self.lock_path = self.path + ".lock"

    # -- file plumbing ------------------------------------------------------------------------

    def _ensure_directory(self) -> None:
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise ZCRMPersistenceError(
                f"Cannot create the token folder {self.directory}: {exc.strerror}. Fix "
                "ZCRM['TOKEN_PERSISTENCE_PATH'] or the folder's permissions."
            ) from exc

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return {}
        if stat.S_ISLNK(info.st_mode):
            raise ZCRMPersistenceError(f"Refusing to read {self.path}: it is a symbolic link.")
        if info.st_mode & 0o077:
            logger.warning(
                "Token file %s is readable by other users (mode %o); tightening to 0600.",
                self.path,
                stat.S_IMODE(info.st_mode),
            )
            os.chmod(self.path, 0o600)
        try:
            # O_NOFOLLOW: a symlink swapped in after the lstat above is refused, not followed.
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, encoding="utf-8") as fh:
                content = fh.read()
        except OSError as exc:
            raise ZCRMPersistenceError(f"Cannot read {self.path}: {exc.strerror}") from exc
        if not content.strip():
            return {}
        try:
            data = json.loads(content)
        except ValueError as exc:
            raise ZCRMPersistenceError(
                f"{self.path} is not valid JSON (was it written by another SDK?). Move it away "
                "and generate tokens again."
            ) from exc
        users = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(users, dict):
            raise ZCRMPersistenceError(f"{self.path} does not hold a django-zcrm token file.")
        return users

    def _write(self, users: dict[str, dict[str, Any]]) -> None:
        payload = json.dumps({"version": 1, "tokens": users}, indent=1, sort_keys=True)
        fd, tmp_path = tempfile.mkstemp(prefix=".zcrm_oauthtokens.", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp_path, 0o600)
            os.replace(tmp_path, self.path)
        except BaseException:
            if os.path.exists(tmp_path):
                os.unlink(tmp_path)
            raise
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _locked(self):
        self._ensure_directory()
        return file_lock(self.lock_path)

    # -- the contract -------------------------------------------------------------------------

    def save_oauth_tokens(self, tokens: OAuthTokens) -> None:
        """Insert or replace one user's tokens (lease fields kept)."""
        with self._locked():
            users = self._read()
            previous = users.get(tokens.user_identifier, {})
            record = asdict(tokens)
            cipher = get_cipher()
            for name in SECRET_FIELDS:
                record[name] = cipher.encrypt(record[name])
            record["lease_owner"] = previous.get("lease_owner")
            record["lease_until"] = previous.get("lease_until")
            users[tokens.user_identifier] = record
            self._write(users)

    def get_oauth_tokens(self, user_identifier: str) -> OAuthTokens | None:
        """Read one user's tokens."""
        with self._locked():
            record = self._read().get(user_identifier)
        if record is None:
            return None
        return self.tokens_from_record(user_identifier, record)

    def tokens_from_record(
        self, user_identifier: str, record: dict[str, Any], cipher: TokenCipher | None = None
    ) -> OAuthTokens:
        """One entry of the file as plain tokens (decrypted)."""
        cipher = cipher or get_cipher()
        values = {k: v for k, v in record.items() if k in _TOKEN_FIELDS}
        for name in SECRET_FIELDS:
            if isinstance(values.get(name), str):
                values[name] = cipher.decrypt(
                    values[name],
                    what=f"the {name.replace('_', ' ')} of {user_identifier} in {self.path}",
                )
        try:
            return OAuthTokens(**values)
        except TypeError as exc:
            raise ZCRMPersistenceError(
                f"The entry for {user_identifier} in {self.path} is incomplete."
            ) from exc

    def delete_oauth_tokens(self, user_identifier: str) -> None:
        """Remove one user's tokens."""
        with self._locked():
            users = self._read()
            if users.pop(user_identifier, None) is not None:
                self._write(users)

    def rewrite_entries(self, rewrite: Callable[[str, dict[str, Any]], bool]) -> None:
        """Call ``rewrite(user, entry)`` on each entry under the lock; save if any returned True."""
        with self._locked():
            users = self._read()
            changed = [rewrite(user, record) for user, record in sorted(users.items())]
            if any(changed):
                self._write(users)

    def list_user_identifiers(self) -> list[str]:
        """Every user in the file."""
        with self._locked():
            return sorted(self._read())

    def acquire_refresh_lease(self, user_identifier: str, owner: str, until: int, now: int) -> bool:
        """Claim the lease stored beside the user's tokens, under the file lock."""
        with self._locked():
            users = self._read()
            record = users.get(user_identifier)
            if record is None:
                return False
            if is_held(record.get("lease_owner"), int(record.get("lease_until") or 0), now):
                return False
            record["lease_owner"], record["lease_until"] = owner, until
            self._write(users)
            return True

    def release_refresh_lease(self, user_identifier: str, owner: str) -> None:
        """Clear the lease if ``owner`` still holds it."""
        with self._locked():
            users = self._read()
            record = users.get(user_identifier)
            if record is not None and record.get("lease_owner") == owner:
                record["lease_owner"], record["lease_until"] = None, None
                self._write(users)
