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
from django_zcrm.testing.cli import is_loopback

ROOT = Path(__file__).resolve().parent.parent


class Running:
    """A server process whose output is read in the background, so every wait is bounded."""

    def __init__(self, args: list[str]) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tests.settings"}
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
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


def test_python_m_runs_until_sigterm_without_printing_the_secret(running: list[Running]) -> None:
    server = Running([sys.executable, "-m", "django_zcrm.testing", "--port", "0"])
    running.append(server)
    url = _check_serves(server)
    assert server.stop(signal.SIGTERM) == 0
    output = "\n".join(server.rest())
    assert FAKE_CLIENT_ID in output
    assert f"curl {url}/_fake/self-client/grant" in output
    assert "FAKE_CLIENT_SECRET" in output and FAKE_CLIENT_SECRET not in output
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


def test_manage_py_command_runs_until_ctrl_c(running: list[Running]) -> None:
    server = Running([sys.executable, "-m", "django", "zcrm_fake_server", "--port", "0"])
    running.append(server)
    _check_serves(server)
    assert server.stop(signal.SIGINT) == 0
    assert FAKE_CLIENT_SECRET not in "\n".join(server.rest())


def test_python_m_refuses_a_public_host() -> None:
    result = subprocess.run([sys.executable, "-m", "django_zcrm.testing", "--host", "0.0.0.0", "--port", "0"],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
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


@pytest.mark.parametrize("host,expected", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("10.0.0.1", False), ("::", False), ("zoho.com", False),
])
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected
