"""The core of the bundled fake Zoho server: the route table, request handling, counters and faults.

Pure standard library (no Django import), so it runs standalone (``python -m django_zcrm.testing``)
and inside anyone's test suite. The Accounts (OAuth) endpoints live in :mod:`.accounts` and the CRM
endpoints in :mod:`.crm`; both register their routes here through :meth:`FakeZoho.route`. The
plumbing (socket server, request/response types, counters, fault answers) lives in the private
package :mod:`._server`; every name this module exported before stays importable from here.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import accounts as accounts_module
from ._server.clock import FakeClock
from ._server.counters import Counters, HandlerError, RequestRecord
from ._server.faults import Fault, FaultQueue, fault_answer
from ._server.messages import (
    HTML_CONTENT_TYPE,
    INTERNAL_ERROR_BODY,
    JSON_CONTENT_TYPE,
    NOT_FOUND_BODY,
    FakeRequest,
    FakeResponse,
    Headers,
    empty_response,
    html_response,
    json_response,
    redirect_response,
    zoho_error,
)
from ._server.transport import HTTPServer

logger = logging.getLogger(__name__)

__all__ = [
    "HTML_CONTENT_TYPE",
    "INTERNAL_ERROR_BODY",
    "JSON_CONTENT_TYPE",
    "NOT_FOUND_BODY",
    "FakeClock",
    "FakeRequest",
    "FakeResponse",
    "FakeZoho",
    "Headers",
    "HandlerError",
    "RequestRecord",
    "empty_response",
    "html_response",
    "json_response",
    "redirect_response",
    "zoho_error",
]

_STOP_JOIN_SECONDS = 5.0


@dataclass
class _Route:
    method: str
    regex: re.Pattern[str]
    handler: Callable[[FakeRequest], FakeResponse]
    name: str


class FakeZoho:
    """A loopback fake of Zoho Accounts + CRM with counters, fault injection and simulated latency.

    The socket is bound in ``__init__`` (so :attr:`url` is known at once); :meth:`start` serves it in
    a daemon thread. Use it as a context manager. Routes are tried in registration order.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clients: dict[str, str] | None = None,
        clock: FakeClock | None = None,
        crm_options: dict[str, Any] | None = None,
        raise_handler_errors: bool = True,
        **accounts_options: Any,
    ) -> None:
        self.clock = clock or FakeClock()
        self.raise_handler_errors = raise_handler_errors
        self.errors: list[HandlerError] = []
        self._lock = threading.Lock()
        self._routes: list[_Route] = []
        self._counters = Counters()
        self._faults: FaultQueue[Fault] = FaultQueue()
        self.connect_delay = 0.0
        self.request_delay = 0.0
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._httpd = HTTPServer((host, port), self)
        bound_host, bound_port = self._httpd.server_address[:2]
        self.host = host
        self.port = int(bound_port)
        bound = str(bound_host)
        url_host = f"[{bound}]" if ":" in bound else bound
        self.url = f"http://{url_host}:{self.port}"

        try:
            self._install_parts(clients, crm_options, accounts_options)
        except BaseException:
            self._httpd.server_close()  # do not leak the bound socket on a bad option
            raise

    def _install_parts(
        self,
        clients: dict[str, str] | None,
        crm_options: dict[str, Any] | None,
        accounts_options: dict[str, Any],
    ) -> None:
        self.accounts: accounts_module.FakeAccounts = accounts_module.install(
            self, clients=clients, **accounts_options
        )
        self.crm: Any = None
        try:
            crm_module = importlib.import_module(f"{__package__}.crm")
        except ImportError as exc:
            # Only "there is no crm module" is tolerated; a broken crm module must surface.
            if exc.name != f"{__package__}.crm":
                raise
            crm_module = None
        if crm_module is not None and hasattr(crm_module, "install"):
            self.crm = crm_module.install(self, **(crm_options or {}))
        elif crm_options:
            raise TypeError("crm_options given but django_zcrm.testing.crm has no install()")

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeZoho:
        """Serve in a daemon thread; return self."""
        if self._stopped:
            raise RuntimeError("a stopped FakeZoho cannot be restarted; create a new one")
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fake-zoho-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and every open connection, join the threads."""
        if self._stopped:
            return
        self._stopped = True
        deadline = time.monotonic() + _STOP_JOIN_SECONDS
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(max(0.0, deadline - time.monotonic()))
        self._httpd.server_close()
        self._httpd.close_connections()
        self._httpd.join_connection_threads(deadline)

    def __enter__(self) -> FakeZoho:
        return self.start()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.stop()
        if exc_type is None and self.raise_handler_errors and self.errors:
            self.raise_errors()

    def raise_errors(self) -> None:
        """Raise AssertionError describing handler exceptions seen so far (clear ``errors`` to accept them)."""
        if not self.errors:
            return
        described = "\n".join(
            f"{e.method} {e.path} ({e.endpoint}):\n{e.traceback}" for e in self.errors
        )
        raise AssertionError(
            f"fake Zoho route handlers raised {len(self.errors)} exception(s):\n{described}"
        )

    def __repr__(self) -> str:
        return f"<FakeZoho {self.url}>"

    # -- routing -----------------------------------------------------------------------------------

    def route(
        self, method: str, pattern: str, handler: Callable[[FakeRequest], FakeResponse], name: str
    ) -> None:
        """Register ``handler`` for ``method`` on paths full-matching the regex ``pattern``."""
        with self._lock:
            self._routes.append(_Route(method.upper(), re.compile(pattern), handler, name))

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str]]:
        with self._lock:
            routes = list(self._routes)
        for candidate in routes:
            if candidate.method != method:
                continue
            found = candidate.regex.fullmatch(path)
            if found:
                return candidate, {k: v for k, v in found.groupdict().items() if v is not None}
        return None, {}

    # -- request handling --------------------------------------------------------------------------

    def _handle(self, request: FakeRequest, *, first_on_connection: bool) -> FakeResponse:
        started = time.monotonic()
        matched, params = self._match(request.method, request.path)
        endpoint = matched.name if matched else None
        request.path_params = params
        request.endpoint = endpoint or ""
        self._counters.enter(endpoint)
        fault = self._faults.take(lambda f: f.matches(request.method, request.path, endpoint))
        with self._lock:
            connect_delay, request_delay = self.connect_delay, self.request_delay
        try:
            delay = request_delay + (connect_delay if first_on_connection else 0.0)
            if delay > 0:
                time.sleep(delay)
            response = self._answer(request, matched, fault)
        finally:
            # Recorded before the bytes go out, so a client that has its answer sees the counters.
            self._counters.leave(endpoint)
        record = RequestRecord(
            method=request.method,
            path=request.path,
            query=request.query,
            headers=request.headers,
            body=request.body,
            endpoint=endpoint,
            status=0 if response.drop_connection else response.status,
            connection_id=request.connection_id,
            started_at=started,
            duration=time.monotonic() - started,
        )
        self._counters.add(record)
        logger.debug("fake Zoho %s %s -> %s", request.method, request.path, record.status)
        return response

    def _answer(
        self, request: FakeRequest, matched: _Route | None, fault: Fault | None
    ) -> FakeResponse:
        if fault is not None:
            if fault.delay > 0:
                time.sleep(fault.delay)
            if fault.drop:
                return FakeResponse(0, drop_connection=True)
            if fault.response is not None:
                return FakeResponse(
                    fault.response.status, fault.response.body, dict(fault.response.headers)
                )
        if matched is None:
            return json_response(404, NOT_FOUND_BODY)
        try:
            response = matched.handler(request)
            if not isinstance(response, FakeResponse):
                raise TypeError(
                    f"handler for {matched.name!r} returned {type(response).__name__}, "
                    "not FakeResponse"
                )
            return response
        except Exception as exc:
            self._record_error(request, matched.name, exc)
            return json_response(500, INTERNAL_ERROR_BODY)

    def _record_error(self, request: FakeRequest, endpoint: str | None, exc: Exception) -> None:
        error = HandlerError(request.method, request.path, endpoint, exc, traceback.format_exc())
        with self._lock:
            self.errors.append(error)
        logger.error("fake Zoho handler %s raised %s", endpoint, type(exc).__name__)

    # -- counters ----------------------------------------------------------------------------------

    def _connection_opened(self) -> None:
        self._counters.connection_opened()

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every answered request, oldest first."""
        return self._counters.requests()

    @property
    def connections_opened(self) -> int:
        """How many TCP connections were accepted."""
        return self._counters.connections_opened()

    def count(
        self, endpoint: str | None = None, method: str | None = None, path_prefix: str | None = None
    ) -> int:
        """Count answered requests, optionally by endpoint name, method and path prefix."""
        return sum(
            1
            for r in self.requests
            if (endpoint is None or r.endpoint == endpoint)
            and (method is None or r.method == method.upper())
            and (path_prefix is None or r.path.startswith(path_prefix))
        )

    def peak_concurrency(self, endpoint: str | None = None) -> int:
        """The most requests in flight at once, overall or for one endpoint name."""
        return self._counters.peak(endpoint)

    def in_flight(self) -> int:
        """How many requests are being handled right now."""
        return self._counters.in_flight()

    def reset_counters(self) -> None:
        """Forget recorded requests, connection counts and peaks (and the parts' own counters)."""
        self._counters.reset()
        for part in (self.accounts, self.crm):
            reset = getattr(part, "reset_counters", None)
            if callable(reset):
                reset()

    # -- faults and network ------------------------------------------------------------------------

    def inject(
        self,
        *,
        endpoint: str | None = None,
        method: str | None = None,
        path_prefix: str | None = None,
        times: int = 1,
        status: int | None = None,
        body: bytes | str | dict[str, Any] | list[Any] | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        drop: bool = False,
        malformed: bool = False,
        html: bool = False,
    ) -> None:
        """Give the next ``times`` matching requests a fault instead of (delay alone: before) normal handling.

        ``drop`` closes the connection unanswered; ``malformed`` answers 200 with truncated JSON;
        ``html`` answers 502 with a proxy's HTML page; ``status``/``body``/``headers`` answer exactly
        that (a dict/list body becomes JSON; a status without a body gets Zoho's usual error body).
        """
        kinds = sum([drop, malformed, html, status is not None])
        if kinds > 1:
            raise ValueError("choose one of drop=, malformed=, html= or status= per inject() call")
        if times < 1:
            raise ValueError("times must be at least 1")
        if (body is not None or headers) and status is None and not (malformed or html):
            raise ValueError("body=/headers= need status= (or malformed=/html=)")
        response = fault_answer(
            status=status, body=body, headers=headers, malformed=malformed, html=html
        )
        if response is None and not drop and delay <= 0:
            raise ValueError("inject() needs a fault: drop=, malformed=, html=, status= or delay=")
        self._faults.add(
            Fault(
                endpoint,
                method.upper() if method else None,
                path_prefix,
                times,
                response,
                float(delay),
                drop,
            )
        )

    def clear_faults(self) -> None:
        """Discard injected faults that have not fired yet."""
        self._faults.clear()

    def pending_faults(self) -> int:
        """How many injected fault answers are still waiting for a request."""
        return self._faults.pending()

    def set_network(self, *, connect_delay: float = 0.0, request_delay: float = 0.0) -> None:
        """Simulate a remote data centre: ``connect_delay`` once per new connection, ``request_delay`` per request."""
        with self._lock:
            self.connect_delay = float(connect_delay)
            self.request_delay = float(request_delay)
