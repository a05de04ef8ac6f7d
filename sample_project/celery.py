"""The sample project's Celery app: Django's standard layout, settings under ``CELERY_``.

    celery -A sample_project worker -l info      # runs django_zcrm's tasks
    celery -A sample_project beat -l info        # queues them on ZCRM's schedule

The broker and result backend come from ``CELERY_BROKER_URL`` / ``CELERY_RESULT_BACKEND``
(environment, default ``redis://127.0.0.1:6379/0``; see settings.py).
"""

from __future__ import annotations

import os

from celery import Celery

from django_zcrm.schedules import beat_schedule

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sample_project.settings")

app = Celery("sample_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds django_zcrm.tasks (django_zcrm is in INSTALLED_APPS) and any project app's tasks.py.
app.autodiscover_tasks()


# Sync every module of ZCRM["SYNC_MODELS"] and keep tokens fresh, on ZCRM's intervals.
app.conf.beat_schedule = beat_schedule()
