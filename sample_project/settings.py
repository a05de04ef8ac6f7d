"""Settings of the sample project, entirely from the environment (django-environ, `.env` read).

With no environment at all it uses SQLite and talks to the bundled fake Zoho server on
http://127.0.0.1:8765 (start it with `python manage.py zcrm_fake_server`), so the whole token
flow runs with no Zoho account. For real Zoho set ZCRM_CLIENT_ID, ZCRM_CLIENT_SECRET and
ZCRM_DATA_CENTER (and unset ZCRM_ACCOUNTS_URL / ZCRM_API_BASE_URL).
"""

from __future__ import annotations

from pathlib import Path

import environ

from django_zcrm.conf import settings_from_env
from django_zcrm.testing import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, FAKE_USER_EMAIL

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="sample-project-insecure-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=True)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_zcrm",
    # Typed Lead model written by `zcrm_inspect Leads`, synced by `zcrm_sync Leads`.
    "sample_project.crm",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "sample_project.urls"
WSGI_APPLICATION = "sample_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

DATABASES = {
    # e.g. DATABASE_URL=mysql://root:@127.0.0.1:3306/zcrm_sample
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'sample.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several processes (web, sync, token refresh) share the file: queue writers, don't fail.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"

FAKE_ZOHO_URL = env.str("FAKE_ZOHO_URL", default="http://127.0.0.1:8765")

# Every ZCRM key can be set as ZCRM_<KEY> in the environment; without any, the fake server is used.
ZCRM = {
    "CLIENT_ID": FAKE_CLIENT_ID,
    "CLIENT_SECRET": FAKE_CLIENT_SECRET,
    "CURRENT_USER_EMAIL": FAKE_USER_EMAIL,
    "ACCOUNTS_URL": FAKE_ZOHO_URL,
    "API_BASE_URL": FAKE_ZOHO_URL,
    "REDIRECT_URI": "http://127.0.0.1:8000/zoho/callback/",
    # `zcrm_sync Leads` fills crm.Lead; other modules go to the generic django_zcrm.CRMRecord.
    "SYNC_MODELS": {"Leads": "crm.Lead"},
    **settings_from_env(env),
}
if env.bool("ZCRM_REAL_ZOHO", default=False):
    # Real Zoho: URLs come from ZCRM_DATA_CENTER unless given explicitly.
    for key in ("ACCOUNTS_URL", "API_BASE_URL"):
        if f"ZCRM_{key}" not in env.ENVIRON:
            ZCRM.pop(key, None)

# Celery (sample_project/celery.py reads every CELERY_* setting): Redis as broker and result store.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL)
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# With acks_late tasks, a worker reserves one task at a time instead of a batch it may not run.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task not acknowledged for this long is handed out again (a lost machine's tasks): keep it
# longer than the longest sync (the README's Celery section).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=6 * 3600)
}
CELERY_RESULT_EXPIRES = 24 * 3600

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_zcrm": {
            "handlers": ["console"],
            "level": env.str("ZCRM_LOG_LEVEL", default="WARNING"),
        }
    },
}
