"""Faults injected with ``FakeZoho.inject``: which requests they hit and the answer they give."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from .messages import (
    HTML_CONTENT_TYPE,
    INTERNAL_ERROR_BODY,
    JSON_CONTENT_TYPE,
    NOT_FOUND_BODY,
    FakeResponse,
    empty_response,
    json_response,
    merge_headers,
)

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


@dataclass
class Fault:
    """One ``inject`` call: which requests it matches, how many more times, what it does."""

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


def fault_answer(
    *,
    status: int | None,
    body: bytes | str | dict[str, Any] | list[Any] | None,
    headers: dict[str, str] | None,
    malformed: bool,
    html: bool,
) -> FakeResponse | None:
    """The answer an injected fault gives (None: the fault only delays or drops)."""
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
        response.headers = merge_headers(response.headers, headers)
    return response


class _Planned(Protocol):
    remaining: int


P = TypeVar("P", bound=_Planned)


class FaultQueue(Generic[P]):
    """Planned faults, each answering its next ``remaining`` matching requests (thread-safe).

    Shared by ``FakeZoho.inject`` (transport-level faults) and ``fake.crm.fail_next`` (CRM errors).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: list[P] = []

    def add(self, plan: P) -> None:
        """Queue a plan behind the ones already waiting."""
        with self._lock:
            self._plans.append(plan)

    def take(self, matches: Callable[[P], bool]) -> P | None:
        """Use up one answer of the oldest plan that ``matches``; return it (None: no fault)."""
        with self._lock:
            plan = next((p for p in self._plans if matches(p)), None)
            if plan is not None:
                plan.remaining -= 1
                if plan.remaining <= 0:
                    self._plans.remove(plan)
            return plan

    def clear(self) -> None:
        """Discard plans that have not fired yet."""
        with self._lock:
            self._plans.clear()

    def pending(self) -> int:
        """How many fault answers are still waiting."""
        with self._lock:
            return sum(p.remaining for p in self._plans)
