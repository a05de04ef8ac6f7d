"""Shared fixtures: the bundled fake Zoho server, settings pointing at it, stored tokens, and a
session-wide canary that fails any test whose logs contain a token or the client secret."""

from __future__ import annotations

import logging

import pytest

from django_zcrm.redaction import TOKEN_RE
from django_zcrm.testing import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, FAKE_USER_EMAIL, FakeZoho


def zcrm_settings_for(fake: FakeZoho, **extra) -> dict:
    """A ZCRM settings dict that points every URL at ``fake``."""
    return {
        "CLIENT_ID": FAKE_CLIENT_ID,
        "CLIENT_SECRET": FAKE_CLIENT_SECRET,
        "ACCOUNTS_URL": fake.url,
        "API_BASE_URL": fake.url,
        "CURRENT_USER_EMAIL": FAKE_USER_EMAIL,
        **extra,
    }


@pytest.fixture
def fake_zoho():
    """A fake Zoho (accounts + CRM) on 127.0.0.1, fresh for each test."""
    with FakeZoho() as fake:
        yield fake
        assert not fake.errors, f"the fake server hit errors: {fake.errors!r}"


@pytest.fixture
def zcrm_settings(settings, fake_zoho):
    """``settings.ZCRM`` pointing at the fake server (database token store)."""
    settings.ZCRM = zcrm_settings_for(fake_zoho)
    return settings.ZCRM


@pytest.fixture
def zoho_tokens(db, zcrm_settings, fake_zoho):
    """Tokens for FAKE_USER_EMAIL stored through a real grant exchange."""
    from django_zcrm.oauth import get_oauth_client

    return get_oauth_client().generate_access_token(fake_zoho.accounts.issue_grant_token())


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += " | " + str(record.exc_info[1])
        self.messages.append(text)


@pytest.fixture(autouse=True)
def no_secret_in_logs():
    """Capture every log record at DEBUG and fail if any holds a token or the client secret."""
    root = logging.getLogger()
    handler = _Capture()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    leaks = [m for m in handler.messages if TOKEN_RE.search(m) or FAKE_CLIENT_SECRET in m]
    assert not leaks, f"secrets leaked into logs: {leaks[:3]!r}"


@pytest.fixture
def recorder(db):
    """Every page the test client fetches; at the end, none may show a token or the secret."""
    from tests.support.token_pages import PageRecorder

    pages = PageRecorder()
    yield pages
    pages.assert_no_token_shown(extra_secrets=(FAKE_CLIENT_SECRET,))


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-1")


from .support.redis_gate import pytest_terminal_summary as _redis_banner  # noqa: E402


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The Redis banner (tests/support/redis_gate.py) and the hostile suite's per-family table."""
    _redis_banner(terminalreporter, exitstatus, config)
    from tests.support.hostile import report_lines

    lines = report_lines()
    if lines:
        terminalreporter.section("hostile answers per endpoint family")
        for line in lines:
            terminalreporter.write_line(line)
