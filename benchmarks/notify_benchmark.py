"""Notification receiver benchmark: a burst of Zoho callbacks against a real server on loopback.

    python benchmarks/notify_benchmark.py              # 1,000 callbacks, 4 senders, SQLite
    python benchmarks/notify_benchmark.py --db postgres
    python benchmarks/notify_benchmark.py --quick      # 200 callbacks (the smoke test's run)

The receiver (``zcrm:notify``) runs in Django's threaded WSGI server (the one ``runserver`` uses)
in a child process, with a fresh database (a temp SQLite file, or a throwaway MariaDB/MySQL or
PostgreSQL database). This process sends the callbacks in a burst from ``--senders`` threads over
keep-alive connections and times each response; then it checks that every callback is in the
inbox and drains the inbox with ``process_pending()`` against the bundled fake Zoho server
(records read back with ``ids=``, 100 per call). Target: p99 response time under 50 ms, every
callback stored and processed. Exit status 1 when a callback is lost or refused.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks._table import print_columns  # noqa: E402

CHANNEL_ID = "1000000068001"
TOKEN = "bench-verification-token"
TARGET_P99_MS = 50.0

urlpatterns: list = []  # filled by _setup_django (ROOT_URLCONF is this module)


def _database(kind: str, name: str) -> dict:
    if kind == "sqlite":
        # WAL with synchronous=NORMAL: a commit does not wait for fsync (the usual setup for a
        # SQLite site taking concurrent writes).
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name,
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    if kind == "mysql":
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": name,
            "USER": os.environ.get("ZCRM_MYSQL_USER", "root"),
            "PASSWORD": os.environ.get("ZCRM_MYSQL_PASSWORD", ""),
            "HOST": os.environ.get("ZCRM_MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("ZCRM_MYSQL_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
        }
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": os.environ.get("ZCRM_PG_USER", "postgres"),
        "PASSWORD": os.environ.get("ZCRM_PG_PASSWORD", ""),
        "HOST": os.environ.get("ZCRM_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("ZCRM_PG_PORT", "5432"),
    }


def _setup_django(db: dict, zcrm: dict) -> None:
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="notify-benchmark-not-secret",
        DEBUG=False,
        USE_TZ=True,
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_zcrm"],
        DATABASES={"default": db},
        ROOT_URLCONF=__name__ if __name__ != "__main__" else "__main__",
        MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
        ZCRM=zcrm,
        LOGGING={"version": 1, "disable_existing_loggers": False, "root": {"level": "ERROR"}},
    )
    django.setup()
    from django.urls import include, path

    urlpatterns.append(path("zoho/", include("django_zcrm.urls")))


def _create_database(kind: str, name: str) -> None:
    if kind == "mysql":
        import MySQLdb

        conn = MySQLdb.connect(**_server_kwargs(kind))
        conn.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        conn.close()
    elif kind == "postgres":
        import psycopg

        with psycopg.connect(**_server_kwargs(kind), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')


def _drop_database(kind: str, name: str) -> None:
    if kind == "mysql":
        import MySQLdb

        conn = MySQLdb.connect(**_server_kwargs(kind))
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
    elif kind == "postgres":
        import psycopg

        with psycopg.connect(**_server_kwargs(kind), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _server_kwargs(kind: str) -> dict:
    if kind == "mysql":
        return {
            "host": os.environ.get("ZCRM_MYSQL_HOST", "127.0.0.1"),
            "port": int(os.environ.get("ZCRM_MYSQL_PORT", "3306")),
            "user": os.environ.get("ZCRM_MYSQL_USER", "root"),
            "password": os.environ.get("ZCRM_MYSQL_PASSWORD", ""),
        }
    return {
        "host": os.environ.get("ZCRM_PG_HOST", "127.0.0.1"),
        "port": int(os.environ.get("ZCRM_PG_PORT", "5432")),
        "user": os.environ.get("ZCRM_PG_USER", "postgres"),
        "password": os.environ.get("ZCRM_PG_PASSWORD", ""),
        "dbname": "postgres",
    }


# -- the server child -------------------------------------------------------------------------------


def serve(db: dict) -> None:
    """Child process: Django's threaded WSGI server with the receiver; prints its port."""
    _setup_django(db, {"CLIENT_ID": "x", "CLIENT_SECRET": "y"})
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def setup(self) -> None:
            super().setup()
            # The server writes headers and body in two sends; without TCP_NODELAY the body
            # waits for the client's delayed ACK (~40 ms). gunicorn and uWSGI set it too.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler)
    server.set_app(WSGIHandler())
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.05)


# -- the burst --------------------------------------------------------------------------------------


def _burst(port: int, ids: list[str], senders: int) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(senders)

    def send(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[tuple[float, int]] = []
        start.wait()
        for n in range(offset, len(ids), senders):
            body = json.dumps(
                {
                    "server_time": 1_700_000_000_000 + n,
                    "query_params": {},
                    "module": "Leads",
                    "resource_uri": "https://www.zohoapis.com/crm/v2/Leads",
                    "ids": [ids[n]],
                    "affected_fields": [],
                    "operation": "insert",
                    "channel_id": CHANNEL_ID,
                    "token": TOKEN,
                }
            ).encode()
            began = time.perf_counter()
            conn.request(
                "POST", "/zoho/notify/", body=body, headers={"Content-Type": "application/json"}
            )
            response = conn.getresponse()
            response.read()
            mine.append(((time.perf_counter() - began) * 1000, response.status))
            if response.will_close:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()
        with lock:
            latencies.extend(m for m, _ in mine)
            statuses.extend(s for _, s in mine)

    threads = [threading.Thread(target=send, args=(k,)) for k in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, statuses


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--callbacks", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=4, help="concurrent senders [4]")
    parser.add_argument("--db", choices=("sqlite", "mysql", "postgres"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="200 callbacks, 2 senders")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--serve", metavar="DB_JSON", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(json.loads(args.serve))
        return 0
    if args.quick:
        args.callbacks, args.senders = 200, 2

    tmp = tempfile.mkdtemp(prefix="zcrm-notify-bench-")
    name = (
        os.path.join(tmp, "bench.sqlite3")
        if args.db == "sqlite"
        else (f"zcrm_notify_bench_{uuid.uuid4().hex[:8]}")
    )
    db = _database(args.db, name)
    # Persistent connections, as a production site runs (no connect per callback).
    db["CONN_MAX_AGE"] = 60
    _create_database(args.db, name)
    child = None
    try:
        from django_zcrm.testing import FakeZoho

        fake = FakeZoho().start()
        _setup_django(
            db,
            {
                "CLIENT_ID": "1000.YTZW7H07NU9O4OXQBF49DPAYUQVDNM",
                "CLIENT_SECRET": "c1375e62217f746ceebb65ba2f177371e50ff7bf",
                "ACCOUNTS_URL": fake.url,
                "API_BASE_URL": fake.url,
                "CURRENT_USER_EMAIL": "admin@example.com",
            },
        )
        from django.core.management import call_command
        from django.utils import timezone

        call_command("migrate", verbosity=0)
        from django_zcrm.models import CRMRecord, NotificationChannel, NotificationEvent
        from django_zcrm.notifications.processor import process_pending
        from django_zcrm.notifications.secrets import token_hash
        from django_zcrm.oauth import get_oauth_client

        now = timezone.now()
        NotificationChannel.objects.create(
            channel_id=CHANNEL_ID,
            modules=["Leads"],
            events=["Leads.all"],
            notify_url="http://127.0.0.1/zoho/notify/",
            token_hash=token_hash(TOKEN),
            expires_at=now + timezone.timedelta(hours=24),
            renewed_at=now,
        )
        get_oauth_client().generate_access_token(fake.accounts.issue_grant_token())
        records = fake.crm.seed("Leads", args.callbacks)
        ids = [r["id"] for r in records]

        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", json.dumps(db)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.startswith("PORT "):
            print("the receiver did not start", file=sys.stderr)
            return 1
        port = int(line.split()[1])

        began = time.perf_counter()
        latencies, statuses = _burst(port, ids, args.senders)
        burst_seconds = time.perf_counter() - began
        stored = NotificationEvent.objects.count()

        began = time.perf_counter()
        processed = 0
        while True:
            done = process_pending().events
            if not done:
                break
            processed += done
        process_seconds = time.perf_counter() - began
        mirrored = CRMRecord.objects.filter(module="Leads").count()
        fake.stop()
    finally:
        if child is not None:
            child.terminate()
            child.wait(10)
        if args.db != "sqlite":
            from django.db import connections

            connections.close_all()
            _drop_database(args.db, name)

    median = statistics.median(latencies)
    p99 = _percentile(latencies, 0.99)
    ok = statuses.count(200) == args.callbacks and stored == processed == mirrored == args.callbacks
    verdict = "PASS" if ok and p99 < TARGET_P99_MS else "FAIL"
    print(
        f"notify benchmark: {args.callbacks} callbacks, {args.senders} senders, {args.db}, "
        "Django threaded WSGI server on 127.0.0.1"
    )
    print_columns(
        [
            "callbacks",
            "senders",
            "db",
            "median ms",
            "p99 ms",
            "max ms",
            "burst s",
            "answered 200",
            "stored",
            "processed",
            "rows",
            "process s",
            f"p99 < {TARGET_P99_MS:.0f} ms",
        ],
        [
            [
                str(args.callbacks),
                str(args.senders),
                args.db,
                f"{median:.1f}",
                f"{p99:.1f}",
                f"{max(latencies):.1f}",
                f"{burst_seconds:.2f}",
                str(statuses.count(200)),
                str(stored),
                str(processed),
                str(mirrored),
                f"{process_seconds:.2f}",
                verdict,
            ]
        ],
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "callbacks": args.callbacks,
                    "senders": args.senders,
                    "db": args.db,
                    "median_ms": median,
                    "p99_ms": p99,
                    "max_ms": max(latencies),
                    "answered_200": statuses.count(200),
                    "stored": stored,
                    "processed": processed,
                    "rows": mirrored,
                    "process_seconds": process_seconds,
                    "verdict": verdict,
                },
                indent=2,
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
