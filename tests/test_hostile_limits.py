"""Limits on what an answer may cost, and where credentials may go: one test per rule.

The generated-answer suite (test_hostile_answers.py) throws everything at every family; these
tests pin each rule down with a plain, readable case: the body cap (a 1 GiB answer in a child
process), the total deadline (a server dripping its answer), redirects, token answers that must
not be stored, revoke, secrets echoed into ``last_error``, paging that never ends, the checks.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from django_zcrm import redaction
from django_zcrm.client import ZCRMClient
from django_zcrm.conf import trusted_zoho_url, validate
from django_zcrm.exceptions import (
    ZCRMAuthError,
    ZCRMDeadlineExceededError,
    ZCRMError,
    ZCRMMalformedResponseError,
    ZCRMRedirectRefusedError,
    ZCRMResponseTooLargeError,
    ZCRMUntrustedAnswerError,
)
from django_zcrm.models import SyncState
from django_zcrm.oauth import OAuthClient, get_oauth_client
from django_zcrm.persistence import get_persistence
from django_zcrm.services import Module
from django_zcrm.sync import sync_module
from django_zcrm.tokens import OAuthTokens
from tests.support.hostile import Answer, HostileServer

SECRET = "limits-client-secret-value"
USER = "limits@example.com"
REFRESH = "custom-refresh-token-value-" + "q" * 20


@pytest.fixture
def servers(settings):
    with HostileServer(SECRET) as server, HostileServer(SECRET) as trap:
        settings.ZCRM = {
            "CLIENT_ID": "1000.LIMITS",
            "CLIENT_SECRET": SECRET,
            "ACCOUNTS_URL": server.url,
            "API_BASE_URL": server.url,
            "CURRENT_USER_EMAIL": USER,
            "MAX_RETRIES": 0,
            "HTTP_TIMEOUT": (2, 10),
            "TOKEN_TIMEOUT": (2, 10),
        }
        yield server, trap


def _store(**changes) -> OAuthTokens:
    now = int(time.time() * 1000)
    values = dict(
        user_identifier=USER,
        access_token="access-token-value-" + "a" * 20,
        refresh_token=REFRESH,
        expiry_time=now + 3_600_000,
        last_refreshed_at=now,
    )
    values.update(changes)
    tokens = OAuthTokens(**values)
    get_persistence().save_oauth_tokens(tokens)
    get_oauth_client().clear_cache()
    return tokens


def _fields(tokens: OAuthTokens | None):
    assert tokens is not None
    return (tokens.access_token, tokens.refresh_token, tokens.expiry_time, tokens.api_domain)


def _json(status: int, body) -> Answer:
    return Answer(status, json.dumps(body).encode())


# -- the body cap -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["declared", "plain", "gzip"])
def test_a_1_gib_answer_is_refused_with_bounded_memory(mode):
    """A 1 GiB body (announced, streamed, or a gzip bomb) costs at most the 64 MiB cap."""
    run = subprocess.run(
        [sys.executable, "-m", "tests.support.huge_answer", mode],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome["error"] == "ZCRMResponseTooLargeError"
    assert outcome["growth_mib"] < 100
    assert outcome["seconds"] < 30


@pytest.mark.django_db
def test_the_cap_is_a_setting(servers, settings):
    server, _ = servers
    settings.ZCRM = {**settings.ZCRM, "MAX_RESPONSE_BYTES": 4096}
    _store()
    server.answer = _json(200, {"data": [{"id": "1", "x": "y" * 5000}]})
    with pytest.raises(ZCRMResponseTooLargeError, match="MAX_RESPONSE_BYTES"):
        Module("Leads").get("1")


# -- the total deadline ---------------------------------------------------------------------------------


class _Drip(BaseHTTPRequestHandler):
    """Sends its answer one byte at a time, 5 bytes a second (headers or body)."""

    protocol_version = "HTTP/1.1"
    where = "body"

    def log_message(self, *args: object) -> None:
        return

    def _drip(self, data: bytes) -> None:
        for byte in data:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(0.2)

    def do_GET(self) -> None:  # noqa: N802
        body = b'{"data": [{"id": "1"}]}' * 50
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        try:
            if self.where == "headers":
                self._drip(head + body)
            else:
                self.wfile.write(head)
                self.wfile.flush()
                self._drip(body)
        except OSError:
            return

    do_POST = do_GET


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_dripping_server_is_cut_off_at_the_total_deadline(settings, where):
    handler = type("Drip", (_Drip,), {"where": where})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        settings.ZCRM = {
            "CLIENT_ID": "1000.LIMITS",
            "CLIENT_SECRET": SECRET,
            "ACCOUNTS_URL": url,
            "API_BASE_URL": url,
            "CURRENT_USER_EMAIL": USER,
            "MAX_RETRIES": 0,
            # Every single read is quick (0.2 s): only the total deadline can stop this.
            "HTTP_TIMEOUT": (2, 10),
            "REQUEST_TOTAL_TIMEOUT": 1.5,
        }
        _store()
        started = time.monotonic()
        with pytest.raises(ZCRMDeadlineExceededError, match="REQUEST_TOTAL_TIMEOUT"):
            ZCRMClient().get("Leads")
        assert time.monotonic() - started < 4
        started = time.monotonic()
        with pytest.raises(ZCRMDeadlineExceededError):
            get_oauth_client().get_user_info("some-access-token-0123")
        assert time.monotonic() - started < 4
    finally:
        server.shutdown()
        server.server_close()


def test_a_token_request_ends_before_the_refresh_lease_lapses(settings):
    settings.ZCRM = {
        "CLIENT_ID": "1000.X",
        "CLIENT_SECRET": SECRET,
        "REFRESH_LEASE_SECONDS": 30,
        "REQUEST_TOTAL_TIMEOUT": 120,
    }
    client = OAuthClient.from_settings(persistence=None)
    assert client.limits.total_seconds < 30


def test_the_limits_are_checked():
    base = {"CLIENT_ID": "1000.X", "CLIENT_SECRET": "y"}
    ids = {p.id for p in validate({**base, "REQUEST_TOTAL_TIMEOUT": 0})}
    assert "django_zcrm.E070" in ids
    ids = {p.id for p in validate({**base, "MAX_RESPONSE_BYTES": "64MB"})}
    assert "django_zcrm.E071" in ids
    assert not {p.id for p in validate(base)} & {"django_zcrm.E070", "django_zcrm.E071"}


# -- redirects ------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_refused_and_name_the_host_and_no_credential_travels(servers, status):
    server, trap = servers
    _store(expiry_time=1)  # expired: the next call refreshes, sending the client secret
    server.answer = Answer(status, b"", None, {"Location": trap.url + "/oauth/v2/token"})
    with pytest.raises(ZCRMRedirectRefusedError, match="127.0.0.1"):
        Module("Leads").get("1")
    _store()
    with pytest.raises(ZCRMRedirectRefusedError):
        Module("Leads").get("1")
    with pytest.raises(ZCRMRedirectRefusedError):
        get_oauth_client().generate_access_token("grant-code-0123456789", USER)
    assert trap.seen == []


# -- token answers ------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "answer, error",
    [
        (_json(400, {"access_token": "1000.new", "expires_in": 3600}), ZCRMUntrustedAnswerError),
        (_json(200, {"access_token": "1000.new", "expires_in": 3600, "error": "x"}), ZCRMAuthError),
        (_json(200, {"access_token": 12345, "expires_in": 3600}), ZCRMUntrustedAnswerError),
        (_json(200, {"access_token": "tok en", "expires_in": 3600}), ZCRMUntrustedAnswerError),
        (_json(200, {"access_token": "é" * 20, "expires_in": 3600}), ZCRMUntrustedAnswerError),
        (_json(200, {"access_token": "a" * 1001, "expires_in": 3600}), ZCRMUntrustedAnswerError),
        (
            _json(200, {"access_token": "1000.ok", "refresh_token": ["x"], "expires_in": 3600}),
            ZCRMUntrustedAnswerError,
        ),
        (_json(200, {"access_token": "1000.ok", "expires_in": 10**12}), ZCRMUntrustedAnswerError),
        (_json(200, {"access_token": "1000.ok", "expires_in": -5}), ZCRMUntrustedAnswerError),
        (_json(200, {"access_token": "1000.ok", "expires_in": True}), ZCRMUntrustedAnswerError),
        (_json(200, {"access_token": "1000.ok", "expires_in": 3600.5}), ZCRMUntrustedAnswerError),
        (
            Answer(200, b'{"access_token": "1000.ok", "expires_in": NaN}'),
            ZCRMUntrustedAnswerError,
        ),
        (
            Answer(200, b'{"access_token": "1000.ok", "expires_in": 1e999}'),
            ZCRMUntrustedAnswerError,
        ),
        (
            _json(
                200,
                {
                    "access_token": "1000.ok",
                    "expires_in": 3600,
                    "api_domain": "https://evil.example",
                },
            ),
            ZCRMUntrustedAnswerError,
        ),
        (
            _json(
                200,
                {
                    "access_token": "1000.ok",
                    "expires_in": 3600,
                    "api_domain": "https://www.zohoapis.com.evil.example",
                },
            ),
            ZCRMUntrustedAnswerError,
        ),
        (Answer(200, b"[" * 5000 + b"]" * 5000), ZCRMMalformedResponseError),
    ],
)
def test_a_token_answer_that_is_not_complete_and_plausible_changes_nothing(servers, answer, error):
    server, _ = servers
    before = _fields(_store(expiry_time=int(time.time() * 1000) + 10_000))
    server.answer = answer
    with pytest.raises(error):
        get_oauth_client().refresh_access_token(USER)
    assert _fields(get_persistence().get_oauth_tokens(USER)) == before


@pytest.mark.django_db
def test_a_zoho_api_domain_is_stored(servers):
    server, _ = servers
    _store()
    server.answer = _json(
        200,
        {"access_token": "1000.fresh", "expires_in": 3600, "api_domain": "https://www.zohoapis.eu"},
    )
    tokens = get_oauth_client().refresh_access_token(USER)
    assert tokens.api_domain == "https://www.zohoapis.eu"
    assert get_persistence().get_oauth_tokens(USER).access_token == "1000.fresh"


def test_one_rule_for_trusted_zoho_hosts():
    configured = "http://127.0.0.1:8000"
    assert (
        trusted_zoho_url("https://www.zohoapis.eu", configured, "api") == "https://www.zohoapis.eu"
    )
    assert trusted_zoho_url("www.zohoapis.com", configured, "api") == "https://www.zohoapis.com"
    assert trusted_zoho_url(configured + "/", configured, "api") == configured
    for bad in [
        "http://www.zohoapis.com",
        "https://www.zohoapis.com:444",
        "https://user@www.zohoapis.com",
        "https://www.zohoapis.com/path",
        "https://accounts.zoho.com",
        "https://evil.example",
        "https://www.zohoapis.com\x00",
        "https://www.zohoapis.cöm",
        "x" * 300,
        12,
        None,
    ]:
        assert trusted_zoho_url(bad, configured, "api") is None, bad


# -- revoke ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "answer",
    [
        _json(400, {"status": "failure", "error": "invalid_token"}),
        _json(200, {}),
        _json(200, {"status": "pending"}),
        _json(500, {"status": "success"}),
        Answer(200, b"not json"),
    ],
)
def test_revoke_keeps_the_tokens_unless_zoho_confirms(servers, answer):
    server, _ = servers
    _store()
    server.answer = answer
    with pytest.raises(ZCRMError):  # any ZCRMError
        get_oauth_client().revoke(USER)
    assert get_persistence().get_oauth_tokens(USER) is not None


@pytest.mark.django_db
def test_revoke_deletes_the_tokens_on_a_confirmed_success(servers):
    server, _ = servers
    _store()
    server.answer = _json(200, {"status": "success"})
    assert get_oauth_client().revoke(USER) is True
    assert get_persistence().get_oauth_tokens(USER) is None


# -- secrets echoed by the server -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_secret_echoed_in_a_fresh_process_never_reaches_last_error(servers, monkeypatch):
    server, _ = servers
    _store(expiry_time=1)
    # A fresh process: the redactor knows nothing yet.
    monkeypatch.setattr(redaction, "_secrets", type(redaction._secrets)())
    monkeypatch.setattr(redaction, "_secret_re", None)
    server.answer = _json(
        200, {"error": "Access Denied", "error_description": f"too many uses of {REFRESH}"}
    )
    with pytest.raises(ZCRMAuthError):
        get_oauth_client().refresh_access_token(USER)
    stored = get_persistence().get_oauth_tokens(USER)
    assert stored.last_error and REFRESH not in stored.last_error
    assert stored.refresh_token == REFRESH


# -- paging that never ends ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "info",
    [
        {"more_records": True, "next_page_token": "same"},
        {"more_records": True},
    ],
)
def test_paging_stops_when_zoho_repeats_itself(servers, info):
    server, _ = servers
    _store()
    server.answer = _json(200, {"data": [{"id": "1"}, {"id": "2"}], "info": info})
    with pytest.raises(ZCRMMalformedResponseError, match="paging stopped"):
        list(Module("Leads").iter_records())
    assert len(server.seen) <= 3


@pytest.mark.django_db
def test_an_empty_page_that_says_more_stops_paging(servers):
    server, _ = servers
    _store()
    server.answer = _json(200, {"data": [], "info": {"more_records": True}})
    with pytest.raises(ZCRMMalformedResponseError, match="no new record"):
        list(Module("Leads").iter_records())


@pytest.mark.django_db
def test_a_sync_that_cannot_page_gives_its_lease_back(servers):
    server, _ = servers
    _store()
    server.answer = _json(200, {"data": [{"id": "1"}], "info": {"more_records": True}})
    with pytest.raises(ZCRMMalformedResponseError):
        sync_module("Leads")
    assert SyncState.objects.filter(lease_owner__isnull=False).count() == 0
    assert len(server.seen) < 10


# -- resets and truncation -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "answer", [Answer(mode="reset"), Answer(200, b'{"data": [{"id": "1"}]', mode="truncated")]
)
def test_resets_and_truncated_bodies_are_connection_errors(servers, answer):
    server, _ = servers
    _store()
    server.answer = answer
    with pytest.raises(ZCRMError) as caught:
        Module("Leads").get("1")
    assert type(caught.value).__module__ == "django_zcrm.exceptions"


def test_the_reset_mode_really_resets():
    with HostileServer(SECRET) as server:
        server.answer = Answer(mode="reset")
        host, port = server.url.rsplit(":", 1)
        with socket.create_connection(("127.0.0.1", int(port))) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            with pytest.raises(ConnectionResetError):
                sock.recv(10)
                sock.recv(10)
