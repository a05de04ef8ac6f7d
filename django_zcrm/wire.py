"""Reading Zoho's answers, shared by both HTTP clients (Zoho Accounts in ``oauth``, the CRM API).

Everything here treats an answer as untrusted input (see ``docs/design/wire-format.md``, "Answers
we do not trust"): JSON that is too deep to parse is "not JSON", a body is read in chunks and
refused past ``MAX_RESPONSE_BYTES`` (counted after decompression) or past the exchange's total
deadline (``REQUEST_TOTAL_TIMEOUT``), and a redirect is never followed. Only the error tree is
imported from the package, so either client can use this module without a cycle.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .exceptions import (
    ZCRMDeadlineExceededError,
    ZCRMError,
    ZCRMRedirectRefusedError,
    ZCRMResponseTooLargeError,
)
from .redaction import redact

#: Bytes read from the socket per step; small, so one step of a gzip bomb stays small too.
CHUNK_BYTES = 16 * 1024


def json_or_none(content: bytes) -> Any:
    """The JSON value of a response body; None when it is empty, not JSON or nested too deep."""
    if not content:
        return None
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        # RecursionError: ``[[[[...]]]]`` thousands deep; no answer Zoho sends looks like that.
        return None


# -- the total deadline ---------------------------------------------------------------------------

_current = threading.local()


class _Watch:
    """The connection one exchange is using, so a timer can cut it off at the deadline."""

    def __init__(self) -> None:
        self.connection: HTTPConnection | None = None
        self.fired = False
        self._lock = threading.Lock()

    def attach(self, connection: HTTPConnection) -> None:
        with self._lock:
            self.connection = connection
            fired = self.fired
        if fired:
            _shut(connection)

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            connection = self.connection
        if connection is not None:
            _shut(connection)


def _shut(connection: HTTPConnection) -> None:
    # shutdown() wakes a recv() blocked in another thread (close() alone would not).
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed: nothing left to cut


def _send_watched(connection: HTTPConnection, send: Callable[[], None]) -> None:
    """Run ``send`` (the connection's request) under this thread's deadline watch, if any."""
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.attach(connection)  # early, so a stalled upload can be cut off too
    send()
    if watch is not None:
        watch.attach(connection)  # again: the socket exists now, cut it if the deadline passed


class _WatchedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _send_watched(self, lambda: super(_WatchedHTTPConnection, self).request(*args, **kwargs))


class _WatchedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _send_watched(self, lambda: super(_WatchedHTTPSConnection, self).request(*args, **kwargs))


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class WatchedAdapter(HTTPAdapter):
    """An adapter whose connections a deadline can cut off, even while headers still drip in."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Build the pool manager with connection classes the deadline watch can reach."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }


def mount_watched(session: requests.Session, **adapter_kwargs: Any) -> None:
    """Mount :class:`WatchedAdapter` on ``session`` for http and https."""
    adapter = WatchedAdapter(**adapter_kwargs)
    session.mount("https://", adapter)
    session.mount("http://", adapter)


# -- one bounded exchange -------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """How long one exchange may take in all, and how large its body may be."""

    total_seconds: float
    max_bytes: int


@dataclass
class RawAnswer:
    """What came back: status, headers and the whole (decompressed) body."""

    status: int
    headers: Mapping[str, str]
    content: bytes


def bounded_request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    limits: Limits,
    timeout: tuple[float, float],
    what: str,
    **kwargs: Any,
) -> RawAnswer:
    """Send one request and read its answer within ``limits``; never follow a redirect.

    Raises ``requests.RequestException`` for network failures before the deadline (the callers
    classify those), :class:`ZCRMDeadlineExceededError` past it and
    :class:`ZCRMResponseTooLargeError` past the size cap. ``what`` names the call in messages.
    """
    total = max(0.001, float(limits.total_seconds))
    connect, read = timeout
    # A single socket read may never wait longer than the whole exchange may take.
    timeout = (min(connect, total), min(read, total))
    watch = _Watch()
    timer = threading.Timer(total, watch.fire)
    timer.daemon = True
    previous = getattr(_current, "watch", None)
    _current.watch = watch
    started = time.monotonic()
    timer.start()
    try:
        try:
            response = session.request(
                method, url, timeout=timeout, allow_redirects=False, stream=True, **kwargs
            )
        except (requests.RequestException, urllib3.exceptions.HTTPError, HTTPException) as exc:
            if watch.fired:
                raise _deadline_error(what, total) from exc
            if isinstance(exc, requests.RequestException):
                raise
            raise requests.ConnectionError(exc) from exc
        try:
            content = _read_capped(response, limits.max_bytes, what, watch, started, total)
        finally:
            response.close()
        return RawAnswer(response.status_code, response.headers, content)
    finally:
        timer.cancel()
        _current.watch = previous


def _read_capped(
    response: requests.Response,
    max_bytes: int,
    what: str,
    watch: _Watch,
    started: float,
    total: float,
) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes and not _compressed(response):
        raise _too_large(what, max_bytes, response.status_code, declared=int(declared))
    parts: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(what, max_bytes, response.status_code)
            if time.monotonic() - started > total:
                raise _deadline_error(what, total)
            parts.append(chunk)
    except (requests.RequestException, urllib3.exceptions.HTTPError, HTTPException, OSError) as exc:
        if isinstance(exc, ZCRMError):
            raise
        if watch.fired:
            raise _deadline_error(what, total) from exc
        if isinstance(exc, requests.RequestException):
            raise
        raise requests.ConnectionError(exc) from exc
    if watch.fired:
        raise _deadline_error(what, total)
    return b"".join(parts)


def _compressed(response: requests.Response) -> bool:
    return bool(response.headers.get("Content-Encoding", "").strip())


def _too_large(
    what: str, max_bytes: int, status: int, *, declared: int | None = None
) -> ZCRMResponseTooLargeError:
    size = f"announced {declared} bytes" if declared is not None else "kept coming"
    return ZCRMResponseTooLargeError(
        f"{what}: the answer {size}, more than ZCRM['MAX_RESPONSE_BYTES'] = {max_bytes} "
        "(counted after decompression); it was dropped unread. No Zoho answer is that large: "
        "a proxy or a misbehaving server is in the way.",
        status=status,
    )


def _deadline_error(what: str, total: float) -> ZCRMDeadlineExceededError:
    return ZCRMDeadlineExceededError(
        f"{what}: no complete answer within {total:g} s (ZCRM['REQUEST_TOTAL_TIMEOUT'], or the "
        "token refresh lease); the exchange was cut off. A slow or stalled server or proxy is in "
        "the way; try again later."
    )


def redirect_error(what: str, status: int, headers: Mapping[str, str]) -> ZCRMRedirectRefusedError:
    """The error for a 3xx answer: it names the Location host, and nothing was followed."""
    location = str(headers.get("Location", "") or "")
    try:
        parts = urlsplit(location)
        host = parts.hostname or "(no host)"
        # Host and path (never the query, which may carry anything) say where it pointed.
        target = f"{parts.scheme}://{host}{parts.path}" if parts.hostname else location[:200]
    except ValueError:
        host, target = "(unreadable)", "(unreadable)"
    return ZCRMRedirectRefusedError(
        f"{what}: the server answered HTTP {status}, a redirect to host {redact(host)!r} "
        f"({redact(target)[:300]}); it was not "
        "followed, so no credential went there. Check ZCRM['API_BASE_URL'] / ACCOUNTS_URL / "
        "DATA_CENTER (and any proxy in between).",
        status=status,
        code="REDIRECT",
    )
