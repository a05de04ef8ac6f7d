"""The HTTP client for the Zoho CRM REST API.

One pooled ``requests.Session`` per client and thread (created lazily, and again after a fork),
the ``Authorization: Zoho-oauthtoken`` header from the OAuth client, timeouts on every request,
retries that never repeat a request that may already have changed data, and one typed exception
(:mod:`django_zcrm.exceptions`) for every answer that is not a success.

What is retried (see ``reliability.md`` 3.2 to 3.4):

* 401 ``INVALID_TOKEN`` / ``AUTHENTICATION_FAILURE``: one coordinated refresh, then one retry.
* 429 (and the concurrency-limit codes): wait ``Retry-After`` when Zoho sends it, else exponential
  back-off with full jitter; at most ``MAX_RETRIES`` times. A ``Retry-After`` longer than
  ``MAX_RETRY_AFTER`` is not waited out: the error is raised at once with ``retry_after`` set.
* 5xx, read timeouts and connections dropped mid-request: only for requests that are safe to
  repeat (GET, PUT, DELETE, and POSTs the caller marks ``idempotent``: upsert, COQL).
* Connection errors before the request was sent (refused, DNS, connect timeout): always.

Zoho also limits the calls an org has in flight at once (5 to 25 by edition, 10 for heavy calls;
``reliability.md`` 3.6). ``MAX_CONCURRENT_REQUESTS`` caps them per process: every client of the
process shares one semaphore, held for the HTTP exchange only (never during a back-off sleep or a
token refresh). A call that finds no free slot within one exchange's worth of time (connect + read
timeout of ``HTTP_TIMEOUT``) is not sent and raises :class:`ZCRMRateLimitError` with code
``LOCAL_CONCURRENCY_LIMIT``, naming the setting.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import quote

import requests
from django.core.signals import setting_changed
from django.utils import timezone
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from . import __version__
from .conf import ZCRMSettings, get_settings
from .exceptions import (
    ZCRMAuthError,
    ZCRMConfigurationError,
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
from .redaction import get_logger, redact

logger = get_logger(__name__)

USER_AGENT = f"django-zcrm/{__version__}"

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
#: Response headers that may carry a request id (Zoho documents none; proxies and newer DCs vary).
REQUEST_ID_HEADERS = (
    "X-Request-Id",
    "X-ZOHO-REQUEST-ID",
    "X-Zoho-Trace-Id",
    "X-Trace-Id",
    "X-Correlation-Id",
    "Request-Id",
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: ``ZCRMRateLimitError.code`` when this process's own cap (MAX_CONCURRENT_REQUESTS) had no free
#: slot in time; the request was not sent.
LOCAL_CONCURRENCY_LIMIT = "LOCAL_CONCURRENCY_LIMIT"
_HEAD_BYTES = 120


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


class _Retry(Exception):
    """Internal signal: wait ``delay`` seconds (None: back off) and send the request again."""

    def __init__(self, error: ZCRMError, delay: float | None, *, ambiguous: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.delay = delay
        self.ambiguous = ambiguous


class ZCRMClient:
    """Sends requests to ``{api_domain}/crm/{API_VERSION}/`` as one Zoho user.

    ``slot_timeout`` bounds the wait for a free slot under ``MAX_CONCURRENT_REQUESTS`` (seconds;
    None: connect + read timeout of ``HTTP_TIMEOUT``), e.g. a short one for a web request that
    should rather fail fast than queue behind a sync.
    """

    def __init__(
        self,
        user_identifier: str | None = None,
        *,
        oauth_client: Any = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        slot_timeout: float | None = None,
    ) -> None:
        self.user_identifier = user_identifier
        self._oauth_client = oauth_client
        self._shared_session = session
        self.sleep = sleep
        self.slot_timeout = slot_timeout
        self._local = threading.local()
        self._own_sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<ZCRMClient user={self.user_identifier or '(current user)'}>"

    def __enter__(self) -> ZCRMClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- configuration ----------------------------------------------------------------------------

    @property
    def oauth_client(self) -> Any:
        """The OAuth client handing out tokens (the process-wide one unless one was given)."""
        if self._oauth_client is not None:
            return self._oauth_client
        from .oauth import get_oauth_client

        # Looked up each time: it is rebuilt when settings change.
        return get_oauth_client()

    @property
    def api_version(self) -> str:
        """``ZCRM['API_VERSION']`` (read now, so settings changes apply)."""
        return str(get_settings().API_VERSION)

    def base_url(self, conf: ZCRMSettings | None = None) -> str:
        """``{api_domain or API_BASE_URL}/crm/{API_VERSION}/`` for the client's user."""
        conf = conf or get_settings()
        tokens = self.oauth_client.get_tokens(self.user_identifier)
        return f"{self._api_domain(tokens, conf)}/crm/{conf.API_VERSION}/"

    @staticmethod
    def _api_domain(tokens: Any, conf: ZCRMSettings) -> str:
        domain = getattr(tokens, "api_domain", None)
        if not domain:
            return conf.api_base_url
        domain = str(domain).rstrip("/")
        if "://" not in domain:
            domain = "https://" + domain
        if conf.sandbox and "://www." in domain:
            # Zoho hands out the production API domain; sandbox lives on the "sandbox." host.
            domain = domain.replace("://www.", "://sandbox.", 1)
        return domain

    # -- sessions ---------------------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        """This thread's pooled session (the one passed in, if any)."""
        if self._shared_session is not None:
            return self._shared_session
        local = self._local
        session = getattr(local, "session", None)
        pid = os.getpid()
        if session is None or local.pid != pid:
            # A fresh session after fork: two processes must never share sockets.
            session = self._new_session()
            local.session, local.pid = session, pid
            with self._sessions_lock:
                self._own_sessions.append(session)
        return session

    @staticmethod
    def _new_session() -> requests.Session:
        session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        session.headers["Accept"] = "application/json"
        # Zoho's session/CSRF cookies are useless to an API client; never store or replay them.
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def close(self) -> None:
        """Close the sessions this client created (a session passed in is the caller's)."""
        with self._sessions_lock:
            sessions, self._own_sessions = self._own_sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    # -- requests ---------------------------------------------------------------------------------

    def get(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> APIResponse:
        """GET ``path`` (relative to the API base) and return the parsed answer."""
        return self.request("GET", path, params=params, headers=headers, **kwargs)

    def post(self, path: str, *, json: Any = None, **kwargs: Any) -> APIResponse:
        """POST a JSON body; not repeated after an ambiguous failure unless ``idempotent=True``."""
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, *, json: Any = None, **kwargs: Any) -> APIResponse:
        """PUT a JSON body (safe to repeat)."""
        return self.request("PUT", path, json=json, **kwargs)

    def delete(
        self, path: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> APIResponse:
        """DELETE ``path`` (safe to repeat)."""
        return self.request("DELETE", path, params=params, **kwargs)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        files: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        allow_item_errors: bool = False,
        raw: bool = False,
    ) -> APIResponse:
        """Send one logical request, with the refresh and retry rules of this module.

        ``path`` is relative to ``/crm/{API_VERSION}/`` (``"Leads"``), or absolute from the API
        domain when it starts with ``/`` (``"/crm/bulk/v2/read"``). ``idempotent`` overrides the
        method's default (GET/PUT/DELETE safe, POST not). ``allow_item_errors`` returns a 4xx
        whose body is a per-item ``{"data": [...]}`` list instead of raising, so batch writes can
        report each record. ``raw`` skips JSON parsing of 2xx bodies (file downloads).
        """
        method = method.upper()
        safe = (method in SAFE_METHODS) if idempotent is None else idempotent
        conf = get_settings()
        body = data
        send_headers: dict[str, str] = {}
        if json is not None:
            body = _dumps(json)
            send_headers["Content-Type"] = "application/json"
        if headers:
            send_headers.update(headers)
        if files:
            files = _rewindable_files(files)
        timeout = _timeout(conf.HTTP_TIMEOUT)
        max_retries = max(0, int(conf.MAX_RETRIES))
        retries = 0
        refreshed = False
        ambiguous_before = False
        rejected_token: str | None = None
        while True:
            try:
                tokens = self._tokens(rejected_token)
            except ZCRMError as exc:
                # No token, no request: batch writes report these records as not attempted.
                exc.request_sent = False
                raise
            rejected_token = None
            url = _join(self._api_domain(tokens, conf), conf.API_VERSION, path)
            send_headers["Authorization"] = f"Zoho-oauthtoken {tokens.access_token}"
            try:
                pending = self._send(
                    method, path, url, params, body, files, send_headers, timeout, safe, conf
                )
                response = self._finish(pending, allow_item_errors=allow_item_errors, raw=raw)
                response.attempts = retries + 1 + int(refreshed)
                response.repeated_after_ambiguous = ambiguous_before
                return response
            except _TokenRejected as rejected:
                if refreshed:
                    raise rejected.error from None
                refreshed = True
                rejected_token = tokens.access_token
                logger.warning(
                    "Zoho rejected the access token (%s) on %s %s; refreshing it once "
                    "and retrying.",
                    rejected.error.code,
                    method,
                    path,
                )
            except _Retry as retry:
                if retries >= max_retries:
                    raise retry.error from retry.error.__cause__
                delay = retry.delay if retry.delay is not None else self._backoff(conf, retries)
                retries += 1
                ambiguous_before = ambiguous_before or retry.ambiguous
                logger.warning(
                    "%s %s failed (%s); retry %d of %d in %.2f s.",
                    method,
                    path,
                    _short(retry.error),
                    retries,
                    max_retries,
                    delay,
                )
                if delay > 0:
                    self.sleep(delay)

    # -- internals --------------------------------------------------------------------------------

    def _tokens(self, rejected_token: str | None) -> Any:
        oauth = self.oauth_client
        if rejected_token is not None:
            return oauth.refresh_access_token(self.user_identifier, stale_token=rejected_token)
        return oauth.get_tokens(self.user_identifier)

    def _send(
        self,
        method: str,
        path: str,
        url: str,
        params: Any,
        body: Any,
        files: Any,
        headers: dict[str, str],
        timeout: tuple[float, float],
        safe: bool,
        conf: ZCRMSettings,
    ) -> _Pending:
        # The slot covers this exchange only: it is free again before any back-off sleep or
        # token refresh of request().
        slots = _request_slots(conf)
        if slots is not None:
            self._take_slot(slots, method, path, timeout)
        try:
            started = time.perf_counter()
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    data=body,
                    files=files,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=False,
                )
                content = resp.content
            except requests.RequestException as exc:
                elapsed = (time.perf_counter() - started) * 1000
                logger.debug("%s %s -> %s after %.0f ms", method, path, type(exc).__name__, elapsed)
                raise self._network_failure(method, path, exc, safe, conf) from exc
            elapsed = (time.perf_counter() - started) * 1000
        finally:
            if slots is not None:
                slots.semaphore.release()
        status = resp.status_code
        logger.debug("%s %s -> %s in %.0f ms", method, path, status, elapsed)
        return _Pending(method, path, status, resp.headers, content, elapsed, safe, conf)

    def _take_slot(
        self, slots: _Slots, method: str, path: str, timeout: tuple[float, float]
    ) -> None:
        """Wait (bounded) for one of the process's ``MAX_CONCURRENT_REQUESTS`` slots."""
        if slots.semaphore.acquire(blocking=False):
            return
        # Long enough for a slot holder to finish one whole exchange (connect + read timeout).
        bound = sum(timeout) if self.slot_timeout is None else max(0.0, float(self.slot_timeout))
        logger.debug(
            "%s %s waits for a free slot (%d calls in flight, up to %.1f s).",
            method,
            path,
            slots.limit,
            bound,
        )
        started = time.monotonic()
        if slots.semaphore.acquire(timeout=bound):
            logger.debug(
                "%s %s got a slot after %.0f ms.", method, path, (time.monotonic() - started) * 1000
            )
            return
        error = ZCRMRateLimitError(
            f"{method} {path}: not sent: this process already had {slots.limit} CRM API "
            f"call{'s' if slots.limit != 1 else ''} in flight "
            f"(ZCRM['MAX_CONCURRENT_REQUESTS'] = {slots.limit}) and none finished "
            f"within {bound:g} s. Raise ZCRM['MAX_CONCURRENT_REQUESTS'] (keeping it within your "
            "Zoho edition's concurrency limit divided by the number of processes), make fewer "
            "calls at once, or look for calls that hang (ZCRM['HTTP_TIMEOUT']).",
            code=LOCAL_CONCURRENCY_LIMIT,
        )
        # Batch writes report these records as not attempted.
        error.request_sent = False
        logger.warning("%s", error)
        raise error

    def _network_failure(
        self, method: str, path: str, exc: requests.RequestException, safe: bool, conf: ZCRMSettings
    ) -> Exception:
        if isinstance(
            exc,
            (
                requests.exceptions.InvalidURL,
                requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema,
                requests.exceptions.InvalidHeader,
            ),
        ):
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
        if never_sent or safe:
            return _Retry(error, None, ambiguous=not never_sent)
        return error

    @staticmethod
    def _backoff(conf: ZCRMSettings, attempt: int) -> float:
        # Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^attempt)], so
        # many workers hit by the same outage do not come back in lockstep.
        ceiling = min(float(conf.RETRY_BACKOFF_MAX), float(conf.RETRY_BACKOFF_BASE) * (2**attempt))
        return random.uniform(0, max(0.0, ceiling))

    def _finish(self, pending: _Pending, *, allow_item_errors: bool, raw: bool) -> APIResponse:
        status = pending.status
        headers = pending.headers
        request_id = _request_id(headers)
        content = pending.content
        if 200 <= status < 300 or status == 304:
            data: Any = None
            if status not in (204, 304) and not raw and content.strip():
                data = _parse_json(pending, request_id)
            return APIResponse(
                pending.method,
                pending.path,
                status,
                data,
                headers,
                content,
                pending.elapsed_ms,
                request_id=request_id,
            )
        body = _loads_or_none(content)
        items = body.get("data") if isinstance(body, dict) else None
        if (
            allow_item_errors
            and 400 <= status < 500
            and status not in (401, 429)
            and isinstance(items, list)
            and items
            and all(isinstance(i, dict) for i in items)
            and not _is_top_level_error(body)
        ):
            return APIResponse(
                pending.method,
                pending.path,
                status,
                body,
                headers,
                content,
                pending.elapsed_ms,
                request_id=request_id,
            )
        error = _error_from(pending, body, request_id)
        if status == 401 and error.code in TOKEN_REJECTED_CODES:
            raise _TokenRejected(error)
        if isinstance(error, ZCRMRateLimitError):
            if error.retry_after is None:
                raise _Retry(error, None, ambiguous=False)
            # Waiting longer than the cap (credits for the day are gone) would only block the
            # caller; they get the error with retry_after set and can resume later.
            if error.retry_after > float(pending.conf.MAX_RETRY_AFTER):
                raise error
            raise _Retry(error, error.retry_after, ambiguous=False)
        if status >= 500 and pending.safe:
            raise _Retry(error, None, ambiguous=True)
        raise error


@dataclass(slots=True)
class _Pending:
    method: str
    path: str
    status: int
    headers: Mapping[str, str]
    content: bytes
    elapsed_ms: float
    safe: bool
    conf: ZCRMSettings


class _TokenRejected(Exception):
    def __init__(self, error: ZCRMError) -> None:
        super().__init__(str(error))
        self.error = error


# -- helpers --------------------------------------------------------------------------------------


def _dumps(payload: Any) -> bytes:
    return json.dumps(
        payload, separators=(",", ":"), ensure_ascii=False, default=_json_default
    ).encode("utf-8")


def _json_default(value: Any) -> Any:
    """Encode what the ORM hands out: datetimes (with an offset, as Zoho needs), dates, Decimals."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = timezone.make_aware(value, timezone.get_default_timezone())
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} cannot be sent to Zoho as JSON")


def _rewindable_files(files: Mapping[str, Any]) -> dict[str, Any]:
    # A file object is read once so that a retry (after a refresh or a connect error) sends it all.
    result: dict[str, Any] = {}
    for name, value in files.items():
        if isinstance(value, tuple) and len(value) >= 2 and hasattr(value[1], "read"):
            value = (value[0], value[1].read(), *value[2:])
        elif hasattr(value, "read"):
            value = (os.path.basename(getattr(value, "name", "") or "file"), value.read())
        result[name] = value
    return result


def _timeout(value: Any) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        return (float(value), float(value))
    connect, read = tuple(value)
    return (float(connect), float(read))


def _join(domain: str, version: str, path: str) -> str:
    if path.startswith(("http://", "https://")):
        return path
    if path.startswith("/"):
        return domain + path
    return f"{domain}/crm/{version}/{path}"


def quote_segment(value: Any) -> str:
    """Quote one URL path segment (record ids, related-list names)."""
    return quote(str(value), safe="")


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


def _request_id(headers: Mapping[str, str]) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def _loads_or_none(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return None


def _head(content: bytes) -> str:
    return redact(content[:_HEAD_BYTES].decode("utf-8", "replace"))


def _parse_json(pending: _Pending, request_id: str | None) -> Any:
    try:
        data = json.loads(pending.content)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    content_type = pending.headers.get("Content-Type", "?")
    raise ZCRMMalformedResponseError(
        f"{pending.method} {pending.path}: Zoho answered HTTP {pending.status} with a body that "
        f"is not the JSON object the API promises ({content_type}, {len(pending.content)} bytes, "
        f"starting {_head(pending.content)!r}). Often a proxy or a cut connection; retry later.",
        status=pending.status,
        request_id=request_id,
    )


def _is_top_level_error(body: dict[str, Any]) -> bool:
    return "code" in body and body.get("status") == "error"


def _error_from(pending: _Pending, body: Any, request_id: str | None) -> ZCRMError:
    """Build the typed exception for a non-2xx answer."""
    status = pending.status
    code: str | None = None
    message = ""
    details: Any = {}
    if isinstance(body, dict):
        source = body
        items = body.get("data")
        if "code" not in body and isinstance(items, list) and items and isinstance(items[0], dict):
            source = items[0]
        code = source.get("code") if isinstance(source.get("code"), str) else None
        message = str(source.get("message") or "")
        details = source.get("details") or {}
    where = f"{pending.method} {pending.path}"
    if body is None and pending.content:
        content_type = pending.headers.get("Content-Type", "?")
        message = (
            f"Zoho answered with a body that is not JSON ({content_type}, starting "
            f"{_head(pending.content)!r})"
        )
    elif not message:
        message = f"Zoho answered HTTP {status}"
    text = f"{where}: {message}"
    kwargs = dict(status=status, code=code, details=details, request_id=request_id)
    if status == 429 or code in RATE_LIMIT_CODES:
        retry_after = _retry_after(pending.headers)
        return ZCRMRateLimitError(
            text + ". Zoho limits API credits per 24 hours and concurrent calls per app.",
            retry_after=retry_after,
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
        location = redact(pending.headers.get("Location", ""))
        return ZCRMError(
            f"{where}: Zoho redirected to {location or '(nowhere)'}; check "
            "ZCRM['API_BASE_URL'] / DATA_CENTER and API_VERSION.",
            **kwargs,
        )
    return ZCRMValidationError(text, **kwargs)


def _retry_after(headers: Mapping[str, str]) -> float | None:
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


def _short(error: ZCRMError) -> str:
    parts = [type(error).__name__]
    if error.status is not None:
        parts.append(f"HTTP {error.status}")
    if error.code:
        parts.append(error.code)
    return ", ".join(parts)


# -- process-wide clients -------------------------------------------------------------------------

_clients: dict[str | None, ZCRMClient] = {}
_clients_lock = threading.Lock()


def get_client(user_identifier: str | None = None) -> ZCRMClient:
    """A shared client for the user (one per process and user, so connections are reused)."""
    client = _clients.get(user_identifier)
    if client is None:
        with _clients_lock:
            client = _clients.setdefault(user_identifier, ZCRMClient(user_identifier))
    return client


def close_clients() -> None:
    """Close and forget the shared clients (done when ``settings.ZCRM`` changes)."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


# -- the process-wide cap on calls in flight (MAX_CONCURRENT_REQUESTS) ------------------------------


@dataclass(frozen=True, slots=True)
class _Slots:
    limit: int
    semaphore: threading.BoundedSemaphore


_slots: _Slots | None = None
_slots_lock = threading.Lock()


def _configured_cap(conf: ZCRMSettings) -> int | None:
    try:
        return conf.max_concurrent_requests
    except ValueError as exc:
        # Checks (E017) and the OAuth client's start-up validation normally catch this first.
        raise ZCRMConfigurationError(
            f"{exc}. Set it to the most CRM API calls one process may have in flight (e.g. 10), "
            "or None / 0 for no cap."
        ) from None


def _request_slots(conf: ZCRMSettings) -> _Slots | None:
    """The semaphore shared by every client of this process; None when there is no cap.

    Built on first use and rebuilt when the configured cap differs (settings changed). Calls in
    flight on an old semaphore release into that one, so nothing leaks either way.
    """
    global _slots
    limit = _configured_cap(conf)
    if limit is None:
        return None
    slots = _slots
    if slots is None or slots.limit != limit:
        with _slots_lock:
            slots = _slots
            if slots is None or slots.limit != limit:
                slots = _slots = _Slots(limit, threading.BoundedSemaphore(limit))
    return slots


def _forget_request_slots(*, unless_limit: int | None = None) -> None:
    global _slots
    with _slots_lock:
        if _slots is not None and _slots.limit != unless_limit:
            _slots = None


def _after_fork_in_child() -> None:
    # The parent's threads (and the slots they held) do not exist here; start with a free cap.
    global _slots, _slots_lock
    _slots, _slots_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "ZCRM":
        close_clients()
        # Keep the semaphore while the cap is unchanged: calls in flight stay counted.
        try:
            limit = get_settings().max_concurrent_requests
        except ValueError:
            limit = None
        _forget_request_slots(unless_limit=limit)


setting_changed.connect(_on_setting_changed, dispatch_uid="django_zcrm.client.setting_changed")
