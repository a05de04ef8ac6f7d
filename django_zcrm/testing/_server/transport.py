"""HTTP plumbing of the fake server: a threaded socket server tracking connections, and its handler.

Every response is written with one ``sendall`` on a ``TCP_NODELAY`` socket: with Python's default
split writes, keep-alive clients stall ~40 ms per small response (Nagle + delayed ACK).
"""

from __future__ import annotations

import email.message
import email.utils
import http
import http.server
import logging
import socket
import threading
import time
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from .messages import INTERNAL_ERROR_BODY, FakeRequest, FakeResponse, Headers, json_response


class RequestHandler(Protocol):
    """What the socket server hands requests to (``FakeZoho``)."""

    def _connection_opened(self) -> None: ...

    def _handle(self, request: FakeRequest, *, first_on_connection: bool) -> FakeResponse: ...

    def _record_error(self, request: FakeRequest, endpoint: str | None, exc: Exception) -> None: ...


logger = logging.getLogger("django_zcrm.testing.server")


class HTTPServer(http.server.ThreadingHTTPServer):
    """Threaded server that tracks its connections so it can count them and stop promptly."""

    daemon_threads = True
    allow_reuse_address = True
    # Concurrency tests open dozens of connections at once; the default backlog of 5 drops SYNs.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: RequestHandler) -> None:
        self.fake = fake
        self._conn_lock = threading.Lock()
        self._open: dict[socket.socket, int] = {}
        self._conn_threads: set[threading.Thread] = set()
        self._next_conn_id = 0
        super().__init__(address, Handler)

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


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeZoho/1.0"
    sys_version = ""
    server: HTTPServer

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
