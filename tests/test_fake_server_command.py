"""Running the fake Zoho server from the command line: ``python -m django_zcrm.testing`` and
``manage.py zcrm_fake_server``."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.core.management import CommandError, call_command

from django_zcrm.testing import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET
from django_zcrm.testing.cli import is_loopback, parse_seed

ROOT = Path(__file__).resolve().parent.parent


class Running:
    """A server process whose output is read in the background, so every wait is bounded."""

    def __init__(self, args: list[str], *, cwd: Path = ROOT, env: dict | None = None) -> None:
        if env is None:
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "DJANGO_SETTINGS_MODULE": "tests.settings",
            }
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float = 20) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line starting {prefix!r}; saw {self.seen!r}") from None
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=10)

    def rest(self) -> list[str]:
        out = []
        while not self.lines.empty():
            out.append(self.lines.get_nowait())
        return self.seen + out


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(timeout=10)


def _check_serves(server: Running) -> str:
    url = server.wait_for("Fake Zoho listening on ").rsplit(" ", 1)[1]
    assert url.startswith("http://127.0.0.1:")
    body = requests.get(f"{url}/_fake/self-client/grant", timeout=5).json()
    assert body["expires_in"] == 120
    server.wait_for("Press Ctrl-C")
    return url


def test_python_m_runs_until_sigterm_and_prints_the_settings(running: list[Running]) -> None:
    server = Running([sys.executable, "-m", "django_zcrm.testing", "--port", "0"])
    running.append(server)
    url = _check_serves(server)
    assert server.stop(signal.SIGTERM) == 0
    output = "\n".join(server.rest())
    assert FAKE_CLIENT_ID in output
    assert f"curl {url}/_fake/self-client/grant" in output
    # The fake's public secret is printed: a project's settings need its value.
    assert f"ZCRM_CLIENT_SECRET={FAKE_CLIENT_SECRET}" in output
    assert f"ZCRM_ACCOUNTS_URL={url}" in output and f"ZCRM_CLIENT_ID={FAKE_CLIENT_ID}" in output
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


def test_manage_py_command_runs_until_ctrl_c(running: list[Running]) -> None:
    server = Running([sys.executable, "-m", "django", "zcrm_fake_server", "--port", "0"])
    running.append(server)
    url = _check_serves(server)
    assert server.stop(signal.SIGINT) == 0
    assert f"ZCRM_API_BASE_URL={url}" in "\n".join(server.rest())


def test_python_m_refuses_a_public_host() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "django_zcrm.testing", "--host", "0.0.0.0", "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "not a loopback address" in result.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_command_refuses_a_non_loopback_host(host: str) -> None:
    with pytest.raises(CommandError, match="not a loopback address"):
        call_command("zcrm_fake_server", host=host, port=0)


def test_command_reports_a_busy_port(running: list[Running]) -> None:
    server = Running([sys.executable, "-m", "django_zcrm.testing", "--port", "0"])
    running.append(server)
    port = int(server.wait_for("Fake Zoho listening on ").rsplit(":", 1)[1])
    with pytest.raises(CommandError, match=f"Cannot listen on 127.0.0.1:{port}"):
        call_command("zcrm_fake_server", port=port)


@pytest.mark.parametrize(
    "host,expected",
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("::", False),
        ("zoho.com", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def _list_leads(url: str, page: int) -> dict:
    code = requests.get(f"{url}/_fake/self-client/grant", timeout=5).json()["code"]
    token = requests.post(
        f"{url}/oauth/v2/token",
        timeout=5,
        data={
            "grant_type": "authorization_code",
            "client_id": FAKE_CLIENT_ID,
            "client_secret": FAKE_CLIENT_SECRET,
            "code": code,
        },
    ).json()["access_token"]
    return requests.get(
        f"{url}/crm/v2/Leads",
        params={"per_page": 200, "page": page},
        timeout=10,
        headers={"Authorization": f"Zoho-oauthtoken {token}"},
    ).json()


def test_python_m_seeds_records_before_announcing_it_listens(running: list[Running]) -> None:
    server = Running(
        [
            sys.executable,
            "-m",
            "django_zcrm.testing",
            "--port",
            "0",
            "--seed",
            "Accounts=3",
            "--seed",
            "Leads=250",
        ]
    )
    running.append(server)
    url = _check_serves(server)
    seeded = [line for line in server.seen if line.startswith("Seeded ")]
    assert [line.rsplit(" in ", 1)[0] for line in seeded] == [
        "Seeded 3 Accounts",
        "Seeded 250 Leads",
    ]
    assert server.seen.index(seeded[-1]) < next(
        i for i, line in enumerate(server.seen) if line.startswith("Fake Zoho listening on ")
    )
    first, second = _list_leads(url, 1), _list_leads(url, 2)
    assert len(first["data"]) == 200 and first["info"]["more_records"] is True
    assert len(second["data"]) == 50 and second["info"]["more_records"] is False
    assert server.stop(signal.SIGTERM) == 0


@pytest.mark.parametrize(
    "value,message",
    [
        ("Leads", "is not MODULE=COUNT"),
        ("Leads=many", "is not a whole number"),
        ("Leads=-1", "cannot be negative"),
        ("Widgets=5", "the fake has no module 'Widgets'"),
    ],
)
def test_python_m_refuses_a_bad_seed(value: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "django_zcrm.testing", "--port", "0", "--seed", value],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Fake Zoho listening" not in result.stdout


@pytest.mark.parametrize(
    "value,expected",
    [
        ("Leads=20000", ("Leads", 20000)),
        ("Leads=100_000", ("Leads", 100000)),
        (" Contacts = 0", ("Contacts", 0)),
        ("Deals=1,500", ("Deals", 1500)),
    ],
)
def test_parse_seed(value: str, expected: tuple[str, int]) -> None:
    assert parse_seed(value) == expected


def test_python_m_reports_a_seed_the_fake_cannot_make() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "django_zcrm.testing", "--port", "0", "--seed", "Notes=5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "cannot seed: seed('Notes') needs existing Leads" in result.stderr
    assert "Traceback" not in result.stderr


def test_manage_py_command_seeds_records_too(running: list[Running]) -> None:
    server = Running(
        [sys.executable, "-m", "django", "zcrm_fake_server", "--port", "0", "--seed", "Leads=250"]
    )
    running.append(server)
    url = _check_serves(server)
    assert len(_list_leads(url, 2)["data"]) == 50
    assert server.stop(signal.SIGINT) == 0


@pytest.mark.parametrize(
    "value,message",
    [
        ("Leads=many", "is not a whole number"),
        ("Notes=5", "Cannot seed: seed('Notes') needs existing Leads"),
    ],
)
def test_manage_py_command_refuses_a_bad_seed_in_words(value: str, message: str) -> None:
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("zcrm_fake_server", port=0, seed=[value])


# -- --state-file: a restart keeps tokens and records ---------------------------------------------


def _exchange(url: str) -> dict:
    code = requests.get(f"{url}/_fake/self-client/grant", timeout=5).json()["code"]
    return requests.post(
        f"{url}/oauth/v2/token",
        timeout=5,
        data={
            "grant_type": "authorization_code",
            "client_id": FAKE_CLIENT_ID,
            "client_secret": FAKE_CLIENT_SECRET,
            "code": code,
        },
    ).json()


@pytest.mark.parametrize("how", ["python -m", "manage.py"])
def test_state_file_keeps_tokens_and_records_across_a_restart(
    running: list[Running], tmp_path: Path, how: str
) -> None:
    state = tmp_path / "fake-zoho.json"
    start = (
        [sys.executable, "-m", "django_zcrm.testing"]
        if how == "python -m"
        else [sys.executable, "-m", "django", "zcrm_fake_server"]
    )
    args = [*start, "--port", "0", "--seed", "Leads=30", "--state-file", str(state)]
    first = Running(args)
    running.append(first)
    url = _check_serves(first)
    tokens = _exchange(url)
    auth = {"Authorization": f"Zoho-oauthtoken {tokens['access_token']}"}
    created = requests.post(
        f"{url}/crm/v2/Leads",
        json={"data": [{"Last_Name": "Kept", "Company": "Kept Ltd"}]},
        headers=auth,
        timeout=5,
    ).json()["data"][0]["details"]["id"]
    assert first.stop(signal.SIGTERM) == 0
    assert "Saved tokens and records to" in "\n".join(first.rest())
    assert state.stat().st_mode & 0o777 == 0o600

    second = Running(args)  # --seed again: skipped, the saved records are served
    running.append(second)
    url = _check_serves(second)
    assert any(line.startswith("Loaded tokens and records from") for line in second.seen)
    auth = {"Authorization": f"Zoho-oauthtoken {tokens['access_token']}"}
    listed = requests.get(
        f"{url}/crm/v2/Leads", params={"per_page": 200}, headers=auth, timeout=5
    ).json()
    assert len(listed["data"]) == 31 and created in {r["id"] for r in listed["data"]}
    refreshed = requests.post(
        f"{url}/oauth/v2/token",
        timeout=5,
        data={
            "grant_type": "refresh_token",
            "client_id": FAKE_CLIENT_ID,
            "client_secret": FAKE_CLIENT_SECRET,
            "refresh_token": tokens["refresh_token"],
        },
    ).json()
    assert "access_token" in refreshed, refreshed
    assert second.stop(signal.SIGTERM) == 0


def test_a_state_file_that_is_not_one_is_refused_in_words(tmp_path: Path) -> None:
    state = tmp_path / "fake-zoho.json"
    state.write_text("not json", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "django_zcrm.testing", "--port", "0", "--state-file", str(state)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "cannot use the state file" in result.stderr and "delete it" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(CommandError, match="Cannot use the state file"):
        call_command("zcrm_fake_server", port=0, state_file=str(state))


BARE_SETTINGS = """
import environ
from django_zcrm.conf import settings_from_env

env = environ.Env()
SECRET_KEY = "x"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django_zcrm"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}
ZCRM = settings_from_env(env)
"""


def test_the_fake_starts_in_a_project_without_zcrm_settings_and_others_say_what_is_missing(
    running: list[Running], tmp_path: Path
) -> None:
    (tmp_path / "bare_settings.py").write_text(BARE_SETTINGS, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZCRM_")}
    env.update(PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}", DJANGO_SETTINGS_MODULE="bare_settings")
    server = Running(
        [sys.executable, "-m", "django", "zcrm_fake_server", "--port", "0"], cwd=tmp_path, env=env
    )
    running.append(server)
    _check_serves(server)
    assert server.stop(signal.SIGTERM) == 0
    result = subprocess.run(
        [sys.executable, "-m", "django", "zcrm_token_status"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "django_zcrm.E002" in result.stderr and "CLIENT_ID" in result.stderr
