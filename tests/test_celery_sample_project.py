"""The documented setup, literally: ``celery -A sample_project worker`` and
``django_zcrm.sync_all.delay()`` sync every module of SYNC_MODELS from the fake Zoho server.

The sample project is configured from the environment only (its own SQLite file, the fake's URL,
the broker, a private queue), exactly as the README's Celery section tells a newcomer to run it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from .support.redis_gate import REDIS_URL, require_redis

require_redis("The sample project's Celery test (tests/test_celery_sample_project.py)")

ROOT = Path(__file__).resolve().parent.parent
LIST = "GET /crm/{version}/{module}"
SHELL = """
import json
from celery.result import AsyncResult
from django_zcrm.models import CRMRecord
from django_zcrm.tasks import sync_all
from sample_project.crm.models import Lead

sent = sync_all.delay()
queued = sent.get(timeout=120)
results = [AsyncResult(i).get(timeout=120) for i in queued["task_ids"]]
print(json.dumps({
    "ids": [sent.id, *queued["task_ids"]],
    "queued": queued,
    "results": results,
    "leads": Lead.objects.count(),
    "accounts": CRMRecord.objects.filter(module="Accounts").count(),
}))
"""


def forget(queue: str, task_ids: list[str]) -> None:
    """Delete what this test left in Redis: its queue, its binding and its results."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    bindings = (f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    client.delete(*bindings, queue, *(f"celery-task-meta-{i}" for i in task_ids))


def manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
@pytest.mark.once  # the sample project on its own SQLite database
def test_sample_project_worker_runs_sync_all(fake_zoho, tmp_path):
    fake_zoho.crm.seed("Accounts", 120)
    fake_zoho.crm.seed("Leads", 300)
    queue = f"zcrm-sample-{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'sample.sqlite3'}",
        "FAKE_ZOHO_URL": fake_zoho.url,
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "ZCRM_SYNC_MODELS": json.dumps({"Leads": "crm.Lead", "Accounts": "django_zcrm.CRMRecord"}),
    }
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "zcrm_generate_token", fake_zoho.accounts.issue_grant_token())
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "sample_project",
                "worker",
                "-Q",
                queue,
                "--concurrency=2",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    report: dict = {}
    try:
        deadline = time.monotonic() + 60
        while " ready." not in log_path.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        fake_zoho.reset_counters()

        report = json.loads(manage(env, "shell", "-c", SHELL).strip().splitlines()[-1])
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        forget(queue, report.get("ids", []))

    assert report["queued"]["modules"] == ["Leads", "Accounts"], log_path.read_text()[-3000:]
    assert [r["status"] for r in report["results"]] == ["done", "done"]
    assert {r["module"]: r["created"] for r in report["results"]} == {"Leads": 300, "Accounts": 120}
    assert report["leads"] == 300 and report["accounts"] == 120
    assert fake_zoho.count(endpoint=LIST) == 2 + 1  # 300 Leads: 2 pages; 120 Accounts: 1
    assert "django_zcrm.sync_module" in log_path.read_text()
