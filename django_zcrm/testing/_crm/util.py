"""Small shared pieces of the fake CRM: time formatting, version numbers and the error type.

Pure standard library; imported by :mod:`.crm`, :mod:`.crm_schema`, :mod:`.crm_store` and
:mod:`.crm_query`.
"""

from __future__ import annotations

import email.utils
import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._server.messages import FakeRequest

__all__ = [
    "CRMContext",
    "CRMFault",
    "error_item",
    "format_offset",
    "invalid_param",
    "iso",
    "json_path",
    "missing_param",
    "parse_date",
    "parse_datetime",
    "parse_http_or_iso",
    "parse_offset",
    "version_number",
]

_OFFSET_RE = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_VERSION_RE = re.compile(r"^v(\d+)(?:\.(\d+))?$")


class CRMFault(Exception):
    """A whole-request rejection: the handler answers ``status`` with Zoho's top-level error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def missing_param(name: str) -> CRMFault:
    """Zoho's answer to a call that lacks the parameter (or body key) ``name``."""
    return CRMFault(
        400,
        "REQUIRED_PARAM_MISSING",
        "One of the expected parameter is missing",
        {"param_name": name},
    )


def invalid_param(name: str) -> CRMFault:
    """Zoho's answer to a parameter ``name`` whose value it cannot use."""
    return CRMFault(400, "INVALID_DATA", "invalid data", {"param_name": name})


def version_number(version: str) -> tuple[int, int]:
    """``"v2"`` -> ``(2, 0)``, ``"v2.1"`` -> ``(2, 1)``, ``"v8"`` -> ``(8, 0)``."""
    found = _VERSION_RE.match(version)
    if not found:
        raise ValueError(f"not a CRM API version: {version!r} (expected v2, v2.1, v3 ... v8)")
    return int(found.group(1)), int(found.group(2) or 0)


@functools.lru_cache(maxsize=64)
def parse_offset(offset: str) -> timezone:
    """``"+05:30"`` -> a fixed-offset timezone."""
    found = _OFFSET_RE.match(offset.strip())
    if not found:
        raise ValueError(f"not a UTC offset: {offset!r} (expected e.g. '+05:30' or '-07:00')")
    sign = -1 if found.group(1) == "-" else 1
    return timezone(sign * timedelta(hours=int(found.group(2)), minutes=int(found.group(3))))


def format_offset(tz: timezone) -> str:
    """A fixed-offset timezone as ``+HH:MM``."""
    delta = tz.utcoffset(None)
    minutes = int(delta.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def iso(epoch: float, tz: timezone) -> str:
    """Epoch seconds as Zoho writes datetimes: ISO 8601, numeric offset, no fractional seconds."""
    return datetime.fromtimestamp(int(epoch // 1), tz).isoformat()


def parse_datetime(value: str) -> float:
    """Parse an ISO 8601 datetime that carries an offset (or ``Z``); return epoch seconds.

    Raises ValueError for anything else, including naive datetimes (Zoho needs the offset).
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"datetime without a UTC offset: {value!r}")
    return parsed.timestamp()


def parse_date(value: str) -> date:
    """Parse ``yyyy-MM-dd``; raise ValueError otherwise."""
    if not _DATE_RE.match(value):
        raise ValueError(f"not a yyyy-MM-dd date: {value!r}")
    return date.fromisoformat(value)


def parse_http_or_iso(value: str) -> float:
    """Parse an ``If-Modified-Since`` value: Zoho's ISO form, or an RFC 7231 HTTP-date; epoch seconds."""
    try:
        return parse_datetime(value)
    except ValueError:
        pass
    parsed = email.utils.parsedate_to_datetime(value)  # raises ValueError/TypeError when unparsable
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(f"not a datetime with an offset: {value!r}")
    return parsed.timestamp()


def json_path(index: int, api_name: str) -> str:
    """The ``json_path`` newer versions put into per-record error details."""
    return f"$.data[{index}].{api_name}"


@dataclass
class CRMContext:
    """One authenticated CRM request, as the handlers see it."""

    request: FakeRequest
    version: str
    vnum: tuple[int, int]
    user: dict[str, Any]  # {"name","id","email"} of the token's user
    user_email: str
    scopes: frozenset[str]  # lower-cased
    token_expires_at: float | None
    endpoint: str

    @property
    def modern(self) -> bool:
        """v3 and later (json_path in errors, page-token keys in info, object lookups in metadata)."""
        return self.vnum >= (3, 0)

    def param(self, name: str) -> str | None:
        """A query (or form) parameter."""
        return self.request.param(name)


def error_item(code: str, message: str, details: dict[str, Any]) -> dict[str, Any]:
    """A per-item error element of a write answer."""
    return {"code": code, "details": details, "message": message, "status": "error"}
