"""CRM client benchmark: django-zcrm's services against a bare ``requests.Session`` loop (and zcrmsdk).

    python benchmarks/crm_benchmark.py                 # 10,000 listed, 1,000 created, 5 rounds
    ZCRMSDK_PYTHON=/tmp/sdkvenv/bin/python python benchmarks/crm_benchmark.py   # + zcrmsdk 3.1.0

Everything runs against the bundled fake Zoho server on 127.0.0.1 with a simulated network (a delay
for every new TCP connection and for every request). Each round lists every Lead and creates new
ones through every implementation, in an order that rotates from round to round; the table shows
medians. Implementations start each run with no open connection (ours: ``close_clients()``; bare:
a new ``Session``), so each pays for its first connection once per run. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    # Run as a script from anywhere: the package lives next to benchmarks/.
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks._table import print_columns  # noqa: E402
from django_zcrm.testing import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, FAKE_USER_EMAIL, FakeZoho  # noqa: E402

MODULE = "Leads"
PER_PAGE = 200
PER_WRITE = 100
DEFAULT_FIELDS = (
    "First_Name",
    "Last_Name",
    "Email",
    "Company",
    "Phone",
    "Lead_Source",
    "Lead_Status",
    "Modified_Time",
)
RUNNER = Path(__file__).resolve().parent / "zcrmsdk_runner.py"
SDK_ENV = "ZCRMSDK_PYTHON"
SDK_REPLY_TIMEOUT = 600.0
HTTP_TIMEOUT = (5.0, 30.0)

OURS, BARE, SDK = "django-zcrm", "bare requests", "zcrmsdk 3.1.0"
LIST, CREATE = "list", "create"


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one implementation reports about one timed operation."""

    seconds: float
    records: int = 0
    unique: int = 0
    created_ids: list[str] = field(default_factory=list)
    failed: int = 0
    error: str | None = None


@dataclass
class Run:
    """One timed operation as the fake server saw it."""

    implementation: str
    operation: str
    round: int
    seconds: float
    requests: int
    connections: int
    records: int
    problem: str | None = None


@dataclass
class Row:
    """Medians over the rounds for one implementation and operation."""

    implementation: str
    operation: str
    median_seconds: float
    min_seconds: float
    max_seconds: float
    requests: int
    connections: int
    ratio: float | None = None
    verdict: str = ""
    problems: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# Django and the fake server
# --------------------------------------------------------------------------------------------------


def configure_django(fake: FakeZoho, token_dir: str) -> None:
    """Configure Django for the benchmark: ZCRM pointing at the fake, file token store in ``token_dir``."""
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="crm-benchmark-not-secret",
        USE_TZ=True,
        TIME_ZONE="UTC",
        INSTALLED_APPS=["django.contrib.contenttypes", "django_zcrm"],
        # Tokens live in the file store; the database is only there because the settings
        # validation wants ZCRM['TOKEN_DATABASE'] to name one. Nothing is written to it.
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.path.join(token_dir, "unused.sqlite3"),
            }
        },
        LOGGING_CONFIG=None,
        ZCRM={
            "CLIENT_ID": FAKE_CLIENT_ID,
            "CLIENT_SECRET": FAKE_CLIENT_SECRET,
            "ACCOUNTS_URL": fake.url,
            "API_BASE_URL": fake.url,
            "CURRENT_USER_EMAIL": FAKE_USER_EMAIL,
            "TOKEN_PERSISTENCE_PATH": token_dir,
        },
    )
    django.setup()


def lead_rows(count: int, tag: str) -> list[dict[str, Any]]:
    """``count`` new Leads with e-mails unique to ``tag`` (the fake enforces unique Email)."""
    sources = ("Web Download", "Cold Call", "Advertisement", "Trade Show")
    return [
        {
            "First_Name": f"Bench{i}",
            "Last_Name": f"Lead {tag} {i}",
            "Company": f"Benchmark Co {i % 97}",
            "Email": f"bench.{tag}.{i}@example.com",
            "Phone": f"+1 555 {i % 1000:03d} {i % 10000:04d}",
            "Lead_Source": sources[i % len(sources)],
        }
        for i in range(count)
    ]


# --------------------------------------------------------------------------------------------------
# Implementations
# --------------------------------------------------------------------------------------------------


class Implementation:
    """One way of doing the work; subclasses time only the CRM work itself."""

    name = ""

    def list_all(self, fields: Sequence[str]) -> Outcome:
        """List every Lead, 200 per request."""
        raise NotImplementedError

    def create(self, rows: list[dict[str, Any]]) -> Outcome:
        """Create ``rows`` as Leads, 100 per request."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the implementation holds."""


class Ours(Implementation):
    """django-zcrm's public services: ``Module("Leads").iter_records(...)`` and ``.create(...)``."""

    name = OURS

    def __init__(self) -> None:
        from django_zcrm.client import close_clients
        from django_zcrm.services import Module

        self._module_class = Module
        self._close_clients = close_clients

    def list_all(self, fields: Sequence[str]) -> Outcome:
        self._close_clients()  # start without a pooled connection, as the bare loop does
        started = time.perf_counter()
        records = list(self._module_class(MODULE).iter_records(fields=list(fields)))
        seconds = time.perf_counter() - started
        return Outcome(seconds, len(records), len({r.id for r in records}))

    def create(self, rows: list[dict[str, Any]]) -> Outcome:
        self._close_clients()
        started = time.perf_counter()
        result = self._module_class(MODULE).create(rows)
        seconds = time.perf_counter() - started
        ids = [r.id for r in result.succeeded if r.id]
        error = None if result.ok else result.summary()
        return Outcome(
            seconds, len(rows), created_ids=ids, failed=len(rows) - len(ids), error=error
        )

    def close(self) -> None:
        self._close_clients()


class Bare(Implementation):
    """The same HTTP work with a bare ``requests.Session``: the floor any client can reach."""

    name = BARE

    def __init__(self, base_url: str, access_token: Callable[[], str]) -> None:
        self.url = f"{base_url}/crm/v2/{MODULE}"
        self.access_token = access_token

    def _session(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Zoho-oauthtoken {self.access_token()}"
        return session

    def list_all(self, fields: Sequence[str]) -> Outcome:
        joined = ",".join(fields)
        started = time.perf_counter()
        records: list[dict[str, Any]] = []
        with self._session() as session:
            page, token = 1, None
            while True:
                params: dict[str, Any] = {"fields": joined, "per_page": PER_PAGE}
                if token:
                    params["page_token"] = token
                else:
                    params["page"] = page
                response = session.get(self.url, params=params, timeout=HTTP_TIMEOUT)
                if response.status_code in (204, 304):
                    break
                response.raise_for_status()
                body = response.json()
                records.extend(body["data"])
                info = body.get("info") or {}
                if not info.get("more_records") or not body["data"]:
                    break
                # Same rule as the services: a token when Zoho gives one (past 2,000 it must).
                token = info.get("next_page_token") or None
                page += 1
        seconds = time.perf_counter() - started
        return Outcome(seconds, len(records), len({r["id"] for r in records}))

    def create(self, rows: list[dict[str, Any]]) -> Outcome:
        started = time.perf_counter()
        ids: list[str] = []
        errors: list[str] = []
        with self._session() as session:
            for start in range(0, len(rows), PER_WRITE):
                response = session.post(
                    self.url, json={"data": rows[start : start + PER_WRITE]}, timeout=HTTP_TIMEOUT
                )
                items = response.json().get("data") or []
                for item in items:
                    if item.get("status") == "success":
                        ids.append(str(item["details"]["id"]))
                    else:
                        errors.append(f"{item.get('code')}: {item.get('message')}")
        seconds = time.perf_counter() - started
        return Outcome(
            seconds,
            len(rows),
            created_ids=ids,
            failed=len(rows) - len(ids),
            error="; ".join(errors[:3]) or None,
        )


class SDKRunner(Implementation):
    """zcrmsdk 3.1.0 driven in its own virtualenv by ``zcrmsdk_runner.py`` (JSON lines over pipes)."""

    name = SDK

    def __init__(self, python: str, fake: FakeZoho, workdir: str) -> None:
        env = dict(os.environ)
        env["ZCRM_BENCH_REFRESH_TOKEN"] = fake.accounts.issue_refresh_token()
        env["ZCRM_BENCH_CLIENT_SECRET"] = FAKE_CLIENT_SECRET
        env.pop("PYTHONPATH", None)  # the SDK's venv must not see this project's packages
        # A file, not a pipe: nobody reads stderr while the runner works, and a full pipe blocks.
        self.stderr_path = os.path.join(workdir, "runner-stderr.txt")
        with open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                [
                    python,
                    str(RUNNER),
                    "--url",
                    fake.url,
                    "--client-id",
                    FAKE_CLIENT_ID,
                    "--email",
                    FAKE_USER_EMAIL,
                    "--workdir",
                    workdir,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=env,
                cwd=workdir,
            )
        ready = self._read()
        if not ready.get("ready"):
            raise RuntimeError(f"zcrmsdk runner did not start: {ready.get('error')}")
        self.version = ready.get("sdk_version", "?")

    def _read(self) -> dict[str, Any]:
        stdout = self.process.stdout
        assert stdout is not None
        readable, _, _ = select.select([stdout], [], [], SDK_REPLY_TIMEOUT)
        line = stdout.readline() if readable else ""
        if not line:
            self.process.kill()
            self.process.wait(timeout=10)
            with open(self.stderr_path, errors="replace") as handle:
                tail = "\n".join(handle.read().strip().splitlines()[-15:])
            raise RuntimeError(
                f"zcrmsdk runner stopped answering (exit {self.process.returncode}):\n{tail}"
            )
        return json.loads(line)

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()
        answer = self._read()
        if not answer.get("ok"):
            raise RuntimeError(
                f"zcrmsdk runner failed on {command['op']}: {answer.get('error')}\n"
                f"{answer.get('traceback', '')}"
            )
        return answer

    def list_all(self, fields: Sequence[str]) -> Outcome:
        answer = self._ask({"op": "list", "fields": list(fields), "per_page": PER_PAGE})
        return Outcome(
            answer["seconds"], answer["records"], answer["unique"], error=answer["error"]
        )

    def create(self, rows: list[dict[str, Any]]) -> Outcome:
        answer = self._ask({"op": "create", "records": rows})
        errors = answer.get("errors") or []
        return Outcome(
            answer["seconds"],
            len(rows),
            created_ids=answer["ids"],
            failed=answer["failed"],
            error="; ".join(errors) or None,
        )

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self._ask({"op": "quit"})
                self.process.wait(timeout=10)
            except (RuntimeError, OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=10)


def check_sdk_python(python: str) -> str:
    """Return the zcrmsdk version ``python`` can import; raise RuntimeError saying what is wrong."""
    try:
        done = subprocess.run(
            [python, str(RUNNER), "--check"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"{SDK_ENV}={python} cannot be run: {exc}") from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(
            f"{SDK_ENV}={python} cannot import zcrmsdk: {last}. Create it with "
            "`python3 -m venv /tmp/sdkvenv && /tmp/sdkvenv/bin/pip install zcrmsdk==3.1.0`."
        )
    return done.stdout.strip()


# --------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------


class Bench:
    """Runs operations against one fake server and records what the server saw."""

    def __init__(self, fake: FakeZoho, args: argparse.Namespace) -> None:
        self.fake = fake
        self.args = args
        self.runs: list[Run] = []

    def measure(
        self, impl: Implementation, operation: str, round_no: int, tag: str, *, check: bool = True
    ) -> Run:
        """Time one operation, count its requests and new connections, check its result."""
        rows = lead_rows(self.args.create, tag) if operation == CREATE else []
        # The fake server shares this process: its 10,000+ records and request log would make
        # any full garbage collection during a run cost ~0.1 s, charged to whoever ran then.
        # Collect now and freeze the survivors so a run pays only for its own allocations.
        gc.collect()
        gc.freeze()
        before_requests, before_connections = self.fake.count(), self.fake.connections_opened
        if operation == LIST:
            outcome = impl.list_all(self.args.fields)
        else:
            outcome = impl.create(rows)
        requests_made = self.fake.count() - before_requests
        connections = self.fake.connections_opened - before_connections
        problem = self._check(operation, outcome) if check else None
        return Run(
            impl.name,
            operation,
            round_no,
            outcome.seconds,
            requests_made,
            connections,
            outcome.records,
            problem,
        )

    def _check(self, operation: str, outcome: Outcome) -> str | None:
        if outcome.error:
            return outcome.error
        if operation == LIST:
            if outcome.records != self.args.records or outcome.unique != self.args.records:
                return (
                    f"listed {outcome.records} records ({outcome.unique} distinct), "
                    f"expected {self.args.records}"
                )
        elif len(outcome.created_ids) != self.args.create:
            return f"created {len(outcome.created_ids)} of {self.args.create} ({outcome.failed} failed)"
        return None

    def rounds(self, implementations: list[Implementation], operation: str) -> None:
        """A discarded warm-up round, then ``--rounds`` timed ones, rotating who goes first."""
        for round_no in range(0, self.args.rounds + 1):
            shift = round_no % len(implementations)
            for impl in implementations[shift:] + implementations[:shift]:
                tag = f"r{round_no}-{impl.name.split()[0].replace('-', '')}"
                run = self.measure(impl, operation, round_no, tag)
                if run.problem and round_no == 0:
                    raise RuntimeError(
                        f"{impl.name} {operation} failed in the warm-up: {run.problem}"
                    )
                if round_no:
                    self.runs.append(run)


def expected_requests(args: argparse.Namespace) -> dict[str, int]:
    """The fewest requests the work needs: one per 200 listed (at least one), one per 100 created."""
    return {
        LIST: max(1, math.ceil(args.records / PER_PAGE)),
        CREATE: math.ceil(args.create / PER_WRITE),
    }


def summarise(runs: list[Run], names: list[str], args: argparse.Namespace) -> list[Row]:
    """Medians per implementation and operation, ratios against the bare loop, verdicts."""
    rows: list[Row] = []
    expected = expected_requests(args)
    for operation in (LIST, CREATE):
        bare_median = None
        for name in names:
            mine = [r for r in runs if r.implementation == name and r.operation == operation]
            if not mine:
                continue
            seconds = [r.seconds for r in mine]
            row = Row(
                name,
                operation,
                statistics.median(seconds),
                min(seconds),
                max(seconds),
                int(statistics.median(r.requests for r in mine)),
                int(statistics.median(r.connections for r in mine)),
            )
            row.problems = sorted({r.problem for r in mine if r.problem})
            if len({r.requests for r in mine}) > 1:
                row.problems.append(f"request count varied: {sorted({r.requests for r in mine})}")
            if name == BARE:
                bare_median = row.median_seconds
            rows.append(row)
        for row in rows:
            if row.operation != operation or not bare_median:
                continue
            row.ratio = row.median_seconds / bare_median
            if row.implementation == OURS:
                row.verdict = "PASS" if row.ratio <= args.target and not row.problems else "FAIL"
                if row.requests > expected[operation]:
                    row.problems.append(
                        f"{row.requests} requests where {expected[operation]} suffice"
                    )
                    row.verdict = "FAIL"
    return rows


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    """Print the results table."""
    headers = (
        "implementation",
        "operation",
        "median s",
        "min-max s",
        "requests",
        "new conns",
        "vs bare",
        f"target <= {args.target:.2f}x",
    )
    lines = []
    for row in rows:
        lines.append(
            (
                row.implementation,
                f"{row.operation} {args.records if row.operation == LIST else args.create:,}",
                f"{row.median_seconds:.3f}",
                f"{row.min_seconds:.3f}-{row.max_seconds:.3f}",
                str(row.requests),
                str(row.connections),
                f"{row.ratio:.2f}x" if row.ratio is not None else "-",
                row.verdict or "-",
            )
        )
    print_columns(headers, lines)
    for row in rows:
        for problem in row.problems:
            print(f"! {row.implementation} {row.operation}: {problem}")


def profile_ours(bench: Bench, impl: Implementation, operation: str, top: int = 18) -> str:
    """Profile one untimed ``operation`` through our services; return the hottest functions as text."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    run = bench.measure(impl, operation, -1, f"profile-{operation}")
    profiler.disable()
    text = io.StringIO()
    text.write(
        f"\nProfile of {impl.name} {operation} ({run.seconds:.3f} s under the profiler; "
        f"top {top} by own time):\n"
    )
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return text.getvalue()


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description="Time listing and creating Leads through django-zcrm's services, a bare "
        "requests.Session loop and (with $ZCRMSDK_PYTHON) Zoho's zcrmsdk 3.1.0, "
        "against the bundled fake Zoho server on 127.0.0.1."
    )
    parser.add_argument(
        "--records", type=int, default=10_000, help="Leads seeded and listed (10000)"
    )
    parser.add_argument("--create", type=int, default=1_000, help="Leads created per run (1000)")
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds; medians are shown (5)"
    )
    parser.add_argument(
        "--connect-delay",
        type=float,
        default=0.02,
        help="simulated seconds per new connection (0.02)",
    )
    parser.add_argument(
        "--request-delay", type=float, default=0.005, help="simulated seconds per request (0.005)"
    )
    parser.add_argument(
        "--target",
        type=float,
        default=1.15,
        help="largest acceptable ratio of ours to the bare loop (1.15)",
    )
    parser.add_argument(
        "--fields", default=",".join(DEFAULT_FIELDS), help="fields to list, comma-separated"
    )
    parser.add_argument(
        "--sdk-python",
        default=os.environ.get(SDK_ENV, ""),
        help=f"a Python that can import zcrmsdk 3.1.0 (default: ${SDK_ENV})",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile one (untimed) list and create through our services",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the runs and the table as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when ours misses the target")
    args = parser.parse_args(argv)
    if args.records < 1 or args.create < 1 or args.rounds < 1:
        parser.error("--records, --create and --rounds must be at least 1")
    if args.connect_delay < 0 or args.request_delay < 0:
        parser.error("delays cannot be negative")
    args.fields = [f.strip() for f in args.fields.split(",") if f.strip()]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when every run did its work correctly (and, with --strict, met the target)."""
    args = parse_args(argv)
    sdk_version = None
    if args.sdk_python:
        try:
            sdk_version = check_sdk_python(args.sdk_python)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    # Loopback only, even where a proxy is configured (requests and the SDK honour NO_PROXY).
    for name in ("NO_PROXY", "no_proxy"):
        os.environ[name] = ",".join(
            filter(None, [os.environ.get(name, ""), "127.0.0.1", "localhost"])
        )
    workdir = tempfile.mkdtemp(prefix="zcrm-bench-")
    implementations: list[Implementation] = []
    try:
        # Handler errors are reported below rather than raised on leaving the block.
        with FakeZoho(raise_handler_errors=False) as fake:
            configure_django(fake, os.path.join(workdir, "tokens"))
            os.makedirs(os.path.join(workdir, "tokens"), exist_ok=True)
            from django_zcrm.oauth import get_oauth_client

            oauth = get_oauth_client()
            oauth.generate_access_token(fake.accounts.issue_grant_token())
            seeded = time.perf_counter()
            fake.crm.seed(MODULE, args.records)
            seeded = time.perf_counter() - seeded

            implementations = [Ours(), Bare(fake.url, lambda: oauth.get_tokens().access_token)]
            if sdk_version:
                sdk_dir = os.path.join(workdir, "zcrmsdk")
                os.makedirs(sdk_dir)
                implementations.append(SDKRunner(args.sdk_python, fake, sdk_dir))
            fake.set_network(connect_delay=args.connect_delay, request_delay=args.request_delay)
            bench = Bench(fake, args)

            print(
                f"Fake Zoho at {fake.url}; {args.records:,} Leads seeded in {seeded:.1f} s; "
                f"network: {args.connect_delay * 1000:g} ms per new connection, "
                f"{args.request_delay * 1000:g} ms per request; {args.rounds} interleaved rounds; "
                f"API v2; fields: {','.join(args.fields)}"
            )
            started = time.perf_counter()
            # Every listing first (so each sees exactly the seeded Leads), then every create:
            # deleting created Leads in between would cost the fake seconds per run.
            profiles = []
            bench.rounds(implementations, LIST)
            if args.profile:
                profiles.append(profile_ours(bench, implementations[0], LIST))
            bench.rounds(implementations, CREATE)
            if args.profile:
                profiles.append(profile_ours(bench, implementations[0], CREATE))
            elapsed = time.perf_counter() - started
            names = [impl.name for impl in implementations]
            rows = summarise(bench.runs, names, args)
            print(f"Timed work took {elapsed:.1f} s.\n")
            print_table(rows, args)
            if not sdk_version:
                print(
                    f"\n(zcrmsdk 3.1.0 not compared: set {SDK_ENV} to a Python that can import it, e.g. "
                    f"`python3 -m venv /tmp/sdkvenv && /tmp/sdkvenv/bin/pip install zcrmsdk==3.1.0` then "
                    f"`{SDK_ENV}=/tmp/sdkvenv/bin/python python benchmarks/crm_benchmark.py`.)"
                )
            for text in profiles:
                print(text, end="")
            if args.json:
                Path(args.json).write_text(
                    json.dumps(
                        {
                            "settings": {k: v for k, v in vars(args).items() if k != "sdk_python"},
                            "sdk_version": sdk_version,
                            "rows": [asdict(r) for r in rows],
                            "runs": [asdict(r) for r in bench.runs],
                        },
                        indent=2,
                    )
                )
            if fake.errors:
                print(
                    f"! the fake server's handlers raised {len(fake.errors)} error(s)",
                    file=sys.stderr,
                )
                return 1
    finally:
        for impl in implementations:
            impl.close()
        shutil.rmtree(workdir, ignore_errors=True)
    broken = any(row.problems for row in rows if row.implementation in (OURS, BARE))
    if broken:
        return 1
    if args.strict and any(row.verdict == "FAIL" for row in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
