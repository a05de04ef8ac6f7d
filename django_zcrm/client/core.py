"""The CRM API client: per-thread sessions, the auth header, timeouts and the retry loop.

One pooled ``requests.Session`` per client and thread (created lazily, and again after a fork),
the ``Authorization: Zoho-oauthtoken`` header from the token provider, timeouts on every request,
retries that never repeat a request that may already have changed data, and one typed exception
(:mod:`django_zcrm.exceptions`) for every answer that is not a success.

What is retried (see ``docs/design/retries.md``, "Safe to repeat" and "What is retried"):

* 401 ``INVALID_TOKEN`` / ``AUTHENTICATION_FAILURE``: one coordinated refresh, then one retry.
* 429 (and the concurrency-limit codes): wait ``Retry-After`` when Zoho sends it, else exponential
  back-off with full jitter; at most ``MAX_RETRIES`` times. A ``Retry-After`` longer than
  ``MAX_RETRY_AFTER`` is not waited out: the error is raised at once with ``retry_after`` set.
* 5xx, read timeouts and connections dropped mid-request: only for requests that are safe to
  repeat (GET, PUT, DELETE, and POSTs the caller marks ``idempotent``: upsert, COQL).
* Connection errors before the request was sent (refused, DNS, connect timeout): always.

Each exchange holds one of the process's ``MAX_CONCURRENT_REQUESTS`` slots (:mod:`.slots`).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests

from ..conf import USER_AGENT, ZCRMSettings, get_settings, sandbox_url, trusted_zoho_url
from ..exceptions import ZCRMError, ZCRMRateLimitError
from ..redaction import get_logger
from ..tokens import OAuthTokens, TokenProvider
from ..wire import Limits, bounded_request, json_or_none, mount_watched, redirect_error
from .auth import default_token_provider
from .encoding import dumps, join_url, rewindable_files
from .errors import (
    TOKEN_REJECTED_CODES,
    UNBUILDABLE_REQUEST_ERRORS,
    connection_error,
    error_from,
    is_top_level_error,
    malformed_success,
    summary,
)
from .response import APIResponse, Exchange
from .slots import heavy_slots, is_heavy, request_slots

# One logger for the whole client package: the name projects configure and tests look for.
logger = get_logger("django_zcrm.client")

#: Methods safe to repeat after an attempt whose outcome is unknown (POST only when marked).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class _Retry(Exception):
    """Internal signal: wait ``delay`` seconds (None: back off) and send the request again."""

    def __init__(self, error: ZCRMError, delay: float | None, *, ambiguous: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.delay = delay
        self.ambiguous = ambiguous


class _TokenRejected(Exception):
    """Internal signal: Zoho rejected the access token; refresh it once and send again."""

    def __init__(self, error: ZCRMError) -> None:
        super().__init__(str(error))
        self.error = error


class ZCRMClient:
    """Sends requests to ``{api_domain}/crm/{API_VERSION}/`` as one Zoho user.

    ``oauth_client`` hands out the tokens (any :class:`~django_zcrm.tokens.TokenProvider`; by
    default the process-wide OAuth client, see :mod:`.auth`). ``slot_timeout`` bounds the wait
    for a free slot under ``MAX_CONCURRENT_REQUESTS`` (seconds; None: connect + read timeout of
    ``HTTP_TIMEOUT``), e.g. a short one for a web request that should rather fail fast than queue
    behind a sync.
    """

    def __init__(
        self,
        user_identifier: str | None = None,
        *,
        oauth_client: TokenProvider | None = None,
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
    def oauth_client(self) -> TokenProvider:
        """The token provider (the one wired in by the app, i.e. the OAuth client, unless given)."""
        if self._oauth_client is not None:
            return self._oauth_client
        return default_token_provider()

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
    def _api_domain(tokens: OAuthTokens, conf: ZCRMSettings) -> str:
        domain = getattr(tokens, "api_domain", None)
        if not domain:
            return conf.api_base_url
        trusted = trusted_zoho_url(domain, conf.api_base_url, "api")
        if trusted is None:
            # Stored before answers were checked (or by another tool): the access token must not
            # go to a host that is neither Zoho's nor the configured one.
            logger.warning(
                "The stored api_domain %r is neither a Zoho API host nor ZCRM['API_BASE_URL']; "
                "using %s instead.",
                str(domain)[:80],
                conf.api_base_url,
            )
            return conf.api_base_url
        domain = trusted
        # Zoho hands out the production API domain even to a sandbox client.
        return sandbox_url(domain) if conf.sandbox else domain

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
        # The watched adapter lets REQUEST_TOTAL_TIMEOUT cut off a server that drips its answer.
        mount_watched(session, pool_connections=4, pool_maxsize=16, max_retries=0)
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
            body = dumps(json)
            send_headers["Content-Type"] = "application/json"
        if headers:
            send_headers.update(headers)
        if files:
            files = rewindable_files(files)
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
            url = join_url(self._api_domain(tokens, conf), conf.API_VERSION, path)
            send_headers["Authorization"] = f"Zoho-oauthtoken {tokens.access_token}"
            try:
                exchange = self._send(
                    method, path, url, params, body, files, send_headers, timeout, safe, conf
                )
                response = self._finish(exchange, allow_item_errors=allow_item_errors, raw=raw)
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
                    summary(retry.error),
                    retries,
                    max_retries,
                    delay,
                )
                if delay > 0:
                    self.sleep(delay)

    # -- internals --------------------------------------------------------------------------------

    def _tokens(self, rejected_token: str | None) -> OAuthTokens:
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
    ) -> Exchange:
        # The slot covers this exchange only: it is free again before any back-off sleep or
        # token refresh of request().
        # A heavy call takes its own (lower) cap first, so it never holds a general slot while
        # waiting for a heavy one.
        heavy = heavy_slots(conf) if is_heavy(path) else None
        if heavy is not None:
            heavy.take(method, path, self._slot_bound(timeout))
        slots = request_slots(conf)
        if slots is not None:
            try:
                slots.take(method, path, self._slot_bound(timeout))
            except BaseException:
                if heavy is not None:
                    heavy.release()
                raise
        try:
            started = time.perf_counter()
            try:
                resp = bounded_request(
                    self.session,
                    method,
                    url,
                    limits=answer_limits(conf),
                    timeout=timeout,
                    what=f"{method} {path}",
                    params=params,
                    data=body,
                    files=files,
                    headers=headers,
                )
            except requests.RequestException as exc:
                elapsed = (time.perf_counter() - started) * 1000
                logger.debug("%s %s -> %s after %.0f ms", method, path, type(exc).__name__, elapsed)
                raise self._network_failure(method, path, exc, safe) from exc
            elapsed = (time.perf_counter() - started) * 1000
        finally:
            if slots is not None:
                slots.release()
            if heavy is not None:
                heavy.release()
        status = resp.status
        logger.debug("%s %s -> %s in %.0f ms", method, path, status, elapsed)
        return Exchange(method, path, status, resp.headers, resp.content, elapsed, safe, conf)

    def _slot_bound(self, timeout: tuple[float, float]) -> float:
        """How long to wait for one of the process's ``MAX_CONCURRENT_REQUESTS`` slots."""
        if self.slot_timeout is not None:
            return max(0.0, float(self.slot_timeout))
        # Long enough for a slot holder to finish one whole exchange (connect + read timeout).
        return sum(timeout)

    @staticmethod
    def _network_failure(
        method: str, path: str, exc: requests.RequestException, safe: bool
    ) -> Exception:
        error = connection_error(method, path, exc, safe=safe)
        if isinstance(exc, UNBUILDABLE_REQUEST_ERRORS):
            return error  # the same request would fail the same way
        if not error.request_sent or safe:
            return _Retry(error, None, ambiguous=error.request_sent)
        return error

    @staticmethod
    def _backoff(conf: ZCRMSettings, attempt: int) -> float:
        # Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^attempt)], so
        # many workers hit by the same outage do not come back in lockstep.
        ceiling = min(float(conf.RETRY_BACKOFF_MAX), float(conf.RETRY_BACKOFF_BASE) * (2**attempt))
        return random.uniform(0, max(0.0, ceiling))

    def _finish(self, exchange: Exchange, *, allow_item_errors: bool, raw: bool) -> APIResponse:
        status = exchange.status
        content = exchange.content
        if 300 <= status < 400 and status != 304:
            # Never followed: the Authorization header must not travel to another host.
            raise redirect_error(f"{exchange.method} {exchange.path}", status, exchange.headers)
        if not 100 <= status < 600:
            raise malformed_success(exchange)
        if 200 <= status < 300 or status == 304:
            data: Any = None
            if status not in (204, 304) and not raw and content.strip():
                data = json_or_none(content)
                if not isinstance(data, dict):
                    raise malformed_success(exchange)
            return self._response(exchange, data)
        body = json_or_none(content)
        items = body.get("data") if isinstance(body, dict) else None
        if (
            allow_item_errors
            and 400 <= status < 500
            and status not in (401, 429)
            and isinstance(body, dict)
            and isinstance(items, list)
            and items
            and all(isinstance(i, dict) for i in items)
            and not is_top_level_error(body)
        ):
            return self._response(exchange, body)
        error = error_from(exchange, body)
        if status == 401 and error.code in TOKEN_REJECTED_CODES:
            raise _TokenRejected(error)
        if isinstance(error, ZCRMRateLimitError):
            if error.retry_after is None:
                raise _Retry(error, None, ambiguous=False)
            # Waiting longer than the cap (credits for the day are gone) would only block the
            # caller; they get the error with retry_after set and can resume later.
            if error.retry_after > float(exchange.conf.MAX_RETRY_AFTER):
                raise error
            raise _Retry(error, error.retry_after, ambiguous=False)
        if status >= 500 and exchange.safe:
            raise _Retry(error, None, ambiguous=True)
        raise error

    @staticmethod
    def _response(exchange: Exchange, data: Any) -> APIResponse:
        return APIResponse(
            exchange.method,
            exchange.path,
            exchange.status,
            data,
            exchange.headers,
            exchange.content,
            exchange.elapsed_ms,
            request_id=exchange.request_id,
        )


def answer_limits(conf: ZCRMSettings) -> Limits:
    """``REQUEST_TOTAL_TIMEOUT`` and ``MAX_RESPONSE_BYTES`` as the limits of one exchange."""
    return Limits(float(conf.REQUEST_TOTAL_TIMEOUT), int(conf.MAX_RESPONSE_BYTES))


def _timeout(value: Any) -> tuple[float, float]:
    """``HTTP_TIMEOUT`` as (connect, read) seconds: one number stands for both."""
    if isinstance(value, (int, float)):
        return (float(value), float(value))
    connect, read = tuple(value)
    return (float(connect), float(read))
