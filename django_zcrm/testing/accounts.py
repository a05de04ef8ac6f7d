"""The fake Zoho Accounts server: grant codes, token endpoint, revoke, user info and a consent page.

Pure standard library. Behaviour follows the OAuth sections of ``docs/design/wire-format.md``
(consent and redirect, token endpoint, token errors, revoke and user info, token lifetimes and
limits, scopes): parameters are read from the query string and from urlencoded or multipart bodies
(a body of ``null`` is tolerated); token-endpoint errors keep HTTP 200 by default
(``error_status``); time comes from the fake clock. Token values are never logged.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from ._server.messages import (
    FakeRequest,
    FakeResponse,
    html_response,
    json_response,
    redirect_response,
    zoho_error,
)

if TYPE_CHECKING:
    from ._server.host import FakeHost

__all__ = [
    "DEFAULT_SCOPES",
    "FAKE_CLIENT_ID",
    "FAKE_CLIENT_SECRET",
    "FAKE_USER_EMAIL",
    "FakeAccounts",
    "FakeUser",
    "GrantLimitExceeded",
    "TokenInfo",
    "install",
]

FAKE_CLIENT_ID = "1000.YTZW7H07NU9O4OXQBF49DPAYUQVDNM"
FAKE_CLIENT_SECRET = "c1375e62217f746ceebb65ba2f177371e50ff7bf"
FAKE_USER_EMAIL = "admin@example.com"
DEFAULT_SCOPES = ",".join(
    [
        "ZohoCRM.modules.ALL",
        "ZohoCRM.settings.ALL",
        "ZohoCRM.users.ALL",
        "ZohoCRM.org.ALL",
        "ZohoCRM.coql.READ",
        "ZohoCRM.bulk.ALL",
        "ZohoCRM.notifications.ALL",
        "ZohoSearch.securesearch.READ",
        "ZohoFiles.files.ALL",
        "AaaServer.profile.READ",
    ]
)

# Endpoint names, as used by FakeZoho.count(endpoint=...) and inject(endpoint=...).
TOKEN_ENDPOINT = "POST /oauth/v2/token"
REVOKE_ENDPOINT = "POST /oauth/v2/token/revoke"
USER_INFO_ENDPOINT = "GET /oauth/user/info"
AUTH_ENDPOINT = "GET /oauth/v2/auth"
DECIDE_ENDPOINT = "POST /oauth/v2/auth/decide"
SELF_CLIENT_ENDPOINT = "GET /_fake/self-client/grant"

ACCESS_DENIED_BODY = {
    "error": "Access Denied",
    "error_description": "You have made too many requests continuously. Please try again after some time.",
    "status": "failure",
}
_PROFILE_SCOPES = frozenset({"aaaserver.profile.read", "aaaserver.profile.all"})

_DEFAULT_OPTIONS: dict[str, Any] = {
    "legacy_expires": False,  # send {"expires_in": ms, "expires_in_sec": s} like pre-2019 Zoho
    "error_status": 200,  # HTTP status of token-endpoint errors (Zoho keeps 200)
    "token_delay": 0.0,  # seconds slept inside the token endpoint, to widen races
    "access_token_lifetime": 3600,  # seconds
    "grant_lifetime": 120,  # seconds a grant code stays usable
    "max_mints_per_window": 10,  # access tokens per refresh token per window (None: unlimited)
    "window": 600,  # seconds, for both mint and grant throttles
    "max_active_access_tokens": 15,  # per refresh token; minting one more invalidates the oldest
    "max_refresh_tokens_per_user": 20,  # per user and client; one more revokes the oldest
    "max_grants_per_window": None,  # grant codes per client per window (Zoho: 10); None = off
}


class GrantLimitExceeded(RuntimeError):
    """Raised by :meth:`FakeAccounts.issue_grant_token` when ``max_grants_per_window`` is reached."""


@dataclass
class FakeUser:
    """A Zoho account known to the fake."""

    email: str
    zuid: int
    first_name: str = ""
    last_name: str = ""

    @property
    def display_name(self) -> str:
        """``First Last``, or the e-mail's local part when both are empty."""
        return f"{self.first_name} {self.last_name}".strip() or self.email.split("@")[0]


@dataclass(frozen=True)
class TokenInfo:
    """What the fake knows about a live access token."""

    user_email: str
    client_id: str
    scopes: frozenset[str]
    expires_at: float
    refresh_token_id: str | None

    def has_scope(self, scope: str) -> bool:
        """True when the token carries ``scope`` (compared case-insensitively, as Zoho does)."""
        wanted = scope.lower()
        return any(s.lower() == wanted for s in self.scopes)

    def __repr__(self) -> str:
        return (
            f"TokenInfo(user_email={self.user_email!r}, client_id={self.client_id!r}, "
            f"scopes={sorted(self.scopes)!r}, expires_at={self.expires_at!r}, "
            f"refresh_token_id={self.refresh_token_id!r})"
        )


@dataclass
class _Grant:
    user_email: str
    client_id: str
    scope: str
    expires_at: float
    access_type: str
    redirect_uri: str | None
    used: bool = False


@dataclass
class _RefreshToken:
    id: str
    user_email: str
    client_id: str
    scope: str
    revoked: bool = False
    window_start: float | None = None
    window_mints: int = 0
    access_tokens: list[str] = field(default_factory=list)


@dataclass
class _AccessToken:
    info: TokenInfo
    valid: bool = True


def _new_token() -> str:
    """``1000.`` + 32 hex + ``.`` + 32 hex, the shape of Zoho's tokens and grant codes."""
    return f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"


def split_scopes(scope: str) -> frozenset[str]:
    """Split a comma- (or space-) separated scope string into a set of scope names."""
    return frozenset(s for s in scope.replace(" ", ",").split(",") if s)


class FakeAccounts:
    """State and endpoints of the fake accounts server; options are plain attributes, settable at run time."""

    legacy_expires: bool
    error_status: int
    token_delay: float
    access_token_lifetime: float
    grant_lifetime: float
    max_mints_per_window: int | None
    window: float
    max_active_access_tokens: int | None
    max_refresh_tokens_per_user: int | None
    max_grants_per_window: int | None

    def __init__(
        self, fake: FakeHost, *, clients: dict[str, str] | None = None, **options: Any
    ) -> None:
        unknown = set(options) - set(_DEFAULT_OPTIONS)
        if unknown:
            raise TypeError(
                f"unknown FakeZoho accounts option(s): {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(_DEFAULT_OPTIONS))}"
            )
        for name, default in _DEFAULT_OPTIONS.items():
            setattr(self, name, options.get(name, default))
        self._fake = fake
        self._lock = threading.RLock()
        self.clients: dict[str, str] = (
            dict(clients) if clients is not None else {FAKE_CLIENT_ID: FAKE_CLIENT_SECRET}
        )
        self.users: dict[str, FakeUser] = {}
        self._next_zuid = 60000001
        self._grants: dict[str, _Grant] = {}
        self._grant_times: dict[str, deque[float]] = {}
        self._refresh: dict[str, _RefreshToken] = {}
        self._refresh_by_id: dict[str, str] = {}
        self._refresh_order: dict[tuple[str, str], list[str]] = {}
        self._next_refresh_id = 0
        self._access: dict[str, _AccessToken] = {}
        self._token_requests: Counter[str] = Counter()
        self.add_user(FAKE_USER_EMAIL, "Ada", "Admin")

    def __repr__(self) -> str:
        return f"<FakeAccounts users={len(self.users)} clients={len(self.clients)}>"

    @property
    def url(self) -> str:
        """The accounts server URL (the fake's own URL)."""
        return self._fake.url

    def _now(self) -> float:
        return self._fake.clock.now()

    # -- users and grants --------------------------------------------------------------------------

    def add_user(self, email: str, first_name: str = "", last_name: str = "") -> FakeUser:
        """Add (or return the existing) user with this e-mail."""
        with self._lock:
            existing = self.users.get(email)
            if existing is not None:
                return existing
            user = FakeUser(email, self._next_zuid, first_name, last_name)
            self._next_zuid += 1
            self.users[email] = user
            return user

    def issue_grant_token(
        self,
        *,
        user_email: str = FAKE_USER_EMAIL,
        scope: str = DEFAULT_SCOPES,
        client_id: str = FAKE_CLIENT_ID,
        lifetime: float | None = None,
        access_type: str = "offline",
        redirect_uri: str | None = None,
    ) -> str:
        """Issue a single-use grant code (as Zoho's self-client console or consent screen does)."""
        with self._lock:
            if client_id not in self.clients:
                raise ValueError(
                    f"unknown client id {client_id!r}; add it to FakeZoho(clients=...)"
                )
            now = self._now()
            if self.max_grants_per_window:
                times = self._grant_times.setdefault(client_id, deque())
                while times and times[0] <= now - self.window:
                    times.popleft()
                if len(times) >= self.max_grants_per_window:
                    raise GrantLimitExceeded(
                        f"more than {self.max_grants_per_window} grant tokens in {self.window:g}s for this client"
                    )
                times.append(now)
            self.add_user(user_email)
            code = _new_token()
            life = self.grant_lifetime if lifetime is None else lifetime
            self._grants[code] = _Grant(
                user_email, client_id, scope, now + life, access_type, redirect_uri
            )
            return code

    # -- tokens ------------------------------------------------------------------------------------

    def _new_refresh_token(self, user_email: str, client_id: str, scope: str) -> str:
        token = _new_token()
        self._next_refresh_id += 1
        record = _RefreshToken(f"rt{self._next_refresh_id}", user_email, client_id, scope)
        self._refresh[token] = record
        self._refresh_by_id[record.id] = token
        order = self._refresh_order.setdefault((user_email, client_id), [])
        order.append(token)
        # Zoho keeps a bounded number of refresh tokens per user; the newest pushes out the oldest.
        while self.max_refresh_tokens_per_user and len(order) > self.max_refresh_tokens_per_user:
            self._revoke(order.pop(0))
        return token

    def _mint_access_token(
        self, user_email: str, client_id: str, scope: str, refresh: _RefreshToken | None
    ) -> tuple[str, float]:
        now = self._now()
        lifetime = float(self.access_token_lifetime)
        token = _new_token()
        info = TokenInfo(
            user_email,
            client_id,
            split_scopes(scope),
            now + lifetime,
            refresh.id if refresh else None,
        )
        self._access[token] = _AccessToken(info)
        if refresh is not None:
            refresh.access_tokens = [t for t in refresh.access_tokens if self._is_live(t, now)]
            while (
                self.max_active_access_tokens
                and len(refresh.access_tokens) >= self.max_active_access_tokens
            ):
                self._access[refresh.access_tokens.pop(0)].valid = False
            refresh.access_tokens.append(token)
        return token, lifetime

    def _is_live(self, token: str, now: float) -> bool:
        record = self._access.get(token)
        return record is not None and record.valid and record.info.expires_at > now

    def issue_refresh_token(
        self,
        *,
        user_email: str = FAKE_USER_EMAIL,
        scope: str = DEFAULT_SCOPES,
        client_id: str = FAKE_CLIENT_ID,
    ) -> str:
        """Create a refresh token directly (skipping the grant exchange), for test set-up."""
        with self._lock:
            if client_id not in self.clients:
                raise ValueError(
                    f"unknown client id {client_id!r}; add it to FakeZoho(clients=...)"
                )
            self.add_user(user_email)
            return self._new_refresh_token(user_email, client_id, scope)

    def issue_access_token(
        self,
        *,
        user_email: str = FAKE_USER_EMAIL,
        scope: str = DEFAULT_SCOPES,
        client_id: str = FAKE_CLIENT_ID,
        refresh_token: str | None = None,
    ) -> str:
        """Mint an access token directly (no throttle), optionally tied to ``refresh_token``, for test set-up."""
        with self._lock:
            refresh = self._refresh.get(refresh_token) if refresh_token else None
            if refresh_token and (refresh is None or refresh.revoked):
                raise ValueError("unknown or revoked refresh token")
            if refresh is not None:
                user_email, client_id, scope = refresh.user_email, refresh.client_id, refresh.scope
            self.add_user(user_email)
            return self._mint_access_token(user_email, client_id, scope, refresh)[0]

    def lookup_access_token(self, token: str) -> TokenInfo | None:
        """Return the token's info, or None when it is unknown, expired, revoked or invalidated."""
        with self._lock:
            record = self._access.get(token)
            if record is None or not record.valid or record.info.expires_at <= self._now():
                return None
            if record.info.refresh_token_id is not None:
                refresh_token = self._refresh_by_id.get(record.info.refresh_token_id)
                if refresh_token is None or self._refresh[refresh_token].revoked:
                    return None
            return record.info

    def refresh_token_id(self, refresh_token: str) -> str | None:
        """The id that :class:`TokenInfo` uses for this refresh token (None when unknown)."""
        with self._lock:
            record = self._refresh.get(refresh_token)
            return record.id if record else None

    def active_access_tokens(self, refresh_token: str) -> int:
        """How many live access tokens were minted from ``refresh_token``."""
        with self._lock:
            record = self._refresh.get(refresh_token)
            if record is None or record.revoked:
                return 0
            now = self._now()
            return sum(1 for t in record.access_tokens if self._is_live(t, now))

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far invalid, as if they had all expired."""
        with self._lock:
            for record in self._access.values():
                record.valid = False

    def _revoke(self, refresh_token: str) -> bool:
        record = self._refresh.get(refresh_token)
        if record is None or record.revoked:
            return False
        record.revoked = True
        for token in record.access_tokens:
            self._access[token].valid = False
        record.access_tokens.clear()
        order = self._refresh_order.get((record.user_email, record.client_id), [])
        if refresh_token in order:
            order.remove(refresh_token)
        return True

    def revoke_refresh_token(self, refresh_token: str) -> bool:
        """Revoke a refresh token and every access token minted from it; False if unknown/already revoked."""
        with self._lock:
            return self._revoke(refresh_token)

    def token_requests(self, grant_type: str | None = None) -> int:
        """How many ``POST /oauth/v2/token`` calls arrived (optionally only of one grant_type)."""
        with self._lock:
            if grant_type is None:
                return sum(self._token_requests.values())
            return self._token_requests[grant_type]

    def reset_counters(self) -> None:
        """Forget the token-request counts."""
        with self._lock:
            self._token_requests.clear()

    # -- HTTP endpoints ----------------------------------------------------------------------------

    def _token_error(self, error: str | dict[str, Any]) -> FakeResponse:
        payload = {"error": error} if isinstance(error, str) else error
        return json_response(self.error_status, payload)

    def _token_success(
        self, access_token: str, lifetime: float, refresh_token: str | None
    ) -> FakeResponse:
        payload: dict[str, Any] = {"access_token": access_token}
        if refresh_token is not None:
            payload["refresh_token"] = refresh_token
        payload["api_domain"] = self.url
        payload["token_type"] = "Bearer"
        if self.legacy_expires:
            payload["expires_in_sec"] = int(lifetime)
            payload["expires_in"] = int(lifetime * 1000)
        else:
            payload["expires_in"] = int(lifetime)
        return json_response(200, payload)

    def handle_token(self, request: FakeRequest) -> FakeResponse:
        """``POST /oauth/v2/token``: authorization_code and refresh_token grants."""
        grant_type = request.param("grant_type") or ""
        with self._lock:
            self._token_requests[grant_type] += 1
        if self.token_delay:
            time.sleep(self.token_delay)
        client_id = request.param("client_id") or ""
        client_secret = request.param("client_secret") or ""
        with self._lock:
            if grant_type not in ("authorization_code", "refresh_token"):
                return self._token_error("unsupported_grant_type")
            if self.clients.get(client_id) is None or self.clients[client_id] != client_secret:
                return self._token_error("invalid_client")
            if grant_type == "authorization_code":
                return self._exchange_code(request, client_id)
            return self._refresh_access_token(request, client_id)

    def _exchange_code(self, request: FakeRequest, client_id: str) -> FakeResponse:
        code = request.param("code") or ""
        grant = self._grants.get(code)
        if (
            grant is None
            or grant.used
            or grant.client_id != client_id
            or grant.expires_at <= self._now()
        ):
            return self._token_error("invalid_code")
        redirect_uri = request.param("redirect_uri")
        if redirect_uri and grant.redirect_uri and redirect_uri != grant.redirect_uri:
            return self._token_error("invalid_redirect_uri")
        grant.used = True
        refresh_token: str | None = None
        refresh: _RefreshToken | None = None
        if grant.access_type == "offline":
            refresh_token = self._new_refresh_token(grant.user_email, client_id, grant.scope)
            refresh = self._refresh[refresh_token]
        # The first access token comes from the grant, so it does not use up the refresh throttle.
        access, lifetime = self._mint_access_token(
            grant.user_email, client_id, grant.scope, refresh
        )
        return self._token_success(access, lifetime, refresh_token)

    def _refresh_access_token(self, request: FakeRequest, client_id: str) -> FakeResponse:
        record = self._refresh.get(request.param("refresh_token") or "")
        if record is None or record.revoked or record.client_id != client_id:
            return self._token_error("invalid_code")
        now = self._now()
        if record.window_start is None or now >= record.window_start + self.window:
            record.window_start, record.window_mints = now, 0
        if self.max_mints_per_window and record.window_mints >= self.max_mints_per_window:
            # Blocked for the rest of the window that the first mint opened.
            return self._token_error(dict(ACCESS_DENIED_BODY))
        record.window_mints += 1
        access, lifetime = self._mint_access_token(
            record.user_email, client_id, record.scope, record
        )
        return self._token_success(access, lifetime, None)

    def handle_revoke(self, request: FakeRequest) -> FakeResponse:
        """``POST /oauth/v2/token/revoke?token=<refresh token>``."""
        if self.revoke_refresh_token(request.param("token") or ""):
            return json_response(200, {"status": "success"})
        return json_response(400, {"status": "failure", "error": "invalid_token"})

    def handle_user_info(self, request: FakeRequest) -> FakeResponse:
        """``GET /oauth/user/info`` with ``Authorization: Zoho-oauthtoken <token>``."""
        token = request.bearer()
        info = self.lookup_access_token(token) if token else None
        if info is None:
            return zoho_error(401, "INVALID_TOKEN", "invalid oauth token")
        if not any(s.lower() in _PROFILE_SCOPES for s in info.scopes):
            return zoho_error(401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")
        user = self.users.get(info.user_email) or FakeUser(info.user_email, 0)
        return json_response(
            200,
            {
                "First_Name": user.first_name,
                "Last_Name": user.last_name,
                "Email": user.email,
                "Display_Name": user.display_name,
                "ZUID": user.zuid,
            },
        )

    def _auth_problem(
        self, client_id: str, redirect_uri: str, response_type: str | None, scope: str
    ) -> str | None:
        if client_id not in self.clients:
            return f"Unknown client id {client_id!r}."
        if not redirect_uri:
            return "redirect_uri is missing."
        if urlsplit(redirect_uri).scheme not in ("http", "https"):
            return "redirect_uri must be an http(s) URL."
        if response_type is not None and response_type != "code":
            return "response_type must be 'code'."
        if not scope:
            return "scope is missing."
        return None

    def handle_auth(self, request: FakeRequest) -> FakeResponse:
        """``GET /oauth/v2/auth``: a consent page posting to ``/oauth/v2/auth/decide``."""
        client_id = request.param("client_id") or ""
        redirect_uri = request.param("redirect_uri") or ""
        scope = request.param("scope") or ""
        problem = self._auth_problem(
            client_id, redirect_uri, request.param("response_type") or "", scope
        )
        if problem:
            return _error_page(problem)
        esc = html.escape
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{esc(request.param(name) or default)}">'
            for name, default in (
                ("client_id", ""),
                ("redirect_uri", ""),
                ("scope", ""),
                ("access_type", "online"),
                ("state", ""),
                ("prompt", ""),
                ("response_type", "code"),
            )
        )
        scopes = "".join(f"<li>{esc(s)}</li>" for s in scope.split(",") if s)
        page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Fake Zoho consent</title></head>
<body>
<h1>Fake Zoho consent</h1>
<p>The application <code id="client-id">{esc(client_id)}</code> would like to access your Zoho account:</p>
<ul id="scopes">{scopes}</ul>
<form method="post" action="/oauth/v2/auth/decide">
{hidden}
<label for="email">Sign in as</label>
<input type="email" id="email" name="email" value="{esc(FAKE_USER_EMAIL)}">
<button type="submit" id="accept" name="decision" value="accept">Accept</button>
<button type="submit" id="deny" name="decision" value="deny">Deny</button>
</form>
</body></html>
"""
        return html_response(200, page)

    def handle_decide(self, request: FakeRequest) -> FakeResponse:
        """``POST /oauth/v2/auth/decide``: redirect back with a grant code or ``error=access_denied``."""
        client_id = request.param("client_id") or ""
        redirect_uri = request.param("redirect_uri") or ""
        scope = request.param("scope") or ""
        problem = self._auth_problem(client_id, redirect_uri, request.param("response_type"), scope)
        if problem:
            return _error_page(problem)
        decision = request.param("decision")
        state = request.param("state")
        if decision == "accept":
            email = (request.param("email") or FAKE_USER_EMAIL).strip()
            if "@" not in email:
                return _error_page("Enter the e-mail address of a Zoho account.")
            try:
                code = self.issue_grant_token(
                    user_email=email,
                    scope=scope,
                    client_id=client_id,
                    access_type=request.param("access_type") or "online",
                    redirect_uri=redirect_uri,
                )
            except GrantLimitExceeded:
                params = {"error": "access_denied"}
            else:
                params = {"code": code, "location": "us", "accounts-server": self.url}
        elif decision == "deny":
            params = {"error": "access_denied"}
        else:
            return _error_page("Choose Accept or Deny.")
        if state:
            params["state"] = state
        separator = "&" if urlsplit(redirect_uri).query else "?"
        return redirect_response(f"{redirect_uri}{separator}{urlencode(params)}")

    def handle_self_client(self, request: FakeRequest) -> FakeResponse:
        """``GET /_fake/self-client/grant?user=&scope=&client_id=&lifetime=``: a grant code as JSON.

        ``format=text`` answers the bare code instead, for ``$(curl ...)`` in a shell.
        """
        client_id = request.param("client_id") or FAKE_CLIENT_ID
        if client_id not in self.clients:
            return json_response(400, {"error": "invalid_client"})
        try:
            lifetime = float(request.param("lifetime") or self.grant_lifetime)
        except ValueError:
            return json_response(400, {"error": "invalid_lifetime"})
        try:
            code = self.issue_grant_token(
                user_email=request.param("user") or FAKE_USER_EMAIL,
                scope=request.param("scope") or DEFAULT_SCOPES,
                client_id=client_id,
                lifetime=lifetime,
                access_type=request.param("access_type") or "offline",
            )
        except GrantLimitExceeded:
            return json_response(200, {"error": "access_denied"})
        if request.param("format") == "text":
            return FakeResponse(200, f"{code}\n".encode(), {"Content-Type": "text/plain"})
        return json_response(200, {"code": code, "expires_in": int(lifetime)})


def _error_page(problem: str) -> FakeResponse:
    return html_response(
        400,
        (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Fake Zoho error</title>'
            f'</head>\n<body><h1>Invalid OAuth request</h1><p id="error">{html.escape(problem)}</p></body></html>\n'
        ),
    )


def install(
    fake: FakeHost, *, clients: dict[str, str] | None = None, **options: Any
) -> FakeAccounts:
    """Create the accounts part of ``fake`` and register its routes."""
    accounts = FakeAccounts(fake, clients=clients, **options)
    fake.route("POST", r"/oauth/v2/token/?", accounts.handle_token, TOKEN_ENDPOINT)
    fake.route("POST", r"/oauth/v2/token/revoke/?", accounts.handle_revoke, REVOKE_ENDPOINT)
    fake.route("GET", r"/oauth/user/info/?", accounts.handle_user_info, USER_INFO_ENDPOINT)
    fake.route("GET", r"/oauth/v2/auth/?", accounts.handle_auth, AUTH_ENDPOINT)
    fake.route("POST", r"/oauth/v2/auth/decide/?", accounts.handle_decide, DECIDE_ENDPOINT)
    fake.route(
        "GET", r"/_fake/self-client/grant/?", accounts.handle_self_client, SELF_CLIENT_ENDPOINT
    )
    fake.route(
        "POST",
        r"/_fake/self-client/grant/?",
        accounts.handle_self_client,
        "POST /_fake/self-client/grant",
    )
    return accounts
