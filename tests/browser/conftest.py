"""Fixtures of the browser tests: a real headless Chromium, the sample project served on
127.0.0.1 by ``manage.py runserver``, and the bundled fake Zoho server it talks to.

Chromium and its driver come from Debian (``apt-get install -y chromium chromium-driver``); no
browser is ever downloaded. Without them the tests skip, or fail when ``CI=true``.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from django_zcrm.testing import FakeZoho

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
APT_HINT = "apt-get install -y chromium chromium-driver"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "browser-test-password-1"
SERVER_START_TIMEOUT = 60
ROOT = Path(__file__).resolve().parents[2]

CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,800",
    "--lang=en-US",
)


def _unavailable(message: str) -> None:
    # CI installs the browser, so there its absence is a broken setup, not a reason to skip.
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium_ready() -> None:
    """Chromium, chromedriver and selenium are installed (else skip, or fail on CI)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        _unavailable(f"Browser tests need {', '.join(missing)}: {APT_HINT}")
    try:
        import selenium  # noqa: F401
    except ImportError:
        _unavailable("Browser tests need selenium: pip install -e '.[test]'")


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """Where each step's screenshot goes: $ZCRM_SCREENSHOT_DIR, else test-artifacts/screenshots."""
    path = Path(os.environ.get("ZCRM_SCREENSHOT_DIR") or ROOT / "test-artifacts" / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser_fake():
    """One fake Zoho for the module; the sample project's server talks to it."""
    with FakeZoho() as fake:
        yield fake
        assert not fake.errors, f"the fake server hit errors: {fake.errors!r}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SampleSite:
    """The sample project running under ``manage.py runserver`` with its own SQLite file."""

    def __init__(self, url: str, db_path: Path, log_path: Path, env: dict[str, str]) -> None:
        self.url = url
        self.db_path = db_path
        self.log_path = log_path
        self.env = env

    def manage(self, *args: str) -> str:
        """Run a ``manage.py`` command against the site's database; return its output."""
        done = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def token_rows(self) -> list[tuple[str, str, str, int]]:
        """(user, access token, refresh token, expiry ms) of every stored row, read directly."""
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10) as conn:
            return list(
                conn.execute(
                    "SELECT useridentifier, accesstoken, refreshtoken, expirytime FROM oauthtokens "
                    "ORDER BY useridentifier"
                )
            )

    def log_tail(self) -> str:
        """The end of the server's output, for failure messages (grant codes masked)."""
        from django_zcrm.redaction import redact

        try:
            return redact(self.log_path.read_text(errors="replace")[-3000:])
        except OSError:
            return ""


@pytest.fixture(scope="module")
def sample_site(chromium_ready, browser_fake, tmp_path_factory):
    """Migrate a fresh database, create the admin user and serve the sample project."""
    workdir = tmp_path_factory.mktemp("sample-site")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    db_path = workdir / "sample.sqlite3"
    # Only what the test sets: an outer ZCRM_* or DATABASE_URL must not reach the sample.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ZCRM_", "DJANGO_")) and k != "DATABASE_URL"
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "sample_project.settings",
            "DATABASE_URL": f"sqlite:///{db_path}",
            "FAKE_ZOHO_URL": browser_fake.url,
            "ZCRM_REDIRECT_URI": f"{url}/zoho/callback/",
            "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
            "PYTHONUNBUFFERED": "1",
        }
    )
    manage = [sys.executable, str(ROOT / "manage.py")]
    for args in (
        ["migrate", "--noinput", "-v", "0"],
        ["createsuperuser", "--noinput", "--username", ADMIN_USER, "--email", "admin@example.com"],
    ):
        done = subprocess.run(
            manage + args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    log_path = workdir / "runserver.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            manage + ["runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    site = SampleSite(url, db_path, log_path, env)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if server.poll() is not None:
                pytest.fail(f"runserver exited with {server.returncode}:\n{site.log_tail()}")
            try:
                if requests.get(url + "/admin/login/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"runserver did not answer within {SERVER_START_TIMEOUT}s:\n{site.log_tail()}"
                )
            time.sleep(0.2)  # a real server starting up: poll, bounded by the deadline above
        yield site
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


@pytest.fixture(scope="module")
def driver(chromium_ready):
    """A headless Debian Chromium driven through Debian's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # Selenium logs every WebDriver command at DEBUG, including text typed into the grant
    # token field; that is the test driving the browser, not django_zcrm leaking a secret.
    selenium_logger = logging.getLogger("selenium")
    old_level = selenium_logger.level
    selenium_logger.setLevel(logging.WARNING)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(30)
    set_viewport(browser, *LAPTOP)
    try:
        yield browser
    finally:
        browser.quit()
        selenium_logger.setLevel(old_level)


LAPTOP = (1280, 800)
PHONE = (390, 844)


def set_viewport(browser, width: int, height: int) -> None:
    """Make the page see exactly ``width`` x ``height`` CSS pixels (a phone width: mobile mode)."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 768},
    )


def copy_screenshots_to_docs(source: Path) -> None:
    """With ZCRM_UPDATE_DOCS_SCREENSHOTS=1, refresh docs/screenshots from this run."""
    if os.environ.get("ZCRM_UPDATE_DOCS_SCREENSHOTS") != "1":
        return
    target = ROOT / "docs" / "screenshots"
    target.mkdir(parents=True, exist_ok=True)
    for png in sorted(source.glob("*.png")):
        shutil.copy2(png, target / png.name)
