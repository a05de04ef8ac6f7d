"""The sync engine: Zoho pages in, local rows out, a checkpoint with every page.

``sync_module("Leads")`` is a plain function returning a :class:`SyncResult`; commands, cron jobs,
Celery tasks and Django tasks all call it the same way. The algorithm (``docs/design/sync.md``):

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
  keeps only the ids that failed again. The list holds at most ``retry.MAX_PENDING_FAILURES`` ids;
  past that the run says so and asks for a ``--full`` run.
* **One run per module and model** at a time: a lease on the ``SyncState`` row.
* **Read strategies** (``docs/design/sync.md``, "Read strategies"). The planner
  (:mod:`.planner`) picks per run: the listing above, read one page ahead in a thread while the
  current page is written (``SYNC_PREFETCH``), or, for a run that reads a whole large module,
  COQL windows by id range with several in flight (:mod:`.fetch_coql`). Windows are stored in id
  order, one transaction each, with ``SyncState.run_position`` (the last id stored): a resumed
  run continues after it. Such a run does not read in ``Modified_Time`` order, so its checkpoint
  is Zoho's clock when it started (kept in ``run_cursor`` across a resume): whatever changed
  after that is read again by the next run. For the largest modules, one Bulk Read job
  (:mod:`.fetch_bulk`): its CSV streamed in chunks of 2,000, ``run_position`` naming the job and
  the rows stored.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from datetime import date, datetime
from typing import Any

from django.db import DatabaseError, models, transaction

from ..client import ZCRMClient
from ..conf import get_settings
from ..exceptions import ZCRMConfigurationError, ZCRMError, ZCRMSyncError, ZCRMValidationError
from ..redaction import get_logger, redact
from ..services import MAX_PER_PAGE, BulkRead, Module, Users
from ..services.base import iter_chunks
from ..services.limits import coql_limits
from . import lease as sync_lease
from .ahead import BUILD_ERRORS, Prepared, read_ahead
from .checkpoint import FULL, INCREMENTAL, SINCE, next_cursor, resumes, run_kind, start_cursor
from .fetch_bulk import BulkReadChunks
from .fetch_coql import CoqlWindows
from .metering import MeteredClient
from .models import SyncState
from .options import check_run_options
from .planner import BULK, COQL, REST, WINDOWED, check_strategy, choose, lookup_fields
from .results import ProgressCallback, SyncProgress, SyncResult
from .retry import RETRY_IDS_PER_CALL, RetryList, fetch_by_ids
from .superseded import warn_if_superseded
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
    strategy: str | None = None,
) -> SyncResult:
    """Sync one Zoho module into its local model and return what changed.

    ``model`` defaults to ``ZCRM["SYNC_MODELS"][module]``, else the generic ``CRMRecord``.
    ``full`` re-reads every record (and flags local rows Zoho no longer has); ``since`` starts
    from that time instead of the checkpoint; ``user`` is the Zoho user whose tokens are used;
    ``dry_run`` reads from Zoho and counts but writes nothing; ``batch_size`` (1-200) is records
    per request and per transaction; ``progress`` is called after each committed page;
    ``strategy`` ("auto", "rest" or "coql") overrides ``ZCRM["SYNC_STRATEGY"]`` for this run.
    Raises :class:`~django_zcrm.exceptions.ZCRMSyncAlreadyRunningError` when another run holds the module.
    """
    since_time = check_run_options(full=full, since=since, batch_size=batch_size)
    conf = get_settings()
    delete_mode = str(conf.SYNC_DELETE_MODE).lower()
    if delete_mode not in DELETE_MODES:
        raise ZCRMConfigurationError(
            f'ZCRM[\'SYNC_DELETE_MODE\'] is {conf.SYNC_DELETE_MODE!r}; use "mark" or "delete".'
        )
    target = resolve_target(module, model, using)
    warn_if_superseded(target)
    metered = MeteredClient(client, user)
    service = Module(module, user, client=metered)  # type: ignore[arg-type]
    run = _Run(
        target,
        service,
        metered,
        full=full,
        since=since_time,
        dry_run=dry_run,
        batch_size=int(batch_size),
        progress=progress,
        delete_mode=delete_mode,
        lookback=float(conf.SYNC_LOOKBACK_SECONDS),
        strategy=check_strategy(strategy if strategy is not None else conf.SYNC_STRATEGY),
    )
    started = time.monotonic()
    try:
        run.execute()
    finally:
        run.result.api_calls = metered.calls
        run.result.elapsed = time.monotonic() - started
    logger.info("Sync %s", run.result.summary())
    return run.result


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
        strategy: str,
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
        #: ``SyncState.failed_ids`` as this run leaves it (empty in a dry run).
        self.retry = RetryList(target.module, target.label)
        #: The planner's setting for this run, then its choice (``_choose_strategy``).
        self.strategy_setting = strategy
        self.strategy = REST
        #: Windowed runs: the last Zoho id stored (every record up to it is stored).
        self.run_position = ""
        self._users: dict[str, dict[str, Any]] | None = None
        self._users_lock = threading.Lock()

    @property
    def using(self) -> str:
        return self.target.using

    # -- orchestration ------------------------------------------------------------------------------

    def execute(self) -> None:
        if self.dry_run:
            self._plan_dry_run()
            self._choose_strategy()
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
            held = RetryList.from_state(state, self.target.module, self.target.label)
            self.result.pending_failures = len(held)
            self.result.full_sync_needed = held.overflow_at is not None
        self.kind = run_kind(full=self.full, since=self.since)
        self.run_cursor = start_cursor(
            self.kind, self.since, aware(state.cursor) if state else None
        )
        self.exact_start = self.kind == SINCE

    def _plan(self) -> None:
        assert self.lease is not None
        state = SyncState.objects.using(self.using).get(pk=self.lease.state_id)
        self.state = state
        self.retry = RetryList.from_state(state, self.target.module, self.target.label)
        if resumes(state, full=self.full, since=self.since):
            self.kind = state.run_kind
            self.full = self.kind == FULL
            self.result.full = self.full
            self.result.resumed = True
            self.run_started_at = aware(state.run_started_at)
            self.run_cursor = aware(state.run_cursor)
            self.rewind = aware(state.rewind_to)
            self.strategy = state.strategy or REST
            self.run_position = state.run_position
            self.result.strategy = self.strategy
            logger.warning(
                "Resuming the interrupted %s sync of %s -> %s from %s.",
                self.kind,
                self.target.module,
                self.target.label,
                self.run_cursor.isoformat() if self.run_cursor else "the start",
            )
            return
        self.kind = run_kind(full=self.full, since=self.since)
        self.run_started_at = current_time()
        self.run_cursor = start_cursor(self.kind, self.since, aware(state.cursor))
        self.exact_start = self.kind == SINCE
        self._choose_strategy()
        if self.strategy in WINDOWED:
            # Set from Zoho's clock by the first window (see the module docstring).
            self.run_cursor = None
        with transaction.atomic(using=self.using):
            self.lease.renew(
                strategy=self.strategy,
                run_position="",
                run_id=uuid.uuid4().hex,
                run_kind=self.kind,
                run_started_at=to_db(self.run_started_at),
                run_since=to_db(self.since),
                run_cursor=to_db(self.run_cursor),
                rewind_to=None,
                status=SyncState.RUNNING,
                last_error="",
            )

    @property
    def whole_module(self) -> bool:
        """Whether this run reads every record of the module (a full or a first run)."""
        return self.kind == FULL or (self.kind == INCREMENTAL and self.run_cursor is None)

    def _choose_strategy(self) -> None:
        conf = get_settings()
        known = self.state.module_size if self.state is not None else None
        if known is None and self.whole_module and self.strategy_setting != REST:
            # A table synced before the planner existed: its rows are a fair estimate.
            local = self.target.rows().count()
            known = local or None
        plan = choose(
            self.target,
            setting=self.strategy_setting,
            whole_module=self.whole_module,
            known_size=known,
            coql_min_records=int(conf.SYNC_COQL_MIN_RECORDS),
            bulk_min_records=int(conf.SYNC_BULK_MIN_RECORDS),
        )
        self.strategy = plan.strategy
        self.result.strategy = plan.strategy
        logger.info(
            "Sync %s -> %s reads by %s (%s).",
            self.target.module,
            self.target.label,
            plan.strategy,
            plan.reason,
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

    def _warm_tokens(self) -> None:
        """Load the user's tokens here, in the thread that owns the database connection.

        Fetch threads then find them in the OAuth client's memory; a first read (or a refresh)
        from one of them would open a connection of its own, which cannot see a transaction
        this thread has not committed.
        """
        client = self.metered.client
        client.oauth_client.get_tokens(getattr(client, "user_identifier", None))

    def _list_records(self) -> None:
        if get_settings().SYNC_PREFETCH or self.strategy in WINDOWED:
            self._warm_tokens()
        if self.strategy == COQL:
            self._list_windows()
            return
        if self.strategy == BULK:
            self._list_bulk()
            return
        position = self.run_cursor
        self.metered.mark()
        try:
            self._list_from(position)
        finally:
            self.listing_signpost = minus_seconds(self.metered.first_server_time, SIGNPOST_MARGIN)

    def _list_windows(self) -> None:
        """Read the module by COQL windows, storing each one as it arrives, in id order."""
        conf = get_settings()
        columns = self.target.zoho_fields()
        if columns is None:
            columns = [f["api_name"] for f in self.service.fields() if f.get("api_name")]
        owners, _ = lookup_fields(self.target)
        caps = [
            c
            for c in (conf.max_concurrent_heavy_requests, conf.max_concurrent_requests)
            if c is not None
        ]
        windows = CoqlWindows(
            self.service,
            columns,
            coql_limits(self.metered.api_version),
            concurrency=min(caps) if caps else 5,
            after=self.run_position or None,
            owner_fields=owners,
            users=self._user_directory,
        )
        self.metered.mark()
        source = read_ahead(
            windows, lambda w: w.records, self.target, enabled=bool(conf.SYNC_PREFETCH)
        )
        for window, prepared in source:
            if self.run_cursor is None:
                # Every record older than Zoho's clock at the first call is in some window.
                self.run_cursor = minus_seconds(self.metered.first_server_time, SIGNPOST_MARGIN)
            self.run_position = window.last
            self._records_page(window.records, prepared)
        self.result.strategy = f"{COQL} ({windows.pace.limit} windows in flight)"

    def _list_bulk(self) -> None:
        """Read the module by Bulk Read, storing the CSV chunk by chunk (see fetch_bulk)."""
        conf = get_settings()

        def field_types() -> dict[str, str]:
            metadata = self.service.fields()
            return {
                f["api_name"]: str(f.get("data_type") or "") for f in metadata if f.get("api_name")
            }

        columns = self.target.zoho_fields()
        # A typed target knows its columns: the field types are read while the job runs.
        types: dict[str, str] | Callable[[], dict[str, str]] = field_types
        if columns is None:
            types = field_types()
            columns = list(types)
        owners, _ = lookup_fields(self.target)
        chunks = BulkReadChunks(
            BulkRead(self.target.module, client=self.metered),  # type: ignore[arg-type]
            columns,
            types,
            position=self.run_position,
            chunk=2000,
            owner_fields=owners,
            users=self._user_directory,
            wait=lambda service, job_id: service.wait(job_id, first_delay=0.5),
        )
        self.metered.mark()
        source = read_ahead(
            chunks, lambda c: c.records, self.target, enabled=bool(conf.SYNC_PREFETCH)
        )
        for chunk, prepared in source:
            if self.run_cursor is None:
                # Every record older than Zoho's clock at the job's creation is in its file.
                self.run_cursor = minus_seconds(self.metered.first_server_time, SIGNPOST_MARGIN)
            self.run_position = chunk.position
            self._records_page(chunk.records, prepared)

    def _user_directory(self) -> dict[str, dict[str, Any]]:
        """The org's users by id (read once per run, for owner names COQL leaves out)."""
        with self._users_lock:
            if self._users is None:
                users = Users(client=self.metered)  # type: ignore[arg-type]
                self._users = {str(u.get("id")): dict(u) for u in users.iter_users()}
            return self._users

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
                # The next page is fetched (and its rows built) while this one is written.
                ahead = read_ahead(
                    pages,
                    lambda p: p.records,
                    self.target,
                    enabled=bool(get_settings().SYNC_PREFETCH),
                )
                for page, prepared in ahead:
                    self._records_page(page.records, prepared)
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

    def _records_page(
        self, records: Sequence[Mapping[str, Any]], prepared: Prepared | None = None
    ) -> None:
        self._store(records, listing=True, prepared=prepared)
        self.result.pages += 1
        self.records_seen += len(records)
        self._report("records", self.records_seen)

    def _store(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        listing: bool,
        gone: Iterable[str] = (),
        prepared: Prepared | None = None,
    ) -> None:
        """Write one page of records in one transaction, with the run's progress.

        ``listing``: the page comes from the listing (it moves the run's cursor and watches for
        records moving under the offsets); otherwise from a retry by id, where ``gone`` are
        the requested ids Zoho did not return. ``prepared``: the page's rows, built ahead.
        """
        now = prepared.now if prepared is not None else current_time()
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
            writes: list[tuple[str, str, Any]] = []
            touched: list[str] = []
            modified_of: dict[str, datetime | None] = {}
            for rid, record in unique.items():
                if prepared is not None and rid in prepared.modified:
                    modified = prepared.modified[rid]
                else:
                    modified = parse_zoho_datetime(record.get("Modified_Time"))
                modified_of[rid] = modified
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
                    built = prepared.row(rid) if prepared is not None else None
                    row = built if built is not None else self.target.build(record, modified, now)
                except BUILD_ERRORS as exc:
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
            # A record that failed does not move the cursor: its Modified_Time may be the very
            # thing wrong with it (a year-9999 stamp would end every later listing).
            for rid, modified in modified_of.items():
                if rid not in failed:
                    page_newest = latest(page_newest, modified)
            if listing and self.strategy not in WINDOWED:
                self.run_cursor = latest(self.run_cursor, page_newest)
            if not self.dry_run:
                assert self.lease is not None
                # The retry list changes in the same transaction as the rows: a record that
                # could not be stored is never both past the checkpoint and off the list.
                self.lease.renew(
                    run_cursor=to_db(self.run_cursor),
                    run_position=self.run_position,
                    rewind_to=to_db(self.rewind),
                    **self.retry.settle_page(
                        unique, failed, gone, now, self.run_started_at, self.result
                    ),
                )

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
        if self.kind == FULL or not self.retry:
            return
        assert self.run_started_at is not None
        # Ids stamped since this run started already failed in it (in its listing, or before
        # an interruption it resumed from): reading them again now would change nothing.
        due = self.retry.due(self.run_started_at)
        for chunk in iter_chunks(due, RETRY_IDS_PER_CALL):
            records = fetch_by_ids(self.service, self.target, chunk)
            found = {str(r.get("id")) for r in records}
            self._store(records, listing=False, gone=[rid for rid in chunk if rid not in found])
            self.retries_seen += len(chunk)
            self._report("retry", self.retries_seen)

    # -- end of run -----------------------------------------------------------------------------------

    def _finish(self) -> None:
        assert self.lease is not None and self.state is not None
        assert self.run_started_at is not None
        state = self.state
        now = current_time()
        changes: dict[str, Any] = {}
        with transaction.atomic(using=self.using):
            if self.kind == FULL:
                if self.rewind is None:
                    self.result.deleted += self.target.reconcile(
                        self.run_started_at, now, delete=self.delete_mode == "delete"
                    )
                else:
                    logger.warning(
                        "Skipped flagging rows of %s not seen by the full run: records "
                        "changed while it was paging.",
                        self.target.module,
                    )
                changes["last_full_sync_at"] = to_db(now)
            cursor, rewound = next_cursor(
                self.kind,
                old=aware(state.cursor),
                since=self.since,
                read_up_to=self.run_cursor,
                signpost=self.listing_signpost if self.strategy not in WINDOWED else None,
                rewind=self.rewind,
                module=self.target.module,
            )
            self.result.cursor = cursor
            self.result.rewound = rewound
            changes.update(
                self.retry.settle_run(
                    listed_all=self.kind == FULL and self.rewind is None,
                    started=self.run_started_at,
                    result=self.result,
                )
            )
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
                run_position="",
                rewind_to=None,
                last_success_at=to_db(now),
                last_error="",
                last_result=self.result.as_dict(),
            )
            if self.whole_module and not self.result.resumed:
                changes["module_size"] = self.records_seen
            self.lease.renew(**changes)
        self.lease.release()

    # -- progress -------------------------------------------------------------------------------------

    def _report(self, phase: str, records: int) -> None:
        if self.progress is not None:
            self.progress(
                SyncProgress(
                    self.target.module, phase, self.result.pages, records, None, self.result
                )
            )


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
