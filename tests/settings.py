"""Settings for the test suite: SQLite by default, MySQL/MariaDB when ZCRM_TEST_DB=mysql, PostgreSQL
when ZCRM_TEST_DB=postgres."""

from __future__ import annotations

import os
import tempfile

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_zcrm",
    "tests.testapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"
STATIC_URL = "/static/"

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

TEST_DB = os.environ.get("ZCRM_TEST_DB", "sqlite")
# Tests that start several processes need a database file they can all open.
_SQLITE_DIR = os.environ.get("ZCRM_TEST_SQLITE_DIR") or tempfile.gettempdir()

if TEST_DB == "mysql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": os.environ.get("ZCRM_MYSQL_NAME", "zcrm"),
            "USER": os.environ.get("ZCRM_MYSQL_USER", "root"),
            "PASSWORD": os.environ.get("ZCRM_MYSQL_PASSWORD", ""),
            "HOST": os.environ.get("ZCRM_MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("ZCRM_MYSQL_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {
                "NAME": os.environ.get("ZCRM_MYSQL_TEST_NAME", "test_zcrm"),
                "CHARSET": "utf8mb4",
            },
        }
    }
elif TEST_DB == "postgres":
    # psycopg 3 (the `postgres` extra); Django picks it over psycopg2 when both are installed.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("ZCRM_PG_NAME", "zcrm"),
            "USER": os.environ.get("ZCRM_PG_USER", "postgres"),
            "PASSWORD": os.environ.get("ZCRM_PG_PASSWORD", ""),
            "HOST": os.environ.get("ZCRM_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("ZCRM_PG_PORT", "5432"),
            "TEST": {"NAME": os.environ.get("ZCRM_PG_TEST_NAME", "test_zcrm")},
        }
    }
elif TEST_DB == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(_SQLITE_DIR, f"zcrm-tests-{os.getpid()}.sqlite3"),
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
            "TEST": {"NAME": os.path.join(_SQLITE_DIR, f"zcrm-tests-{os.getpid()}-test.sqlite3")},
        }
    }
else:
    raise RuntimeError(f"ZCRM_TEST_DB={TEST_DB!r}: expected sqlite, mysql or postgres")

# Worker processes started by concurrency tests open the parent's test database by name.
if os.environ.get("ZCRM_TEST_DB_NAME_OVERRIDE"):
    DATABASES["default"]["NAME"] = os.environ["ZCRM_TEST_DB_NAME_OVERRIDE"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Tests point this at the fake server they start; these values only keep checks quiet.
ZCRM = {
    "CLIENT_ID": "1000.TESTCLIENTID",
    "CLIENT_SECRET": "test-client-secret-value",
    "ACCOUNTS_URL": "http://127.0.0.1:9",
    "API_BASE_URL": "http://127.0.0.1:9",
}

LOGGING_CONFIG = None
