"""What one request brings back: the public :class:`APIResponse` and the raw exchange behind it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..conf import ZCRMSettings

#: Response headers that may carry a request id (Zoho documents none; proxies and newer DCs vary).
REQUEST_ID_HEADERS = (
    "X-Request-Id",
    "X-ZOHO-REQUEST-ID",
    "X-Zoho-Trace-Id",
    "X-Trace-Id",
    "X-Correlation-Id",
    "Request-Id",
)


@dataclass(slots=True, repr=False)
class APIResponse:
    """A successful (or per-item) answer: status, parsed JSON (None when empty) and headers."""

    method: str
    path: str
    status: int
    data: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""
    elapsed_ms: float = 0.0
    attempts: int = 1
    request_id: str | None = None
    #: True when the request was repeated after an attempt whose effect is unknown (read timeout,
    #: dropped connection, 5xx): a DELETE may then find some ids already gone.
    repeated_after_ambiguous: bool = False

    @property
    def is_empty(self) -> bool:
        """True for 204/304 and empty bodies: "no records", not an error."""
        return self.data is None

    @property
    def content_type(self) -> str:
        """The response's Content-Type header ('' when absent)."""
        return self.headers.get("Content-Type", "")

    def __repr__(self) -> str:
        return f"<APIResponse {self.method} {self.path} -> {self.status}>"


@dataclass(slots=True)
class Exchange:
    """One HTTP exchange as it came back, before it is judged a success, an error or a retry."""

    method: str
    path: str
    status: int
    headers: Mapping[str, str]
    content: bytes
    elapsed_ms: float
    #: Whether the request is safe to repeat after an ambiguous failure.
    safe: bool
    conf: ZCRMSettings

    @property
    def request_id(self) -> str | None:
        """The first request-id header the answer carries, if any."""
        for name in REQUEST_ID_HEADERS:
            value = self.headers.get(name)
            if value:
                return value
        return None
