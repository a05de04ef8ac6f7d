"""The core of the bundled fake Zoho server: HTTP plumbing, routing, counters and fault injection.

Pure standard library (no Django import), so it runs standalone (``python -m django_zcrm.testing``)
and inside anyone's test suite. The Accounts (OAuth) endpoints live in :mod:`.accounts` and the CRM
endpoints in :mod:`.crm`; both register their routes here through :meth:`FakeZoho.route`.

Every response is written with one ``sendall`` on a ``TCP_NODELAY`` socket: with Python's default
split writes, keep-alive clients stall ~40 ms per small response (Nagle + delayed ACK).
"""

from __future__ import annotations

import email.message
import email.utils
import http
import http.server
import importlib
import json
import logging
import re
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from .accounts import FakeAccounts

logger = logging.getLogger(__name__)

__all__ = [
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

JSON_CONTENT_TYPE = "application/json;charset=utf-8"
HTML_CONTENT_TYPE = "text/html;charset=utf-8"

NOT_FOUND_BODY = {
    "code": "INVALID_URL_PATTERN",
    "details": {},
    "message": "Please check if the URL trying to access is a correct one",
    "status": "error",
}
INTERNAL_ERROR_BODY = {
    "code": "INTERNAL_ERROR",
    "details": {},
    "message": "Internal Server Error",
    "status": "error",
}

# Bodies used by inject(status=...) when no body is given, so an injected status looks like Zoho's.
_DEFAULT_FAULT_BODIES: dict[int, dict[str, Any]] = {
    400: {"code": "INVALID_DATA", "details": {}, "message": "invalid data", "status": "error"},
    401: {
        "code": "INVALID_TOKEN",
        "details": {},
        "message": "invalid oauth token",
        "status": "error",
    },
    403: {
        "code": "NO_PERMISSION",
        "details": {},
        "message": "permission denied",
        "status": "error",
    },
    404: NOT_FOUND_BODY,
    429: {
        "code": "TOO_MANY_REQUESTS",
        "details": {},
        "message": "The API request limit has been exceeded",
        "status": "error",
    },
    500: INTERNAL_ERROR_BODY,
}

_MALFORMED_BODY = b'{"data":[{"id":"4150868000000224005","Last_Name":"Trunc'
_PROXY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_STOP_JOIN_SECONDS = 5.0


# --------------------------------------------------------------------------------------------------
# Clock
# --------------------------------------------------------------------------------------------------


class FakeClock:
    """A thread-safe clock: real time plus an offset that tests move with :meth:`advance`/:meth:`set`."""

    def __init__(self, offset: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._offset = float(offset)

    def now(self) -> float:
        """Return the fake time as epoch seconds."""
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (negative moves it back)."""
        with self._lock:
            self._offset += float(seconds)

    def set(self, epoch: float) -> None:
        """Make :meth:`now` return ``epoch`` at this instant; time then keeps flowing from there."""
        with self._lock:
            self._offset = float(epoch) - time.time()

    def __repr__(self) -> str:
        return f"FakeClock(offset={self._offset:+.3f}s)"


# --------------------------------------------------------------------------------------------------
# Request / response
# --------------------------------------------------------------------------------------------------


class Headers(Mapping[str, str]):
    """A read-only, case-insensitive header mapping (repeated headers are joined with ``, ``)."""

    def __init__(self, items: Mapping[str, str] | list[tuple[str, str]] | None = None) -> None:
        self._data: dict[str, tuple[str, str]] = {}
        pairs = items.items() if isinstance(items, Mapping) else (items or [])
        for name, value in pairs:
            key = name.lower()
            if key in self._data:
                value = f"{self._data[key][1]}, {value}"
            self._data[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._data[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._data

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._data.values())

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


def _content_type(headers: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """Split a Content-Type header into its lower-cased media type and its parameters."""
    raw = headers.get("Content-Type", "")
    if not raw:
        return "", {}
    msg = email.message.Message()
    msg["Content-Type"] = raw
    params = {k.lower(): v for k, v in msg.get_params(failobj=[])[1:]}
    return msg.get_content_type().lower(), params


def _parse_multipart(body: bytes, boundary: str) -> list[tuple[str, str | None, bytes]]:
    """Split a multipart/form-data body into ``(name, filename, content)`` parts."""
    delimiter = b"--" + boundary.encode("latin-1")
    parts: list[tuple[str, str | None, bytes]] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        if content.endswith(b"\r\n"):
            content = content[:-2]
        msg = email.message.Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                msg[name.strip()] = value.strip()
        field_name = msg.get_param("name", header="content-disposition")
        if not isinstance(field_name, str):
            continue
        filename = msg.get_param("filename", header="content-disposition")
        parts.append((field_name, filename if isinstance(filename, str) else None, content))
    return parts


@dataclass
class FakeRequest:
    """One HTTP request as handlers see it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes
    path_params: dict[str, str] = field(default_factory=dict)
    endpoint: str = ""
    connection_id: int = 0

    def param(self, name: str, default: str | None = None) -> str | None:
        """Return a parameter from the query string, else from an urlencoded or multipart body."""
        if name in self.query:
            return self.query[name][0]
        values = self.form().get(name)
        if values:
            return values[0]
        return default

    def json(self) -> Any:
        """Parse the body as JSON whatever the Content-Type; raise ValueError if it is not JSON."""
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, list[str]]:
        """Return urlencoded or multipart/form-data fields of the body (a body of ``null`` is empty)."""
        cached = self.__dict__.get("_form")
        if cached is not None:
            return cached
        result: dict[str, list[str]] = {}
        media_type, params = _content_type(self.headers)
        stripped = self.body.strip()
        if media_type == "multipart/form-data" and params.get("boundary"):
            for name, filename, content in _parse_multipart(self.body, params["boundary"]):
                if filename is None:
                    result.setdefault(name, []).append(content.decode("utf-8", "replace"))
        elif (
            stripped
            and stripped != b"null"
            and (
                media_type == "application/x-www-form-urlencoded"
                # No Content-Type: old SDKs send form fields or JSON bare; only the former is a form.
                or (not media_type and stripped[:1] not in (b"{", b"["))
            )
        ):
            result = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        self.__dict__["_form"] = result
        return result

    def files(self) -> dict[str, tuple[str, bytes]]:
        """Return multipart file parts as ``name -> (filename, content)``."""
        media_type, params = _content_type(self.headers)
        if media_type != "multipart/form-data" or not params.get("boundary"):
            return {}
        return {
            name: (filename, content)
            for name, filename, content in _parse_multipart(self.body, params["boundary"])
            if filename is not None
        }

    def bearer(self) -> str | None:
        """Return the token of an ``Authorization: Zoho-oauthtoken <token>`` header, if any."""
        raw = self.headers.get("Authorization", "")
        scheme, _, token = raw.strip().partition(" ")
        if scheme.lower() != "zoho-oauthtoken" or not token.strip():
            return None
        return token.strip()


@dataclass
class FakeResponse:
    """What a handler answers; the server adds Content-Length, Date and Connection."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop_connection: bool = False


def _merge(base: dict[str, str], extra: Mapping[str, str] | None) -> dict[str, str]:
    merged = dict(base)
    for name, value in (extra or {}).items():
        for existing in [k for k in merged if k.lower() == name.lower()]:
            del merged[existing]
        merged[name] = value
    return merged


def json_response(
    status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> FakeResponse:
    """Return a JSON response (``Content-Type: application/json;charset=utf-8``)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return FakeResponse(status, body, _merge({"Content-Type": JSON_CONTENT_TYPE}, headers))


def empty_response(status: int, headers: Mapping[str, str] | None = None) -> FakeResponse:
    """Return a body-less response (204/304) that still says ``Content-Type: application/json``."""
    return FakeResponse(status, b"", _merge({"Content-Type": JSON_CONTENT_TYPE}, headers))


def redirect_response(location: str) -> FakeResponse:
    """Return a 302 redirect to ``location``."""
    return FakeResponse(302, b"", {"Location": location, "Content-Type": HTML_CONTENT_TYPE})


def html_response(status: int, html: str) -> FakeResponse:
    """Return an HTML page."""
    return FakeResponse(status, html.encode("utf-8"), {"Content-Type": HTML_CONTENT_TYPE})


def zoho_error(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> FakeResponse:
    """Return a CRM-style error: ``{"code","details","message","status":"error"}``."""
    payload = {"code": code, "details": details or {}, "message": message, "status": "error"}
    return json_response(status, payload, headers)


# --------------------------------------------------------------------------------------------------
# Records and faults
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestRecord:
    """One answered request, as counted by :meth:`FakeZoho.count` (status 0 = connection dropped)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes
    endpoint: str | None
    status: int
    connection_id: int
    started_at: float
    duration: float

    def __repr__(self) -> str:
        # Headers and bodies carry (fake) tokens; keep assertion output short and clean.
        return (
            f"RequestRecord({self.method} {self.path} -> {self.status}, endpoint={self.endpoint!r}, "
            f"connection={self.connection_id})"
        )


@dataclass(frozen=True)
class HandlerError:
    """An exception raised by a route handler (answered as 500 ``INTERNAL_ERROR``)."""

    method: str
    path: str
    endpoint: str | None
    exception: BaseException
    traceback: str


@dataclass
class _Fault:
    endpoint: str | None
    method: str | None
    path_prefix: str | None
    remaining: int
    response: FakeResponse | None
    delay: float
    drop: bool

    def matches(self, method: str, path: str, endpoint: str | None) -> bool:
        return (
            self.remaining > 0
            and (self.endpoint is None or self.endpoint == endpoint)
            and (self.method is None or self.method.upper() == method)
            and (self.path_prefix is None or path.startswith(self.path_prefix))
        )


@dataclass
class _Route:
    method: str
    regex: re.Pattern[str]
    handler: Callable[[FakeRequest], FakeResponse]
    name: str


# --------------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------------


class _HTTPServer(http.server.ThreadingHTTPServer):
    """Threaded server that tracks its connections so it can count them and stop promptly."""

    daemon_threads = True
    allow_reuse_address = True
    # Concurrency tests open dozens of connections at once; the default backlog of 5 drops SYNs.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: FakeZoho) -> None:
        self.fake = fake
        self._conn_lock = threading.Lock()
        self._open: dict[socket.socket, int] = {}
        self._conn_threads: set[threading.Thread] = set()
        self._next_conn_id = 0
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover - socket closed by the peer already
            pass
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address), daemon=True
        )
        with self._conn_lock:
            self._next_conn_id += 1
            self._open[request] = self._next_conn_id
            thread.name = f"fake-zoho-conn-{self._next_conn_id}"
            self._conn_threads.add(thread)
        self.fake._connection_opened()
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self._conn_lock:
                self._open.pop(request, None)
                self._conn_threads.discard(threading.current_thread())
            self.shutdown_request(request)

    def connection_id(self, request: socket.socket) -> int:
        with self._conn_lock:
            return self._open.get(request, 0)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Peers hanging up mid-request is normal for a test server; anything else is logged quietly.
        logger.debug("fake Zoho connection error", exc_info=True)

    def close_connections(self) -> None:
        with self._conn_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def join_connection_threads(self, deadline: float) -> None:
        with self._conn_lock:
            threads = list(self._conn_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def server_close(self) -> None:
        # ThreadingMixIn.server_close would join without a bound; stop() does a bounded join instead.
        http.server.HTTPServer.server_close(self)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeZoho/1.0"
    sys_version = ""
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection_id = self.server.connection_id(self.connection)
        self.answered_once = False

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # http.server writes every request to stderr; tests want silence.
        return

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        body = self._read_body()
        split = urlsplit(self.path)
        request = FakeRequest(
            method=self.command.upper(),
            path=split.path or "/",
            query=parse_qs(split.query, keep_blank_values=True),
            headers=Headers(list(self.headers.items())),
            body=body,
            connection_id=self.connection_id,
        )
        first = not self.answered_once
        self.answered_once = True
        try:
            response = self.server.fake._handle(request, first_on_connection=first)
        except Exception as exc:
            # A bug in the fake itself: surface it like a handler error rather than hang the client.
            self.server.fake._record_error(request, None, exc)
            response = json_response(500, INTERNAL_ERROR_BODY)
        if response.drop_connection:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._write(response)

    def _write(self, response: FakeResponse) -> None:
        status = response.status
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        headers = dict(response.headers)
        for name in [
            k for k in headers if k.lower() in ("content-length", "connection", "date", "server")
        ]:
            del headers[name]
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Server: {self.server_version}",
            f"Date: {email.utils.formatdate(usegmt=True)}",
        ]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        body = b"" if status in (204, 304) or self.command == "HEAD" else response.body
        if status != 204:  # RFC 9110: a 204 must not carry Content-Length
            lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        try:
            self.connection.sendall(head + body)  # one write: see the module docstring
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


# --------------------------------------------------------------------------------------------------
# FakeZoho
# --------------------------------------------------------------------------------------------------


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
        self._records: list[RequestRecord] = []
        self._faults: list[_Fault] = []
        self._connections_opened = 0
        self._in_flight = 0
        self._in_flight_by: dict[str | None, int] = {}
        self._peak = 0
        self._peak_by: dict[str | None, int] = {}
        self.connect_delay = 0.0
        self.request_delay = 0.0
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._httpd = _HTTPServer((host, port), self)
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
        # Imported here: accounts/crm import this module for FakeRequest and the response helpers.
        from . import accounts as accounts_module

        self.accounts: FakeAccounts = accounts_module.install(
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
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            now_by = self._in_flight_by.get(endpoint, 0) + 1
            self._in_flight_by[endpoint] = now_by
            self._peak_by[endpoint] = max(self._peak_by.get(endpoint, 0), now_by)
            fault = next(
                (f for f in self._faults if f.matches(request.method, request.path, endpoint)), None
            )
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
            connect_delay, request_delay = self.connect_delay, self.request_delay
        try:
            delay = request_delay + (connect_delay if first_on_connection else 0.0)
            if delay > 0:
                time.sleep(delay)
            response = self._answer(request, matched, fault)
        finally:
            # Recorded before the bytes go out, so a client that has its answer sees the counters.
            with self._lock:
                self._in_flight -= 1
                self._in_flight_by[endpoint] -= 1
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
        with self._lock:
            self._records.append(record)
        logger.debug("fake Zoho %s %s -> %s", request.method, request.path, record.status)
        return response

    def _answer(
        self, request: FakeRequest, matched: _Route | None, fault: _Fault | None
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
        with self._lock:
            self._connections_opened += 1

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every answered request, oldest first."""
        with self._lock:
            return list(self._records)

    @property
    def connections_opened(self) -> int:
        """How many TCP connections were accepted."""
        with self._lock:
            return self._connections_opened

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
        with self._lock:
            return self._peak if endpoint is None else self._peak_by.get(endpoint, 0)

    def in_flight(self) -> int:
        """How many requests are being handled right now."""
        with self._lock:
            return self._in_flight

    def reset_counters(self) -> None:
        """Forget recorded requests, connection counts and peaks (and the parts' own counters)."""
        with self._lock:
            self._records.clear()
            self._connections_opened = 0
            self._peak = self._in_flight
            self._peak_by = {k: v for k, v in self._in_flight_by.items() if v}
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
        response: FakeResponse | None = None
        if malformed:
            response = FakeResponse(200, _MALFORMED_BODY, {"Content-Type": JSON_CONTENT_TYPE})
        elif html:
            response = FakeResponse(502, _PROXY_HTML.encode(), {"Content-Type": HTML_CONTENT_TYPE})
        elif status is not None:
            if body is None:
                default = _DEFAULT_FAULT_BODIES.get(status)
                if default is None and status >= 500:
                    default = INTERNAL_ERROR_BODY
                response = (
                    json_response(status, default)
                    if default is not None and status not in (204, 304)
                    else empty_response(status)
                )
            elif isinstance(body, (dict, list)):
                response = json_response(status, body)
            else:
                raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
                response = FakeResponse(status, raw, {"Content-Type": JSON_CONTENT_TYPE})
        if response is not None and headers:
            response.headers = _merge(response.headers, headers)
        if response is None and not drop and delay <= 0:
            raise ValueError("inject() needs a fault: drop=, malformed=, html=, status= or delay=")
        with self._lock:
            self._faults.append(
                _Fault(
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
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> int:
        """How many injected fault answers are still waiting for a request."""
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def set_network(self, *, connect_delay: float = 0.0, request_delay: float = 0.0) -> None:
        """Simulate a remote data centre: ``connect_delay`` once per new connection, ``request_delay`` per request."""
        with self._lock:
            self.connect_delay = float(connect_delay)
            self.request_delay = float(request_delay)
