"""Turning an answer that is not a success (or a failed exchange) into one typed exception.

Which of these errors are worth a retry is decided in :mod:`.core`; this module only names them
(see ``docs/design/retries.md``, "What is retried").
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from ..exceptions import (
    ZCRMAuthError,
    ZCRMConnectionError,
    ZCRMError,
    ZCRMInvalidTokenError,
    ZCRMMalformedResponseError,
    ZCRMNotFoundError,
    ZCRMPermissionError,
    ZCRMRateLimitError,
    ZCRMScopeMismatchError,
    ZCRMServerError,
    ZCRMValidationError,
)
from ..redaction import redact
from ..wire import redirect_error
from .response import Exchange

#: 401 codes after which one refresh + one retry is worth it.
TOKEN_REJECTED_CODES = frozenset({"INVALID_TOKEN", "AUTHENTICATION_FAILURE", "INVALID_OAUTHTOKEN"})
#: Codes Zoho uses for "too many requests" (credits or concurrency), whatever the HTTP status.
RATE_LIMIT_CODES = frozenset(
    {
        "TOO_MANY_REQUESTS",
        "CONCURRENCY_LIMIT_EXCEEDED",
        "SUB_CONCURRENCY_LIMIT_EXCEEDED",
        "API_CONCURRENCY_LIMIT_EXCEEDED",
    }
)
NOT_FOUND_CODES = frozenset(
    {"INVALID_URL_PATTERN", "INVALID_MODULE", "RESOURCE_NOT_FOUND", "NOT_FOUND"}
)
PERMISSION_CODES = frozenset({"NO_PERMISSION", "AUTHORIZATION_FAILED", "PERMISSION_DENIED"})
#: ``requests`` errors raised before anything was sent because the request itself is wrong.
UNBUILDABLE_REQUEST_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
)
_HEAD_BYTES = 120


def error_from(exchange: Exchange, body: Any) -> ZCRMError:
    """Build the typed exception for a non-2xx answer (``body``: its JSON, None if not JSON)."""
    status = exchange.status
    code: str | None = None
    message = ""
    details: Any = {}
    if isinstance(body, dict):
        source = body
        # Notification calls wrap per-item answers in "watch" instead of "data".
        items = body.get("data") if "data" in body else body.get("watch")
        if "code" not in body and isinstance(items, list) and items and isinstance(items[0], dict):
            source = items[0]
        code = source.get("code") if isinstance(source.get("code"), str) else None
        message = str(source.get("message") or "")
        details = source.get("details") or {}
    where = f"{exchange.method} {exchange.path}"
    if body is None and exchange.content:
        content_type = exchange.headers.get("Content-Type", "?")
        message = (
            f"Zoho answered with a body that is not JSON ({content_type}, starting "
            f"{_head(exchange.content)!r})"
        )
    elif not message:
        message = f"Zoho answered HTTP {status}"
    text = f"{where}: {message}"
    kwargs = dict(status=status, code=code, details=details, request_id=exchange.request_id)
    if status == 429 or code in RATE_LIMIT_CODES:
        return ZCRMRateLimitError(
            text + ". Zoho limits API credits per 24 hours and concurrent calls per app.",
            retry_after=retry_after_seconds(exchange.headers),
            **kwargs,
        )
    if status == 401:
        if code == "OAUTH_SCOPE_MISMATCH":
            return ZCRMScopeMismatchError(
                text + ". The token lacks a scope this call needs: add it to ZCRM['SCOPES'] and "
                "generate a new grant token.",
                **kwargs,
            )
        if code in TOKEN_REJECTED_CODES:
            return ZCRMInvalidTokenError(text, **kwargs)
        return ZCRMAuthError(text, **kwargs)
    if status == 403 or code in PERMISSION_CODES:
        return ZCRMPermissionError(text, **kwargs)
    if status == 404 or code in NOT_FOUND_CODES:
        return ZCRMNotFoundError(text, **kwargs)
    if status >= 500:
        return ZCRMServerError(text, **kwargs)
    if 300 <= status < 400:
        return redirect_error(where, status, exchange.headers)
    return ZCRMValidationError(text, **kwargs)


def is_top_level_error(body: dict[str, Any]) -> bool:
    """True when a JSON body is one error about the whole request, not a per-item list."""
    return "code" in body and body.get("status") == "error"


def malformed_success(exchange: Exchange) -> ZCRMMalformedResponseError:
    """The error for a 2xx answer whose body is not the JSON object the API promises."""
    content_type = exchange.headers.get("Content-Type", "?")
    return ZCRMMalformedResponseError(
        f"{exchange.method} {exchange.path}: Zoho answered HTTP {exchange.status} with a body that "
        f"is not the JSON object the API promises ({content_type}, {len(exchange.content)} bytes, "
        f"starting {_head(exchange.content)!r}). Often a proxy or a cut connection; retry later.",
        status=exchange.status,
        request_id=exchange.request_id,
    )


def connection_error(
    method: str, path: str, exc: requests.RequestException, *, safe: bool
) -> ZCRMConnectionError:
    """The error for an exchange that failed in the network; ``request_sent`` says if it left."""
    if isinstance(exc, UNBUILDABLE_REQUEST_ERRORS):
        error = ZCRMConnectionError(
            f"{method} {path}: the request could not be built ({type(exc).__name__}: "
            f"{_reason(exc)}). Check ZCRM['API_BASE_URL'] / DATA_CENTER."
        )
        error.request_sent = False
        error.__cause__ = exc
        return error
    never_sent = _never_sent(exc)
    what = "could not connect" if never_sent else "lost the connection or timed out"
    error = ZCRMConnectionError(
        f"{method} {path}: {what} ({type(exc).__name__}: {_reason(exc)}). "
        + (
            ""
            if never_sent or safe
            else "The request was NOT repeated because Zoho may already have carried it out; "
            "check the records (or use upsert) before sending it again. "
        )
        + "Check the network, ZCRM['API_BASE_URL'] and ZCRM['HTTP_TIMEOUT'].",
    )
    # Batch writes read this to tell "never reached Zoho" from "outcome unknown".
    error.request_sent = not never_sent
    error.__cause__ = exc
    return error


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), if any."""
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def summary(error: ZCRMError) -> str:
    """A short label for a log line: class, HTTP status and Zoho code."""
    parts = [type(error).__name__]
    if error.status is not None:
        parts.append(f"HTTP {error.status}")
    if error.code:
        parts.append(error.code)
    return ", ".join(parts)


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached Zoho (so repeating it is always safe)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        return isinstance(reason, (NewConnectionError, ConnectTimeoutError))
    return False


def _reason(exc: requests.RequestException) -> str:
    """The innermost cause of a requests error, without the URL and query it repeats."""
    reason: Any = exc.args[0] if exc.args else exc
    reason = getattr(reason, "reason", reason)
    text = str(reason)
    # urllib3 prefixes "<connection object at 0x...>: "; keep what a person can act on.
    text = text.split(">: ", 1)[-1]
    return redact(text)[:200]


def _head(content: bytes) -> str:
    return redact(content[:_HEAD_BYTES].decode("utf-8", "replace"))
