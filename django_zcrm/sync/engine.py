"""The sync engine: Zoho pages in, local rows out, a checkpoint with every page.

``sync_module("Leads")`` is a plain function returning a :class:`SyncResult`; commands, cron jobs,
Celery tasks and Django tasks all call it the same way. The algorithm (``reliability.md`` 4.3):

* **Window.** One listing sorted by ``Modified_Time`` ascending, with ``If-Modified-Since`` set to
  the checkpoint minus ``SYNC_LOOKBACK_SECONDS`` (records changed in the same second as the
  checkpoint, or committed late, are read again rather than lost). 200 records per request,
  following Zoho's page tokens; a listing that hits Zoho's paging caps restarts from the
  checkpoint.
* **Pages.** Each page is written in one transaction with the run's progress (``run_cursor``):
  a run killed at any moment, even with ``kill -9``, loses at most the page in flight and the next
  run resumes from the last committed page. Writes are idempotent upserts keyed by the Zoho id and
  guarded so an older ``Modified_Time`` never overwrites a newer one.
* **Checkpoint.** At the end of a run it moves to the newest ``Modified_Time`` read, or to
  Zoho's clock when the listing started (its ``Date`` header, minus a second) if that is later:
  every record older than that was visible to the listing, so a run with nothing new leaves the
  next one an empty window (Zoho answers 304 once the lookback has passed).
* **Deletions.** ``/{module}/deleted`` with its own checkpoint; rows are flagged (or removed,
  ``SYNC_DELETE_MODE = "delete"``). A ``--full`` run also flags rows it did not see.
* **Records moving under the listing.** Offset paging skips a record when one already read is
  changed or deleted while the listing runs. The engine notices such records (read in this run,
  then newer or deleted) and moves the checkpoint back to where they were, so the next run
  re-reads what may have been skipped.
* **Records that cannot be stored** (a value the model cannot hold, a row the database refuses)
  fail alone, and their ids are kept in ``SyncState.failed_ids`` (with the same page's commit)
  while the checkpoint moves on. Every later incremental or ``--since`` run reads them again by
  id, ``ids=`` 100 per request, after its listing and deletion sweep: ids that store leave the
  list, ids Zoho no longer has are dropped, the others wait for the next run. A record the
  listing reads and stores leaves the list too. A ``--full`` run re-reads everything, so it
  keeps only the ids that failed again. The list holds at most ``MAX_PENDING_FAILURES`` ids;
  past that the run says so and asks for a ``--full`` run.
* **One run per module and model** at a time: a lease on the ``SyncState`` row.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import DatabaseError, models, transaction

from ..client import ZCRMClient
from ..conf import get_settings
from ..exceptions import (
    ZCRMConfigurationError,
    ZCRMError,
    ZCRMNotFoundError,
    ZCRMSyncError,
    ZCRMValidationError,
)
from ..models import SyncState
from ..redaction import get_logger, redact
from ..services import MAX_PER_PAGE, MAX_PER_WRITE, Module
from ..services.base import iter_chunks
from . import lease as sync_lease
from .mapping import MappingError
from .metering import MeteredClient
from .targets import Target, resolve_target
from .timeutil import aware, earliest, latest, minus_seconds, parse_zoho_datetime, to_db
from .timeutil import now as current_time

logger = get_logger(__name__)

__all__ = ["SyncProgress", "SyncResult", "sync_many", "sync_module"]

#: Zoho's answers that mean "this listing cannot go further": start a new one from the checkpoint.
RESTART_CODES = frozenset(
    {
        "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
        "PAGINATION_LIMIT_EXCEEDED",
        "EXPIRED_VALUE",
        "TOKEN_BOUND_DATA_MISMATCH",
    }
)
DELETE_MODES = ("mark", "delete")
#: Seconds taken off Zoho's clock: a record written in the same second as the answer counts as later.
SIGNPOST_MARGIN = 1.0
MAX_FAILURES_KEPT = 50
#: Ids of records that could not be stored, kept in ``SyncState.failed_ids`` for the next runs to
#: read again. At most this many (a JSON object of ~50 bytes per id, rewritten with every page
#: that changes it; and 100 API calls per run to retry them all): failures past it are counted,
#: logged and reported, and only a ``--full`` run reads those records again.
MAX_PENDING_FAILURES = 10_000
#: Ids per ``GET /{module}?ids=...`` when retrying (Zoho's limit for id lists, as for deletes).
RETRY_IDS_PER_CALL = MAX_PER_WRITE

FULL, SINCE, INCREMENTAL = "full", "since", "incremental"


@dataclass
class SyncResult:
    """What one run did to one module."""

    module: str
    model: str
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: int = 0
    #: Rows not overwritten because they hold local changes that zcrm_push has not sent yet.
    kept_local: int = 0
    api_calls: int = 0
    elapsed: float = 0.0
    pages: int = 0
    full: bool = False
    dry_run: bool = False
    resumed: bool = False
    #: The checkpoint after the run (Modified_Time the next run starts from, before lookback).
    cursor: datetime | None = None
    #: True when records changed under the listing and the checkpoint was moved back for them.
    rewound: bool = False
    #: ``(zoho_id, reason)`` of the first records that could not be stored.
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: Records that could not be stored and wait in ``SyncState.failed_ids`` to be read again.
    pending_failures: int = 0
    #: Records of this run that could not be stored nor kept for retry (the list was full).
    retry_overflow: int = 0
    #: Some record that could not be stored was not kept for retry since the last full run:
    #: only ``--full`` reads it again.
    full_sync_needed: bool = False

    @property
    def changed(self) -> int:
        """Rows created, updated or deleted."""
        return self.created + self.updated + self.deleted

    def summary(self) -> str:
        """One line: ``Leads -> crm.lead: 5000 created, 0 updated, ... 26 API calls, 3.1 s``."""
        prefix = "[dry run] " if self.dry_run else ""
        text = (
            f"{prefix}{self.module} -> {self.model}: {self.created} created, {self.updated} "
            f"updated, {self.deleted} deleted, {self.unchanged} unchanged, {self.failed} failed, "
            f"{self.api_calls} API calls, {self.elapsed:.1f} s"
        )
        extras = []
        if self.kept_local:
            extras.append(f"{self.kept_local} kept (local changes not pushed yet)")
        if self.pending_failures:
            extras.append(f"{self.pending_failures} pending retry")
        if self.retry_overflow:
            extras.append(
                f"{self.retry_overflow} failed records not kept for retry (list full): "
                "run --full once the model is fixed"
            )
        elif self.full_sync_needed:
            extras.append(
                "failed records were not kept for retry: run --full once the model is fixed"
            )
        if self.resumed:
            extras.append("resumed an interrupted run")
        if self.rewound:
            extras.append("records changed during the run: the next run re-reads them")
        if extras:
            text += " (" + "; ".join(extras) + ")"
        return text

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly counters (stored in ``SyncState.last_result``)."""
        data = asdict(self)
        data["cursor"] = self.cursor.isoformat() if self.cursor else None
        data["failures"] = [list(f) for f in self.failures]
        return data

    def _fail(self, zoho_id: str, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_FAILURES_KEPT:
            self.failures.append((zoho_id, reason))


@dataclass
class SyncProgress:
    """Reported after every committed page (``phase``: ``records``, ``deleted`` or ``retry``)."""

    module: str
    phase: str
    pages: int
    records: int
    total: int | None
    result: SyncResult


ProgressCallback = Callable[[SyncProgress], None]


def sync_module(
    module: str,
    *,
    model: type[models.Model] | str | None = None,
    full: bool = False,
    since: datetime | date | str | None = None,
    user: str | None = None,
    dry_run: bool = False,
    batch_size: int = MAX_PER_PAGE,
    progress: ProgressCallback | None = None,
    client: ZCRMClient | None = None,
    using: str | None = None,
) -> SyncResult:
    """Sync one Zoho module into its local model and return what changed.

    ``model`` defaults to ``ZCRM["SYNC_MODELS"][module]``, else the generic ``CRMRecord``.
    ``full`` re-reads every record (and flags local rows Zoho no longer has); ``since`` starts
    from that time instead of the checkpoint; ``user`` is the Zoho user whose tokens are used;
    ``dry_run`` reads from Zoho and counts but writes nothing; ``batch_size`` (1-200) is records
    per request and per transaction; ``progress`` is called after each committed page.
    Raises :class:`~django_zcrm.exceptions.ZCRMSyncAlreadyRunningError` when another run holds the module.
    """
    if full and since is not None:
        raise ZCRMValidationError("Give either full=True or since=..., not both.")
    if not 1 <= int(batch_size) <= MAX_PER_PAGE:
        raise ZCRMValidationError(
            f"batch_size must be between 1 and {MAX_PER_PAGE} (Zoho's page "
            f"size limit), not {batch_size}."
        )
    conf = get_settings()
    delete_mode = str(conf.SYNC_DELETE_MODE).lower()
    if delete_mode not in DELETE_MODES:
        raise ZCRMConfigurationError(
            f'ZCRM[\'SYNC_DELETE_MODE\'] is {conf.SYNC_DELETE_MODE!r}; use "mark" or "delete".'
        )
    target = resolve_target(module, model, using)
    metered = MeteredClient(client, user)
    service = Module(module, user, client=metered)  # type: ignore[arg-type]
    run = _Run(
        target,
        service,
        metered,
        full=full,
        since=_parse_since(since),
        dry_run=dry_run,
        batch_size=int(batch_size),
        progress=progress,
        delete_mode=delete_mode,
        lookback=float(conf.SYNC_LOOKBACK_SECONDS),
    )
    started = time.monotonic()
    try:
        run.execute()
    finally:
        run.result.api_calls = metered.calls
        run.result.elapsed = time.monotonic() - started
    logger.info("Sync %s", run.result.summary())
    return run.result


def _parse_since(value: datetime | date | str | None) -> datetime | None:
    """An aware datetime from a datetime, a date or an ISO string (naive: the project's zone)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ZCRMValidationError(
                f"since={value!r} is not an ISO date or datetime (e.g. 2024-05-01 or "
                "2024-05-01T09:30:00+02:00)."
            ) from None
    if isinstance(value, datetime):
        return aware(value)
    return aware(datetime(value.year, value.month, value.day))


class _Run:
    """One execution of the algorithm for one module (see the module docstring)."""

    def __init__(
        self,
        target: Target,
        service: Module,
        metered: MeteredClient,
        *,
        full: bool,
        since: datetime | None,
        dry_run: bool,
        batch_size: int,
        progress: ProgressCallback | None,
        delete_mode: str,
        lookback: float,
    ) -> None:
        self.target = target
        self.service = service
        self.metered = metered
        self.listing_signpost: datetime | None = None
        self.deleted_signpost: datetime | None = None
        self.full = full
        self.since = since
        self.dry_run = dry_run
        self.batch_size = batch_size
        self.progress = progress
        self.delete_mode = delete_mode
        self.lookback = lookback
        self.result = SyncResult(target.module, target.label, full=full, dry_run=dry_run)
        self.lease: sync_lease.Lease | None = None
        self.kind = INCREMENTAL
        self.state: SyncState | None = None
        self.run_started_at: datetime | None = None
        self.run_cursor: datetime | None = None
        self.rewind: datetime | None = None
        self.newest_deletion: datetime | None = None
        #: A new --since run starts exactly at ``since``; every other start gets the lookback.
        self.exact_start = False
        self.records_seen = 0
        self.deletions_seen = 0
        self.retries_seen = 0
        #: ``SyncState.failed_ids`` as this run leaves it: ``{zoho_id: ISO time of last failure}``.
        self.pending: dict[str, str] = {}
        self.overflow_at: datetime | None = None

    @property
    def using(self) -> str:
        return self.target.using

    # -- orchestration ------------------------------------------------------------------------------

    def execute(self) -> None:
        if self.dry_run:
            self._plan_dry_run()
            self._list_records()
            self._sweep_deleted()
            self.result.cursor = self.run_cursor
            return
        self.lease = sync_lease.acquire(
            self.target.module,
            self.target.label,
            using=self.using,
            label=f"{self.target.module} -> {self.target.label}",
        )
        try:
            self._plan()
            self._list_records()
            self._sweep_deleted()
            self._retry_failed()
            self._finish()
        except DatabaseError as exc:
            self._failed(exc)
            raise ZCRMSyncError(
                f"The database refused a write while syncing {self.target.module} "
                f"into {self.target.label}: {exc}. The run can be resumed once the "
                "cause is fixed."
            ) from exc
        except BaseException as exc:
            self._failed(exc)
            raise

    def _plan_dry_run(self) -> None:
        state = (
            SyncState.objects.using(self.using)
            .filter(module=self.target.module, target=self.target.label, direction=SyncState.PULL)
            .first()
        )
        self.state = state
        if state is not None:
            self.result.pending_failures = len(_load_pending(state.failed_ids))
            self.result.full_sync_needed = state.failed_overflow_at is not None
        if self.full:
            self.kind, self.run_cursor = FULL, None
        elif self.since is not None:
            self.kind, self.run_cursor, self.exact_start = SINCE, self.since, True
        else:
            self.run_cursor = aware(state.cursor) if state else None

    def _plan(self) -> None:
        assert self.lease is not None
        state = SyncState.objects.using(self.using).get(pk=self.lease.state_id)
        self.state = state
        self.pending = _load_pending(state.failed_ids)
        self.overflow_at = aware(state.failed_overflow_at)
        unfinished = bool(state.run_id)
        resume = unfinished and (
            (self.full and state.run_kind == FULL)
            or (not self.full and self.since is None and state.run_kind in (FULL, INCREMENTAL))
            or (
                self.since is not None
                and state.run_kind == SINCE
                and aware(state.run_since) == self.since
            )
        )
        if resume:
            self.kind = state.run_kind
            self.full = self.kind == FULL
            self.result.full = self.full
            self.result.resumed = True
            self.run_started_at = aware(state.run_started_at)
            self.run_cursor = aware(state.run_cursor)
            self.rewind = aware(state.rewind_to)
            logger.warning(
                "Resuming the interrupted %s sync of %s -> %s from %s.",
                self.kind,
                self.target.module,
                self.target.label,
                self.run_cursor.isoformat() if self.run_cursor else "the start",
            )
            return
        self.kind = FULL if self.full else SINCE if self.since is not None else INCREMENTAL
        self.run_started_at = current_time()
        self.run_cursor = (
            None if self.kind == FULL else self.since if self.kind == SINCE else aware(state.cursor)
        )
        self.exact_start = self.kind == SINCE
        with transaction.atomic(using=self.using):
            self.lease.renew(
                run_id=uuid.uuid4().hex,
                run_kind=self.kind,
                run_started_at=to_db(self.run_started_at),
                run_since=to_db(self.since),
                run_cursor=to_db(self.run_cursor),
                rewind_to=None,
                status=SyncState.RUNNING,
                last_error="",
            )

    def _failed(self, exc: BaseException) -> None:
        """Keep the run's progress for a resume; record the error; give the lease up."""
        if self.lease is None:
            return
        message = redact(f"{type(exc).__name__}: {exc}")[:2000]
        try:
            self.lease.release(status=SyncState.FAILED, last_error=message)
        except DatabaseError:
            logger.exception("Could not record the failure of the %s sync.", self.target.module)

    # -- records ------------------------------------------------------------------------------------

    def _list_records(self) -> None:
        position = self.run_cursor
        self.metered.mark()
        try:
            self._list_from(position)
        finally:
            self.listing_signpost = minus_seconds(self.metered.first_server_time, SIGNPOST_MARGIN)

    def _list_from(self, position: datetime | None) -> None:
        while True:
            header = position if self.exact_start else minus_seconds(position, self.lookback)
            self.exact_start = False
            try:
                pages = self.service.iter_pages(
                    self.target.zoho_fields(),
                    header,
                    sort_by="Modified_Time",
                    sort_order="asc",
                    per_page=self.batch_size,
                )
                for page in pages:
                    self._records_page(page.records)
                return
            except ZCRMValidationError as exc:
                if exc.code not in RESTART_CODES:
                    raise
                if self.run_cursor is None or (
                    position is not None and self.run_cursor <= position
                ):
                    raise ZCRMSyncError(
                        f"Zoho stopped the listing of {self.target.module} ({exc.code}) before "
                        "the checkpoint could move: more records share the same Modified_Time "
                        "than one listing can reach. Sync this module with a smaller "
                        "SYNC_LOOKBACK_SECONDS or report the case.",
                        code=exc.code,
                    ) from exc
                logger.info(
                    "Zoho ended the listing of %s (%s); continuing from %s.",
                    self.target.module,
                    exc.code,
                    self.run_cursor.isoformat(),
                )
                position = self.run_cursor

    def _records_page(self, records: list[Mapping[str, Any]]) -> None:
        self._store(records, listing=True)
        self.result.pages += 1
        self.records_seen += len(records)
        self._report("records", self.records_seen)

    def _store(
        self, records: list[Mapping[str, Any]], *, listing: bool, gone: Iterable[str] = ()
    ) -> None:
        """Write one page of records in one transaction, with the run's progress.

        ``listing``: the page comes from the listing (it moves the run's cursor and watches for
        records moving under the offsets); otherwise from a retry by id, where ``gone`` are
        the requested ids Zoho did not return.
        """
        now = current_time()
        result = self.result
        unique: dict[str, Mapping[str, Any]] = {}
        for record in records:
            rid = record.get("id")
            if rid in (None, ""):
                result._fail("?", "Zoho sent a record without an id")
                continue
            unique[str(rid)] = record
        page_newest: datetime | None = None
        failed: dict[str, None] = {}  # in page order, so a full retry list keeps the first ones
        lock = not self.dry_run
        with transaction.atomic(using=self.using) if lock else nullcontext():
            existing = self.target.existing(unique, lock=lock)
            writes: list[tuple[str, str, models.Model]] = []
            touched: list[str] = []
            for rid, record in unique.items():
                modified = parse_zoho_datetime(record.get("Modified_Time"))
                page_newest = latest(page_newest, modified)
                old = existing.get(rid)
                if old is not None and listing:
                    self._notice_move(old, modified)
                if old is None:
                    category = "created"
                elif old.dirty:
                    result.kept_local += 1
                    touched.append(rid)
                    continue
                elif modified is not None and old.modified is not None and modified < old.modified:
                    # An older version than the stored one (a late page): never overwrite.
                    result.unchanged += 1
                    touched.append(rid)
                    continue
                elif modified is not None and modified == old.modified and not old.deleted:
                    if not self.full:
                        result.unchanged += 1
                        touched.append(rid)
                        continue
                    category = "unchanged"  # a full run rewrites it (formula fields, new columns)
                else:
                    category = "updated"
                try:
                    row = self.target.build(record, modified, now)
                except (MappingError, ValueError, TypeError, ArithmeticError) as exc:
                    result._fail(rid, str(exc))
                    failed[rid] = None
                    if old is not None:
                        touched.append(rid)
                    continue
                writes.append((rid, category, row))
            refused: dict[str, str] = {}
            if not self.dry_run:
                refused = self.target.write([row for _, _, row in writes])
                touched.extend(rid for rid in refused if rid in existing)
                self.target.touch(touched, now)
            for rid, category, _ in writes:
                if rid in refused:
                    result._fail(rid, refused[rid])
                    failed[rid] = None
                else:
                    setattr(result, category, getattr(result, category) + 1)
            if listing:
                self.run_cursor = latest(self.run_cursor, page_newest)
            if not self.dry_run:
                assert self.lease is not None
                # The retry list changes in the same transaction as the rows: a record that
                # could not be stored is never both past the checkpoint and off the list.
                self.lease.renew(
                    run_cursor=to_db(self.run_cursor),
                    rewind_to=to_db(self.rewind),
                    **self._settle(unique, failed, gone, now),
                )

    def _settle(
        self, read: Iterable[str], failed: Mapping[str, None], gone: Iterable[str], now: datetime
    ) -> dict[str, Any]:
        """Update the retry list for a page; return the ``SyncState`` changes (none: ``{}``).

        Ids read and not failed leave it (stored, or already held at that version or newer, or
        kept for a local change that the push sends and Zoho then lists again); failed ids
        join it, stamped with when they failed (never before this run started: a full run
        drops the ids it did not fail again); ``gone`` ids leave it.
        """
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
                self.target.module,
                dropped[0],
            )
        stamp = latest(now, self.run_started_at)
        assert stamp is not None
        for rid in failed:
            if rid in self.pending or len(self.pending) < MAX_PENDING_FAILURES:
                self.pending[rid] = stamp.isoformat()
                changed = True
            else:
                # Reported (and logged) at the end of the run; remembered until a full run.
                self.result.retry_overflow += 1
                self.overflow_at = stamp
        if not changed and self.overflow_at == overflow_before:
            return {}
        return {"failed_ids": self.pending, "failed_overflow_at": to_db(self.overflow_at)}

    def _notice_move(self, old: Any, modified: datetime | None) -> None:
        """A record read earlier in this run that is now newer moved behind the listing's offset."""
        if (
            self.run_started_at is not None
            and old.synced_at is not None
            and old.synced_at >= self.run_started_at
            and modified is not None
            and old.modified is not None
            and modified > old.modified
        ):
            self.rewind = earliest(self.rewind, old.modified)

    # -- deletions ----------------------------------------------------------------------------------

    def _sweep_deleted(self) -> None:
        state = self.state
        since = minus_seconds(aware(state.deleted_cursor), self.lookback) if state else None
        batch: list[Mapping[str, Any]] = []
        self.metered.mark()
        for entry in self.service.iter_deleted(
            "all", modified_since=since, per_page=self.batch_size
        ):
            batch.append(entry)
            if len(batch) >= self.batch_size:
                self._deleted_page(batch)
                batch = []
        if batch:
            self._deleted_page(batch)
        self.deleted_signpost = minus_seconds(self.metered.first_server_time, SIGNPOST_MARGIN)

    def _deleted_page(self, entries: list[Mapping[str, Any]]) -> None:
        when: dict[str, datetime | None] = {}
        for entry in entries:
            rid = entry.get("id")
            if rid in (None, ""):
                continue
            deleted_time = parse_zoho_datetime(entry.get("deleted_time"))
            self.newest_deletion = latest(self.newest_deletion, deleted_time)
            when[str(rid)] = latest(when.get(str(rid)), deleted_time)
        lock = not self.dry_run
        with transaction.atomic(using=self.using) if lock else nullcontext():
            existing = self.target.existing(when, lock=lock)
            marks: dict[str, datetime | None] = {}
            removals: list[str] = []
            for rid, deleted_time in when.items():
                old = existing.get(rid)
                if old is None or old.deleted:
                    continue
                if (
                    deleted_time is not None
                    and old.modified is not None
                    and old.modified > deleted_time
                ):
                    continue  # changed after that deletion: restored from the recycle bin
                if (
                    self.run_started_at is not None
                    and old.synced_at is not None
                    and old.synced_at >= self.run_started_at
                    and old.modified is not None
                ):
                    # Read in this run, deleted since: the listing's offsets shifted under it.
                    self.rewind = earliest(self.rewind, old.modified)
                if self.delete_mode == "delete" and not old.dirty:
                    removals.append(rid)
                else:
                    # A row with unpushed local changes is flagged, never dropped.
                    marks[rid] = deleted_time
            if self.dry_run:
                self.result.deleted += len(marks) + len(removals)
            else:
                self.result.deleted += self.target.mark_deleted(marks) + self.target.delete_rows(
                    removals
                )
                assert self.lease is not None
                self.lease.renew(rewind_to=to_db(self.rewind))
        self.deletions_seen += len(entries)
        self._report("deleted", self.deletions_seen)

    # -- records that could not be stored -------------------------------------------------------------

    def _retry_failed(self) -> None:
        """Read the records of the retry list again by id and store them like the listing does.

        After the listing and the deletion sweep, on purpose: the listing has already re-read
        (and settled) every pending record that changed in Zoho, so only the rest costs calls,
        ``ceil(n / 100)`` for ``n`` ids, and none at all when nothing is pending; and rows the
        retry writes cannot be mistaken by the sweep for records read by the listing and then
        deleted (which would move the checkpoint back for nothing). A full run reads every
        record anyway: it retries nothing (``_finish`` drops the ids it did not fail again).
        """
        if self.kind == FULL or not self.pending:
            return
        assert self.run_started_at is not None
        # Ids stamped since this run started already failed in it (in its listing, or before
        # an interruption it resumed from): reading them again now would change nothing.
        due = [rid for rid, stamp in self.pending.items() if self._failed_before_run(stamp)]
        for chunk in iter_chunks(due, RETRY_IDS_PER_CALL):
            records = self._fetch_by_ids(chunk)
            found = {str(r.get("id")) for r in records}
            self._store(records, listing=False, gone=[rid for rid in chunk if rid not in found])
            self.retries_seen += len(chunk)
            self._report("retry", self.retries_seen)

    def _fetch_by_ids(self, ids: list[str]) -> list[Mapping[str, Any]]:
        """The records of ``ids`` that Zoho still has: one ``GET /{module}?ids=...`` call.

        Zoho documents ``ids`` on the records listing; should an account refuse it (400), the
        records are read one by one instead (``GET /{module}/{id}``, 204 when gone).
        """
        wanted = set(ids)
        try:
            return [
                record
                for page in self.service.iter_pages(
                    self.target.zoho_fields(), params={"ids": ",".join(ids)}, per_page=MAX_PER_PAGE
                )
                for record in page.records
                if str(record.get("id")) in wanted
            ]
        except ZCRMValidationError as exc:
            logger.warning(
                "Zoho refused to read %d records of %s by id in one call (%s); "
                "reading them one by one.",
                len(ids),
                self.target.module,
                exc.code or exc.status,
            )
        records: list[Mapping[str, Any]] = []
        for rid in ids:
            try:
                records.append(self.service.get(rid, self.target.zoho_fields()))
            except ZCRMNotFoundError:
                continue
        return records

    # -- end of run -----------------------------------------------------------------------------------

    def _finish(self) -> None:
        assert self.lease is not None and self.state is not None
        state = self.state
        now = current_time()
        changes: dict[str, Any] = {}
        with transaction.atomic(using=self.using):
            if self.kind == FULL:
                if self.rewind is None:
                    self.result.deleted += self._reconcile(now)
                else:
                    logger.warning(
                        "Skipped flagging rows of %s not seen by the full run: records "
                        "changed while it was paging.",
                        self.target.module,
                    )
                changes["last_full_sync_at"] = to_db(now)
            old_cursor = aware(state.cursor)
            contiguous = (
                self.kind != SINCE
                or old_cursor is None
                or self.since is None
                or self.since <= old_cursor
            )
            if self.kind == FULL:
                cursor = latest(self.run_cursor, self.listing_signpost)
            elif contiguous:
                cursor = latest(old_cursor, self.run_cursor, self.listing_signpost)
            else:
                cursor = old_cursor
                logger.warning(
                    "The checkpoint of %s stays at %s: the --since run started later, "
                    "so records between the two were not read.",
                    self.target.module,
                    old_cursor.isoformat() if old_cursor else None,
                )
            if self.rewind is not None and cursor is not None and self.rewind < cursor:
                cursor = self.rewind
                self.result.rewound = True
                logger.warning(
                    "Records of %s changed or were deleted in Zoho while this run was paging; "
                    "the checkpoint moves back to %s so the next run re-reads what paging may "
                    "have skipped.",
                    self.target.module,
                    cursor.isoformat(),
                )
            self.result.cursor = cursor
            changes.update(self._settle_retry_list())
            changes.update(
                cursor=to_db(cursor),
                deleted_cursor=to_db(
                    latest(aware(state.deleted_cursor), self.newest_deletion, self.deleted_signpost)
                ),
                status=SyncState.DONE,
                run_id="",
                run_kind="",
                run_started_at=None,
                run_since=None,
                run_cursor=None,
                rewind_to=None,
                last_success_at=to_db(now),
                last_error="",
                last_result=self.result.as_dict(),
            )
            self.lease.renew(**changes)
        self.lease.release()

    def _failed_before_run(self, stamp: str) -> bool:
        """Whether a retry-list stamp is older than this run (an unreadable one counts as old)."""
        assert self.run_started_at is not None
        when = _parse_stamp(stamp)
        return when is None or when < self.run_started_at

    def _settle_retry_list(self) -> dict[str, Any]:
        """The retry list after the run (``SyncState`` changes), and what the result says of it."""
        assert self.run_started_at is not None
        if self.kind == FULL and self.rewind is None:
            # Every record was listed: a pending id this run did not fail again was stored,
            # or is no longer in Zoho. (With a rewind paging may have skipped some: keep all.)
            stale = [rid for rid, stamp in self.pending.items() if self._failed_before_run(stamp)]
            for rid in stale:
                del self.pending[rid]
            if stale:
                logger.info(
                    "The full run of %s dropped %d ids from the retry list that it did "
                    "not read (no longer in Zoho).",
                    self.target.module,
                    len(stale),
                )
            if self.overflow_at is not None and self.overflow_at < self.run_started_at:
                self.overflow_at = None  # whatever was not kept then, this run read again
        self.result.pending_failures = len(self.pending)
        self.result.full_sync_needed = self.overflow_at is not None
        if self.result.full_sync_needed and not self.result.retry_overflow:
            logger.warning(
                "Records of %s -> %s that could not be stored were not kept for retry "
                "(the list was full on %s): fix the model, then run `zcrm_sync %s "
                "--full` to read them again.",
                self.target.module,
                self.target.label,
                self.overflow_at.isoformat(),
                self.target.module,
            )
        if self.result.retry_overflow:
            logger.warning(
                "%d records of %s -> %s could not be stored and were not kept for retry "
                "(the list holds %d): fix the model, then run `zcrm_sync %s --full`.",
                self.result.retry_overflow,
                self.target.module,
                self.target.label,
                MAX_PENDING_FAILURES,
                self.target.module,
            )
        return {"failed_ids": self.pending, "failed_overflow_at": to_db(self.overflow_at)}

    def _reconcile(self, now: datetime) -> int:
        """After a full run: rows Zoho no longer has (not seen) are flagged or removed."""
        assert self.run_started_at is not None
        unseen = self.target.unseen(self.run_started_at)
        target = self.target
        if self.delete_mode == "delete":
            # Rows with unpushed local changes are flagged, never dropped; the rest go.
            flagged = (
                unseen.filter(**{target.dirty_field: True}).update(**{target.deleted_field: True})
                if target.dirty_field
                else 0
            )
            ids = list(unseen.values_list(target.key, flat=True))
            return flagged + target.delete_rows(ids)
        updates: dict[str, Any] = {target.deleted_field: True}
        if target.deleted_field == "deleted":
            updates["deleted_at"] = to_db(now)
        return unseen.update(**updates)

    # -- progress -------------------------------------------------------------------------------------

    def _report(self, phase: str, records: int) -> None:
        if self.progress is not None:
            self.progress(
                SyncProgress(
                    self.target.module, phase, self.result.pages, records, None, self.result
                )
            )


def _load_pending(value: Any) -> dict[str, str]:
    """``SyncState.failed_ids`` as ``{zoho_id: stamp}`` (a bare list of ids is accepted too)."""
    if isinstance(value, Mapping):
        return {str(k): str(v or "") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return {str(v): "" for v in value}
    return {}


def _parse_stamp(value: str) -> datetime | None:
    """A retry-list stamp as an aware datetime (None when empty or unreadable)."""
    try:
        return aware(datetime.fromisoformat(value)) if value else None
    except ValueError:
        return None


def sync_many(modules: Iterable[str], **kwargs: Any) -> list[SyncResult]:
    """Sync several modules one after the other (same keyword arguments as ``sync_module``).

    Every module is attempted; if some failed, :class:`ZCRMSyncError` is raised at the end naming
    them, with the results of the others in its ``details["results"]``.
    """
    results: list[SyncResult] = []
    errors: list[str] = []
    for module in modules:
        try:
            results.append(sync_module(module, **kwargs))
        except ZCRMError as exc:
            errors.append(f"{module}: {exc}")
    if errors:
        raise ZCRMSyncError(
            "Some modules failed to sync: " + "; ".join(errors),
            details={"results": [r.as_dict() for r in results]},
        )
    return results
