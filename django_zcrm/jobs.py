"""The work behind the task entry points: plain functions returning small JSON-friendly dicts.

:mod:`django_zcrm.tasks` (Celery) and :mod:`django_zcrm.django_tasks` (Django 6's ``django.tasks``)
are thin wrappers around these, so both queues behave the same. Nothing here imports Celery.
Importing this module loads the sync and OAuth code, so it needs Django's app registry (a Celery
worker imports task modules after Django is set up); the schedule, which a Celery app module
reads before that, lives in :mod:`django_zcrm.schedules`.

A job for a module whose sync (or a model whose push) is already running elsewhere ends at once
with ``status: "skipped"`` and ``reason: "running elsewhere"`` instead of waiting for the lease;
why is explained in the README's Celery section ("A module already being synced").
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

from .conf import get_settings
from .exceptions import (
    ZCRMConnectionError,
    ZCRMError,
    ZCRMRateLimitError,
    ZCRMReauthorizationRequiredError,
    ZCRMServerError,
    ZCRMSyncAlreadyRunningError,
    ZCRMTokenNotFoundError,
)
from .notifications import channels as notification_channels
from .notifications.processor import process_pending
from .oauth import get_oauth_client
from .persistence import get_persistence
from .redaction import get_logger
from .schedules import token_refresh_interval
from .sync import push_model, sync_module

logger = get_logger(__name__)

#: Errors worth running the task again for, later (see docs/design/retries.md): Zoho's 429,
#: its 5xx answers and network failures. Configuration and authorisation errors are not here:
#: running again cannot fix them, a person has to.
TRANSIENT_ERRORS: tuple[type[ZCRMError], ...] = (
    ZCRMRateLimitError,
    ZCRMServerError,
    ZCRMConnectionError,
)
#: Task-level retries after the HTTP client's own retries gave up, and their back-off (seconds).
MAX_TASK_RETRIES = 5
RETRY_BASE_SECONDS = 30.0
RETRY_MAX_SECONDS = 600.0

SKIPPED = "skipped"
RUNNING_ELSEWHERE = "running elsewhere"


def retry_delay(exc: BaseException, retries: int) -> float:
    """Seconds before retry ``retries + 1``: exponential with jitter, at least Retry-After."""
    backoff = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * (2**retries))
    # Full jitter spreads out workers that all failed on the same outage.
    delay = random.uniform(backoff / 2, backoff)
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, (int, float)) and retry_after > delay:
        delay = float(retry_after)
    return delay


def skipped(what: Mapping[str, Any], exc: ZCRMSyncAlreadyRunningError) -> dict[str, Any]:
    """The result of a job that found its module already running elsewhere."""
    logger.info("Skipped: %s", exc.message)
    return {**what, "status": SKIPPED, "reason": RUNNING_ELSEWHERE, "detail": exc.message}


def sync_one(module: str, *, full: bool = False, user: str | None = None) -> dict[str, Any]:
    """Sync ``module`` (incremental, or ``full``); a run already going elsewhere is skipped."""
    try:
        result = sync_module(module, full=bool(full), user=user)
    except ZCRMSyncAlreadyRunningError as exc:
        return skipped({"module": module, "full": bool(full)}, exc)
    return {
        "module": result.module,
        "model": result.model,
        "status": "done",
        "full": result.full,
        "resumed": result.resumed,
        "created": result.created,
        "updated": result.updated,
        "deleted": result.deleted,
        "unchanged": result.unchanged,
        "failed": result.failed,
        "kept_local": result.kept_local,
        "pending_failures": result.pending_failures,
        "pages": result.pages,
        "api_calls": result.api_calls,
        "elapsed": round(result.elapsed, 3),
        "cursor": result.cursor.isoformat() if result.cursor else None,
        "summary": result.summary(),
    }


def push_one(model_label: str, *, user: str | None = None) -> dict[str, Any]:
    """Push the model's changed rows; a push already going elsewhere is skipped.

    A push stopped early by a transient error (429, 5xx, network) raises it, so the task runs
    again later: the rows not accepted are still marked changed, and Zoho's upsert makes sending
    them again safe (docs/design/sync.md, push).
    """
    try:
        result = push_model(model_label, user=user)
    except ZCRMSyncAlreadyRunningError as exc:
        return skipped({"model": model_label}, exc)
    if isinstance(result.error, TRANSIENT_ERRORS):
        raise result.error
    return {
        "module": result.module,
        "model": result.model,
        "status": "done" if result.ok else "incomplete",
        "total": result.total,
        "created": result.created,
        "updated": result.updated,
        "failed": result.failed,
        "unknown": result.unknown,
        "not_attempted": result.not_attempted,
        "api_calls": result.api_calls,
        "elapsed": round(result.elapsed, 3),
        "error": str(result.error) if result.error else None,
        "summary": result.summary(),
    }


def refresh_due_tokens(*, within_seconds: float | None = None) -> dict[str, Any]:
    """Refresh every stored access token that expires within ``within_seconds``.

    The default horizon is the refresh task's interval plus ``REFRESH_MARGIN``: a token the
    next run would find already inside the margin is refreshed now, so CRM calls rarely wait
    on a refresh. Each refresh goes through the store's refresh lease with the token seen as
    the stale one (docs/design/token-refresh.md): when several workers run this at once, or a
    CRM call refreshes at the same moment, Zoho is asked once and the others take its result.
    """
    conf = get_settings()
    if within_seconds is None:
        within_seconds = (token_refresh_interval() or 0) * 60 + float(conf.REFRESH_MARGIN)
    client = get_oauth_client()
    store = get_persistence()
    users = store.list_user_identifiers() or _current_user(conf.CURRENT_USER_EMAIL)
    refreshed = fresh = 0
    needs_reauth: list[str] = []
    failed: dict[str, str] = {}
    transient: ZCRMError | None = None
    for user in users:
        tokens = store.get_oauth_tokens(user)
        if tokens is None:
            continue
        if tokens.needs_reauth:
            needs_reauth.append(user)
            continue
        if tokens.remaining_ms(client.now_ms()) > within_seconds * 1000:
            fresh += 1
            continue
        try:
            client.refresh_access_token(user, stale_token=tokens.access_token)
        except (ZCRMReauthorizationRequiredError, ZCRMTokenNotFoundError):
            needs_reauth.append(user)
        except ZCRMError as exc:
            failed[user] = str(exc)
            if isinstance(exc, TRANSIENT_ERRORS):
                transient = transient or exc
        else:
            refreshed += 1
    if transient is not None:
        raise transient  # the others are fresh now: a retry only redoes the failed ones
    return {
        "status": "done",
        "users": len(users),
        "refreshed": refreshed,
        "fresh": fresh,
        "needs_reauth": needs_reauth,
        "failed": failed,
    }


def process_notifications(*, limit: int | None = None) -> dict[str, Any]:
    """Drain the notification inbox once (failed events stay in it, retried with back-off)."""
    result = process_pending(limit=limit) if limit else process_pending()
    return {
        "status": "done",
        "events": result.events,
        "created": result.created,
        "updated": result.updated,
        "deleted": result.deleted,
        "unchanged": result.unchanged,
        "kept_local": result.kept_local,
        "failed_events": result.failed_events,
        "deferred_events": result.deferred_events,
        "summary": result.summary(),
    }


def renew_channels(*, force: bool = False) -> dict[str, Any]:
    """Renew notification channels in the last third of their life; re-subscribe lapsed ones.

    A channel whose renewal failed keeps its error (admin, ``zcrm_watch --status``) and is tried
    again on the next run, well before it lapses when runs are an hour apart.
    """
    result = notification_channels.renew(force=bool(force))
    return {
        "status": "done" if not result.errors else "incomplete",
        "renewed": [c.channel_id for c in result.renewed],
        "resubscribed": [c.channel_id for c in result.resubscribed],
        "unchanged": [c.channel_id for c in result.unchanged],
        "errors": result.errors,
    }


def _current_user(email: str) -> list[str]:
    """Stores that cannot list their users still refresh ``CURRENT_USER_EMAIL``."""
    return [email] if email else []


def dispatch_syncs(
    enqueue: Any, modules: Iterable[str], *, full: bool = False, user: str | None = None
) -> dict[str, Any]:
    """Call ``enqueue(module, full, user)`` for each module; the summary ``sync_all`` returns."""
    modules = list(modules)
    ids = [str(enqueue(module, bool(full), user)) for module in modules]
    logger.info("Queued the sync of %d modules: %s", len(modules), ", ".join(modules) or "none")
    return {"status": "dispatched", "modules": modules, "task_ids": ids, "full": bool(full)}
