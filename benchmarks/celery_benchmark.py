"""Celery benchmark: a full sync of 4 modules on 1, 2 and 4 worker processes; wall time, speed-up.

    python benchmarks/celery_benchmark.py            # 4 modules x 25,000 records, 0.2 s per request
    python benchmarks/celery_benchmark.py --quick    # 4 modules x 2,000 records, 0.05 s per request

Needs Redis (``--redis``, default ``redis://127.0.0.1:6379/0``; the run uses a private key prefix
and queue, deleted at the end). The fake Zoho server runs in its own process with a simulated
latency on every request (its ``set_network(request_delay=...)``), seeded with Accounts,
Contacts, Deals and Leads. For each worker count the local tables are emptied, N ``celery
worker --pool=prefork --concurrency=1`` processes start (tests/celery_worker_app.py, on the same
SQLite file or MariaDB database as tests/settings.py builds it), and the clock runs from
``django_zcrm.sync_all.delay()`` until the four ``sync_module`` results are in.

Zoho's concurrency cap, together: a sync task reads its pages one after another, so it has at
most one request in flight, and N worker processes have at most N. The "peak in flight" column is
what the fake server saw. Zoho allows 5 to 25 concurrent calls per organisation depending on the
edition (docs/design/retries.md); keep the pool processes that consume Zoho tasks, summed over
every worker host, at or under it. ``MAX_CONCURRENT_REQUESTS`` caps one process (threads in a
web process, say), not the sum over processes: workers x min(MAX_CONCURRENT_REQUESTS, calls a
task makes at once) is the arithmetic (the README's Celery section).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    # Run as a script from anywhere: the package lives next to benchmarks/.
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks._table import print_columns  # noqa: E402

MODULES = ("Accounts", "Contacts", "Deals", "Leads")  # Accounts first: the others point at them
DEFAULT_RECORDS, QUICK_RECORDS = 25_000, 2_000
DEFAULT_DELAY, QUICK_DELAY = 0.2, 0.05
DEFAULT_WORKERS = (1, 2, 4)
START_TIMEOUT = 120.0
SYNC_TIMEOUT = 3600.0


# --------------------------------------------------------------------------------------------------
# The fake server, in a process of its own (so its JSON work does not share a GIL with anyone)
# --------------------------------------------------------------------------------------------------


def serve_fake(records: int, delay: float) -> int:
    """Child mode: seed, print the URL, answer ``grant``/``stats``/``reset`` lines on stdin."""
    from django_zcrm.testing import FakeZoho

    with FakeZoho() as fake:
        started = time.perf_counter()
        for module in MODULES:
            fake.crm.seed(module, records)
        fake.set_network(request_delay=delay)
        print(json.dumps({"url": fake.url, "seed_seconds": time.perf_counter() - started}))
        sys.stdout.flush()
        for line in sys.stdin:
            command = line.strip()
            if command == "grant":
                answer: Any = fake.accounts.issue_grant_token()
            elif command == "reset":
                fake.reset_counters()
                answer = "ok"
            elif command == "stats":
                answer = {
                    "requests": len(fake.requests),
                    "peak": fake.peak_concurrency(),
                    "errors": [repr(e) for e in fake.errors],
                }
            else:
                break
            print(json.dumps(answer), flush=True)
    return 0


class FakeProcess:
    """The fake server child and its one-line command protocol."""

    def __init__(self, records: int, delay: float) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--serve-fake",
                "--records",
                str(records),
                "--request-delay",
                str(delay),
            ],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = json.loads(self._line())
        self.url: str = hello["url"]
        self.seed_seconds: float = hello["seed_seconds"]

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the fake server exited ({self.proc.wait()})")
        return line

    def ask(self, command: str) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self._line())

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------------------------------
# Database and workers
# --------------------------------------------------------------------------------------------------


def setup_django(backend: str, workdir: str) -> str:
    """Configure Django like tests/settings.py on a fresh database; return its name."""
    if backend == "mysql":
        name = os.environ.get("ZCRM_CELERY_BENCH_DB", "zcrm_celery_bench")
        import MySQLdb

        conn = MySQLdb.connect(
            host=os.environ.get("ZCRM_MYSQL_HOST", "127.0.0.1"),
            port=int(os.environ.get("ZCRM_MYSQL_PORT", "3306")),
            user=os.environ.get("ZCRM_MYSQL_USER", "root"),
            passwd=os.environ.get("ZCRM_MYSQL_PASSWORD", ""),
        )
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        conn.close()
    else:
        name = os.path.join(workdir, "celery-bench.sqlite3")
    os.environ["ZCRM_TEST_DB"] = backend
    os.environ["ZCRM_TEST_DB_NAME_OVERRIDE"] = name
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return name


def start_workers(count: int, env: dict[str, str], queue: str, logdir: str) -> list:
    """``count`` single-process prefork workers; returns once every one is ready."""
    procs = []
    for n in range(count):
        log = open(os.path.join(logdir, f"w{count}-{n}.log"), "w")  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "tests.celery_worker_app",
                    "worker",
                    "--pool=prefork",
                    "--concurrency=1",
                    "-Q",
                    queue,
                    "-n",
                    f"bench{n}-{queue}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--loglevel=WARNING",
                ],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()
    return procs


def wait_ready(app: Any, count: int) -> None:
    """Until ``count`` workers answer a ping on this app's broker."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        if len(replies) >= count:
            return
    raise RuntimeError(f"only some of {count} workers started within {START_TIMEOUT:.0f} s")


def stop_workers(procs: list) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------------------------------
# The measurement
# --------------------------------------------------------------------------------------------------


def measure(count: int, fake: FakeProcess, place: Any, zcrm: dict, args: Any, logdir: str) -> dict:
    """One row: empty tables, start ``count`` workers, time ``sync_all`` to the last result."""
    from django.db import connection

    from django_zcrm import tasks
    from django_zcrm.models import CRMRecord, SyncState
    from tests.support.celery_app import make_app

    CRMRecord.objects.all().delete()
    SyncState.objects.all().delete()
    connection.close()
    env = {
        **os.environ,
        **place.to_env(),
        "ZCRM_WORKER_SETTINGS": json.dumps(zcrm),
        "PYTHONPATH": str(REPO_ROOT),
    }
    app = make_app(place, "zcrm-celery-bench")
    app.set_current()
    procs = start_workers(count, env, place.queue, logdir)
    try:
        wait_ready(app, count)
        fake.ask("reset")
        started = time.perf_counter()
        queued = tasks.sync_all.delay().get(timeout=SYNC_TIMEOUT)
        results = [app.AsyncResult(i).get(timeout=SYNC_TIMEOUT) for i in queued["task_ids"]]
        seconds = time.perf_counter() - started
    finally:
        stop_workers(procs)
    stats = fake.ask("stats")
    created = sum(r.get("created", 0) for r in results)
    rows = CRMRecord.objects.count()
    problems = [f"{r['module']}: {r['status']}" for r in results if r["status"] != "done"]
    expected = args.records * len(MODULES)
    if created != expected or rows != expected:
        problems.append(f"{rows:,} rows stored, {created:,} created; expected {expected:,}")
    problems += stats["errors"]
    return {
        "workers": count,
        "seconds": seconds,
        "records": rows,
        "requests": stats["requests"],
        "peak_in_flight": stats["peak"],
        "problems": problems,
    }


def print_table(rows: list[dict]) -> None:
    base = next((r["seconds"] for r in rows if r["workers"] == 1), None)
    lines = []
    for row in rows:
        speedup = base / row["seconds"] if base else None
        lines.append(
            [
                str(row["workers"]),
                f"{row['seconds']:.1f}",
                f"{row['records'] / row['seconds']:,.0f}",
                f"{speedup:.2f}x" if speedup else "-",
                f"{speedup / row['workers']:.0%}" if speedup else "-",
                str(row["requests"]),
                str(row["peak_in_flight"]),
                "; ".join(row["problems"]) or "ok",
            ]
        )
    print_columns(
        [
            "workers",
            "wall s",
            "records/s",
            "speed-up",
            "efficiency",
            "requests",
            "peak in flight",
            "check",
        ],
        lines,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 records a module, 0.05 s")
    parser.add_argument("--records", type=int, help=f"records per module [{DEFAULT_RECORDS}]")
    parser.add_argument(
        "--request-delay", type=float, help=f"simulated seconds per request [{DEFAULT_DELAY}]"
    )
    parser.add_argument(
        "--workers", type=int, nargs="+", default=list(DEFAULT_WORKERS), help="[1 2 4]"
    )
    parser.add_argument("--backend", choices=("sqlite", "mysql"), default="sqlite")
    parser.add_argument("--redis", default=os.environ.get("ZCRM_TEST_REDIS_URL"))
    parser.add_argument("--json", help="also write the rows as JSON to this file")
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.records is None:
        args.records = QUICK_RECORDS if args.quick else DEFAULT_RECORDS
    if args.request_delay is None:
        args.request_delay = QUICK_DELAY if args.quick else DEFAULT_DELAY
    args.redis = args.redis or "redis://127.0.0.1:6379/0"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when every run synced every record."""
    args = parse_args(argv)
    if args.serve_fake:
        return serve_fake(args.records, args.request_delay)
    from tests.support.redis_gate import redis_problem

    problem = redis_problem(args.redis)
    if problem:
        print(f"error: the Celery benchmark needs Redis: {problem}", file=sys.stderr)
        return 1
    print(
        f"Full sync of {len(MODULES)} modules x {args.records:,} records ({', '.join(MODULES)}) "
        f"with django_zcrm.sync_all on 1 to {max(args.workers)} Celery worker processes; "
        f"fake Zoho in its own process, {args.request_delay} s per request; {args.backend}; "
        f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}",
        flush=True,
    )
    workdir = tempfile.mkdtemp(prefix="zcrm-celery-bench-")
    fake = FakeProcess(args.records, args.request_delay)
    from tests.support.celery_app import BrokerPlace

    place = BrokerPlace.new(args.redis)
    rows: list[dict] = []
    try:
        print(f"Seeded in {fake.seed_seconds:.1f} s.", flush=True)
        setup_django(args.backend, workdir)
        from django.conf import settings

        from django_zcrm.oauth import get_oauth_client
        from tests.conftest import zcrm_settings_for

        zcrm = zcrm_settings_for(fake, SYNC_MODELS={m: "django_zcrm.CRMRecord" for m in MODULES})
        settings.ZCRM = zcrm
        get_oauth_client().generate_access_token(fake.ask("grant"))
        for count in args.workers:
            row = measure(count, fake, place, zcrm, args, workdir)
            print(f"{count} worker(s): {row['seconds']:.1f} s", flush=True)
            rows.append(row)
    finally:
        fake.stop()
        place.forget()
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print_table(rows)
    print()
    print(
        "Each sync task has at most one request in flight (pages are read in order), so N "
        "worker processes have at most N: keep the pool processes consuming Zoho tasks, over "
        "all hosts, within your edition's concurrent-call limit (README, Celery section)."
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    return 1 if any(row["problems"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
