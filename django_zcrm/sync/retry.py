"""The retry list: records a run could not store, read again by id by the next runs.

``SyncState.failed_ids`` holds ``{zoho_id: ISO time of the last failure}``, changed in the same
transaction as the page that failed, so a record that could not be stored is never both behind
the checkpoint and off the list (``docs/design/sync.md``). :class:`RetryList` is that list while
a run holds it; :func:`fetch_by_ids` reads its records back from Zoho.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from ..exceptions import ZCRMNotFoundError, ZCRMValidationError
from ..redaction import get_logger
from ..services import MAX_PER_PAGE, MAX_PER_WRITE, Module
from .results import SyncResult
from .targets import Target
from .timeutil import aware, latest, to_db

logger = get_logger(__name__)

__all__ = ["MAX_PENDING_FAILURES", "RETRY_IDS_PER_CALL", "RetryList", "fetch_by_ids"]

#: Ids of records that could not be stored, kept in ``SyncState.failed_ids`` for the next runs to
#: read again. At most this many (a JSON object of ~50 bytes per id, rewritten with every page
#: that changes it; and 100 API calls per run to retry them all): failures past it are counted,
#: logged and reported, and only a ``--full`` run reads those records again.
MAX_PENDING_FAILURES = 10_000
#: Ids per ``GET /{module}?ids=...`` when retrying (Zoho's limit for id lists, as for deletes).
RETRY_IDS_PER_CALL = MAX_PER_WRITE


def load_pending(value: Any) -> dict[str, str]:
    """``SyncState.failed_ids`` as ``{zoho_id: stamp}`` (a bare list of ids is accepted too)."""
    if isinstance(value, Mapping):
        return {str(k): str(v or "") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return {str(v): "" for v in value}
    return {}


def parse_stamp(value: str) -> datetime | None:
    """A retry-list stamp as an aware datetime (None when empty or unreadable)."""
    try:
        return aware(datetime.fromisoformat(value)) if value else None
    except ValueError:
        return None


class RetryList:
    """One run's view of ``SyncState.failed_ids`` and ``failed_overflow_at``.

    ``pending`` is the list as the run leaves it; ``overflow_at`` the last time a failed record
    was not kept because the list was full (only a full run clears it).
    """

    def __init__(
        self,
        module: str,
        label: str,
        pending: dict[str, str] | None = None,
        overflow_at: datetime | None = None,
    ) -> None:
        self.module = module
        self.label = label
        self.pending: dict[str, str] = pending if pending is not None else {}
        self.overflow_at = overflow_at

    @classmethod
    def from_state(cls, state: Any, module: str, label: str) -> RetryList:
        """The list a ``SyncState`` row holds."""
        return cls(module, label, load_pending(state.failed_ids), aware(state.failed_overflow_at))

    def __len__(self) -> int:
        return len(self.pending)

    def changes(self) -> dict[str, Any]:
        """The ``SyncState`` columns holding this list."""
        return {"failed_ids": self.pending, "failed_overflow_at": to_db(self.overflow_at)}

    def failed_before(self, stamp: str, started: datetime) -> bool:
        """Whether a stamp is older than the run started at ``started`` (unreadable: old)."""
        when = parse_stamp(stamp)
        return when is None or when < started

    def due(self, started: datetime) -> list[str]:
        """Ids to read again: those that did not already fail in the run started at ``started``."""
        return [rid for rid, stamp in self.pending.items() if self.failed_before(stamp, started)]

    def settle_page(
        self,
        read: Iterable[str],
        failed: Mapping[str, None],
        gone: Iterable[str],
        now: datetime,
        started: datetime | None,
        result: SyncResult,
    ) -> dict[str, Any]:
        """Update the list for a page; return the ``SyncState`` changes (none: ``{}``).

        Ids read and not failed leave it (stored, or already held at that version or newer, or
        kept for a local change that the push sends and Zoho then lists again); failed ids
        join it, stamped ``now`` (never before the run ``started``: a full run drops the ids it
        did not fail again); ``gone`` ids leave it.
        """
        stamp = latest(now, started)
        assert stamp is not None
        overflow_before = self.overflow_at
        changed = False
        for rid in read:
            if rid not in failed and self.pending.pop(rid, None) is not None:
                changed = True
        dropped = [rid for rid in gone if self.pending.pop(rid, None) is not None]
        if dropped:
            changed = True
            logger.info(
                "Dropped %d records of %s from the retry list: Zoho no longer has them "
                "(deleted), e.g. %s.",
                len(dropped),
                self.module,
                dropped[0],
            )
        for rid in failed:
            if rid in self.pending or len(self.pending) < MAX_PENDING_FAILURES:
                self.pending[rid] = stamp.isoformat()
                changed = True
            else:
                # Reported (and logged) at the end of the run; remembered until a full run.
                result.retry_overflow += 1
                self.overflow_at = stamp
        if not changed and self.overflow_at == overflow_before:
            return {}
        return self.changes()

    def settle_run(
        self, *, listed_all: bool, started: datetime, result: SyncResult
    ) -> dict[str, Any]:
        """The list after the run (``SyncState`` changes), and what ``result`` says of it.

        ``listed_all``: a full run whose listing nothing moved under, so every record was read.
        """
        if listed_all:
            # Every record was listed: a pending id this run did not fail again was stored,
            # or is no longer in Zoho. (With a rewind paging may have skipped some: keep all.)
            stale = self.due(started)
            for rid in stale:
                del self.pending[rid]
            if stale:
                logger.info(
                    "The full run of %s dropped %d ids from the retry list that it did "
                    "not read (no longer in Zoho).",
                    self.module,
                    len(stale),
                )
            if self.overflow_at is not None and self.overflow_at < started:
                self.overflow_at = None  # whatever was not kept then, this run read again
        result.pending_failures = len(self.pending)
        result.full_sync_needed = self.overflow_at is not None
        if result.full_sync_needed and not result.retry_overflow:
            logger.warning(
                "Records of %s -> %s that could not be stored were not kept for retry "
                "(the list was full on %s): fix the model, then run `zcrm_sync %s "
                "--full` to read them again.",
                self.module,
                self.label,
                self.overflow_at.isoformat() if self.overflow_at else None,
                self.module,
            )
        if result.retry_overflow:
            logger.warning(
                "%d records of %s -> %s could not be stored and were not kept for retry "
                "(the list holds %d): fix the model, then run `zcrm_sync %s --full`.",
                result.retry_overflow,
                self.module,
                self.label,
                MAX_PENDING_FAILURES,
                self.module,
            )
        return self.changes()


def fetch_by_ids(service: Module, target: Target, ids: list[str]) -> list[Mapping[str, Any]]:
    """The records of ``ids`` that Zoho still has: one ``GET /{module}?ids=...`` call.

    Zoho documents ``ids`` on the records listing; should an account refuse it (400), the
    records are read one by one instead (``GET /{module}/{id}``, 204 when gone).
    """
    wanted = set(ids)
    try:
        return [
            record
            for page in service.iter_pages(
                target.zoho_fields(), params={"ids": ",".join(ids)}, per_page=MAX_PER_PAGE
            )
            for record in page.records
            if str(record.get("id")) in wanted
        ]
    except ZCRMValidationError as exc:
        logger.warning(
            "Zoho refused to read %d records of %s by id in one call (%s); "
            "reading them one by one.",
            len(ids),
            target.module,
            exc.code or exc.status,
        )
    records: list[Mapping[str, Any]] = []
    for rid in ids:
        try:
            records.append(service.get(rid, target.zoho_fields()))
        except ZCRMNotFoundError:
            continue
    return records
