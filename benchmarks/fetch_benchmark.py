"""Fetch benchmark: a full sync of Leads at simulated network latency, by read strategy.

    python benchmarks/fetch_benchmark.py --quick     # 2,000 Leads at 0 and 100 ms (~1 min)
    python benchmarks/fetch_benchmark.py             # 20,000 Leads at 0, 100 ms (~5-8 min)
    python benchmarks/fetch_benchmark.py --sizes 20000,100000 --latencies 0,50,100,300   # full

The fake Zoho server runs in this process (its latency is a sleep per call, outside its lock, so
concurrent calls overlap; ``--connect-ms`` adds a TLS-like cost per new connection); each sync
runs in a fresh child process against a fresh SQLite file, into the typed ``testapp.Lead`` model.
Rows: ``sequential`` (pages of 200, no prefetch: the engine before issue 11), ``rest`` (pages,
prefetch on), ``coql`` (COQL windows), ``bulk`` (one Bulk Read job; the fake completes it after
1 s), ``planner`` (the planner's choice on a module whose size it knows from a previous run),
``*-nowrite`` (a dry run: read and map, no database writes) and ``*-fetchonly`` (the strategy's
reader alone, records counted and dropped: the network side without mapping or database).
``bound`` is the bare sequential lower bound of paging: calls x latency; ``x bound`` is
bound / wall. Peak memory is the child's peak RSS (the fake runs in this process, not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

RESULT = "RESULT "


def peak_rss_mib() -> float:
    """This process's peak RSS since :func:`reset_peak_rss` (VmHWM), else getrusage's.

    getrusage's figure is not enough on its own: Linux keeps the high-water mark across
    fork + exec, so a child would report the peak of this benchmark's process, which holds the
    fake server's records.
    """
    from benchmarks.sync_benchmark import _maxrss_mib, _proc_status_kib

    hwm = _proc_status_kib("VmHWM")
    return hwm / 1024 if hwm is not None else _maxrss_mib()


STRATEGIES = (
    "sequential",
    "rest",
    "coql",
    "bulk",
    "planner",
    "sequential-fetchonly",
    "rest-fetchonly",
    "coql-fetchonly",
    "bulk-fetchonly",
)
#: Fake-clock seconds the fake takes to complete a Bulk Read job in the benchmark.
BULK_DELAY = 1.0


def child(fake_url: str, db: str, strategy: str, known: int) -> int:
    """Migrate, get tokens, run one full sync with ``strategy``; print figures as JSON."""
    import django
    from django.conf import settings

    from django_zcrm.testing import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, FAKE_USER_EMAIL

    settings.configure(
        SECRET_KEY="fetch-benchmark-not-secret",
        DEBUG=False,
        USE_TZ=True,
        TIME_ZONE="UTC",
        INSTALLED_APPS=["django.contrib.contenttypes", "django_zcrm", "tests.testapp"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db}},
        LOGGING_CONFIG=None,
        ZCRM={
            "CLIENT_ID": FAKE_CLIENT_ID,
            "CLIENT_SECRET": FAKE_CLIENT_SECRET,
            "ACCOUNTS_URL": fake_url,
            "API_BASE_URL": fake_url,
            "CURRENT_USER_EMAIL": FAKE_USER_EMAIL,
            "SYNC_MODELS": {"Leads": "testapp.Lead"},
            "SYNC_PREFETCH": not strategy.startswith("sequential"),
        },
    )
    django.setup()
    import requests
    from django.core.management import call_command

    from benchmarks.sync_benchmark import _reset_peak_rss
    from django_zcrm.models import SyncState
    from django_zcrm.oauth import get_oauth_client
    from django_zcrm.sync import sync_module

    call_command("migrate", verbosity=0, interactive=False)
    _reset_peak_rss()
    grant = requests.get(f"{fake_url}/_fake/self-client/grant", timeout=30).json()["code"]
    get_oauth_client().generate_access_token(grant)
    if strategy == "planner":
        # What a previous run would have left: the module's size.
        SyncState.objects.create(module="Leads", target="testapp.lead", module_size=known)
    base, _, variant = strategy.partition("-")
    chosen = {"sequential": "rest", "planner": "auto"}.get(base, base)
    if variant == "fetchonly":
        return fetch_only(base)
    started = time.perf_counter()
    # "-nowrite": a dry run (reads and maps, writes nothing): the network side alone.
    result = sync_module("Leads", full=True, strategy=chosen, dry_run=variant == "nowrite")
    elapsed = time.perf_counter() - started
    out = {
        "seconds": elapsed,
        "calls": result.api_calls,
        "created": result.created if not variant else result.created + result.updated,
        "strategy": result.strategy,
        "peak_rss_mib": peak_rss_mib(),
    }
    print(RESULT + json.dumps(out), flush=True)
    return 0


def fetch_only(strategy: str) -> int:
    """Read the whole module the way ``strategy`` does, keeping nothing: the network side alone."""
    from django_zcrm.client import get_client
    from django_zcrm.conf import get_settings
    from django_zcrm.services import BulkRead, Module
    from django_zcrm.services.limits import coql_limits
    from django_zcrm.sync.fetch_bulk import BulkReadChunks
    from django_zcrm.sync.fetch_coql import CoqlWindows
    from django_zcrm.sync.mapping import get_mapping
    from django_zcrm.sync.metering import MeteredClient
    from django_zcrm.sync.prefetch import prefetch
    from tests.testapp.models import Lead

    metered = MeteredClient(get_client())
    service = Module("Leads", client=metered)  # type: ignore[arg-type]
    fields = get_mapping(Lead).zoho_fields
    started = time.perf_counter()
    count = 0
    if strategy in ("sequential", "rest"):
        pages = service.iter_pages(fields, sort_by="Modified_Time", sort_order="asc")
        for page in pages if strategy == "sequential" else prefetch(pages, depth=1):
            count += len(page.records)
    elif strategy == "coql":
        conf = get_settings()
        windows = CoqlWindows(
            service,
            fields,
            coql_limits(metered.api_version),
            concurrency=min(conf.max_concurrent_heavy_requests or 5, 10),
        )
        for window in prefetch(windows, depth=1):
            count += len(window.records)
    else:
        types = {f["api_name"]: str(f.get("data_type")) for f in service.fields()}
        bulk = BulkRead("Leads", client=metered)  # type: ignore[arg-type]
        chunks = BulkReadChunks(
            bulk, fields, types, wait=lambda s, job: s.wait(job, first_delay=0.5)
        )
        for chunk in prefetch(chunks, depth=1):
            count += len(chunk.records)
    out = {
        "seconds": time.perf_counter() - started,
        "calls": metered.calls,
        "created": count,
        "strategy": strategy,
        "peak_rss_mib": peak_rss_mib(),
    }
    print(RESULT + json.dumps(out), flush=True)
    return 0


def run(fake, size: int, latency_ms: int, connect_ms: int, strategy: str) -> dict:
    fake.set_network(request_delay=latency_ms / 1000, connect_delay=connect_ms / 1000)
    fake.reset_counters()
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "bench.sqlite3")
        proc = subprocess.run(
            [sys.executable, __file__, "--child", fake.url, db, strategy, str(size)],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            timeout=3600,
        )
    line = next((x for x in proc.stdout.splitlines() if x.startswith(RESULT)), None)
    if line is None:
        raise SystemExit(f"child failed: {proc.stderr[-3000:]}")
    out = json.loads(line[len(RESULT) :])
    out["peak_in_flight"] = fake.peak_concurrency()
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the matrix and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", default="")
    parser.add_argument("--latencies", default="")
    parser.add_argument("--connect-ms", type=int, default=150)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--child", nargs=4, metavar=("URL", "DB", "STRATEGY", "SIZE"))
    args = parser.parse_args(argv)
    if args.child:
        url, db, strategy, size = args.child
        return child(url, db, strategy, int(size))
    sizes = [int(s) for s in (args.sizes or ("2000" if args.quick else "20000")).split(",")]
    latencies = [int(x) for x in (args.latencies or "0,100").split(",")]
    strategies = [s for s in args.strategies.split(",") if s]

    from django_zcrm.testing import FakeZoho

    fake = FakeZoho().start()
    fake.crm.options.bulk_read_delay = BULK_DELAY
    print(
        "| Leads | latency | strategy | wall s | x bound | calls | peak in flight | peak RSS MiB |"
        "\n| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
        flush=True,
    )
    try:
        for size in sizes:
            have = len(fake.crm.records("Leads"))
            if have < size:
                fake.crm.seed("Leads", size - have)
            for latency in latencies:
                pages = -(-size // 200) + 1
                bound = pages * latency / 1000
                print(
                    f"| {size:,} | {latency} ms | bound (paging: {pages} calls x latency) | "
                    f"{bound:.2f} | 1.0 | {pages} | 1 | |",
                    flush=True,
                )
                for strategy in strategies:
                    out = run(fake, size, latency, args.connect_ms, strategy)
                    assert out["created"] == size, out
                    ratio = f"{bound / out['seconds']:.1f}" if bound else "-"
                    print(
                        f"| {size:,} | {latency} ms | {strategy} ({out['strategy']}) | "
                        f"{out['seconds']:.2f} | {ratio} | {out['calls']} | "
                        f"{out['peak_in_flight']} | {out['peak_rss_mib']:.0f} |",
                        flush=True,
                    )
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
