"""The same entry points as :mod:`django_zcrm.tasks`, as Django 6 ``django.tasks`` tasks.

    from django_zcrm.django_tasks import sync_all, sync_module

    sync_all.enqueue()                       # one sync_module task per module of SYNC_MODELS
    result = sync_module.enqueue("Leads")    # result.status, result.return_value later

Needs Django 6.0 or later. Django ships only the immediate and dummy backends: configure a
backend with a worker in ``settings.TASKS`` to run these in the background. The work and the
results (small JSON dicts) are those of :mod:`django_zcrm.jobs`: a module already being synced
elsewhere is skipped. ``django.tasks`` has no retry of its own, so a transient Zoho error
(429, 5xx, network) fails the task after the HTTP client's retries; the next scheduled run picks
the work up where it stopped.
"""

from __future__ import annotations

import django

try:
    from django.tasks import task
except ImportError as exc:
    raise ImportError(
        "django_zcrm.django_tasks needs Django 6.0 or later (the django.tasks framework); "
        f"this is Django {django.get_version()}. Upgrade Django, or use the Celery tasks in "
        'django_zcrm.tasks (pip install "django-zcrm[celery]").'
    ) from exc

from . import jobs
from .schedules import configured_modules

__all__ = [
    "process_notifications",
    "push_module",
    "refresh_tokens",
    "renew_channels",
    "sync_all",
    "sync_module",
]


@task
def sync_module(module: str, full: bool = False, user: str | None = None) -> dict:
    """Sync one Zoho module into its local model; skipped when it runs elsewhere."""
    return jobs.sync_one(module, full=full, user=user)


@task
def sync_all(full: bool = False, user: str | None = None) -> dict:
    """Enqueue one ``sync_module`` task per module of ``SYNC_MODELS``."""

    def enqueue(module: str, full: bool, user: str | None) -> str:
        return sync_module.enqueue(module, full=full, user=user).id

    return jobs.dispatch_syncs(enqueue, configured_modules(), full=full, user=user)


@task
def push_module(model_label: str, user: str | None = None) -> dict:
    """Push a model's locally changed rows to Zoho; skipped when a push of it runs elsewhere."""
    return jobs.push_one(model_label, user=user)


@task
def refresh_tokens() -> dict:
    """Refresh the stored access tokens that would expire before the next run."""
    return jobs.refresh_due_tokens()


@task
def process_notifications(limit: int | None = None) -> dict:
    """Apply the pending Zoho notifications to the local models (one drain of the inbox)."""
    return jobs.process_notifications(limit=limit)


@task
def renew_channels(force: bool = False) -> dict:
    """Renew the notification channels due for renewal; re-subscribe lapsed ones."""
    return jobs.renew_channels(force=force)
