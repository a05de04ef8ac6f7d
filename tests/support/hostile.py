"""A tiny threaded HTTP server that answers every request with whatever a test tells it to.

Used by the hostile-answer suite (tests/test_hostile_answers.py): each Hypothesis example sets one
:class:`Answer` and the client under test meets it over real loopback HTTP. A second instance
serves as a redirect trap that records whether a credential reached it.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

#: Answers served per endpoint family in this session (printed by the terminal summary hook).
FAMILY_COUNTS: Counter[str] = Counter()
#: Cases that broke a rule, per family (a raw exception, a token change, a leaked credential).
FAMILY_FAILURES: Counter[str] = Counter()


@dataclass(repr=False)
class Answer:
    """One answer: status, headers, body, and how to misbehave while sending it."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    #: "normal", "truncated" (Content-Length larger than the body, then close), "reset".
    mode: str = "normal"

    def __repr__(self) -> str:
        head = self.body[:160]
        more = f"...+{len(self.body) - 160} bytes" if len(self.body) > 160 else ""
        return (
            f"Answer({self.status}, {head!r}{more}, {self.content_type!r}, {self.headers!r}, "
            f"{self.mode!r})"
        )


@dataclass
class Seen:
    """What one request brought: method, path, whether it carried a credential."""

    method: str
    path: str
    credential: bool


class HostileServer:
    """A loopback server answering every request with :attr:`answer`."""

    def __init__(self, secret: str) -> None:
        self.answer = Answer(status=200, body=b"{}")
        self.seen: list[Seen] = []
        self.secret = secret
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                query = parse_qs(urlsplit(self.path).query)
                credential = (
                    "Authorization" in self.headers
                    or owner.secret.encode() in body
                    or any(owner.secret in v for values in query.values() for v in values)
                )
                owner.seen.append(Seen(self.command, self.path, credential))
                answer = owner.answer
                if answer.mode == "reset":
                    # SO_LINGER 0: close() sends RST instead of FIN.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    owner.resets.add(self.connection.fileno())
                    return
                self.send_response_only(answer.status)
                if answer.content_type is not None:
                    self.send_header("Content-Type", answer.content_type)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                declared = len(answer.body) + (17 if answer.mode == "truncated" else 0)
                self.send_header("Content-Length", str(declared))
                if answer.mode == "truncated":
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                try:
                    self.wfile.write(answer.body)
                except OSError:
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        self.resets: set[int] = set()

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
                # The default half-closes first (a FIN); a reset must close at once (an RST).
                if request.fileno() in owner.resets:
                    owner.resets.discard(request.fileno())
                    request.close()
                    return
                super().shutdown_request(request)

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def report_lines() -> list[str]:
    """The per-family table: answers tried and failures."""
    if not FAMILY_COUNTS:
        return []
    width = max(len(name) for name in FAMILY_COUNTS)
    lines = [f"{'family'.ljust(width)}  answers  failures"]
    for name in sorted(FAMILY_COUNTS):
        lines.append(f"{name.ljust(width)}  {FAMILY_COUNTS[name]:7d}  {FAMILY_FAILURES[name]:8d}")
    total = sum(FAMILY_COUNTS.values())
    lines.append(f"{'total'.ljust(width)}  {total:7d}  {sum(FAMILY_FAILURES.values()):8d}")
    return lines
