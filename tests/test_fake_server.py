"""The fake Zoho server's plumbing: routing, counters, connections, faults and simulated latency."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from django_zcrm.testing import (
    FakeClock,
    FakeRequest,
    FakeResponse,
    FakeZoho,
    empty_response,
    json_response,
)

ECHO = "POST /echo/{kind}"
PING = "GET /ping"


def _echo(request: FakeRequest) -> FakeResponse:
    form = request.form()
    files = {
        name: [filename, content.decode()] for name, (filename, content) in request.files().items()
    }
    try:
        as_json = request.json()
    except ValueError:
        as_json = "not json"
    return json_response(
        200,
        {
            "kind": request.path_params["kind"],
            "query": request.query,
            "form": form,
            "files": files,
            "json": as_json,
            "param_a": request.param("a"),
            "param_missing": request.param("missing", "fallback"),
            "x_custom": request.headers.get("x-CUSTOM"),
            "endpoint": request.endpoint,
        },
    )


@pytest.fixture
def fake() -> Iterator[FakeZoho]:
    with FakeZoho() as server:
        server.route("POST", r"/echo/(?P<kind>[a-z]+)", _echo, ECHO)
        server.route("GET", r"/ping", lambda request: json_response(200, {"pong": True}), PING)
        server.route("GET", r"/empty", lambda request: empty_response(204), "GET /empty")
        yield server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


# -- routing and request parsing -------------------------------------------------------------------


def test_route_receives_path_params_query_headers_and_json_body(
    fake: FakeZoho, session: requests.Session
) -> None:
    response = session.post(
        f"{fake.url}/echo/abc?a=1&a=2&blank=", data=b'{"x": [1]}', headers={"X-Custom": "yes"}
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json;charset=utf-8"
    assert int(response.headers["Content-Length"]) == len(response.content)
    body = response.json()
    assert body["kind"] == "abc"
    assert body["query"] == {"a": ["1", "2"], "blank": [""]}
    assert body["json"] == {"x": [1]}
    assert body["form"] == {}  # a bare JSON body is not mistaken for a form
    assert body["param_a"] == "1"
    assert body["param_missing"] == "fallback"
    assert body["x_custom"] == "yes"
    assert body["endpoint"] == ECHO


def test_param_reads_urlencoded_body_when_query_lacks_it(
    fake: FakeZoho, session: requests.Session
) -> None:
    body = session.post(f"{fake.url}/echo/form", data={"a": "from body", "b": "2"}).json()
    assert body["param_a"] == "from body"
    assert body["form"] == {"a": ["from body"], "b": ["2"]}
    assert body["json"] == "not json"


def test_param_prefers_query_string_over_body(fake: FakeZoho, session: requests.Session) -> None:
    body = session.post(f"{fake.url}/echo/form?a=query", data={"a": "body"}).json()
    assert body["param_a"] == "query"


def test_multipart_fields_and_files_are_parsed(fake: FakeZoho, session: requests.Session) -> None:
    body = session.post(
        f"{fake.url}/echo/multi",
        data={"a": "field value"},
        files={"file": ("notes.csv", b"id,name\r\n1,x\r\n")},
    ).json()
    assert body["param_a"] == "field value"
    assert body["form"] == {"a": ["field value"]}
    assert body["files"] == {"file": ["notes.csv", "id,name\r\n1,x\r\n"]}


def test_body_null_without_content_type_is_an_empty_form(fake: FakeZoho) -> None:
    # zcrmsdk 2.x posts the literal text "null" with no Content-Type.
    request = requests.Request("POST", f"{fake.url}/echo/null?a=q", data=b"null").prepare()
    request.headers.pop("Content-Type", None)
    with requests.Session() as s:
        body = s.send(request).json()
    assert body["form"] == {}
    assert body["json"] is None
    assert body["param_a"] == "q"


def test_chunked_request_body_is_read(fake: FakeZoho, session: requests.Session) -> None:
    body = session.post(
        f"{fake.url}/echo/chunked",
        data=iter([b"a=", b"chun", b"ked"]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).json()
    assert body["param_a"] == "chunked"


def test_route_must_match_the_whole_path_and_the_method(
    fake: FakeZoho, session: requests.Session
) -> None:
    assert session.get(f"{fake.url}/ping").status_code == 200
    assert session.get(f"{fake.url}/ping/extra").status_code == 404
    assert session.get(f"{fake.url}/xping").status_code == 404
    assert session.post(f"{fake.url}/ping").status_code == 404


def test_unknown_route_answers_zoho_invalid_url_pattern(
    fake: FakeZoho, session: requests.Session
) -> None:
    response = session.get(f"{fake.url}/crm/v2/NoSuchThing/1/2/3")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {
        "code": "INVALID_URL_PATTERN",
        "details": {},
        "message": "Please check if the URL trying to access is a correct one",
        "status": "error",
    }
    assert fake.requests[-1].endpoint is None


def test_empty_response_has_json_content_type_and_no_body(
    fake: FakeZoho, session: requests.Session
) -> None:
    response = session.get(f"{fake.url}/empty")
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["Content-Type"].startswith("application/json")
    # The connection stays usable after a body-less answer.
    assert session.get(f"{fake.url}/ping").json() == {"pong": True}
    assert fake.connections_opened == 1


def test_handler_exception_answers_500_and_is_recorded(
    fake: FakeZoho, session: requests.Session
) -> None:
    def broken(request: FakeRequest) -> FakeResponse:
        raise KeyError("boom")

    fake.route("GET", r"/broken", broken, "GET /broken")
    response = session.get(f"{fake.url}/broken")
    assert response.status_code == 500
    assert response.json()["code"] == "INTERNAL_ERROR"
    assert len(fake.errors) == 1
    assert isinstance(fake.errors[0].exception, KeyError)
    assert fake.errors[0].endpoint == "GET /broken"
    assert "boom" in fake.errors[0].traceback
    with pytest.raises(AssertionError, match="GET /broken"):
        fake.raise_errors()
    fake.errors.clear()  # accepted, so the fixture's exit does not fail the test


def test_handler_errors_fail_the_with_block_on_exit() -> None:
    server = FakeZoho()
    server.route(
        "GET",
        r"/broken",
        lambda request: 1 / 0,  # type: ignore[arg-type,return-value]
        "GET /broken",
    )
    with pytest.raises(AssertionError, match="ZeroDivisionError"):
        with server:
            assert requests.get(f"{server.url}/broken", timeout=5).status_code == 500


def test_handler_returning_a_wrong_type_is_a_recorded_error(
    fake: FakeZoho, session: requests.Session
) -> None:
    fake.route(
        "GET",
        r"/wrong",
        lambda request: {"not": "a response"},  # type: ignore[arg-type,return-value]
        "GET /wrong",
    )
    assert session.get(f"{fake.url}/wrong").status_code == 500
    assert isinstance(fake.errors[0].exception, TypeError)
    fake.errors.clear()


# -- counters --------------------------------------------------------------------------------------


def test_count_filters_by_endpoint_method_and_path_prefix(
    fake: FakeZoho, session: requests.Session
) -> None:
    session.get(f"{fake.url}/ping")
    session.get(f"{fake.url}/ping")
    session.post(f"{fake.url}/echo/one", data={})
    session.get(f"{fake.url}/nowhere")
    assert fake.count() == 4
    assert fake.count(endpoint=PING) == 2
    assert fake.count(endpoint=ECHO) == 1
    assert fake.count(method="post") == 1
    assert fake.count(path_prefix="/echo/") == 1
    assert fake.count(method="GET", path_prefix="/no") == 1
    record = fake.requests[0]
    assert (record.method, record.path, record.status, record.endpoint) == (
        "GET",
        "/ping",
        200,
        PING,
    )


def test_reset_counters_forgets_requests_connections_and_peaks(fake: FakeZoho) -> None:
    requests.get(f"{fake.url}/ping", timeout=5)
    assert fake.count() == 1 and fake.connections_opened == 1 and fake.peak_concurrency() == 1
    fake.reset_counters()
    assert fake.count() == 0
    assert fake.connections_opened == 0
    assert fake.peak_concurrency() == 0
    assert fake.requests == []


def test_one_session_reuses_one_connection(fake: FakeZoho, session: requests.Session) -> None:
    for _ in range(20):
        assert session.get(f"{fake.url}/ping").status_code == 200
    assert fake.connections_opened == 1
    assert {r.connection_id for r in fake.requests} == {fake.requests[0].connection_id}


def test_requests_without_a_session_open_a_connection_each(fake: FakeZoho) -> None:
    for _ in range(3):
        requests.get(f"{fake.url}/ping", timeout=5)
    assert fake.connections_opened == 3
    assert len({r.connection_id for r in fake.requests}) == 3


def test_client_connection_close_header_is_honoured(
    fake: FakeZoho, session: requests.Session
) -> None:
    first = session.get(f"{fake.url}/ping", headers={"Connection": "close"})
    assert first.headers.get("Connection") == "close"
    session.get(f"{fake.url}/ping")
    assert fake.connections_opened == 2


def test_accepted_sockets_have_tcp_nodelay(fake: FakeZoho, session: requests.Session) -> None:
    session.get(f"{fake.url}/ping")
    open_sockets = list(fake._httpd._open)  # the keep-alive connection is still open
    assert len(open_sockets) == 1
    assert open_sockets[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_keep_alive_responses_do_not_stall(fake: FakeZoho, session: requests.Session) -> None:
    # Without TCP_NODELAY and one write per response, this loop costs ~40 ms per request
    # (Nagle + delayed ACK), i.e. well over a second.
    session.post(f"{fake.url}/echo/warm", data={"a": "1"})
    started = time.perf_counter()
    for _ in range(30):
        session.post(f"{fake.url}/echo/x", data={"a": "1"})
    assert time.perf_counter() - started < 0.9


def test_peak_concurrency_counts_overlapping_requests(fake: FakeZoho) -> None:
    barrier = threading.Barrier(4, timeout=5)

    def wait_for_all(request: FakeRequest) -> FakeResponse:
        barrier.wait()  # all four are inside the handler at once
        return json_response(200, {})

    fake.route("GET", r"/together", wait_for_all, "GET /together")
    with ThreadPoolExecutor(4) as pool:
        statuses = list(
            pool.map(
                lambda _: requests.get(f"{fake.url}/together", timeout=10).status_code, range(4)
            )
        )
    assert statuses == [200] * 4
    requests.get(f"{fake.url}/ping", timeout=5)
    assert fake.peak_concurrency() == 4
    assert fake.peak_concurrency("GET /together") == 4
    assert fake.peak_concurrency(PING) == 1
    assert fake.peak_concurrency("GET /never-called") == 0
    assert fake.in_flight() == 0


def test_sequential_requests_have_peak_concurrency_one(
    fake: FakeZoho, session: requests.Session
) -> None:
    for _ in range(5):
        session.get(f"{fake.url}/ping")
    assert fake.peak_concurrency() == 1


# -- fault injection -------------------------------------------------------------------------------


def test_drop_closes_the_connection_without_an_answer(
    fake: FakeZoho, session: requests.Session
) -> None:
    fake.inject(endpoint=PING, drop=True)
    with pytest.raises(requests.ConnectionError):
        session.get(f"{fake.url}/ping")
    assert session.get(f"{fake.url}/ping").status_code == 200
    assert [r.status for r in fake.requests] == [0, 200]


def test_malformed_answers_200_with_truncated_json(
    fake: FakeZoho, session: requests.Session
) -> None:
    fake.inject(path_prefix="/ping", malformed=True)
    response = session.get(f"{fake.url}/ping")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError):
        json.loads(response.content)


def test_html_answers_502_with_a_proxy_page(fake: FakeZoho, session: requests.Session) -> None:
    fake.inject(html=True)
    response = session.get(f"{fake.url}/ping")
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<html>" in response.text


def test_status_with_dict_body_and_headers_is_answered_exactly(
    fake: FakeZoho, session: requests.Session
) -> None:
    fake.inject(
        endpoint=ECHO, status=429, body={"code": "TOO_MANY_REQUESTS"}, headers={"Retry-After": "7"}
    )
    response = session.post(f"{fake.url}/echo/x", data={})
    assert response.status_code == 429
    assert response.json() == {"code": "TOO_MANY_REQUESTS"}
    assert response.headers["Retry-After"] == "7"


def test_status_without_body_gets_zoho_error_body(
    fake: FakeZoho, session: requests.Session
) -> None:
    fake.inject(status=429)
    assert session.get(f"{fake.url}/ping").json()["code"] == "TOO_MANY_REQUESTS"
    fake.inject(status=503)
    response = session.get(f"{fake.url}/ping")
    assert response.status_code == 503 and response.json()["code"] == "INTERNAL_ERROR"


def test_string_body_is_sent_verbatim(fake: FakeZoho, session: requests.Session) -> None:
    fake.inject(status=500, body="plain failure")
    assert session.get(f"{fake.url}/ping").text == "plain failure"


def test_fault_fires_times_then_normal_handling_resumes(
    fake: FakeZoho, session: requests.Session
) -> None:
    fake.inject(endpoint=PING, status=500, times=2)
    assert fake.pending_faults() == 2
    statuses = [session.get(f"{fake.url}/ping").status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert fake.pending_faults() == 0


def test_fault_only_hits_matching_requests(fake: FakeZoho, session: requests.Session) -> None:
    fake.inject(endpoint=ECHO, method="POST", path_prefix="/echo/b", status=418)
    assert session.get(f"{fake.url}/ping").status_code == 200
    assert session.post(f"{fake.url}/echo/a", data={}).status_code == 200
    assert session.post(f"{fake.url}/echo/b", data={}).status_code == 418
    assert session.post(f"{fake.url}/echo/b", data={}).status_code == 200


def test_delay_alone_delays_the_normal_answer(fake: FakeZoho, session: requests.Session) -> None:
    fake.inject(endpoint=PING, delay=0.3)
    started = time.perf_counter()
    response = session.get(f"{fake.url}/ping")
    assert time.perf_counter() - started >= 0.3
    assert response.json() == {"pong": True}
    started = time.perf_counter()
    session.get(f"{fake.url}/ping")
    assert time.perf_counter() - started < 0.25


def test_delay_with_status_delays_the_fault(fake: FakeZoho, session: requests.Session) -> None:
    fake.inject(delay=0.2, status=500)
    started = time.perf_counter()
    assert session.get(f"{fake.url}/ping").status_code == 500
    assert time.perf_counter() - started >= 0.2


def test_client_read_timeout_is_reachable_with_a_delay(
    fake: FakeZoho, session: requests.Session
) -> None:
    fake.inject(delay=0.4)
    with pytest.raises(requests.Timeout):
        session.get(f"{fake.url}/ping", timeout=(2, 0.1))


def test_clear_faults_discards_pending_faults(fake: FakeZoho, session: requests.Session) -> None:
    fake.inject(status=500, times=5)
    fake.clear_faults()
    assert session.get(f"{fake.url}/ping").status_code == 200


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"drop": True, "html": True},
        {"status": 500, "malformed": True},
        {"body": {"x": 1}},
        {"status": 500, "times": 0},
    ],
)
def test_inject_rejects_meaningless_combinations(fake: FakeZoho, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        fake.inject(**kwargs)


# -- simulated network -----------------------------------------------------------------------------


def test_connect_delay_is_paid_once_per_connection(
    fake: FakeZoho, session: requests.Session
) -> None:
    fake.set_network(connect_delay=0.3)
    started = time.perf_counter()
    session.get(f"{fake.url}/ping")
    first = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(3):
        session.get(f"{fake.url}/ping")
    reused = time.perf_counter() - started
    assert first >= 0.3
    assert reused < 0.3
    started = time.perf_counter()
    requests.get(f"{fake.url}/ping", timeout=5)  # a new connection pays again
    assert time.perf_counter() - started >= 0.3
    assert fake.connections_opened == 2


def test_request_delay_is_paid_by_every_request(fake: FakeZoho, session: requests.Session) -> None:
    fake.set_network(request_delay=0.15)
    started = time.perf_counter()
    for _ in range(2):
        session.get(f"{fake.url}/ping")
    assert time.perf_counter() - started >= 0.3
    fake.set_network()
    started = time.perf_counter()
    session.get(f"{fake.url}/ping")
    assert time.perf_counter() - started < 0.15


# -- lifecycle and clock ---------------------------------------------------------------------------


def test_stop_is_prompt_with_an_idle_keep_alive_connection_open() -> None:
    server = FakeZoho().start()
    with requests.Session() as s:
        s.get(f"{server.url}/nowhere")
        started = time.perf_counter()
        server.stop()
        assert time.perf_counter() - started < 1.0
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_url_is_known_before_start_and_stop_is_idempotent() -> None:
    server = FakeZoho()
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert server.port > 0
    server.stop()
    server.stop()
    with pytest.raises(RuntimeError):
        server.start()


def test_fake_clock_advances_and_sets() -> None:
    clock = FakeClock()
    before = clock.now()
    clock.advance(3600)
    assert clock.now() - before >= 3600
    clock.set(1_000_000.0)
    assert 1_000_000.0 <= clock.now() < 1_000_001.0
    clock.advance(-10)
    assert clock.now() < 1_000_000.0


def test_fake_uses_the_clock_it_is_given() -> None:
    clock = FakeClock()
    server = FakeZoho(clock=clock)
    try:
        assert server.clock is clock
    finally:
        server.stop()
