"""Celery tasks (``pip install "django-zcrm[celery]"``), with stable names for routing and beat.

    from django_zcrm.schedules import beat_schedule   # also django_zcrm.tasks.beat_schedule
    app.conf.beat_schedule = beat_schedule()

* ``django_zcrm.sync_module(module, full=False, user=None)``: one module, incremental or full;
* ``django_zcrm.sync_all(full=False, user=None)``: one ``sync_module`` task per module of
  ``SYNC_MODELS``;
* ``django_zcrm.push_module(model_label, user=None)``: rows changed locally, to Zoho;
* ``django_zcrm.refresh_tokens()``: access tokens that expire soon, refreshed ahead of need;
* ``django_zcrm.process_notifications()``: the notification inbox, drained once;
* ``django_zcrm.renew_channels(force=False)``: notification channels renewed before they lapse.

Every task is ``acks_late`` and rejected (so requeued) when its worker process dies: a worker
killed mid-sync means the task runs again, and the sync resumes from its last committed page
(the README's Celery section says which broker settings a lost machine needs). A module
already being synced elsewhere ends the task at once with ``status: "skipped"`` (see
:mod:`django_zcrm.jobs`).

Zoho's transient errors (429, 5xx, network) retry the task with exponential back-off and jitter,
at least Zoho's ``Retry-After``; configuration and authorisation errors fail it at once. Results
are small JSON dicts. This is the only module of the package that imports Celery.
"""

from __future__ import annotations

from typing import Any

try:
    from celery import shared_task
except ImportError as exc:  # pragma: no cover - exercised only without Celery installed
    raise ImportError(
        'django_zcrm.tasks needs Celery: pip install "django-zcrm[celery]" '
        "(or use django_zcrm.django_tasks with Django 6's task framework)."
    ) from exc

from . import jobs
from .conf import get_settings
from .schedules import beat_schedule, configured_modules

__all__ = [
    "beat_schedule",
    "process_notifications",
    "push_module",
    "refresh_tokens",
    "renew_channels",
    "sync_all",
    "sync_module",
]

TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    # Acknowledge after the task ran, and requeue it when the worker process dies mid-task:
    # the sync's per-page checkpoints and the lease make running it again safe.
    "acks_late": True,
    "reject_on_worker_lost": True,
    "max_retries": jobs.MAX_TASK_RETRIES,
}


def _run(task: Any, job: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run ``job``; a transient Zoho error schedules a retry with back-off instead of failing."""
    try:
        return job(*args, **kwargs)
    except jobs.TRANSIENT_ERRORS as exc:
        # Past max_retries, retry() raises ``exc`` itself and the task fails with it.
        raise task.retry(exc=exc, countdown=jobs.retry_delay(exc, task.request.retries)) from exc


@shared_task(name="django_zcrm.sync_module", **TASK_OPTIONS)
def sync_module(self: Any, module: str, full: bool = False, user: str | None = None) -> dict:
    """Sync one Zoho module into its local model; skipped when it runs elsewhere."""
    result = _run(self, jobs.sync_one, module, full=full, user=user)
    if result["status"] == jobs.SKIPPED and (self.request.delivery_info or {}).get("redelivered"):
        # A redelivered task whose module is "running elsewhere" is most likely the task of a
        # worker that died on another host, still holding the lease until it lapses. Try
        # once more after that, so the interrupted sync resumes now rather than at the next
        # scheduled run; if the holder is alive, that attempt is skipped like any other.
        lapse = float(get_settings().SYNC_LEASE_SECONDS) + 5
        raise self.retry(countdown=lapse, max_retries=self.request.retries + 1)
    return result


@shared_task(name="django_zcrm.sync_all", **TASK_OPTIONS)
def sync_all(self: Any, full: bool = False, user: str | None = None) -> dict:
    """Queue one ``sync_module`` task per module of ``SYNC_MODELS`` (they run in parallel)."""

    def enqueue(module: str, full: bool, user: str | None) -> str:
        return sync_module.apply_async(args=(module,), kwargs={"full": full, "user": user}).id

    return jobs.dispatch_syncs(enqueue, configured_modules(), full=full, user=user)


@shared_task(name="django_zcrm.push_module", **TASK_OPTIONS)
def push_module(self: Any, model_label: str, user: str | None = None) -> dict:
    """Push a model's locally changed rows to Zoho; skipped when a push of it runs elsewhere."""
    return _run(self, jobs.push_one, model_label, user=user)


@shared_task(name="django_zcrm.refresh_tokens", **TASK_OPTIONS)
def refresh_tokens(self: Any) -> dict:
    """Refresh the stored access tokens that would expire before the next run."""
    return _run(self, jobs.refresh_due_tokens)


@shared_task(name="django_zcrm.process_notifications", **TASK_OPTIONS)
def process_notifications(self: Any, limit: int | None = None) -> dict:
    """Apply the pending Zoho notifications to the local models (one drain of the inbox)."""
    return _run(self, jobs.process_notifications, limit=limit)


@shared_task(name="django_zcrm.renew_channels", **TASK_OPTIONS)
def renew_channels(self: Any, force: bool = False) -> dict:
    """Renew the notification channels due for renewal; re-subscribe lapsed ones."""
    return _run(self, jobs.renew_channels, force=force)
