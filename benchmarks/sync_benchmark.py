"""Sync benchmark: records/second and peak memory of a first full ``sync_module("Leads")``.

    python benchmarks/sync_benchmark.py                  # 20,000 and 100,000 Leads, SQLite, MariaDB, PostgreSQL
    python benchmarks/sync_benchmark.py --quick          # 500 and 2,500 Leads, SQLite only (~12 s)

For every (backend, size) the benchmark starts the bundled fake Zoho server in its own process
(``python -m django_zcrm.testing --port 0 --seed Leads=N``), so the records it holds are not counted
as the sync's memory, and then runs the sync in a fresh Python process against a fresh database
(a temp SQLite file, or a throwaway MariaDB/MySQL or PostgreSQL database): migrate, tokens from a grant code
exchanged through the fake accounts server, then the timed sync into ``CRMRecord``. Each row is
run twice: once plain (wall time, records/second, API calls, peak RSS) and once under tracemalloc
(peak of the Python allocations made during the sync; tracemalloc slows the sync down 3.5-4.5x, so
it is kept out of the timed run). The "memory flat" verdict compares the traced peak at the
largest size with the smallest: at most ``--flat-limit`` (1.5x) passes. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import queue
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    # Run as a script from anywhere: the package lives next to benchmarks/.
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks._table import print_columns  # noqa: E402

MODULE = "Leads"
PER_PAGE = 200
BACKENDS = ("sqlite", "mysql", "postgres")
#: Where the records land: the generic mirror (CRMRecord) or the sample project's typed crm.Lead.
TARGETS = ("mirror", "typed")
# Backends that need a server: how to name it, and the option that makes its absence an error.
SERVER_BACKENDS = {"mysql": "MariaDB/MySQL", "postgres": "PostgreSQL"}
DEFAULT_SIZES = (20_000, 100_000)
QUICK_SIZES = (500, 2_500)
DEFAULT_MYSQL_DB = "zcrm_sync_bench"
DEFAULT_PG_DB = "zcrm_sync_bench"
FAKE_START_TIMEOUT = 300.0
CHILD_TIMEOUT = 3600.0
RESULT_PREFIX = "RESULT "
TIMED, TRACED, PROFILE = "timed", "traced", "profile"
MIB = 1024 * 1024


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One (backend, target, size): the timed run's figures plus the traced run's peak."""

    backend: str
    records: int
    target: str = "mirror"
    seconds: float | None = None
    cpu_seconds: float | None = None
    records_per_second: float | None = None
    api_calls: int | None = None
    expected_calls: int = 0
    rows_in_db: int | None = None
    start_rss_mib: float | None = None
    peak_rss_mib: float | None = None
    rss_scope: str = ""
    traced_peak_mib: float | None = None
    traced_retained_mib: float | None = None
    traced_seconds: float | None = None
    fake_seed_seconds: float | None = None
    summary: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass
class Verdict:
    """Memory at the largest size against the smallest, for one backend."""

    backend: str
    metric: str
    small: int
    large: int
    small_mib: float | None
    large_mib: float | None
    ratio: float | None
    limit: float
    verdict: str


# --------------------------------------------------------------------------------------------------
# The child: one sync in a fresh process
# --------------------------------------------------------------------------------------------------


def mysql_params() -> dict[str, Any]:
    """Connection parameters from ZCRM_MYSQL_HOST/PORT/USER/PASSWORD (as tests/settings.py reads them)."""
    return {
        "host": os.environ.get("ZCRM_MYSQL_HOST", "127.0.0.1"),
        "port": int(os.environ.get("ZCRM_MYSQL_PORT", "3306")),
        "user": os.environ.get("ZCRM_MYSQL_USER", "root"),
        "password": os.environ.get("ZCRM_MYSQL_PASSWORD", ""),
    }


def pg_params() -> dict[str, Any]:
    """Connection parameters from ZCRM_PG_HOST/PORT/USER/PASSWORD (as tests/settings.py reads them)."""
    return {
        "host": os.environ.get("ZCRM_PG_HOST", "127.0.0.1"),
        "port": int(os.environ.get("ZCRM_PG_PORT", "5432")),
        "user": os.environ.get("ZCRM_PG_USER", "postgres"),
        "password": os.environ.get("ZCRM_PG_PASSWORD", ""),
    }


def database_settings(backend: str, name: str) -> dict[str, Any]:
    """Django's DATABASES["default"] for ``backend`` (``name``: SQLite file or server database)."""
    if backend == "sqlite":
        # Django's defaults, as a project would have them.
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name}
    if backend == "postgres":
        params = pg_params()
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": params["user"],
            "PASSWORD": params["password"],
            "HOST": params["host"],
            "PORT": str(params["port"]),
        }
    params = mysql_params()
    return {
        "ENGINE": "django.db.backends.mysql",
        "NAME": name,
        "USER": params["user"],
        "PASSWORD": params["password"],
        "HOST": params["host"],
        "PORT": str(params["port"]),
        "OPTIONS": {"charset": "utf8mb4"},
    }


def configure_django(backend: str, db_name: str, fake_url: str, target: str = "mirror") -> None:
    """Settings for the sync process: ZCRM pointing at the fake, tokens in the database."""
    import django
    from django.conf import settings

    from django_zcrm.testing import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, FAKE_USER_EMAIL

    settings.configure(
        SECRET_KEY="sync-benchmark-not-secret",
        DEBUG=False,
        USE_TZ=True,
        TIME_ZONE="UTC",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django_zcrm",
            *(["sample_project.crm"] if target == "typed" else []),
        ],
        DATABASES={"default": database_settings(backend, db_name)},
        LOGGING_CONFIG=None,
        ZCRM={
            "CLIENT_ID": FAKE_CLIENT_ID,
            "CLIENT_SECRET": FAKE_CLIENT_SECRET,
            "ACCOUNTS_URL": fake_url,
            "API_BASE_URL": fake_url,
            "CURRENT_USER_EMAIL": FAKE_USER_EMAIL,
            # "typed": the sample project's Lead model (46 typed columns) instead of the mirror.
            "SYNC_MODELS": {MODULE: "crm.Lead"} if target == "typed" else {},
        },
    )
    django.setup()


def _proc_status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process; False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        return _proc_status_kib("VmHWM") is not None
    except OSError:
        return False


def _maxrss_mib() -> float:
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / MIB if sys.platform == "darwin" else value / 1024


def child_main(args: argparse.Namespace) -> int:
    """Migrate a fresh database, get tokens, run one full sync and print its figures as JSON."""
    configure_django(args.backend, args.db_name, args.fake_url, args.target)
    import requests
    from django.core.management import call_command

    from django_zcrm.models import CRMRecord
    from django_zcrm.oauth import get_oauth_client
    from django_zcrm.sync import sync_module

    call_command("migrate", verbosity=0, interactive=False)
    # As an admin would: a grant code from the (fake) API console, exchanged for tokens.
    grant = requests.get(f"{args.fake_url}/_fake/self-client/grant", timeout=30).json()["code"]
    get_oauth_client().generate_access_token(grant)

    gc.collect()
    start_rss = _proc_status_kib("VmRSS")
    hwm_reset = _reset_peak_rss()
    profiler = None
    if args.child == TRACED:
        import tracemalloc

        tracemalloc.start()
    elif args.child == PROFILE:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    cpu_started = time.process_time()
    result = sync_module(MODULE, full=True)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    out: dict[str, Any] = {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "api_calls": result.api_calls,
        "created": result.created,
        "failed": result.failed,
        "summary": result.summary(),
    }
    if profiler is not None:
        import io
        import pstats

        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(args.profile_top)
        out["profile"] = text.getvalue()
    if args.child == TRACED:
        import tracemalloc

        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out["traced_peak_mib"] = peak / MIB
        out["traced_retained_mib"] = current / MIB
    if hwm_reset:
        out["peak_rss_mib"] = (_proc_status_kib("VmHWM") or 0) / 1024
        out["rss_scope"] = "sync"
    else:
        out["peak_rss_mib"] = _maxrss_mib()
        out["rss_scope"] = "process"
    out["start_rss_mib"] = start_rss / 1024 if start_rss is not None else None
    if args.target == "typed":
        from django.apps import apps

        lead = apps.get_model("crm", "Lead")
        out["rows_in_db"] = lead._base_manager.filter(zoho_deleted=False).count()
    else:
        out["rows_in_db"] = CRMRecord.objects.filter(module=MODULE, deleted=False).count()
    print(RESULT_PREFIX + json.dumps(out), flush=True)
    return 0


# --------------------------------------------------------------------------------------------------
# The parent: fake servers, databases, child processes
# --------------------------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment for the fake server and the sync processes: loopback never proxied."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    for name in ("NO_PROXY", "no_proxy"):
        env[name] = ",".join(filter(None, [env.get(name, ""), "127.0.0.1", "localhost"]))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    return env


class FakeServer:
    """``python -m django_zcrm.testing --port 0 --seed Leads=N`` in its own process."""

    def __init__(self, records: int) -> None:
        self.records = records
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self.url = ""
        self.seed_seconds: float | None = None
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "django_zcrm.testing",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--seed",
                f"{MODULE}={records}",
            ],
            cwd=REPO_ROOT,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_ready(self, timeout: float = FAKE_START_TIMEOUT) -> str:
        """Block until the banner says where it listens (seeding is done by then); return the URL."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(
                    f"the fake server did not start within {timeout:.0f} s: {self.output[-5:]!r}"
                ) from None
            if line is None:
                raise RuntimeError(
                    f"the fake server exited ({self.proc.wait()}): {self.output[-10:]!r}"
                )
            self.output.append(line)
            if line.startswith(f"Seeded {self.records:,} {MODULE} in "):
                self.seed_seconds = float(line.rsplit(" ", 2)[1])
            if line.startswith("Fake Zoho listening on "):
                self.url = line.rsplit(" ", 1)[1]
                return self.url

    def stop(self) -> str | None:
        """SIGTERM and wait; a problem (handler errors in the fake, a hang) is returned as text."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return "the fake server did not stop on SIGTERM"
        if self.proc.returncode != 0:
            time.sleep(0.1)  # let the reader thread collect the traceback
            while not self.lines.empty():
                line = self.lines.get_nowait()
                if line is not None:
                    self.output.append(line)
            return (
                f"the fake server exited with status {self.proc.returncode} "
                f"(handler errors?): {' | '.join(self.output[-6:])}"
            )
        return None


def mysql_unavailable() -> str | None:
    """Why MariaDB/MySQL cannot be used (None when it can)."""
    try:
        import MySQLdb
    except ImportError as exc:
        return f"mysqlclient is not installed ({exc}); pip install -e '.[mysql]'"
    params = mysql_params()
    try:
        MySQLdb.connect(connect_timeout=5, **params).close()
    except MySQLdb.Error as exc:
        return f"cannot connect to {params['user']}@{params['host']}:{params['port']}: {exc}"
    return None


def mysql_recreate(name: str, *, create: bool = True) -> None:
    """Drop the throwaway database ``name`` and (unless ``create`` is false) create it empty."""
    import MySQLdb

    if not name.replace("_", "").isalnum():
        raise ValueError(f"--mysql-db {name!r}: use letters, digits and underscores only")
    conn = MySQLdb.connect(connect_timeout=5, **mysql_params())
    try:
        cursor = conn.cursor()
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        if create:
            cursor.execute(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
    finally:
        conn.close()


def pg_unavailable() -> str | None:
    """Why PostgreSQL cannot be used (None when it can)."""
    try:
        import psycopg
    except ImportError as exc:
        return f"psycopg is not installed ({exc}); pip install -e '.[postgres]'"
    params = pg_params()
    try:
        psycopg.connect(dbname="postgres", connect_timeout=5, **params).close()
    except psycopg.Error as exc:
        # libpq's messages span lines; the report keeps one line per skipped backend.
        detail = " ".join(str(exc).split())
        return f"cannot connect to {params['user']}@{params['host']}:{params['port']}: {detail}"
    return None


def pg_recreate(name: str, *, create: bool = True) -> None:
    """Drop the throwaway PostgreSQL database ``name`` and (unless ``create`` is false) create it."""
    import psycopg

    if not name.replace("_", "").isalnum():
        raise ValueError(f"--pg-db {name!r}: use letters, digits and underscores only")
    # CREATE/DROP DATABASE cannot run inside a transaction block.
    with psycopg.connect(
        dbname="postgres", connect_timeout=5, autocommit=True, **pg_params()
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if create:
            conn.execute(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")


def server_unavailable(backend: str) -> str | None:
    """Why ``backend``'s server cannot be used (None when it can)."""
    return mysql_unavailable() if backend == "mysql" else pg_unavailable()


def recreate(backend: str, args: argparse.Namespace, *, create: bool = True) -> str:
    """Drop and (unless ``create`` is false) recreate ``backend``'s throwaway database; its name."""
    if backend == "mysql":
        mysql_recreate(args.mysql_db, create=create)
        return args.mysql_db
    pg_recreate(args.pg_db, create=create)
    return args.pg_db


def run_child(
    mode: str,
    backend: str,
    records: int,
    fake_url: str,
    workdir: str,
    args: argparse.Namespace,
    target: str = "mirror",
) -> dict[str, Any]:
    """One sync in a fresh process against a fresh database; its JSON result (raises on failure)."""
    if backend == "sqlite":
        db_name = os.path.join(workdir, f"sync-{records}-{mode}.sqlite3")
        if os.path.exists(db_name):
            os.remove(db_name)
    else:
        db_name = recreate(backend, args)
    try:
        done = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                mode,
                "--backend",
                backend,
                "--db-name",
                db_name,
                "--fake-url",
                fake_url,
                "--profile-top",
                str(args.profile_top),
                "--target",
                target,
            ],
            cwd=workdir,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
        )
    finally:
        if backend == "sqlite":
            for suffix in ("", "-journal", "-wal", "-shm"):
                if os.path.exists(db_name + suffix):
                    os.remove(db_name + suffix)
        else:
            recreate(backend, args, create=False)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    tail = (done.stderr or done.stdout).strip().splitlines()[-8:]
    raise RuntimeError(
        f"the {mode} sync process exited with status {done.returncode}: " + " | ".join(tail)
    )


def measure(
    backend: str,
    records: int,
    workdir: str,
    args: argparse.Namespace,
    profiles: list[str],
    target: str = "mirror",
) -> Row:
    """The timed run, then the traced run (and a profiled one), against one freshly seeded fake."""
    row = Row(backend, records, target, expected_calls=math.ceil(records / PER_PAGE) + 1)
    progress(f"{backend} {records:,}: seeding the fake server ...")
    fake = FakeServer(records)
    try:
        url = fake.wait_ready()
        row.fake_seed_seconds = fake.seed_seconds
        progress(f"{backend} {records:,}: timed sync ...")
        timed = run_child(TIMED, backend, records, url, workdir, args, target)
        row.seconds = timed["seconds"]
        row.cpu_seconds = timed.get("cpu_seconds")
        row.records_per_second = records / timed["seconds"] if timed["seconds"] else None
        row.api_calls = timed["api_calls"]
        row.rows_in_db = timed["rows_in_db"]
        row.start_rss_mib = timed["start_rss_mib"]
        row.peak_rss_mib = timed["peak_rss_mib"]
        row.rss_scope = timed["rss_scope"]
        row.summary = timed["summary"]
        if timed["created"] != records or timed["failed"]:
            row.problems.append(
                f"created {timed['created']:,} of {records:,}, {timed['failed']} failed"
            )
        if timed["rows_in_db"] != records:
            row.problems.append(
                f"{timed['rows_in_db']:,} rows in the database, expected {records:,}"
            )
        if timed["api_calls"] != row.expected_calls:
            row.problems.append(
                f"{timed['api_calls']} API calls where {row.expected_calls} suffice"
            )
        progress(
            f"{backend} {records:,}: {row.seconds:.1f} s, {row.records_per_second:,.0f} records/s"
        )
        if not args.no_trace:
            progress(f"{backend} {records:,}: sync under tracemalloc ...")
            traced = run_child(TRACED, backend, records, url, workdir, args, target)
            row.traced_peak_mib = traced["traced_peak_mib"]
            row.traced_retained_mib = traced["traced_retained_mib"]
            row.traced_seconds = traced["seconds"]
            if traced["rows_in_db"] != records:
                row.problems.append(
                    f"traced run: {traced['rows_in_db']:,} rows in the database, "
                    f"expected {records:,}"
                )
            progress(
                f"{backend} {records:,}: traced peak {row.traced_peak_mib:.1f} MiB "
                f"({row.traced_seconds:.1f} s under tracemalloc)"
            )
        if args.profile:
            progress(f"{backend} {records:,}: profiled sync ...")
            profiled = run_child(PROFILE, backend, records, url, workdir, args, target)
            profiles.append(
                f"\nProfile of the {backend} sync of {records:,} {MODULE} into the {target} model "
                f"({profiled['seconds']:.1f} s under cProfile; top {args.profile_top} "
                f"by own time):\n{profiled['profile']}"
            )
    except (RuntimeError, subprocess.TimeoutExpired, ValueError, OSError) as exc:
        row.problems.append(str(exc))
    finally:
        problem = fake.stop()
        if problem:
            row.problems.append(problem)
    return row


def _memory(row: Row, no_trace: bool) -> float | None:
    """What the verdict compares: the traced peak, or (``--no-trace``) peak RSS minus RSS at the start."""
    if not no_trace:
        return row.traced_peak_mib
    if row.peak_rss_mib is None or row.start_rss_mib is None:
        return None
    return max(0.0, row.peak_rss_mib - row.start_rss_mib)


def verdicts(rows: list[Row], backends: list[str], args: argparse.Namespace) -> list[Verdict]:
    """Per backend: memory at the largest size over the smallest, against ``--flat-limit``."""
    metric = "RSS growth" if args.no_trace else "traced peak"
    found = []
    for backend in backends:
        for target in args.targets:
            mine = sorted(
                (r for r in rows if r.backend == backend and r.target == target),
                key=lambda r: r.records,
            )
            if len(mine) < 2:
                continue
            small, large = mine[0], mine[-1]
            a, b = _memory(small, args.no_trace), _memory(large, args.no_trace)
            ratio = b / a if a and b is not None else None
            verdict = "PASS" if ratio is not None and ratio <= args.flat_limit else "FAIL"
            found.append(
                Verdict(
                    backend if len(args.targets) == 1 else f"{backend} {target}",
                    metric,
                    small.records,
                    large.records,
                    a,
                    b,
                    ratio,
                    args.flat_limit,
                    verdict,
                )
            )
    return found


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[Row], skipped: dict[str, str]) -> None:
    """The results table, then any problems and skipped backends."""
    headers = (
        "backend",
        "records",
        "seconds",
        "records/s",
        "API calls",
        "target",
        "sync CPU s",
        "rows in DB",
        "start RSS MiB",
        "peak RSS MiB",
        "traced peak MiB",
    )
    lines = []
    for row in rows:
        lines.append(
            (
                row.backend,
                f"{row.records:,}",
                _fmt(row.seconds, ".1f"),
                _fmt(row.records_per_second, ",.0f"),
                "-" if row.api_calls is None else str(row.api_calls),
                row.target,
                _fmt(row.cpu_seconds, ".1f"),
                "-"
                if row.rows_in_db is None
                else (
                    f"{row.rows_in_db:,} " + ("ok" if row.rows_in_db == row.records else "WRONG")
                ),
                _fmt(row.start_rss_mib, ".1f"),
                _fmt(row.peak_rss_mib, ".1f")
                + ("" if row.rss_scope != "process" else " (whole process)"),
                _fmt(row.traced_peak_mib, ".1f"),
            )
        )
    for backend, _reason in skipped.items():
        lines.append((backend, "SKIPPED", "-", "-", "-", "-", "-", "-", "-", "-", "-"))
    print_columns(headers, lines)
    for row in rows:
        for problem in row.problems:
            print(f"! {row.backend} {row.target} {row.records:,}: {problem}")
    for backend, reason in skipped.items():
        print(
            f"SKIPPED {backend}: its rows were not run, {reason} "
            f"(--require-{backend} makes this an error)"
        )


def print_verdicts(found: list[Verdict], backends: list[str]) -> None:
    """One "memory flat" line per backend (and target) that ran."""
    for backend in backends:
        mine = [v for v in found if v.backend == backend or v.backend.startswith(backend + " ")]
        if not mine:
            print(f"memory flat, {backend}: not judged (it needs at least two --sizes)")
        for v in mine:
            print(
                f"memory flat, {v.backend}: {v.metric} {_fmt(v.small_mib, '.1f')} MiB at "
                f"{v.small:,} -> {_fmt(v.large_mib, '.1f')} MiB at {v.large:,} records "
                f"({_fmt(v.ratio, '.2f')}x, limit {v.limit:.2f}x): {v.verdict}"
            )


def progress(text: str) -> None:
    """Progress goes to stderr; stdout carries the report."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.strip().replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of numbers"
        ) from None
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError("sizes must be whole numbers of at least 1")
    return sorted(set(sizes))


def _targets(text: str) -> list[str]:
    found = [part.strip() for part in text.split(",") if part.strip()]
    if not found or any(part not in TARGETS for part in found):
        raise argparse.ArgumentTypeError(f"targets are {', '.join(TARGETS)} (got {text!r})")
    return found


def _backends(text: str) -> list[str]:
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    aliases = {"mariadb": "mysql", "postgresql": "postgres", "pg": "postgres"}
    names = [aliases.get(name, name) for name in names]
    unknown = sorted(set(names) - set(BACKENDS))
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"backends are {', '.join(BACKENDS)} (got {text!r})")
    return list(dict.fromkeys(names))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description="Time a first full sync of Leads from the bundled fake Zoho server into "
        "CRMRecord on SQLite, MariaDB/MySQL and PostgreSQL, and check that its memory stays flat "
        "as the number of records grows."
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=None,
        help="Leads per run, comma-separated (20000,100000; --quick: 500,2500)",
    )
    parser.add_argument(
        "--backends",
        type=_backends,
        default=None,
        help="sqlite,mysql,postgres (default all three; --quick: sqlite). MySQL settings come "
        "from ZCRM_MYSQL_HOST/PORT/USER/PASSWORD (127.0.0.1:3306, root, no password), "
        "PostgreSQL's from ZCRM_PG_HOST/PORT/USER/PASSWORD (127.0.0.1:5432, postgres, "
        "no password)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small run for a smoke test: 500 and 2,500 Leads, SQLite only",
    )
    parser.add_argument(
        "--require-mysql",
        action="store_true",
        help="exit 1 when MariaDB/MySQL cannot be reached (default: skip its rows)",
    )
    parser.add_argument(
        "--require-postgres",
        action="store_true",
        help="exit 1 when PostgreSQL cannot be reached (default: skip its rows)",
    )
    parser.add_argument(
        "--pg-db",
        default=DEFAULT_PG_DB,
        help=f"throwaway PostgreSQL database created and dropped for every run ({DEFAULT_PG_DB})",
    )
    parser.add_argument(
        "--mysql-db",
        default=DEFAULT_MYSQL_DB,
        help=f"throwaway database created and dropped for every run ({DEFAULT_MYSQL_DB})",
    )
    parser.add_argument(
        "--flat-limit",
        type=float,
        default=1.5,
        help="largest acceptable memory ratio, largest size over smallest (1.5)",
    )
    parser.add_argument(
        "--no-trace",
        action="store_true",
        help="skip the tracemalloc runs; the verdict then uses the RSS growth",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run each sync once under cProfile and print the top functions",
    )
    parser.add_argument(
        "--targets",
        type=_targets,
        default=None,
        help="mirror (CRMRecord), typed (the sample project's crm.Lead, 46 columns), or both "
        "(default: mirror,typed; --quick: mirror)",
    )
    parser.add_argument("--profile-top", type=int, default=25, help=argparse.SUPPRESS)
    parser.add_argument("--json", metavar="PATH", help="also write the rows and verdicts as JSON")
    # The sync process (started by the benchmark itself).
    parser.add_argument("--child", choices=(TIMED, TRACED, PROFILE), help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--db-name", help=argparse.SUPPRESS)
    parser.add_argument("--fake-url", help=argparse.SUPPRESS)
    parser.add_argument("--target", choices=TARGETS, default="mirror", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if args.targets is None:
        args.targets = ["mirror"] if args.quick else list(TARGETS)
    if args.backends is None:
        args.backends = ["sqlite"] if args.quick else list(BACKENDS)
    if args.flat_limit <= 0:
        parser.error("--flat-limit must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when every row did its work and memory stayed flat on every backend."""
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    skipped: dict[str, str] = {}
    for backend, server in SERVER_BACKENDS.items():
        if backend not in args.backends:
            continue
        reason = server_unavailable(backend)
        if reason:
            skipped[backend] = reason
            if getattr(args, f"require_{backend}"):
                print(
                    f"error: {server} is required (--require-{backend}) but {reason}",
                    file=sys.stderr,
                )
                return 1
    backends = [b for b in args.backends if b not in skipped]
    print(
        f"First full sync of {MODULE} into {' and '.join(args.targets)}; sizes {', '.join(f'{n:,}' for n in args.sizes)}; "
        f"backends {', '.join(args.backends)}; fake Zoho in its own process on 127.0.0.1; "
        f"API v2, {PER_PAGE} records per page; {os.cpu_count()} CPUs; "
        f"Python {sys.version.split()[0]}",
        flush=True,
    )
    workdir = tempfile.mkdtemp(prefix="zcrm-sync-bench-")
    rows: list[Row] = []
    profiles: list[str] = []
    started = time.perf_counter()
    try:
        for backend in backends:
            for target in args.targets:
                for size in args.sizes:
                    rows.append(measure(backend, size, workdir, args, profiles, target))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    found = verdicts(rows, backends, args)
    print(f"Took {time.perf_counter() - started:.0f} s.\n")
    print_table(rows, skipped)
    print()
    print_verdicts(found, backends)
    for text in profiles:
        print(text, end="")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "settings": {
                        k: v
                        for k, v in vars(args).items()
                        if k not in ("child", "backend", "db_name", "fake_url")
                    },
                    "rows": [asdict(r) for r in rows],
                    "verdicts": [asdict(v) for v in found],
                    "skipped": skipped,
                },
                indent=2,
            )
        )
    if any(row.problems for row in rows) or any(v.verdict == "FAIL" for v in found):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
