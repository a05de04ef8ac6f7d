"""The CRM HTTP client against the bundled fake Zoho over real HTTP, with a real token store."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from django_zcrm import __version__
from django_zcrm.client import ZCRMClient, get_client, use_default_token_provider
from django_zcrm.exceptions import (
    ZCRMConfigurationError,
    ZCRMConnectionError,
    ZCRMError,
    ZCRMInvalidTokenError,
    ZCRMMalformedResponseError,
    ZCRMNotFoundError,
    ZCRMPermissionError,
    ZCRMRateLimitError,
    ZCRMScopeMismatchError,
    ZCRMServerError,
    ZCRMValidationError,
)
from django_zcrm.oauth import get_oauth_client
from django_zcrm.redaction import TOKEN_RE
from django_zcrm.tokens import OAuthTokens, TokenProvider
from tests.support.sleeps import SleepRecorder

LEADS = "/crm/v2/Leads"


@pytest.fixture
def sleeps():
    return SleepRecorder()


@pytest.fixture
def client(zoho_tokens, sleeps):
    with ZCRMClient(sleep=sleeps) as crm:
        yield crm


@pytest.fixture
def seeded(fake_zoho, zoho_tokens):
    fake_zoho.crm.seed("Leads", 3)
    fake_zoho.reset_counters()
    return fake_zoho


def crm_requests(fake, method: str | None = None, prefix: str = "/crm/"):
    return [
        r
        for r in fake.requests
        if r.path.startswith(prefix) and (method is None or r.method == method)
    ]


def wait_for(condition, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def refreshes(fake) -> int:
    return fake.accounts.token_requests("refresh_token")


# -- the request itself ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_requests_carry_the_oauth_header_and_our_user_agent(seeded, client, zoho_tokens):
    response = client.get("Leads")

    assert response.status == 200
    assert len(response.data["data"]) == 3
    sent = crm_requests(seeded)[-1]
    assert sent.path == LEADS
    assert sent.headers["Authorization"] == f"Zoho-oauthtoken {zoho_tokens.access_token}"
    assert sent.headers["User-Agent"] == f"django-zcrm/{__version__}"


@pytest.mark.django_db
def test_api_version_setting_picks_the_path(seeded, client, settings):
    settings.ZCRM = {**settings.ZCRM, "API_VERSION": "v8"}

    client.get("Leads", params={"fields": "Last_Name"})

    assert crm_requests(seeded)[-1].path == "/crm/v8/Leads"


@pytest.mark.django_db
def test_one_pooled_connection_serves_many_requests(seeded, client):
    for _ in range(10):
        client.get("Leads")

    assert len(crm_requests(seeded)) == 10
    assert seeded.connections_opened == 1


@pytest.mark.django_db(
    transaction=True
)  # the threads read the token store on their own connections
def test_each_thread_gets_its_own_session_and_all_requests_succeed(seeded, client):
    statuses: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(3):
            status = client.get("Leads").status
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert statuses == [200] * 12
    assert seeded.connections_opened == 4


@pytest.mark.django_db
def test_shared_client_is_reused_until_settings_change(zoho_tokens, settings):
    first = get_client()
    assert get_client() is first

    settings.ZCRM = {**settings.ZCRM, "HTTP_TIMEOUT": (3, 10)}

    assert get_client() is not first


@pytest.mark.django_db
def test_no_content_and_not_modified_are_empty_answers_not_errors(seeded, client):
    seeded.inject(method="GET", path_prefix=LEADS, status=204)
    seeded.inject(method="GET", path_prefix=LEADS, status=304)

    assert client.get("Leads").is_empty
    assert client.get("Leads").is_empty
    assert len(crm_requests(seeded)) == 2


# -- 401: one refresh, one retry -------------------------------------------------------------------


@pytest.mark.django_db
def test_invalid_token_mid_run_refreshes_once_and_the_call_succeeds(seeded, client):
    client.get("Leads")
    seeded.accounts.expire_access_tokens()

    response = client.get("Leads")

    assert response.status == 200
    assert refreshes(seeded) == 1
    statuses = [r.status for r in crm_requests(seeded)]
    assert statuses == [200, 401, 200]
    assert (
        crm_requests(seeded)[1].headers["Authorization"]
        != crm_requests(seeded)[2].headers["Authorization"]
    )


@pytest.mark.django_db
def test_authentication_failure_is_treated_like_an_invalid_token(seeded, client):
    seeded.inject(
        method="GET",
        path_prefix=LEADS,
        status=401,
        body={
            "code": "AUTHENTICATION_FAILURE",
            "details": {},
            "message": "Authentication failed",
            "status": "error",
        },
    )

    assert client.get("Leads").status == 200
    assert refreshes(seeded) == 1


@pytest.mark.django_db
def test_token_rejected_again_after_the_refresh_is_raised_without_a_third_try(seeded, client):
    seeded.inject(method="GET", path_prefix=LEADS, status=401, times=2)

    with pytest.raises(ZCRMInvalidTokenError) as caught:
        client.get("Leads")

    assert caught.value.status == 401
    assert caught.value.code == "INVALID_TOKEN"
    assert refreshes(seeded) == 1
    assert len(crm_requests(seeded)) == 2


@pytest.mark.django_db
def test_an_insert_rejected_for_its_token_is_sent_again_after_the_refresh(seeded, client):
    seeded.accounts.expire_access_tokens()

    response = client.post("Leads", json={"data": [{"Last_Name": "Again", "Company": "ACME"}]})

    assert response.data["data"][0]["status"] == "success"
    assert [r.status for r in crm_requests(seeded, "POST")] == [401, 201]
    assert refreshes(seeded) == 1


@pytest.mark.django_db
def test_scope_mismatch_is_not_refreshed_and_names_the_fix(seeded, client):
    seeded.inject(
        method="GET",
        path_prefix=LEADS,
        status=401,
        body={
            "code": "OAUTH_SCOPE_MISMATCH",
            "details": {},
            "message": "invalid oauth scope to access this URL",
            "status": "error",
        },
    )

    with pytest.raises(ZCRMScopeMismatchError) as caught:
        client.get("Leads")

    assert "SCOPES" in str(caught.value)
    assert refreshes(seeded) == 0
    assert len(crm_requests(seeded)) == 1


# -- 429 -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_too_many_requests_with_retry_after_is_waited_out_for_real(seeded, zoho_tokens):
    seeded.inject(method="GET", path_prefix=LEADS, status=429, headers={"Retry-After": "1"})
    crm = ZCRMClient()  # the real time.sleep

    started = time.monotonic()
    response = crm.get("Leads")
    waited = time.monotonic() - started
    crm.close()

    assert response.status == 200
    assert response.attempts == 2
    assert waited >= 1.0
    assert [r.status for r in crm_requests(seeded)] == [429, 200]


@pytest.mark.django_db
def test_too_many_requests_without_retry_after_backs_off_with_jitter_within_bounds(
    seeded, client, sleeps, settings
):
    settings.ZCRM = {**settings.ZCRM, "RETRY_BACKOFF_BASE": 0.5, "RETRY_BACKOFF_MAX": 1.5}
    seeded.inject(method="GET", path_prefix=LEADS, status=429, times=3)

    assert client.get("Leads").status == 200

    assert len(sleeps.delays) == 3
    for attempt, delay in enumerate(sleeps.delays):
        assert 0 <= delay <= min(1.5, 0.5 * 2**attempt)
    assert len(crm_requests(seeded)) == 4


@pytest.mark.django_db
def test_rate_limit_retries_stop_at_max_retries(seeded, client, sleeps, settings):
    settings.ZCRM = {**settings.ZCRM, "MAX_RETRIES": 2}
    seeded.inject(
        method="GET", path_prefix=LEADS, status=429, times=5, headers={"Retry-After": "2"}
    )

    with pytest.raises(ZCRMRateLimitError) as caught:
        client.get("Leads")

    assert caught.value.retry_after == 2
    assert caught.value.code == "TOO_MANY_REQUESTS"
    assert sleeps.delays == [2.0, 2.0]
    assert len(crm_requests(seeded)) == 3


@pytest.mark.django_db
def test_retry_after_beyond_the_cap_is_raised_at_once_instead_of_blocking(
    seeded, client, sleeps, settings
):
    settings.ZCRM = {**settings.ZCRM, "MAX_RETRY_AFTER": 60}
    seeded.inject(method="GET", path_prefix=LEADS, status=429, headers={"Retry-After": "3600"})

    with pytest.raises(ZCRMRateLimitError) as caught:
        client.get("Leads")

    assert caught.value.retry_after == 3600
    assert sleeps.delays == []
    assert len(crm_requests(seeded)) == 1


# -- 5xx and the network ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_server_error_on_a_read_is_retried(seeded, client, sleeps):
    seeded.inject(method="GET", path_prefix=LEADS, status=500)

    assert client.get("Leads").status == 200
    assert [r.status for r in crm_requests(seeded)] == [500, 200]
    assert len(sleeps.delays) == 1


@pytest.mark.django_db
def test_server_error_on_an_insert_is_not_repeated(seeded, client, sleeps):
    seeded.inject(method="POST", path_prefix=LEADS, status=500)

    with pytest.raises(ZCRMServerError) as caught:
        client.post("Leads", json={"data": [{"Last_Name": "Once", "Company": "ACME"}]})

    assert caught.value.status == 500
    assert caught.value.code == "INTERNAL_ERROR"
    assert len(crm_requests(seeded, "POST")) == 1
    assert sleeps.delays == []


@pytest.mark.django_db
def test_server_error_on_a_post_marked_idempotent_is_retried(seeded, client):
    seeded.inject(method="POST", path_prefix="/crm/v2/Leads/upsert", status=503)

    response = client.post(
        "Leads/upsert",
        json={"data": [{"Last_Name": "Twice", "Company": "ACME", "Email": "twice@example.com"}]},
        idempotent=True,
    )

    assert response.data["data"][0]["status"] == "success"
    assert [r.status for r in crm_requests(seeded)] == [503, 200]
    assert len(seeded.crm.records("Leads")) == 4


@pytest.mark.django_db
def test_dropped_connection_on_a_read_is_retried(seeded, client):
    seeded.inject(method="GET", path_prefix=LEADS, drop=True)

    assert client.get("Leads").status == 200
    assert [r.status for r in crm_requests(seeded)] == [0, 200]


@pytest.mark.django_db
def test_dropped_connection_on_an_insert_is_not_repeated(seeded, client):
    seeded.inject(method="POST", path_prefix=LEADS, drop=True)

    with pytest.raises(ZCRMConnectionError) as caught:
        client.post("Leads", json={"data": [{"Last_Name": "Once", "Company": "ACME"}]})

    assert "NOT repeated" in str(caught.value)
    assert caught.value.request_sent is True
    assert len(crm_requests(seeded, "POST")) == 1


@pytest.mark.django_db
def test_read_timeout_on_a_read_is_retried(seeded, client, settings):
    settings.ZCRM = {**settings.ZCRM, "HTTP_TIMEOUT": (2, 0.3)}
    seeded.inject(method="GET", path_prefix=LEADS, delay=0.8)

    assert client.get("Leads").status == 200
    wait_for(lambda: len(crm_requests(seeded, "GET")) == 2)  # the slow one is still sleeping
    assert len(crm_requests(seeded, "GET")) == 2


@pytest.mark.django_db
def test_read_timeout_on_an_insert_is_not_repeated(seeded, client, settings):
    settings.ZCRM = {**settings.ZCRM, "HTTP_TIMEOUT": (2, 0.3)}
    seeded.inject(method="POST", path_prefix=LEADS, delay=0.8)

    with pytest.raises(ZCRMConnectionError):
        client.post("Leads", json={"data": [{"Last_Name": "Once", "Company": "ACME"}]})

    wait_for(lambda: len(crm_requests(seeded, "POST")) >= 1)  # the slow one is still sleeping
    time.sleep(0.3)  # and a repeat, if one had been sent, would be answered by now
    assert len(crm_requests(seeded, "POST")) == 1


@pytest.mark.django_db
def test_refused_connection_is_retried_even_for_an_insert_then_reported(
    fake_zoho, client, sleeps, settings
):
    settings.ZCRM = {**settings.ZCRM, "MAX_RETRIES": 2}
    client.oauth_client.get_tokens()  # tokens are read before the server goes away
    fake_zoho.stop()

    with pytest.raises(ZCRMConnectionError) as caught:
        client.post("Leads", json={"data": [{"Last_Name": "Never", "Company": "ACME"}]})

    assert caught.value.request_sent is False
    assert "could not connect" in str(caught.value)
    assert len(sleeps.delays) == 2


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_malformed_json_gives_a_typed_error_naming_status_and_content_type(seeded, client):
    seeded.inject(method="GET", path_prefix=LEADS, malformed=True)

    with pytest.raises(ZCRMMalformedResponseError) as caught:
        client.get("Leads")

    text = str(caught.value)
    assert "HTTP 200" in text
    assert "application/json" in text
    assert '{"data":[{"id"' in text
    assert len(crm_requests(seeded)) == 1


@pytest.mark.django_db
def test_proxy_html_page_is_a_server_error_that_shows_what_came_back(seeded, client, settings):
    settings.ZCRM = {**settings.ZCRM, "MAX_RETRIES": 0}
    seeded.inject(method="GET", path_prefix=LEADS, html=True)

    with pytest.raises(ZCRMServerError) as caught:
        client.get("Leads")

    assert caught.value.status == 502
    assert "text/html" in str(caught.value)
    assert "Bad Gateway" in str(caught.value)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            {
                "code": "INVALID_DATA",
                "details": {"api_name": "Email"},
                "message": "invalid data",
                "status": "error",
            },
            ZCRMValidationError,
        ),
        (
            403,
            {
                "code": "NO_PERMISSION",
                "details": {"permissions": ["Crm_Implied_View_Leads"]},
                "message": "permission denied",
                "status": "error",
            },
            ZCRMPermissionError,
        ),
        (
            404,
            {
                "code": "INVALID_URL_PATTERN",
                "details": {},
                "message": "Please check if the URL trying to access is a correct one",
                "status": "error",
            },
            ZCRMNotFoundError,
        ),
        (
            400,
            {
                "code": "INVALID_MODULE",
                "details": {"resource_path_index": 0},
                "message": "the module name given seems to be invalid",
                "status": "error",
            },
            ZCRMNotFoundError,
        ),
    ],
)
def test_errors_are_typed_and_carry_status_code_details_and_request_id(
    seeded, client, status, body, expected
):
    seeded.inject(
        method="GET",
        path_prefix=LEADS,
        status=status,
        body=body,
        headers={"X-Request-Id": "req-4711"},
    )

    with pytest.raises(expected) as caught:
        client.get("Leads")

    error = caught.value
    assert error.status == status
    assert error.code == body["code"]
    assert error.details == body["details"]
    assert error.request_id == "req-4711"
    assert body["code"] in str(error) and "req-4711" in str(error)


@pytest.mark.django_db
def test_redirect_to_an_error_page_is_an_error_not_followed(seeded, client):
    seeded.inject(
        method="GET",
        path_prefix=LEADS,
        status=302,
        headers={"Location": "https://crm.zoho.com/crm/IAMSecurityError.do?isload=true"},
    )

    with pytest.raises(ZCRMError) as caught:
        client.get("Leads")

    assert "IAMSecurityError" in str(caught.value)
    assert len(crm_requests(seeded)) == 1


@pytest.mark.django_db
def test_unknown_record_path_is_not_found(seeded, client):
    with pytest.raises(ZCRMNotFoundError):
        client.get("No_Such_Module_X")


# -- secrets ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_token_travels_only_in_the_authorization_header(seeded, client, zoho_tokens):
    seeded.inject(method="GET", path_prefix=LEADS, status=429, headers={"Retry-After": "0"})
    seeded.inject(method="GET", path_prefix=LEADS, status=500)
    client.get("Leads")
    seeded.accounts.expire_access_tokens()
    client.post("Leads", json={"data": [{"Last_Name": "Safe", "Company": "ACME"}]})
    client.get(
        "Leads",
        params={"fields": "Last_Name"},
        headers={"If-Modified-Since": "2020-01-01T00:00:00+00:00"},
    )

    sent = crm_requests(seeded)
    assert len(sent) >= 5
    tokens = {r.headers["Authorization"].split(" ", 1)[1] for r in sent}
    assert len(tokens) == 2  # the first token, then the refreshed one
    for record in sent:
        others = {k: v for k, v in record.headers.items() if k.lower() != "authorization"}
        places = [
            record.path,
            repr(record.query),
            record.body.decode("utf-8", "replace"),
            repr(others),
        ]
        for token in tokens:
            assert not any(token in place for place in places), record
        assert not any(TOKEN_RE.search(place) for place in places)


@pytest.mark.django_db
def test_errors_and_logs_never_hold_the_token(seeded, client, zoho_tokens, caplog):
    caplog.set_level(logging.DEBUG, logger="django_zcrm")
    seeded.inject(method="GET", path_prefix=LEADS, status=401, times=2)

    with pytest.raises(ZCRMInvalidTokenError) as caught:
        client.get("Leads")

    token = zoho_tokens.access_token
    assert token not in str(caught.value) and token not in repr(caught.value)
    assert caught.value.response is None or token not in repr(caught.value.response)
    assert caplog.records
    for record in caplog.records:
        assert not TOKEN_RE.search(record.getMessage())


@pytest.mark.django_db
def test_each_request_is_logged_at_debug_and_each_retry_at_warning(seeded, client, caplog):
    caplog.set_level(logging.DEBUG, logger="django_zcrm.client")
    seeded.inject(method="GET", path_prefix=LEADS, status=500)

    client.get("Leads")

    ours = [r for r in caplog.records if r.name == "django_zcrm.client"]
    debug = [r.getMessage() for r in ours if r.levelno == logging.DEBUG]
    warnings = [r.getMessage() for r in ours if r.levelno == logging.WARNING]
    assert len(debug) == 2
    assert debug[0].startswith("GET Leads -> 500 in ") and debug[0].endswith(" ms")
    assert debug[1].startswith("GET Leads -> 200 in ")
    assert len(warnings) == 1 and "retry 1 of" in warnings[0]


# -- MAX_CONCURRENT_REQUESTS: the process-wide cap on calls in flight ------------------------------


HOLD_PATH = "/test/hold"


def hold_route(fake, release: threading.Event) -> None:
    """``GET /test/hold`` answers only once ``release`` is set: a call that holds its slot."""
    from django_zcrm.testing import json_response

    def handler(request):
        release.wait(30)
        return json_response(200, {"held": True})

    fake.route("GET", HOLD_PATH, handler, "GET /test/hold")


def run_threads(targets, timeout: float = 60.0) -> list:
    """Run each callable in its own thread, released together; return results or exceptions."""
    from django.db import connections

    results: list = [None] * len(targets)
    barrier = threading.Barrier(len(targets))

    def run(index, target):
        try:
            barrier.wait(10)
            results[index] = target()
        except BaseException as exc:  # reported by the test's assertions
            results[index] = exc
        finally:
            connections.close_all()  # this thread's token-store connection

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    return results


def twelve_lead_readers(fake) -> list:
    """12 threads, half on the shared client and half on clients of their own, each listing the
    Leads and getting one through Module("Leads"), with every request taking a while at Zoho."""
    from django_zcrm.services import Module

    fake.set_network(request_delay=0.2)

    def read(own_client: bool):
        def target():
            leads = Module("Leads", client=ZCRMClient() if own_client else None)
            records = list(leads.iter_records())
            return leads.get(records[0].id).id

        return target

    results = run_threads([read(i % 2 == 0) for i in range(12)])
    fake.set_network()
    return results


@pytest.mark.django_db(
    transaction=True
)  # the threads read the token store on their own connections
def test_max_concurrent_requests_caps_calls_in_flight_across_threads_and_clients(seeded, settings):
    settings.ZCRM = {**settings.ZCRM, "MAX_CONCURRENT_REQUESTS": 3}

    results = twelve_lead_readers(seeded)

    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures[:3]
    assert len(results) == 12
    assert len(crm_requests(seeded)) == 24
    assert refreshes(seeded) == 0  # so every request the fake counted was a CRM call
    assert seeded.peak_concurrency() <= 3


@pytest.mark.parametrize("cap", [None, 0])
@pytest.mark.django_db(transaction=True)
def test_without_a_cap_the_same_readers_overlap_more_than_three_calls(seeded, settings, cap):
    settings.ZCRM = {**settings.ZCRM, "MAX_CONCURRENT_REQUESTS": cap}

    results = twelve_lead_readers(seeded)

    assert not [r for r in results if isinstance(r, BaseException)]
    assert len(crm_requests(seeded)) == 24
    assert seeded.peak_concurrency() > 3


@pytest.mark.django_db(transaction=True)
def test_a_retry_back_off_does_not_hold_a_slot(seeded, settings):
    from django_zcrm.services import Module

    settings.ZCRM = {**settings.ZCRM, "MAX_CONCURRENT_REQUESTS": 1}
    seeded.inject(method="GET", path_prefix=LEADS, status=429, headers={"Retry-After": "5"})
    in_back_off, back_off_over = threading.Event(), threading.Event()
    waits: list[float] = []

    def back_off(seconds: float) -> None:
        waits.append(seconds)
        in_back_off.set()
        back_off_over.wait(30)

    first = ZCRMClient(sleep=back_off)
    outcome: list = []
    waiting = threading.Thread(target=lambda: outcome.append(first.get("Leads")))
    waiting.start()
    assert in_back_off.wait(10), "the 429 was not backed off"

    # With the only slot held through the back-off, each of these would fail after 10 s.
    others = run_threads(
        [
            lambda: list(Module("Leads", client=ZCRMClient(slot_timeout=10)).iter_records())
            for _ in range(4)
        ]
    )
    still_waiting = waiting.is_alive()
    back_off_over.set()
    waiting.join(10)
    first.close()

    assert all(isinstance(r, list) and len(r) == 3 for r in others), others
    assert still_waiting
    assert waits == [5.0]
    assert outcome[0].status == 200 and outcome[0].attempts == 2
    # The fake records requests as they finish: the 429, the others' four calls, the retry.
    assert [r.status for r in crm_requests(seeded)] == [429, 200, 200, 200, 200, 200]
    assert seeded.peak_concurrency() <= 1


@pytest.mark.django_db(transaction=True)
def test_a_call_that_gets_no_slot_in_time_is_not_sent_and_names_the_setting(seeded, settings):
    from django_zcrm.client import LOCAL_CONCURRENCY_LIMIT

    settings.ZCRM = {**settings.ZCRM, "MAX_CONCURRENT_REQUESTS": 1}
    release = threading.Event()
    hold_route(seeded, release)
    holder = ZCRMClient()
    held = threading.Thread(target=holder.get, args=(HOLD_PATH,))
    held.start()
    wait_for(lambda: seeded.in_flight() == 1, timeout=10)
    assert seeded.in_flight() == 1

    impatient = ZCRMClient(slot_timeout=0.2)
    try:
        with pytest.raises(ZCRMRateLimitError) as caught:
            impatient.get("Leads")
    finally:
        release.set()
        held.join(10)

    error = caught.value
    assert error.code == LOCAL_CONCURRENCY_LIMIT
    assert error.status is None
    assert error.request_sent is False
    assert "ZCRM['MAX_CONCURRENT_REQUESTS'] = 1" in str(error)
    assert "Raise ZCRM['MAX_CONCURRENT_REQUESTS']" in str(error)
    assert crm_requests(seeded) == []  # the refused call never reached Zoho
    # The slot came back with the held call: the same client now gets through.
    assert impatient.get("Leads").status == 200
    holder.close()
    impatient.close()


@pytest.mark.django_db(transaction=True)
def test_a_new_cap_applies_to_the_next_call_without_a_restart(seeded, settings):
    settings.ZCRM = {**settings.ZCRM, "MAX_CONCURRENT_REQUESTS": 1}
    release = threading.Event()
    hold_route(seeded, release)
    holder, other = ZCRMClient(), ZCRMClient(slot_timeout=0.2)
    held = threading.Thread(target=holder.get, args=(HOLD_PATH,))
    held.start()
    wait_for(lambda: seeded.in_flight() == 1, timeout=10)
    try:
        with pytest.raises(ZCRMRateLimitError):
            other.get("Leads")

        settings.ZCRM = {**settings.ZCRM, "MAX_CONCURRENT_REQUESTS": 2}
        assert other.get("Leads").status == 200

        settings.ZCRM = {**settings.ZCRM, "MAX_CONCURRENT_REQUESTS": None}
        assert other.get("Leads").status == 200
    finally:
        release.set()
        held.join(10)
    assert [r.status for r in crm_requests(seeded)] == [200, 200]
    holder.close()
    other.close()


class StaticProvider:
    """A token provider of the caller's own: the client needs nothing but these two methods."""

    def __init__(self, tokens: OAuthTokens) -> None:
        self.tokens = tokens
        self.refreshes = 0

    def get_tokens(self, user_identifier: str | None = None) -> OAuthTokens:
        return self.tokens

    def refresh_access_token(
        self, user_identifier: str | None = None, *, stale_token: str | None = None
    ) -> OAuthTokens:
        self.refreshes += 1
        return self.tokens


@pytest.mark.django_db
def test_any_token_provider_can_stand_in_for_the_oauth_client(seeded, zoho_tokens):
    provider = StaticProvider(zoho_tokens)
    assert isinstance(provider, TokenProvider)

    with ZCRMClient(oauth_client=provider) as crm:
        response = crm.get("Leads")

    assert response.status == 200 and len(response.data["data"]) == 3
    assert provider.refreshes == 0
    sent = crm_requests(seeded)[-1]
    assert sent.headers["Authorization"] == f"Zoho-oauthtoken {zoho_tokens.access_token}"


@pytest.mark.parametrize(
    ("api_domain", "sandbox", "expected"),
    [
        ("https://www.zohoapis.eu", True, "https://sandbox.zohoapis.eu/crm/v2/"),
        ("www.zohoapis.eu/", True, "https://sandbox.zohoapis.eu/crm/v2/"),
        ("https://www.zohoapis.eu", False, "https://www.zohoapis.eu/crm/v2/"),
        # The configured API_BASE_URL (tests/settings.py) is used as is, even for a sandbox.
        ("http://127.0.0.1:9", True, "http://127.0.0.1:9/crm/v2/"),
        # Neither Zoho's nor the configured host: the token never goes there.
        ("http://127.0.0.1:8000", False, "http://127.0.0.1:9/crm/v2/"),
        ("https://evil.example", False, "http://127.0.0.1:9/crm/v2/"),
    ],
)
def test_a_sandbox_client_uses_the_sandbox_twin_of_the_tokens_api_domain(
    settings, api_domain, sandbox, expected
):
    settings.ZCRM = {**settings.ZCRM, "SANDBOX": sandbox, "API_VERSION": "v2"}
    tokens = OAuthTokens("me@example.com", "access", "refresh", 0, api_domain=api_domain)

    assert ZCRMClient(oauth_client=StaticProvider(tokens)).base_url() == expected


def test_a_client_without_a_token_provider_says_how_to_get_one():
    previous = use_default_token_provider(None)  # as if the app had never been made ready
    try:
        with pytest.raises(ZCRMConfigurationError) as caught:
            ZCRMClient().get("Leads")
    finally:
        use_default_token_provider(previous)

    assert "INSTALLED_APPS" in str(caught.value) and "oauth_client=" in str(caught.value)


def test_the_app_wires_the_oauth_client_in_as_the_default_token_provider(zcrm_settings):
    assert ZCRMClient().oauth_client is get_oauth_client()
