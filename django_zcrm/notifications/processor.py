"""Drain the notification inbox into local rows, through the sync's targets.

:func:`process_pending` is the plain function behind ``zcrm_process_notifications`` (cron, Celery,
``django.tasks`` call it the same way); :func:`process_forever` is ``--watch``. The rules are in
``docs/design/notifications.md``; in short:

* Due events (not processed, ``next_attempt_at`` passed, not claimed by another worker) are
  claimed with a short lease and grouped per module and Zoho user.
* Ids are read back from Zoho with ``GET /{module}?ids=`` (100 per call, the sync's
  :func:`~django_zcrm.sync.retry.fetch_by_ids`), deleted ids too: a record Zoho still returns is
  alive (restored, or the delete arrived out of order) and is stored instead.
* One transaction per group writes the rows (the sync's :class:`~django_zcrm.sync.targets.Target`:
  same mapping, same columns) and marks the events processed. Rows are locked
  (``SELECT ... FOR UPDATE``) before they are compared, so an older ``Modified_Time`` never
  overwrites a newer one, whichever of the sync and the processor writes first; new rows are
  inserted with ``ON CONFLICT DO NOTHING`` and compared again under the lock.
* A row the processor creates could be overwritten by a ``zcrm_sync`` page that had read "no row"
  just before: so, when it created rows, the processor locks the module's ``SyncState`` row
  last in its transaction and, if a sync run holds the lease, rolls back and tries again a
  second later (the run's claim waits for that lock, so a run that starts later sees the rows).
* Deletes follow ``SYNC_DELETE_MODE`` (a row with unpushed local changes is flagged, never
  removed); a row changed after the deletion is left alone.
* A group that fails (Zoho error, a record the model cannot hold) leaves its events in the inbox
  with ``attempts``, ``next_attempt_at`` (exponential back-off capped at
  ``NOTIFY_RETRY_MAX_SECONDS``) and the redacted ``last_error``.
* ``zoho_records_changed`` / ``zoho_records_deleted`` are sent after the commit, once per group
  and operation, with only the ids whose rows changed.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import DatabaseError, close_old_connections, models, transaction
from django.db.models import Q

from ..client import ZCRMClient
from ..conf import get_settings
from ..exceptions import ZCRMConfigurationError, ZCRMError
from ..redaction import get_logger, redact
from ..services import Module
from ..services.base import iter_chunks
from ..signals import zoho_records_changed, zoho_records_deleted
from ..sync.lease import get_state
from ..sync.mapping import MappingError
from ..sync.models import SyncState
from ..sync.retry import RETRY_IDS_PER_CALL, fetch_by_ids
from ..sync.targets import Existing, Row, Target, resolve_target
from ..sync.timeutil import now as current_time
from ..sync.timeutil import parse_zoho_datetime, to_db
from .channels import warn_lapsing
from .models import NotificationEvent

logger = get_logger(__name__)

__all__ = ["ProcessResult", "process_forever", "process_pending"]

#: Seconds a worker holds the events it claimed (another worker takes them over after that).
CLAIM_SECONDS = 120
#: Seconds events wait when a zcrm_sync run of their module holds its lease.
DEFER_SECONDS = 1.0
#: How often ``process_forever`` logs channels about to lapse without a renewal.
LAPSE_CHECK_SECONDS = 300.0
#: Events one call claims at most.
DEFAULT_LIMIT = 1000


@dataclass
class ProcessResult:
    """What one drain of the inbox did."""

    events: int = 0
    failed_events: int = 0
    deferred_events: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    kept_local: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: ProcessResult) -> None:
        """Add ``other``'s counts to this result."""
        for name in (
            "events",
            "failed_events",
            "deferred_events",
            "created",
            "updated",
            "unchanged",
            "deleted",
            "kept_local",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)

    def summary(self) -> str:
        """One line for logs and commands."""
        text = (
            f"{self.events} notifications processed: {self.created} created, {self.updated} "
            f"updated, {self.deleted} deleted, {self.unchanged} unchanged"
        )
        if self.kept_local:
            text += f", {self.kept_local} kept (local changes)"
        if self.failed_events:
            text += f"; {self.failed_events} failed, will retry"
        if self.deferred_events:
            text += f"; {self.deferred_events} wait for a zcrm_sync run"
        return text


def backoff_seconds(attempts: int) -> float:
    """Seconds before retry number ``attempts`` (2, 4, 8 ... capped at NOTIFY_RETRY_MAX_SECONDS)."""
    cap = float(get_settings().NOTIFY_RETRY_MAX_SECONDS)
    return min(cap, 2.0 ** max(1, attempts))


def process_pending(
    *,
    limit: int = DEFAULT_LIMIT,
    client: ZCRMClient | None = None,
    now: datetime | None = None,
) -> ProcessResult:
    """Process the due events of the inbox once; return what was done (never raises for Zoho)."""
    now = now or current_time()
    result = ProcessResult()
    events = _claim(limit, now)
    if not events:
        return result
    groups: dict[tuple[str, str], list[NotificationEvent]] = defaultdict(list)
    for event in events:
        user = event.channel.user if event.channel is not None else ""
        groups[(event.module, user)].append(event)
    for (module, user), group in groups.items():
        result.add(_process_group(module, user or None, group, client))
    logger.info("Notifications: %s", result.summary())
    return result


def process_forever(
    *,
    poll: float = 0.5,
    stop: threading.Event | None = None,
    client: ZCRMClient | None = None,
    on_result: Callable[[ProcessResult], None] | None = None,
) -> None:
    """Keep draining the inbox, polling it every ``poll`` seconds when idle, until ``stop`` is set."""
    stop = stop or threading.Event()
    next_check = 0.0
    while not stop.is_set():
        if time.monotonic() >= next_check:
            # A worker without the renewal cron job still says when its channels run out.
            next_check = time.monotonic() + LAPSE_CHECK_SECONDS
            try:
                warn_lapsing()
            except DatabaseError as exc:
                logger.warning("Checking the notification channels failed (%s).", exc)
        try:
            result = process_pending(client=client)
        except DatabaseError as exc:
            # The database went away for a moment: try again after a pause, do not die.
            logger.warning("Reading the notification inbox failed (%s); retrying.", exc)
            close_old_connections()
            stop.wait(max(poll, 1.0))
            continue
        if on_result is not None and result.events:
            on_result(result)
        if not result.events and not result.failed_events:
            close_old_connections()
            stop.wait(poll)


# -- claiming --------------------------------------------------------------------------------------


def _due(now: datetime) -> models.QuerySet[NotificationEvent]:
    stamp = to_db(now)
    return NotificationEvent.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=stamp),
        processed_at__isnull=True,
        next_attempt_at__lte=stamp,
    )


def _claim(limit: int, now: datetime) -> list[NotificationEvent]:
    """Take up to ``limit`` due events for this worker (a conditional UPDATE per chunk)."""
    ids = list(_due(now).order_by("id").values_list("id", flat=True)[:limit])
    if not ids:
        return []
    # Microseconds make the stamp this worker's own: the re-read returns only what it claimed.
    until = to_db(current_time() + timedelta(seconds=CLAIM_SECONDS))
    claimed: list[int] = []
    for chunk in iter_chunks(ids, 500):
        if _due(now).filter(id__in=chunk).update(claimed_until=until):
            claimed.extend(chunk)
    if not claimed:
        return []
    return list(
        NotificationEvent.objects.select_related("channel")
        .filter(id__in=claimed, claimed_until=until, processed_at__isnull=True)
        .order_by("id")
    )


# -- one module ------------------------------------------------------------------------------------


def _process_group(
    module: str, user: str | None, events: list[NotificationEvent], client: ZCRMClient | None
) -> ProcessResult:
    result = ProcessResult()
    try:
        target = resolve_target(module)
        state = get_state(module, target.label, SyncState.PULL, target.using)
        changed_ids, deletions = _wanted(events)
        wanted = list(dict.fromkeys([*changed_ids, *deletions]))
        service = Module(module, user, client=client)
        records: list[Mapping[str, Any]] = []
        for chunk in iter_chunks(wanted, RETRY_IDS_PER_CALL):
            records.extend(fetch_by_ids(service, target, chunk))
        _apply(target, events, records, deletions, result, state.pk)
    except _SyncRunning as running:
        _defer(events, str(running), result)
    except (ZCRMError, ZCRMConfigurationError, DatabaseError, MappingError, ValueError) as exc:
        _failed(events, exc, result)
    return result


def _wanted(events: Iterable[NotificationEvent]) -> tuple[list[str], dict[str, datetime | None]]:
    """Ids to read again, and deleted ids with the time Zoho reported the deletion."""
    changed: dict[str, None] = {}
    deletions: dict[str, datetime | None] = {}
    for event in events:
        ids = [str(i) for i in event.ids or []]
        if event.operation == "delete":
            when = (
                datetime.fromtimestamp(event.server_time / 1000, tz=UTC)
                if event.server_time
                else None
            )
            for rid in ids:
                deletions[rid] = when
        else:
            changed.update(dict.fromkeys(ids))
    return list(changed), deletions


def _apply(
    target: Target,
    events: list[NotificationEvent],
    records: list[Mapping[str, Any]],
    deletions: dict[str, datetime | None],
    result: ProcessResult,
    state_pk: int,
) -> None:
    """Write rows and mark the events processed in one transaction; signals after commit."""
    now = current_time()
    unique = {str(r["id"]): r for r in records if r.get("id") not in (None, "")}
    with transaction.atomic(using=target.using):
        pending = list(
            NotificationEvent.objects.select_for_update()
            .filter(id__in=[e.id for e in events], processed_at__isnull=True)
            .values_list("id", flat=True)
        )
        if not pending:
            return  # another worker took them over and finished them
        created, updated = _store(target, unique, now, result)
        # A record Zoho still returns is alive: its delete was older, or arrived out of order.
        gone = {rid: when for rid, when in deletions.items() if rid not in unique}
        deleted = _delete(target, gone, result)
        if created:
            _check_no_sync_running(target, state_pk)
        NotificationEvent.objects.filter(id__in=pending).update(
            processed_at=to_db(now),
            claimed_until=None,
            last_error="",
            result={"created": len(created), "updated": len(updated), "deleted": len(deleted)},
        )
        result.events += len(pending)
        module, sender = target.module, target.model
        for operation, ids in (("insert", created), ("update", updated)):
            if ids:
                transaction.on_commit(
                    _sender(
                        zoho_records_changed, sender, module=module, ids=ids, operation=operation
                    ),
                    using=target.using,
                )
        if deleted:
            transaction.on_commit(
                _sender(zoho_records_deleted, sender, module=module, ids=deleted),
                using=target.using,
            )


class _SyncRunning(Exception):
    """A zcrm_sync run holds the module's lease: created rows could be overwritten."""


def _check_no_sync_running(target: Target, state_pk: int) -> None:
    """Raise :class:`_SyncRunning` when a sync run holds the lease (locks its row until commit)."""
    row = (
        SyncState.objects.using(target.using)
        .select_for_update()
        .filter(pk=state_pk)
        .values_list("lease_owner", "lease_until")
        .first()
    )
    if row is None or row[0] is None:
        return
    until = row[1]
    if until is not None and to_db(current_time()) >= until:
        return  # an expired lease: its holder is gone
    raise _SyncRunning(f"waiting for the zcrm_sync run of {target.module} -> {target.label}")


def _defer(events: list[NotificationEvent], reason: str, result: ProcessResult) -> None:
    """Put the events back for a moment, without counting an attempt."""
    NotificationEvent.objects.filter(
        id__in=[e.id for e in events], processed_at__isnull=True
    ).update(
        next_attempt_at=to_db(current_time() + timedelta(seconds=DEFER_SECONDS)),
        claimed_until=None,
        last_error=reason,
    )
    result.deferred_events += len(events)
    result.created = result.updated = result.deleted = result.unchanged = 0


def _sender(signal: Any, sender: type[models.Model], **kwargs: Any) -> Callable[[], None]:
    def send() -> None:
        signal.send(sender=sender, **kwargs)

    return send


def _store(
    target: Target, records: dict[str, Mapping[str, Any]], now: datetime, result: ProcessResult
) -> tuple[list[str], list[str]]:
    """Write the records that are newer than the rows; return (created ids, updated ids)."""
    if not records:
        return [], []
    modified = {rid: parse_zoho_datetime(r.get("Modified_Time")) for rid, r in records.items()}
    existing = target.existing(records, lock=True)
    created: list[str] = []
    fresh = [rid for rid in records if rid not in existing]
    if fresh:
        rows = [target.build_instance(records[rid], modified[rid], now) for rid in fresh]
        # ON CONFLICT DO NOTHING: a row the sync inserted meanwhile is kept, then compared below.
        target.model._base_manager.using(target.using).bulk_create(rows, ignore_conflicts=True)
        after = target.existing(fresh, lock=True)
        stamp = to_db(now)
        for rid in fresh:
            row = after.get(rid)
            if row is None:
                raise DatabaseError(f"{target.label} did not keep the new row for {rid}")
            if row.synced_at == stamp and row.modified == modified[rid]:
                created.append(rid)
            else:
                existing[rid] = row
    writes: list[Row] = []
    updated: list[str] = []
    for rid, old in existing.items():
        if not _newer(modified[rid], old, result):
            continue
        writes.append(target.build(records[rid], modified[rid], now))
        updated.append(rid)
    refused = target.write(writes)
    if refused:
        rid, error = next(iter(refused.items()))
        raise DatabaseError(
            f"{len(refused)} records of {target.module} were refused, e.g. {rid}: {error}"
        )
    result.created += len(created)
    result.updated += len(updated)
    return created, updated


def _newer(modified: datetime | None, old: Existing, result: ProcessResult) -> bool:
    """Whether a record read at ``modified`` should overwrite the row ``old`` (counts skips)."""
    if old.dirty:
        result.kept_local += 1
        return False
    if modified is not None and old.modified is not None:
        if modified < old.modified or (modified == old.modified and not old.deleted):
            result.unchanged += 1
            return False
    return True


def _delete(
    target: Target, deletions: dict[str, datetime | None], result: ProcessResult
) -> list[str]:
    """Mark (or remove, with SYNC_DELETE_MODE = "delete") the rows of deleted records."""
    if not deletions:
        return []
    mode = str(get_settings().SYNC_DELETE_MODE).lower()
    existing = target.existing(deletions, lock=True)
    marks: dict[str, datetime | None] = {}
    removals: list[str] = []
    for rid, when in deletions.items():
        old = existing.get(rid)
        if old is None or old.deleted:
            continue
        if when is not None and old.modified is not None and old.modified > when:
            continue  # changed after that deletion: restored from the recycle bin
        if mode == "delete" and not old.dirty:
            removals.append(rid)
        else:
            marks[rid] = when
    target.mark_deleted(marks)
    target.delete_rows(removals)
    done = [*marks, *removals]
    result.deleted += len(done)
    return done


def _failed(events: list[NotificationEvent], exc: BaseException, result: ProcessResult) -> None:
    """Leave the events in the inbox for a later attempt, with the (redacted) error."""
    message = redact(f"{type(exc).__name__}: {exc}")[:2000]
    now = current_time()
    for event in events:
        attempts = event.attempts + 1
        NotificationEvent.objects.filter(id=event.id, processed_at__isnull=True).update(
            attempts=attempts,
            next_attempt_at=to_db(now + timedelta(seconds=backoff_seconds(attempts))),
            claimed_until=None,
            last_error=message,
        )
    result.failed_events += len(events)
    result.errors.append(message)
    logger.warning(
        "%d notifications of %s could not be processed (%s); they stay in the inbox and are "
        "retried with back-off.",
        len(events),
        events[0].module if events else "?",
        message,
    )


def retry_now(event_ids: Iterable[int]) -> int:
    """Make failed events due again now (the admin's "retry" action); return how many."""
    return NotificationEvent.objects.filter(
        id__in=list(event_ids), processed_at__isnull=True
    ).update(next_attempt_at=to_db(current_time()), claimed_until=None)


def wait_for_idle(timeout: float = 5.0, poll: float = 0.05) -> bool:
    """Block until the inbox has nothing unprocessed (tests, benchmarks); True when empty."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not NotificationEvent.objects.filter(processed_at__isnull=True).exists():
            return True
        time.sleep(poll)
    return False
