"""django_zcrm's Celery tasks on real workers: Redis broker, prefork pools, the fake Zoho server
over HTTP and this test's real database (a SQLite file, or MariaDB), with request counts taken
at the fake.

Each test starts its own ``celery worker`` processes (tests/celery_worker_app.py) on a private
key prefix and queue of the Redis at ``ZCRM_TEST_REDIS_URL`` (default 127.0.0.1:6379/0), so
parallel runs do not collide. Without Redis the module is skipped with a banner; in CI
(``CI=true`` or ``ZCRM_REQUIRE_REDIS=1``) it fails instead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

from django_zcrm.models import CRMRecord, SyncState
from django_zcrm.oauth import get_oauth_client
from django_zcrm.persistence import get_persistence
from django_zcrm.testing import FAKE_USER_EMAIL

from .conftest import zcrm_settings_for
from .support.redis_gate import REDIS_URL, require_redis

require_redis("The Celery real-worker tests (tests/test_celery_workers.py)")

from celery._state import get_current_app  # noqa: E402

from django_zcrm import tasks  # noqa: E402

from .support.celery_app import BrokerPlace, make_app  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
LIST = "GET /crm/{version}/{module}"
TOKEN = "POST /oauth/v2/token"
START_SECONDS = 60
TASK_SECONDS = 120
FOUR = ("Accounts", "Contacts", "Deals", "Leads")  # Accounts first: the others point at them


class Workers:
    """``celery worker`` processes started for one test, killed (all of them) at its end."""

    def __init__(self, place: BrokerPlace, zcrm: dict, logs: Path) -> None:
        self.place = place
        self.zcrm = zcrm
        self.logs = logs
        self.procs: list[subprocess.Popen] = []

    def start(self, count: int = 2, concurrency: int = 1) -> None:
        env = {
            **os.environ,
            **self.place.to_env(),
            "ZCRM_WORKER_SETTINGS": json.dumps(self.zcrm),
            "ZCRM_TEST_DB_NAME_OVERRIDE": connection.settings_dict["NAME"],
            "PYTHONPATH": str(ROOT),
        }
        first = len(self.procs)
        for n in range(first, first + count):
            log = open(self.log_path(n), "w")  # noqa: SIM115 - the worker writes it until killed
            self.procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "tests.celery_worker_app",
                        "worker",
                        "--pool=prefork",
                        f"--concurrency={concurrency}",
                        "-Q",
                        self.place.queue,
                        "-n",
                        f"w{n}-{self.place.queue}@%h",
                        "--without-gossip",
                        "--without-mingle",
                        "--without-heartbeat",
                        "--loglevel=INFO",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: killable as one machine
                )
            )
            log.close()
        for n in range(first, first + count):
            self.wait_ready(n)

    def log_path(self, n: int) -> Path:
        return self.logs / f"worker-{n}.log"

    def log(self, n: int) -> str:
        return self.log_path(n).read_text(errors="replace")

    def wait_ready(self, n: int) -> None:
        deadline = time.monotonic() + START_SECONDS
        while " ready." not in self.log(n):
            if self.procs[n].poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker {n} did not start:\n{self.log(n)[-3000:]}")
            time.sleep(0.1)

    def kill_machine(self, n: int) -> None:
        """SIGKILL worker ``n`` and its pool processes at once, as a lost machine."""
        os.killpg(self.procs[n].pid, signal.SIGKILL)
        self.procs[n].wait(timeout=30)

    def index_of(self, pid: int) -> int:
        """Which worker ``pid`` (a pool process) belongs to."""
        group = os.getpgid(pid)
        return next(n for n, p in enumerate(self.procs) if p.pid == group)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=30)

    def dump(self) -> str:
        return "\n".join(
            f"--- worker {n} ---\n{self.log(n)[-3000:]}" for n in range(len(self.procs))
        )


@pytest.fixture
def zoho(settings, fake_zoho):
    settings.ZCRM = zcrm_settings_for(
        fake_zoho, SYNC_MODELS={module: "django_zcrm.CRMRecord" for module in FOUR}
    )
    get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())
    return fake_zoho


@pytest.fixture
def broker(request) -> Iterator[BrokerPlace]:
    marker = request.node.get_closest_marker("visibility_timeout")
    place = BrokerPlace.new(REDIS_URL, visibility_timeout=marker.args[0] if marker else 3600.0)
    app = make_app(place)
    previous = get_current_app()
    app.set_current()  # tasks.sync_all.delay() below sends through this app, as in a project
    try:
        yield place
    finally:
        previous.set_current()
        place.forget()


@pytest.fixture
def workers(broker, settings, zoho, tmp_path) -> Iterator[Workers]:
    group = Workers(broker, settings.ZCRM, tmp_path)
    try:
        yield group
    finally:
        group.stop()


def wait_for(condition: Callable[[], bool], what: str, workers: Workers) -> None:
    deadline = time.monotonic() + TASK_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{workers.dump()}")
        time.sleep(0.01)


def result_of(task_id: str, workers: Workers) -> dict:
    try:
        return tasks.sync_module.AsyncResult(task_id).get(timeout=TASK_SECONDS)
    except Exception as exc:  # the workers' logs say why; the test fails either way
        raise AssertionError(f"task {task_id} failed: {exc!r}\n{workers.dump()}") from exc


def assert_mirror_equals_server(fake, module: str) -> None:
    server = {r["id"]: r for r in fake.crm.records(module)}
    rows = list(
        CRMRecord.objects.filter(module=module, deleted=False).values_list("zoho_id", "data")
    )
    local = dict(rows)
    assert len(rows) == len(local), f"a {module} record is stored twice"
    assert sorted(local) == sorted(server), (
        f"{module}: missing {len(set(server) - set(local))}, extra {len(set(local) - set(server))}"
    )
    assert all(local[rid] == server[rid] for rid in server), f"a {module} row differs"


def pages(records: int) -> int:
    return max(1, -(-records // 200))


def test_sync_all_on_real_workers_syncs_four_modules_at_once(zoho, workers):
    sizes = {"Accounts": 1500, "Contacts": 1200, "Deals": 1000, "Leads": 2500}
    for module in FOUR:
        zoho.crm.seed(module, sizes[module])
    workers.start(count=2, concurrency=2)
    zoho.reset_counters()
    for module in FOUR:  # each first page takes 1.5 s: the runs must overlap
        zoho.inject(endpoint=LIST, path_prefix=f"/crm/v2/{module}", delay=1.5)

    queued = tasks.sync_all.delay().get(timeout=TASK_SECONDS)  # the README's one line
    results = {r["module"]: r for r in (result_of(i, workers) for i in queued["task_ids"])}

    assert queued["modules"] == list(FOUR)
    for module in FOUR:
        assert results[module]["status"] == "done"
        assert results[module]["created"] == sizes[module]
        assert_mirror_equals_server(zoho, module)
        listed = zoho.count(endpoint=LIST, path_prefix=f"/crm/v2/{module}")
        assert listed == pages(sizes[module]), f"{module} listed {listed} pages"
    assert zoho.peak_concurrency(LIST) >= 2, (
        f"the modules did not run at once (peak {zoho.peak_concurrency(LIST)})"
    )
    assert zoho.accounts.token_requests() == 0


def test_the_same_module_dispatched_twice_at_once_is_listed_once(zoho, workers):
    zoho.crm.seed("Leads", 3000)
    workers.start(count=2, concurrency=1)
    zoho.reset_counters()
    zoho.inject(endpoint=LIST, delay=2.0)  # the first page is slow: the second task arrives

    first = tasks.sync_module.delay("Leads")
    second = tasks.sync_module.delay("Leads")
    results = [result_of(first.id, workers), result_of(second.id, workers)]

    done = [r for r in results if r["status"] == "done"]
    skipped = [r for r in results if r["status"] == "skipped"]
    assert len(done) == 1 and len(skipped) == 1, results
    assert skipped[0]["reason"] == "running elsewhere" and "already running" in skipped[0]["detail"]
    assert done[0]["created"] == 3000
    assert zoho.count(endpoint=LIST) == pages(3000), "the skipped task must not list anything"
    assert zoho.peak_concurrency(LIST) == 1
    assert_mirror_equals_server(zoho, "Leads")


@pytest.mark.parametrize(
    "lost",
    [
        pytest.param("pool-process", id="pool-process-sigkill"),
        pytest.param(
            "machine", id="whole-worker-sigkill", marks=pytest.mark.visibility_timeout(15)
        ),
    ],
)
def test_a_worker_killed_mid_sync_loses_nothing(zoho, workers, lost):
    """SIGKILL mid-sync: the task comes back and the sync resumes from its last page.

    ``pool-process``: the pool process running the task dies; its worker sees that and, since
    the task is ``reject_on_worker_lost``, puts the message back at once. ``machine``: the
    worker and its pool die together, nobody acknowledges nor rejects the message, and Redis
    hands it out again once its visibility timeout (15 s here) has passed.

    An incremental sync, as beat schedules it: were the redelivered run to outlast the
    visibility timeout on a slow machine, Redis would hand the task out once more and that
    extra run would find nothing new (one listing request), which the counts allow for.
    """
    total = 20_000
    zoho.crm.seed("Leads", total)
    workers.start(count=2, concurrency=1)
    zoho.reset_counters()

    started = time.monotonic()
    task = tasks.sync_module.delay("Leads")
    wait_for(lambda: CRMRecord.objects.count() >= 4000, "4,000 rows", workers)
    holder = SyncState.objects.get(module="Leads").lease_owner
    pid = int(holder.split(":")[-2])
    if lost == "machine":
        victim = workers.index_of(pid)
        workers.kill_machine(victim)
    else:
        os.kill(pid, signal.SIGKILL)
    killed_at_rows = CRMRecord.objects.count()
    assert killed_at_rows < total, "the sync ended before the kill: make it bigger"

    result = result_of(task.id, workers)

    assert result["status"] == "done" and result["resumed"] is True, result
    assert_mirror_equals_server(zoho, "Leads")
    assert CRMRecord.objects.count() == total
    # The page in flight at the kill, the one the prefetch thread had read ahead of it, and the
    # lookback's overlap, are read again; no more.
    assert zoho.count(endpoint=LIST) <= pages(total) + 4 + (lost == "machine")
    state = SyncState.objects.get(module="Leads")
    assert state.status == SyncState.DONE and state.lease_owner is None
    if lost == "machine":
        assert time.monotonic() - started >= 15, "redelivered before the visibility timeout"


def test_eight_tasks_needing_a_fresh_token_cause_one_refresh(zoho, workers):
    modules = ("Accounts", "Contacts", "Deals", "Leads", "Tasks")
    for module in modules:
        zoho.crm.seed(module, 50)
    store = get_persistence()
    tokens = store.get_oauth_tokens(FAKE_USER_EMAIL)
    tokens.expiry_time = int(time.time() * 1000) - 1000  # expired: every task needs a new one
    store.save_oauth_tokens(tokens)
    workers.start(count=2, concurrency=4)
    zoho.reset_counters()
    # The refresh takes a second: the other seven ask for a token while it is in flight.
    zoho.inject(endpoint=TOKEN, delay=1.0)

    sent = [tasks.sync_module.delay(module) for module in modules]
    sent += [tasks.refresh_tokens.delay() for _ in range(8 - len(sent))]
    results = [result_of(t.id, workers) for t in sent]

    assert [r["status"] for r in results] == ["done"] * 8, results
    assert zoho.accounts.token_requests("refresh_token") == 1
    for module in modules:
        assert_mirror_equals_server(zoho, module)
    assert store.get_oauth_tokens(FAKE_USER_EMAIL).remaining_ms() > 30 * 60_000
