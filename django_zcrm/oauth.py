"""Zoho Accounts: grant exchange, coordinated refresh, revoke and user info.

The refresh protocol (see ``docs/design/token-refresh.md``): a token is refreshed when less than
``REFRESH_MARGIN`` seconds remain. Exactly one process takes the store's refresh lease (a
time-limited claim, never a lock held across the network call) and asks Zoho; the others keep
using the still-valid token, or, once less than ``HARD_REFRESH_MARGIN`` remains, poll the store
until the new token appears or the lease lapses. After Zoho's "Access Denied" throttle nobody asks
again until ``THROTTLE_SECONDS`` have passed; after ``invalid_code`` nobody asks again at all until
a person reconnects.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from django.views.decorators.debug import sensitive_variables

from .conf import USER_AGENT, ZCRMSettings, configuration_errors, get_settings, trusted_zoho_url
from .exceptions import (
    ZCRMAuthError,
    ZCRMConfigurationError,
    ZCRMConnectionError,
    ZCRMError,
    ZCRMInvalidClientError,
    ZCRMInvalidGrantError,
    ZCRMMalformedResponseError,
    ZCRMReauthorizationRequiredError,
    ZCRMServerError,
    ZCRMTokenDecryptionError,
    ZCRMTokenNotFoundError,
    ZCRMTokenThrottledError,
    ZCRMUntrustedAnswerError,
)
from .persistence import TokenPersistence, get_persistence
from .redaction import get_logger, redact, register_secret
from .signals import tokens_refreshed
from .tokens import OAuthTokens, TokenStatus
from .wire import Limits, RawAnswer, bounded_request, json_or_none, mount_watched, redirect_error

logger = get_logger(__name__)

TOKEN_PATH = "/oauth/v2/token"
REVOKE_PATH = "/oauth/v2/token/revoke"
USER_INFO_PATH = "/oauth/user/info"
AUTH_PATH = "/oauth/v2/auth"

#: The longest token we accept from Zoho (theirs are ~70 characters); longer ones are not stored.
MAX_TOKEN_LENGTH = 1000
#: ``expires_in`` bounds: an access token lives an hour; a year means the answer is broken.
MIN_EXPIRES_MS = 1000
MAX_EXPIRES_MS = 365 * 24 * 3600 * 1000
#: Share of the refresh lease one token request may take, so the lease is never outlived.
TOKEN_DEADLINE_SHARE_OF_LEASE = 0.8


@dataclass(frozen=True)
class UserInfo:
    """What ``/oauth/user/info`` says about the token's owner."""

    email: str
    zuid: str | None = None
    display_name: str = ""


class OAuthClient:
    """Talks to Zoho Accounts and keeps each user's access token fresh in the token store."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        accounts_url: str,
        persistence: TokenPersistence,
        redirect_uri: str = "",
        current_user_email: str = "",
        refresh_margin: float = 300,
        hard_refresh_margin: float = 60,
        lease_seconds: float = 30,
        throttle_seconds: float = 600,
        timeout: tuple[float, float] = (5, 15),
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        api_base_url: str = "",
        total_timeout: float = 120,
        max_response_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        register_secret(client_secret)
        self.accounts_url = accounts_url.rstrip("/")
        self.persistence = persistence
        self.redirect_uri = redirect_uri
        self.current_user_email = current_user_email
        self.refresh_margin_ms = int(refresh_margin * 1000)
        self.hard_margin_ms = int(min(hard_refresh_margin, refresh_margin) * 1000)
        self.lease_ms = int(lease_seconds * 1000)
        self.throttle_ms = int(throttle_seconds * 1000)
        connect, read = timeout
        self.timeout: tuple[float, float] = (connect, read)
        self.clock = clock
        self.sleep = sleep
        if session is None:
            session = requests.Session()
            mount_watched(session)
        self.session = session
        self.session.headers["User-Agent"] = USER_AGENT
        #: The configured API domain: a token answer's ``api_domain`` may name it or a Zoho host.
        self.api_base_url = api_base_url.rstrip("/")
        # A token request must end before the refresh lease lapses, or a second process would
        # refresh too (see docs/design/token-refresh.md, "Deadlines").
        self.limits = Limits(
            min(float(total_timeout), lease_seconds * TOKEN_DEADLINE_SHARE_OF_LEASE),
            int(max_response_bytes),
        )
        self._cache: dict[str, OAuthTokens] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def __repr__(self) -> str:
        return f"<OAuthClient client_id={self.client_id!r} accounts_url={self.accounts_url!r}>"

    @classmethod
    def from_settings(cls, conf: ZCRMSettings | None = None, **overrides: Any) -> OAuthClient:
        """Build a client from ``settings.ZCRM``; configuration errors are raised here too."""
        conf = conf or get_settings()
        problems = configuration_errors(conf)
        if problems:
            raise ZCRMConfigurationError(" ".join(problems))
        kwargs: dict[str, Any] = dict(
            client_id=conf.CLIENT_ID,
            client_secret=conf.CLIENT_SECRET,
            accounts_url=conf.accounts_url,
            persistence=get_persistence(),
            redirect_uri=conf.REDIRECT_URI,
            current_user_email=conf.CURRENT_USER_EMAIL,
            refresh_margin=conf.REFRESH_MARGIN,
            hard_refresh_margin=conf.HARD_REFRESH_MARGIN,
            lease_seconds=conf.REFRESH_LEASE_SECONDS,
            throttle_seconds=conf.THROTTLE_SECONDS,
            timeout=tuple(conf.TOKEN_TIMEOUT),
            api_base_url=conf.api_base_url,
            total_timeout=conf.REQUEST_TOTAL_TIMEOUT,
            max_response_bytes=conf.MAX_RESPONSE_BYTES,
        )
        kwargs.update(overrides)
        return cls(**kwargs)

    # -- public API -----------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The client's clock in epoch milliseconds."""
        return int(self.clock() * 1000)

    def resolve_user(self, user_identifier: str | None = None) -> str:
        """The user to act for: the argument, else ZCRM['CURRENT_USER_EMAIL']."""
        user = user_identifier or self.current_user_email
        if not user:
            raise ZCRMConfigurationError(
                "No Zoho user given: pass user_identifier (or --user) or set "
                "ZCRM['CURRENT_USER_EMAIL'] to the e-mail the tokens were stored under."
            )
        return user

    @sensitive_variables("grant_token", "answer")
    def generate_access_token(
        self,
        grant_token: str,
        user_identifier: str | None = None,
        *,
        accounts_server: str | None = None,
        discover_user: bool = False,
    ) -> OAuthTokens:
        """Exchange a grant token for access + refresh tokens and store them; return them.

        The tokens are stored under ``user_identifier``, else CURRENT_USER_EMAIL, else (or always,
        with ``discover_user``, as the web flow needs) the e-mail Zoho reports for the token.
        ``accounts_server`` is the data centre's accounts URL Zoho named on the redirect.
        """
        grant_token = (grant_token or "").strip()
        if not grant_token:
            raise ZCRMInvalidGrantError("The grant token is empty: paste the code Zoho showed you.")
        register_secret(grant_token)
        accounts_url = (accounts_server or self.accounts_url).rstrip("/")
        params = {"grant_type": "authorization_code", "code": grant_token}
        if self.redirect_uri:
            params["redirect_uri"] = self.redirect_uri
        sent_at = self.now_ms()
        answer = self._token_request(params, accounts_url, grant="authorization_code")
        access_token = answer.access_token
        refresh_token = answer.refresh_token
        if not refresh_token:
            raise ZCRMAuthError(
                "Zoho returned no refresh token: the grant token was made for online access. "
                "Generate a new one with access_type=offline (a Self Client code always is)."
            )
        register_secret(refresh_token)
        user = None if discover_user else (user_identifier or self.current_user_email)
        if not user:
            user = self.get_user_info(access_token, accounts_url=accounts_url).email
        tokens = OAuthTokens(
            user_identifier=user,
            access_token=access_token,
            refresh_token=refresh_token,
            expiry_time=sent_at + answer.expires_ms,
            api_domain=answer.api_domain,
            accounts_server=accounts_server.rstrip("/") if accounts_server else None,
            last_refreshed_at=sent_at,
        )
        self.persistence.save_oauth_tokens(tokens)
        self._cache.pop(user, None)
        logger.info(
            "Stored new Zoho tokens for %s (access token expires in %ss).",
            user,
            answer.expires_ms // 1000,
        )
        return tokens

    def get_access_token(self, user_identifier: str | None = None) -> str:
        """A usable access token for the user, refreshed first when it is (nearly) expired."""
        return self.get_tokens(user_identifier).access_token

    def get_tokens(self, user_identifier: str | None = None) -> OAuthTokens:
        """The user's current tokens, refreshed first when the access token is (nearly) expired."""
        user = self.resolve_user(user_identifier)
        cached = self._cache.get(user)
        remaining = cached.remaining_ms(self.now_ms()) if cached is not None else 0
        if cached is not None and remaining > self.refresh_margin_ms:
            return cached
        lock = self._user_lock(user)
        # While a sibling thread refreshes, a still-valid token is better than waiting for it.
        if not lock.acquire(blocking=cached is None or remaining <= self.hard_margin_ms):
            return cached  # type: ignore[return-value]
        try:
            return self._ensure_fresh(user, force=False, stale_token=None)
        finally:
            lock.release()

    def refresh_access_token(
        self, user_identifier: str | None = None, *, stale_token: str | None = None
    ) -> OAuthTokens:
        """Mint a new access token now (one per process group, through the lease).

        With ``stale_token`` (the token the CRM API just rejected), nothing is minted when another
        process has already replaced it.
        """
        user = self.resolve_user(user_identifier)
        self._cache.pop(user, None)
        with self._user_lock(user):
            return self._ensure_fresh(user, force=True, stale_token=stale_token)

    def revoke(self, user_identifier: str | None = None) -> bool:
        """Revoke the user's refresh token at Zoho and delete the stored tokens."""
        user = self.resolve_user(user_identifier)
        tokens = self.persistence.get_oauth_tokens(user)
        if tokens is None:
            raise ZCRMTokenNotFoundError(
                f"No Zoho tokens are stored for {user}: nothing to revoke."
            )
        _register_stored(tokens)
        accounts_url = tokens.accounts_server or self.accounts_url
        answer = self._post(accounts_url + REVOKE_PATH, {"token": tokens.refresh_token})
        body = json_or_none(answer.content)
        # Only an unambiguous success removes the tokens: anything else might mean the token is
        # still alive at Zoho, and deleting our copy would leave it there, unrevocable by us.
        confirmed = isinstance(body, dict) and body.get("status") == "success"
        if not (200 <= answer.status < 300 and confirmed):
            if answer.status >= 500:
                raise _http_error(answer, "revoking the refresh token")
            raise ZCRMAuthError(
                f"Zoho did not confirm that it revoked the refresh token of {user} "
                f"({_describe(answer)}); the stored tokens were kept. Try again later; if the "
                "token is already gone at Zoho, delete the stored tokens in the admin.",
                status=answer.status,
            )
        self.persistence.delete_oauth_tokens(user)
        self._cache.pop(user, None)
        logger.info("Revoked and deleted the Zoho tokens of %s.", user)
        return True

    @sensitive_variables("access_token")
    def get_user_info(self, access_token: str, *, accounts_url: str | None = None) -> UserInfo:
        """Ask ``/oauth/user/info`` whose token this is (needs scope AaaServer.profile.READ)."""
        url = (accounts_url or self.accounts_url).rstrip("/") + USER_INFO_PATH
        answer = self._exchange(
            "GET", url, headers={"Authorization": f"Zoho-oauthtoken {access_token}"}
        )
        body = json_or_none(answer.content)
        email = body.get("Email") if isinstance(body, dict) else None
        if answer.status != 200 or not isinstance(body, dict) or not email:
            code = body.get("code") if isinstance(body, dict) else None
            raise ZCRMAuthError(
                "Zoho would not say which user the new tokens belong to, so nothing was stored. "
                "Generate a new grant token that includes the scope AaaServer.profile.READ, or "
                "give the user's e-mail (--user, or ZCRM['CURRENT_USER_EMAIL']).",
                status=answer.status,
                code=code if isinstance(code, str) else None,
            )
        if not _plausible_text(email, 254) or "@" not in email:
            raise ZCRMUntrustedAnswerError(
                "Zoho's user info named an e-mail that is not a plausible address (not text, "
                "not printable ASCII, or longer than 254 characters); nothing was stored.",
                status=answer.status,
            )
        zuid = body.get("ZUID")
        name = body.get("Display_Name")
        return UserInfo(
            email=email,
            zuid=str(zuid)[:64] if isinstance(zuid, (int, str)) and zuid != "" else None,
            display_name=name[:200] if isinstance(name, str) else "",
        )

    def authorization_url(
        self,
        *,
        state: str,
        scopes: tuple[str, ...],
        redirect_uri: str,
        access_type: str = "offline",
        prompt: str = "consent",
    ) -> str:
        """The Zoho consent URL a web client redirects the browser to."""
        query = urlencode(
            {
                "scope": ",".join(scopes),
                "client_id": self.client_id,
                "response_type": "code",
                "access_type": access_type,
                "prompt": prompt,
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        return f"{self.accounts_url}{AUTH_PATH}?{query}"

    def status(self, user_identifier: str | None = None) -> list[TokenStatus]:
        """The state of one user's tokens, or of every stored user's."""
        now = self.now_ms()
        if user_identifier:
            users = [user_identifier]
        else:
            users = self.persistence.list_user_identifiers()
            if not users and self.current_user_email:
                users = [self.current_user_email]
        result = []
        for user in users:
            try:
                tokens = self.persistence.get_oauth_tokens(user)
            except ZCRMTokenDecryptionError as exc:
                # Said, not raised: the other users' state is still worth showing.
                result.append(TokenStatus.undecryptable(user, exc.message))
                continue
            if tokens is not None:
                result.append(TokenStatus.of(tokens, now))
        return result

    def clear_cache(self) -> None:
        """Forget the in-process token cache (the store stays as it is)."""
        self._cache.clear()

    # -- the refresh protocol ---------------------------------------------------------------------

    def _user_lock(self, user: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(user, threading.Lock())

    def _load(self, user: str) -> OAuthTokens:
        tokens = self.persistence.get_oauth_tokens(user)
        if tokens is None:
            self._cache.pop(user, None)
            raise ZCRMTokenNotFoundError(
                f"No Zoho tokens are stored for {user}: run `manage.py zcrm_generate_token "
                f"<grant token> --user {user}` or paste a grant token in the admin."
            )
        # Before any request: a server that echoes a stored secret must find it masked.
        _register_stored(tokens)
        if tokens.needs_reauth:
            self._cache.pop(user, None)
            raise ZCRMReauthorizationRequiredError(
                f"The refresh token of {user} was refused by Zoho ({tokens.last_error or 'invalid'}): "
                "generate a new grant token and run zcrm_generate_token, or reconnect in the admin."
            )
        return tokens

    def _ensure_fresh(self, user: str, *, force: bool, stale_token: str | None) -> OAuthTokens:
        give_up_at = self.now_ms() + self.lease_ms + 5000
        while True:
            tokens = self._load(user)
            now = self.now_ms()
            remaining = tokens.remaining_ms(now)
            replaced = force and stale_token is not None and tokens.access_token != stale_token
            wants_new = force and not replaced
            if not wants_new and remaining > self.refresh_margin_ms:
                return self._remember(tokens)
            # "Usable" means we may keep handing this token out while someone refreshes.
            usable = not wants_new and remaining > self.hard_margin_ms
            if tokens.is_throttled(now):
                if usable:
                    return tokens
                raise _throttled_error(tokens, now)
            owner = uuid.uuid4().hex
            if self.persistence.acquire_refresh_lease(user, owner, now + self.lease_ms, now):
                try:
                    return self._refresh_under_lease(
                        user, tokens, force=force, stale_token=stale_token
                    )
                finally:
                    self.persistence.release_refresh_lease(user, owner)
            if usable:
                return tokens
            if self.now_ms() >= give_up_at:
                raise ZCRMAuthError(
                    f"Timed out waiting for another process to refresh the token of {user}. "
                    "If it keeps happening, check that process (its lease lapses by itself)."
                )
            self.sleep(random.uniform(0.05, 0.2))

    def _refresh_under_lease(
        self, user: str, seen: OAuthTokens, *, force: bool, stale_token: str | None
    ) -> OAuthTokens:
        # Re-read after taking the lease: another process may have refreshed just before.
        tokens = self._load(user)
        now = self.now_ms()
        if tokens.access_token != seen.access_token or (
            force and stale_token is not None and tokens.access_token != stale_token
        ):
            if tokens.remaining_ms(now) > self.refresh_margin_ms:
                return self._remember(tokens)
        usable = not force and tokens.remaining_ms(now) > self.hard_margin_ms
        accounts_url = tokens.accounts_server or self.accounts_url
        sent_at = now
        try:
            answer = self._token_request(
                {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
                accounts_url,
                grant="refresh_token",
            )
        except ZCRMTokenThrottledError as exc:
            tokens.throttled_until = now + self.throttle_ms
            tokens.last_error = _error_text(exc)
            self.persistence.save_oauth_tokens(tokens)
            logger.warning(
                "Zoho throttled token refresh for %s; no token request until %s.",
                user,
                _iso(tokens.throttled_until),
            )
            if usable:
                return tokens
            raise _throttled_error(tokens, now) from exc
        except ZCRMReauthorizationRequiredError as exc:
            tokens.needs_reauth = True
            tokens.last_error = _error_text(exc)
            self.persistence.save_oauth_tokens(tokens)
            self._cache.pop(user, None)
            logger.error("Zoho refused the refresh token of %s: reconnection needed.", user)
            raise
        except (ZCRMConnectionError, ZCRMServerError, ZCRMMalformedResponseError) as exc:
            if usable:
                logger.warning(
                    "Token refresh for %s failed (%s); the current token is still "
                    "valid and stays in use.",
                    user,
                    exc,
                )
                return tokens
            raise
        new = OAuthTokens(
            user_identifier=user,
            access_token=answer.access_token,
            refresh_token=answer.refresh_token or tokens.refresh_token,
            expiry_time=sent_at + answer.expires_ms,
            api_domain=answer.api_domain or tokens.api_domain,
            accounts_server=tokens.accounts_server,
            last_refreshed_at=sent_at,
        )
        register_secret(new.access_token)
        self.persistence.save_oauth_tokens(new)
        logger.info("Refreshed the Zoho access token of %s.", user)
        remembered = self._remember(new)
        # Sent after the store holds the new token, so receivers may use it at once.
        tokens_refreshed.send(sender=type(self), user_identifier=user, expiry_time=new.expiry_time)
        return remembered

    def _remember(self, tokens: OAuthTokens) -> OAuthTokens:
        register_secret(tokens.access_token)
        register_secret(tokens.refresh_token)
        self._cache[tokens.user_identifier] = tokens
        return tokens

    # -- HTTP -------------------------------------------------------------------------------------

    def _exchange(self, method: str, url: str, **kwargs: Any) -> RawAnswer:
        """One bounded exchange with Zoho Accounts; a redirect is an error, never followed."""
        started = time.monotonic()
        try:
            answer = bounded_request(
                self.session,
                method,
                url,
                limits=self.limits,
                timeout=self.timeout,
                what=f"Zoho Accounts {method} {_path_of(url)}",
                **kwargs,
            )
        except requests.RequestException as exc:
            raise ZCRMConnectionError(_network_message(url, exc)) from exc
        logger.debug(
            "%s %s -> %s in %.0f ms",
            method,
            url,
            answer.status,
            (time.monotonic() - started) * 1000,
        )
        if 300 <= answer.status < 400:
            # The client secret or a token would go with it: never follow (one place decides).
            raise redirect_error(
                f"Zoho Accounts {method} {_path_of(url)}", answer.status, answer.headers
            )
        return answer

    @sensitive_variables("data", "params")
    def _post(self, url: str, params: dict[str, str]) -> RawAnswer:
        # Secrets travel in the form body, never in the URL (URLs end up in logs and tracebacks).
        data = {**params, "client_id": self.client_id, "client_secret": self.client_secret}
        return self._exchange("POST", url, data=data)

    @sensitive_variables("params", "body")
    def _token_request(
        self, params: dict[str, str], accounts_url: str, *, grant: str
    ) -> TokenAnswer:
        answer = self._post(accounts_url + TOKEN_PATH, params)
        body = json_or_none(answer.content)
        status = answer.status
        if not isinstance(body, dict):
            if status >= 500:
                raise ZCRMServerError(
                    "Zoho Accounts is failing; try again in a minute.", status=status
                )
            raise ZCRMMalformedResponseError(
                "Zoho Accounts answered with something that is not a JSON object: "
                + _describe(answer),
                status=status,
            )
        for key in ("access_token", "refresh_token"):
            value = body.get(key)
            if isinstance(value, str) and value.isascii():
                register_secret(value)
        if not 200 <= status < 300 or body.get("error") or not body.get("access_token"):
            # An error body, or a token sent with an error status: neither is stored.
            if body.get("access_token") and not body.get("error"):
                raise ZCRMUntrustedAnswerError(
                    f"Zoho Accounts sent a token with HTTP {status}, not a success; it was not "
                    "stored and the current tokens stay as they were.",
                    status=status,
                )
            if status >= 500 and not body.get("error"):
                raise ZCRMServerError(
                    "Zoho Accounts is failing; try again in a minute.", status=status
                )
            raise _token_error(body, status, grant)
        return _checked_token_answer(body, status, self.api_base_url)


@dataclass(frozen=True)
class TokenAnswer:
    """A token answer that passed every check; only these values are ever stored."""

    access_token: str
    refresh_token: str | None
    expires_ms: int
    api_domain: str | None


def _checked_token_answer(body: dict[str, Any], status: int, api_base_url: str) -> TokenAnswer:
    """The usable parts of a 2xx token answer, or a typed error saying what was wrong."""

    def refuse(what: str) -> ZCRMUntrustedAnswerError:
        return ZCRMUntrustedAnswerError(
            f"Zoho Accounts answered with {what}; nothing was stored and the current tokens stay "
            "as they were. A proxy or a misbehaving server may be in the way.",
            status=status,
        )

    access = body.get("access_token")
    if not _plausible_text(access, MAX_TOKEN_LENGTH):
        raise refuse(
            "an access token that is not printable ASCII text of at most "
            f"{MAX_TOKEN_LENGTH} characters"
        )
    refresh = body.get("refresh_token")
    if refresh is not None and refresh != "" and not _plausible_text(refresh, MAX_TOKEN_LENGTH):
        raise refuse(
            "a refresh token that is not printable ASCII text of at most "
            f"{MAX_TOKEN_LENGTH} characters"
        )
    expires_ms = _expires_in_ms(body)
    domain = body.get("api_domain")
    api_domain = None
    if domain is not None and domain != "":
        api_domain = trusted_zoho_url(domain, api_base_url, "api")
        if api_domain is None:
            shown = redact(str(domain))[:80] if isinstance(domain, str) else type(domain).__name__
            raise refuse(
                f"an api_domain ({shown!r}) that is neither a Zoho API host nor the configured "
                "ZCRM['API_BASE_URL'] (tokens must never be sent there)"
            )
    return TokenAnswer(access, refresh or None, expires_ms, api_domain)  # type: ignore[arg-type]


def _plausible_text(value: Any, limit: int) -> bool:
    """True for a non-empty str of printable ASCII (no spaces or controls) of at most ``limit``."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= limit
        and all(33 <= ord(char) <= 126 for char in value)
    )


def _register_stored(tokens: OAuthTokens) -> None:
    """Teach the redactor the stored secrets, so an echo of them is masked everywhere."""
    register_secret(tokens.access_token)
    register_secret(tokens.refresh_token)


def _error_text(exc: ZCRMError) -> str:
    """An error's text fit for ``last_error`` (shown by zcrm_token_status and the admin)."""
    return redact(str(exc.message))[:500]


def _path_of(url: str) -> str:
    return "/" + url.split("://", 1)[-1].split("/", 1)[-1] if "://" in url else url


def _throttled_error(tokens: OAuthTokens, now: int) -> ZCRMTokenThrottledError:
    wait = max(0.0, ((tokens.throttled_until or now) - now) / 1000)
    return ZCRMTokenThrottledError(
        f"Zoho is throttling token requests for {tokens.user_identifier} (at most 10 access "
        f"tokens per 10 minutes); no new request will be made before {_iso(tokens.throttled_until)} "
        f"(about {wait:.0f}s).",
        retry_after=wait,
        code="Access Denied",
    )


def _token_error(body: dict[str, Any], status: int, grant: str) -> ZCRMError:
    raw_error = body.get("error")
    error = (raw_error if isinstance(raw_error, str) else str(raw_error or "")).strip()[:100]
    lowered = error.lower()
    raw_description = body.get("error_description")
    description = raw_description[:300] if isinstance(raw_description, str) else ""
    if lowered == "invalid_code":
        if grant == "refresh_token":
            return ZCRMReauthorizationRequiredError(status=status, code=error)
        return ZCRMInvalidGrantError(status=status, code=error)
    if lowered in ("invalid_client", "invalid_client_secret"):
        return ZCRMInvalidClientError(status=status, code=error)
    if lowered in ("access denied", "access_denied"):
        return ZCRMTokenThrottledError(
            "Zoho refused to issue a token: too many token requests in the last 10 minutes "
            f"({description or 'Access Denied'}). Wait 10 minutes before trying again.",
            status=status,
            code=error,
        )
    if lowered == "invalid_redirect_uri":
        return ZCRMInvalidClientError(
            "Zoho rejected the redirect URI: ZCRM['REDIRECT_URI'] must equal the one registered "
            "for the client in the Zoho API console.",
            status=status,
            code=error,
        )
    if not error:
        return ZCRMMalformedResponseError(
            "Zoho Accounts answered without an access token or an error code.", status=status
        )
    return ZCRMAuthError(
        f"Zoho Accounts refused the request: {error}. {description}".strip(),
        status=status,
        code=error,
    )


def _expires_in_ms(body: dict[str, Any]) -> int:
    """The token lifetime in ms, or a typed error: a whole number between 1 s and a year."""
    # Before late 2019 Zoho sent expires_in in ms next to expires_in_sec; now seconds alone.
    if "expires_in_sec" in body:
        value = (
            _whole(body["expires_in"])
            if "expires_in" in body
            else _times(_whole(body["expires_in_sec"]), 1000)
        )
    else:
        value = _times(_whole(body.get("expires_in")), 1000)
    if value is None:
        raise ZCRMUntrustedAnswerError(
            "Zoho Accounts returned a token without a usable expires_in (a whole number of "
            "seconds); nothing was stored."
        )
    if not MIN_EXPIRES_MS <= value <= MAX_EXPIRES_MS:
        raise ZCRMUntrustedAnswerError(
            f"Zoho Accounts returned a token with expires_in = {value // 1000} s, outside 1 s .. "
            "1 year (already expired, or it would never be refreshed); nothing was stored."
        )
    return value


def _whole(value: Any) -> int | None:
    """An int from JSON (not a bool, float, NaN or a numeric string longer than 15 digits)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15:
        return int(value)
    return None


def _times(value: int | None, factor: int) -> int | None:
    return None if value is None else value * factor


def _describe(answer: RawAnswer) -> str:
    content_type = redact(str(answer.headers.get("Content-Type", "?")))[:80]
    head = redact(answer.content[:80].decode("utf-8", "replace"))
    return f"HTTP {answer.status}, {content_type}, starting {head!r}"


def _http_error(answer: RawAnswer, doing: str) -> ZCRMError:
    if answer.status >= 500:
        return ZCRMServerError(f"Zoho Accounts failed while {doing}.", status=answer.status)
    return ZCRMAuthError(
        f"Zoho Accounts refused {doing}: {_describe(answer)}", status=answer.status
    )


def _network_message(url: str, exc: Exception) -> str:
    return (
        f"Could not reach Zoho Accounts at {url} ({type(exc).__name__}). Check the network "
        "and ZCRM['DATA_CENTER'] / ZCRM['ACCOUNTS_URL']."
    )


def _iso(ms: int | None) -> str:
    if not ms:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


_client_lock = threading.Lock()
_client: OAuthClient | None = None


def get_oauth_client() -> OAuthClient:
    """The OAuth client for ``settings.ZCRM`` (one per process, rebuilt when settings change)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = OAuthClient.from_settings()
        return _client


def clear_cache() -> None:
    """Forget the process-wide client (called on ``setting_changed``)."""
    global _client
    with _client_lock:
        _client = None
