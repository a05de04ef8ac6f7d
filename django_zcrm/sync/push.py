"""Send local changes of a typed model back to Zoho (upsert, 100 records per call).

Rows are marked for push by ``ZohoSyncedModel.save()`` (``zoho_dirty``). ``push_model`` upserts
them and records every outcome on its row: the Zoho id and a cleared flag on success, the error on
failure. A row stays marked until Zoho has accepted the version it holds, so nothing is lost: a
failed, unknown or not-attempted record is simply sent again by the next push, and a row edited
while its push was in flight keeps its mark (the clear is conditional on ``local_modified_at``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.db import IntegrityError, connections, models, router, transaction

from ..client import ZCRMClient
from ..conf import get_settings
from ..exceptions import ZCRMConfigurationError
from ..redaction import get_logger, redact
from ..services import Module, RecordResult
from ..services.base import MAX_PER_WRITE
from ..services.results import FAILED, NOT_ATTEMPTED, SUCCEEDED, UNKNOWN
from . import lease as sync_lease
from .mapping import ModelMapping, get_mapping
from .metering import MeteredClient
from .models import SyncState, ZohoSyncedModel
from .results import PushResult
from .targets import installed_model, require_typed
from .timeutil import now as current_time
from .timeutil import to_db

logger = get_logger(__name__)

__all__ = ["PushResult", "push_model"]

#: Rows loaded and handed to one ``upsert()`` (a multiple of 100 keeps calls at ceil(n/100)).
ROWS_PER_ROUND = 1000


def _resolve(
    label_or_model: type[models.Model] | str, module: str | None
) -> tuple[type[ZohoSyncedModel], str]:
    source = "the model to push"
    model = require_typed(installed_model(label_or_model, source), source)
    mapping = get_mapping(model)
    assert mapping is not None
    if module is None:
        module = mapping.module
    if module is None:
        configured = get_settings().SYNC_MODELS or {}
        matches = [
            name
            for name, label in configured.items()
            if str(label).lower() == model._meta.label_lower
        ]
        module = matches[0] if len(matches) == 1 else None
    if not module:
        raise ZCRMConfigurationError(
            f"Which Zoho module does {model._meta.label} belong to? Set ZohoMeta.module or map it "
            "in ZCRM['SYNC_MODELS']."
        )
    return model, module


def pending(model: type[models.Model], using: str | None = None) -> models.QuerySet:
    """Rows with local changes not yet accepted by Zoho, oldest change first."""
    using = using or router.db_for_write(model)
    return (
        model._base_manager.using(using).filter(zoho_dirty=True).order_by("local_modified_at", "pk")
    )


def push_model(
    model: type[models.Model] | str,
    *,
    module: str | None = None,
    user: str | None = None,
    queryset: models.QuerySet | None = None,
    limit: int | None = None,
    client: ZCRMClient | None = None,
    using: str | None = None,
    trigger: Sequence[str] | None = None,
    progress: Callable[[PushResult], None] | None = None,
    concurrency: int | None = None,
) -> PushResult:
    """Upsert the model's changed rows (``zoho_dirty``) to Zoho and record each outcome.

    ``queryset`` narrows the rows (it is intersected with the changed ones); ``limit`` caps how
    many are sent; ``trigger`` is Zoho's workflow trigger list (default: Zoho's). Rows with a
    Zoho id update that record; new rows are matched by ``ZohoMeta.duplicate_check_fields``
    (else Zoho's default for the module) and created when nothing matches.
    ``concurrency`` is how many upsert calls (100 rows each) are in flight at once (default
    ``ZCRM["MAX_CONCURRENT_REQUESTS"]``; 1 sends them one by one). Outcomes are committed once
    per call's batch, each in one transaction.
    Raises :class:`~django_zcrm.exceptions.ZCRMSyncAlreadyRunningError` when a push of the model runs.
    """
    if concurrency is None:
        # No cap configured: Zoho's own limit for writes of many records (10 in flight).
        concurrency = int(get_settings().MAX_CONCURRENT_REQUESTS or 10)
    model, module = _resolve(model, module)
    mapping = get_mapping(model)
    assert mapping is not None
    using = using or router.db_for_write(model)
    metered = MeteredClient(client, user)
    service = Module(module, user, client=metered)  # type: ignore[arg-type]
    result = PushResult(module, model._meta.label_lower)
    started = time.monotonic()
    lease = sync_lease.acquire(
        module,
        model._meta.label_lower,
        SyncState.PUSH,
        using=using,
        label=f"{model._meta.label_lower} -> {module} (push)",
    )
    try:
        rows = pending(model, using)
        if queryset is not None:
            rows = rows.filter(pk__in=queryset.values("pk"))
        pks = list(rows.values_list("pk", flat=True))
        if limit is not None:
            pks = pks[: max(0, int(limit))]
        for start in range(0, len(pks), ROWS_PER_ROUND):
            chunk = pks[start : start + ROWS_PER_ROUND]
            instances = list(
                model._base_manager.using(using)
                .filter(pk__in=chunk)
                .order_by("local_modified_at", "pk")
            )
            _push_round(service, mapping, instances, result, using, trigger, concurrency)
            with transaction.atomic(using=using):
                lease.renew()
            if progress is not None:
                progress(result)
            if result.error is not None:
                # What was not sent stays marked; the next push sends it.
                result.not_attempted += len(pks) - start - len(chunk)
                result.total += len(pks) - start - len(chunk)
                break
    finally:
        result.api_calls = metered.calls
        result.elapsed = time.monotonic() - started
        problem = result.error or sys.exc_info()[1]
        outcome: dict[str, Any] = {
            "last_result": {
                k: v for k, v in result.__dict__.items() if isinstance(v, (int, float, str))
            },
            "last_error": redact(f"{type(problem).__name__}: {problem}")[:2000] if problem else "",
            "status": SyncState.FAILED if problem else SyncState.DONE,
        }
        if problem is None:
            outcome["last_success_at"] = to_db(current_time())
        lease.release(**outcome)
    logger.info("Push %s", result.summary())
    return result


def _push_round(
    service: Module,
    mapping: ModelMapping,
    instances: list[ZohoSyncedModel],
    result: PushResult,
    using: str,
    trigger: Sequence[str] | None,
    concurrency: int = 1,
) -> None:
    records = [
        mapping.record_from_instance(instance, _changed_fields(instance)) for instance in instances
    ]
    batch = service.upsert(
        records,
        duplicate_check_fields=mapping.duplicate_check_fields,
        trigger=trigger,
        concurrency=concurrency,
    )
    result.total += len(instances)
    if batch.error is not None:
        result.error = batch.error
    now = to_db(current_time())
    rows = mapping.model._base_manager.using(using)
    pairs = list(zip(instances, batch.results, strict=False))
    # One transaction per call's batch: 100 outcomes per commit, not one commit per row.
    for start in range(0, len(pairs), MAX_PER_WRITE):
        with transaction.atomic(using=using):
            _record_batch(rows, pairs[start : start + MAX_PER_WRITE], result, now)


def _record_batch(
    rows: models.QuerySet,
    pairs: list[tuple[ZohoSyncedModel, RecordResult]],
    result: PushResult,
    now: Any,
) -> None:
    """Record one batch's outcomes: accepted rows with two ``executemany`` UPDATEs, others alone.

    First every accepted row gets its Zoho id and push stamp; then the mark is cleared only where
    ``local_modified_at`` is still what this push read (a row saved meanwhile stays marked). If
    the first UPDATE hits the unique Zoho id (Zoho matched a row to a record another row holds),
    the batch falls back to row by row, which names the two rows.
    """
    accepted = [(i, o) for i, o in pairs if o.status == SUCCEEDED]
    for instance, outcome in pairs:
        if outcome.status != SUCCEEDED:
            _record(rows, instance, outcome, result, now)
    if not accepted:
        return
    model = rows.model
    connection = connections[rows.db]
    quote = connection.ops.quote_name
    meta = model._meta
    field = meta.get_field

    def prep(name: str, value: Any) -> Any:
        return field(name).get_db_prep_save(value, connection)

    table, pk = quote(meta.db_table), quote(meta.pk.column)
    pk_of = [meta.pk.get_db_prep_value(i.pk, connection) for i, _ in accepted]
    stamp = prep("zoho_pushed_at", now)
    try:
        with transaction.atomic(using=rows.db), connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET {quote('zoho_id')} = %s, {quote('zoho_push_error')} = %s, "
                f"{quote('zoho_pushed_at')} = %s WHERE {pk} = %s",
                [
                    (o.id or i.zoho_id, "", stamp, key)
                    for (i, o), key in zip(accepted, pk_of, strict=True)
                ],
            )
    except IntegrityError:
        for instance, outcome in accepted:
            _record(rows, instance, outcome, result, now)
        return
    clear = f"UPDATE {table} SET {quote('zoho_dirty')} = %s, {quote('zoho_pending_fields')} = %s "
    not_dirty, no_fields = prep("zoho_dirty", False), prep("zoho_pending_fields", [])
    stamped = [
        (not_dirty, no_fields, key, prep("local_modified_at", i.local_modified_at))
        for (i, _), key in zip(accepted, pk_of, strict=True)
        if i.local_modified_at is not None
    ]
    unstamped = [
        (not_dirty, no_fields, key)
        for (i, _), key in zip(accepted, pk_of, strict=True)
        if i.local_modified_at is None
    ]
    with connection.cursor() as cursor:
        if stamped:
            cursor.executemany(
                clear + f"WHERE {pk} = %s AND {quote('local_modified_at')} = %s", stamped
            )
        if unstamped:
            cursor.executemany(
                clear + f"WHERE {pk} = %s AND {quote('local_modified_at')} IS NULL", unstamped
            )
    for _, outcome in accepted:
        if outcome.action == "created":
            result.created += 1
        else:
            result.updated += 1


def _changed_fields(instance: ZohoSyncedModel) -> list[str] | None:
    """The fields to send: those changed locally, or all for a new row or an unspecified mark."""
    pending = getattr(instance, "zoho_pending_fields", None)
    if not getattr(instance, "zoho_id", None) or not pending:
        return None
    return list(pending)


def _describe(outcome: RecordResult) -> str:
    if outcome.status == FAILED:
        where = f" on {outcome.field}" if outcome.field else ""
        return f"{outcome.code or 'ERROR'}{where}: {outcome.message}".strip()
    if outcome.status == UNKNOWN:
        return f"outcome unknown, will be sent again: {outcome.message}"
    return f"not sent, will be sent again: {outcome.message}"


def _record(
    rows: models.QuerySet,
    instance: ZohoSyncedModel,
    outcome: RecordResult,
    result: PushResult,
    now: Any,
) -> None:
    pk = instance.pk
    if outcome.status == SUCCEEDED:
        if outcome.action == "created":
            result.created += 1
        else:
            result.updated += 1
        done = {"zoho_push_error": "", "zoho_pushed_at": now}
        if outcome.id:
            done["zoho_id"] = outcome.id
        try:
            with transaction.atomic(using=rows.db):
                # Cleared only if nobody changed the row since it was read for this push.
                cleared = rows.filter(pk=pk, local_modified_at=instance.local_modified_at).update(
                    zoho_dirty=False, zoho_pending_fields=[], **done
                )
                if not cleared:
                    rows.filter(pk=pk).update(**done)
        except IntegrityError:
            other = (
                rows.filter(zoho_id=outcome.id).exclude(pk=pk).values_list("pk", flat=True).first()
            )
            message = (
                f"Zoho matched this row to record {outcome.id}, which row pk={other} "
                "already holds here: merge the two rows (or change the duplicate-check "
                "fields) and push again."
            )
            rows.filter(pk=pk).update(zoho_push_error=message[:4000])
            result.updated -= int(outcome.action != "created")
            result.created -= int(outcome.action == "created")
            result.failed += 1
            result._error(pk, message)
        return
    message = _describe(outcome)
    if outcome.status == FAILED:
        result.failed += 1
    elif outcome.status == NOT_ATTEMPTED:
        result.not_attempted += 1
    else:
        result.unknown += 1
    result._error(pk, message)
    rows.filter(pk=pk).update(zoho_push_error=message[:4000])
