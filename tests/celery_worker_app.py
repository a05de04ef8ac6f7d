"""The app ``celery -A tests.celery_worker_app worker`` runs in the real-worker tests.

It opens the parent test's database (``ZCRM_TEST_DB_NAME_OVERRIDE``), points ``settings.ZCRM`` at
the parent's fake Zoho server (``ZCRM_WORKER_SETTINGS``) and reads its broker place from the
environment (tests/support/celery_app.py). The tasks are django_zcrm's own, by their names.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402
from django.conf import settings  # noqa: E402

django.setup()
settings.ZCRM = json.loads(os.environ["ZCRM_WORKER_SETTINGS"])

from tests.support.celery_app import BrokerPlace, make_app  # noqa: E402

app = make_app(BrokerPlace.from_env(), "zcrm-test-worker")
app.set_current()
import django_zcrm.tasks  # noqa: E402, F401  (registers the tasks on this app)
