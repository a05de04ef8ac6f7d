"""What the fake server counts: answered requests, connections, requests in flight, peaks."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .messages import Headers


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


class Counters:
    """Thread-safe counters of one server (``FakeZoho.count``, ``peak_concurrency``, ...)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._connections_opened = 0
        self._in_flight = 0
        self._in_flight_by: dict[str | None, int] = {}
        self._peak = 0
        self._peak_by: dict[str | None, int] = {}

    def connection_opened(self) -> None:
        """Count one accepted TCP connection."""
        with self._lock:
            self._connections_opened += 1

    def enter(self, endpoint: str | None) -> None:
        """A request for ``endpoint`` starts being handled."""
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            now_by = self._in_flight_by.get(endpoint, 0) + 1
            self._in_flight_by[endpoint] = now_by
            self._peak_by[endpoint] = max(self._peak_by.get(endpoint, 0), now_by)

    def leave(self, endpoint: str | None) -> None:
        """A request for ``endpoint`` has its answer."""
        with self._lock:
            self._in_flight -= 1
            self._in_flight_by[endpoint] -= 1

    def add(self, record: RequestRecord) -> None:
        """Remember an answered request."""
        with self._lock:
            self._records.append(record)

    def requests(self) -> list[RequestRecord]:
        """A snapshot of every answered request, oldest first."""
        with self._lock:
            return list(self._records)

    def connections_opened(self) -> int:
        """How many TCP connections were accepted."""
        with self._lock:
            return self._connections_opened

    def peak(self, endpoint: str | None = None) -> int:
        """The most requests in flight at once, overall or for one endpoint name."""
        with self._lock:
            return self._peak if endpoint is None else self._peak_by.get(endpoint, 0)

    def in_flight(self) -> int:
        """How many requests are being handled right now."""
        with self._lock:
            return self._in_flight

    def reset(self) -> None:
        """Forget recorded requests and connection counts; peaks restart from what is in flight."""
        with self._lock:
            self._records.clear()
            self._connections_opened = 0
            self._peak = self._in_flight
            self._peak_by = {k: v for k, v in self._in_flight_by.items() if v}
