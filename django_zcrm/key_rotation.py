"""Re-encrypt every stored token with the first configured key (``zcrm_rotate_token_key``).

Safe while other processes refresh tokens: a database row is rewritten by one conditional UPDATE
that only replaces the exact ciphertext this run read, so a refresh saved in between wins and
the row is simply read again; the token file is rewritten under the same lock every save takes.
No row is ever written in a form the configured keys cannot read, and a row no key decrypts is
counted and left exactly as it is. See ``docs/design/token-refresh.md`` (token stores).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connections

from .conf import get_settings
from .crypto import TokenCipher, get_cipher, is_encrypted
from .exceptions import ZCRMPersistenceError, ZCRMTokenDecryptionError
from .models import OAuthToken
from .persistence.file import SECRET_FIELDS, FilePersistence

#: Rows read per query; each row is then rewritten by its own short UPDATE.
BATCH_SIZE = 200
#: How often one row is read again after a concurrent save replaced what this run read.
ATTEMPTS_PER_ROW = 5


@dataclass
class RotationReport:
    """What one run did (or, with ``check_only``, would do) to one token store."""

    store: str
    check_only: bool
    checked: int = 0
    rewritten: int = 0
    plaintext_before: int = 0
    undecryptable: int = 0
    #: Conditional UPDATEs that found the row already replaced by a concurrent save (then re-read).
    conflicts: int = 0
    #: Rows a concurrent save kept replacing for every attempt; left as that save wrote them.
    replaced_concurrently: int = 0
    undecryptable_users: list[str] = field(default_factory=list)
    skipped: str = ""

    def summary(self) -> str:
        """One line for people."""
        if self.skipped:
            return f"{self.store}: {self.skipped}"
        verb = "would rewrite" if self.check_only else "rewrote"
        return (
            f"{self.store}: {self.checked} checked, {verb} {self.rewritten}, "
            f"{self.plaintext_before} plaintext before, {self.undecryptable} cannot be decrypted"
        )


@dataclass
class _Outcome:
    plaintext: bool = False
    undecryptable: bool = False
    needs_rewrite: bool = False
    new_values: tuple[str, ...] = ()


def _assess(cipher: TokenCipher, values: tuple[str, ...]) -> _Outcome:
    """Decide what one stored pair of tokens needs, without writing anything."""
    outcome = _Outcome(plaintext=any(v and not is_encrypted(v) for v in values))
    try:
        plain = tuple(cipher.decrypt(v) if v else v for v in values)
    except ZCRMTokenDecryptionError:
        outcome.undecryptable = True
        return outcome
    if all(cipher.is_current(v) for v in values):
        return outcome
    outcome.needs_rewrite = True
    outcome.new_values = tuple(cipher.encrypt(v) for v in plain)
    return outcome


def rotate_database(
    using: str, *, check_only: bool = False, batch_size: int = BATCH_SIZE
) -> RotationReport:
    """Rewrite the ``oauthtokens`` rows of database ``using`` under the first key."""
    report = RotationReport(store=f"database '{using}'", check_only=check_only)
    if not _table_exists(using):
        report.skipped = "no oauthtokens table (run migrate to create it)"
        return report
    cipher = get_cipher()
    rows = OAuthToken.objects.using(using)
    last_pk: Any = None
    try:
        while True:
            page = rows.order_by("pk")
            if last_pk is not None:
                page = page.filter(pk__gt=last_pk)
            batch = list(
                page.values_list("pk", "useridentifier", "accesstoken", "refreshtoken")[:batch_size]
            )
            if not batch:
                break
            for pk, user, access, refresh in batch:
                _rotate_row(rows, cipher, report, pk, user, (access, refresh), check_only)
            last_pk = batch[-1][0]
    except DatabaseError as exc:
        raise ZCRMPersistenceError(
            f"Key rotation stopped on database '{using}': {exc}. Rows already rewritten stay "
            "readable; run zcrm_rotate_token_key again."
        ) from exc
    return report


def _rotate_row(
    rows: Any,
    cipher: TokenCipher,
    report: RotationReport,
    pk: Any,
    user: str,
    values: tuple[str, str],
    check_only: bool,
) -> None:
    report.checked += 1
    for attempt in range(ATTEMPTS_PER_ROW):
        outcome = _assess(cipher, values)
        if attempt == 0 and outcome.plaintext:
            report.plaintext_before += 1
        if outcome.undecryptable:
            report.undecryptable += 1
            report.undecryptable_users.append(user)
            return
        if not outcome.needs_rewrite:
            return
        if check_only:
            report.rewritten += 1
            return
        access, refresh = outcome.new_values
        # Only if the row still holds what was read: a refresh saved meanwhile wins.
        if rows.filter(pk=pk, accesstoken=values[0], refreshtoken=values[1]).update(
            accesstoken=access, refreshtoken=refresh
        ):
            report.rewritten += 1
            return
        report.conflicts += 1
        current = rows.filter(pk=pk).values_list("accesstoken", "refreshtoken").first()
        if current is None:  # deleted meanwhile
            return
        values = (current[0], current[1])
    report.replaced_concurrently += 1


def rotate_file(store: FilePersistence, *, check_only: bool = False) -> RotationReport:
    """Rewrite every entry of the token file under the first key (under the file lock)."""
    report = RotationReport(store=f"file {store.path}", check_only=check_only)
    cipher = get_cipher()

    def rewrite(user: str, record: dict[str, Any]) -> bool:
        report.checked += 1
        values = tuple(str(record.get(name) or "") for name in SECRET_FIELDS)
        outcome = _assess(cipher, values)
        report.plaintext_before += outcome.plaintext
        if outcome.undecryptable:
            report.undecryptable += 1
            report.undecryptable_users.append(user)
            return False
        if not outcome.needs_rewrite:
            return False
        report.rewritten += 1
        if check_only:
            return False
        record.update(zip(SECRET_FIELDS, outcome.new_values, strict=True))
        return True

    store.rewrite_entries(rewrite)
    return report


def rotate_tokens(
    *, check_only: bool = False, batch_size: int = BATCH_SIZE
) -> list[RotationReport]:
    """Rotate every built-in store that may hold tokens: the token file (when configured) and
    the ``oauthtokens`` table of ``ZCRM['TOKEN_DATABASE']``."""
    conf = get_settings()
    reports = []
    if conf.TOKEN_PERSISTENCE_PATH:
        reports.append(
            rotate_file(FilePersistence(conf.TOKEN_PERSISTENCE_PATH), check_only=check_only)
        )
    using = conf.TOKEN_DATABASE or "default"
    if using in connections.settings:
        reports.append(rotate_database(using, check_only=check_only, batch_size=batch_size))
    if conf.PERSISTENCE_HANDLER_CLASS or conf.PERSISTENCE_HANDLER_CLASS_PATH:
        reports.append(
            RotationReport(
                store="custom store",
                check_only=check_only,
                skipped="not rotated: a custom store keeps tokens its own way and gets them in "
                "plaintext",
            )
        )
    return reports


def _table_exists(using: str) -> bool:
    try:
        with connections[using].cursor() as cursor:
            names = connections[using].introspection.table_names(cursor)
    except DatabaseError:
        return False
    return OAuthToken._meta.db_table in names
