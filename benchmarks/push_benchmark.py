"""Push benchmark: ``zcrm_push`` of N local changes against the fake server at a simulated latency.

    python benchmarks/push_benchmark.py                       # 1,000 changes, 100 ms per call, SQLite
    python benchmarks/push_benchmark.py --backend postgres --latency 0.3

The fake Zoho server runs in this process (its own threads) with ``request_delay`` per call; the
sample project's typed ``crm.Lead`` holds N synced rows, each then changed locally, and
``push_model`` sends them: once with one call in flight (``concurrency=1``, the old behaviour)
and once with the default (``MAX_CONCURRENT_REQUESTS`` calls in flight, outcomes committed per
batch). Every row's outcome is checked after each run.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks._table import print_columns  # noqa: E402
from benchmarks.sync_benchmark import configure_django, recreate  # noqa: E402

UPSERT = "POST /crm/{version}/{module}/upsert"


def run(args: argparse.Namespace) -> int:
    """Seed, sync, change every row, push twice; print the table; 0 when every outcome is right."""
    from django_zcrm.testing import FakeZoho

    workdir = tempfile.mkdtemp(prefix="zcrm-push-bench-")
    db_name = (
        os.path.join(workdir, "push.sqlite3")
        if args.backend == "sqlite"
        else recreate(args.backend, args)
    )
    with FakeZoho() as fake:
        configure_django(args.backend, db_name, fake.url, "typed")
        from django.apps import apps
        from django.core.management import call_command

        from django_zcrm.oauth import get_oauth_client
        from django_zcrm.sync import push_model, sync_module

        call_command("migrate", verbosity=0, interactive=False)
        get_oauth_client().generate_access_token(fake.accounts.issue_grant_token())
        lead = apps.get_model("crm", "Lead")
        fake.crm.seed("Leads", args.changes)
        sync_module("Leads")
        lines = []
        failed = False
        for label, concurrency in (("one call in flight", 1), ("concurrent (default)", None)):
            for n, row in enumerate(lead.objects.all()):
                row.city = f"{label} {n}"
                row.save()
            fake.reset_counters()
            fake.set_network(request_delay=args.latency)
            profiler = cProfile.Profile() if args.profile and concurrency is None else None
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            result = push_model(lead, concurrency=concurrency)
            seconds = time.perf_counter() - started
            if profiler is not None:
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
            fake.set_network()
            clean = not lead.objects.filter(zoho_dirty=True).exists()
            ok = result.ok and result.updated == args.changes and clean
            failed |= not ok
            lines.append(
                (
                    args.backend,
                    label,
                    f"{args.changes:,}",
                    f"{args.latency * 1000:.0f}",
                    f"{seconds:.2f}",
                    str(fake.count(endpoint=UPSERT)),
                    str(fake.peak_concurrency(UPSERT)),
                    f"{result.updated:,} updated, {result.failed} failed"
                    + ("" if ok else " WRONG"),
                )
            )
    if args.backend != "sqlite":
        from django.db import connections

        connections.close_all()  # PostgreSQL refuses to drop a database still in use
        recreate(args.backend, args, create=False)
    print_columns(
        (
            "backend",
            "push",
            "changes",
            "ms/call",
            "seconds",
            "upsert calls",
            "peak in flight",
            "outcomes recorded",
        ),
        lines,
    )
    return 1 if failed else 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=1000, help="local changes to push (1000)")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per call (0.1)")
    parser.add_argument("--backend", choices=("sqlite", "mysql", "postgres"), default="sqlite")
    parser.add_argument("--profile", action="store_true", help="profile the concurrent push")
    parser.add_argument("--mysql-db", default="zcrm_push_bench", help=argparse.SUPPRESS)
    parser.add_argument("--pg-db", default="zcrm_push_bench", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(run(parse_args(None)))
