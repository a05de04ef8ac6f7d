"""What the admin pages and the web-client views do with tokens, one function per user action.

The views stay thin: they parse input, call one function here and show its outcome. Nothing in
this module returns or formats a whole token; people see at most a masked tail.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from django.utils.timesince import timesince, timeuntil

from .conf import DATA_CENTERS, get_settings
from .exceptions import ZCRMAuthError, ZCRMError, ZCRMImproperlyConfigured
from .oauth import OAuthClient, get_oauth_client
from .persistence import DatabasePersistence, get_persistence
from .persistence.database import tokens_from_row
from .redaction import get_logger, mask, redact
from .tokens import OAuthTokens, TokenStatus, now_ms

logger = get_logger(__name__)

SESSION_KEY = "django_zcrm_oauth_states"
STATE_LIFETIME_SECONDS = 15 * 60
MAX_PENDING_STATES = 5

STATE_LABELS = {
    "valid": "valid",
    "expired": "expired (refreshed on next use)",
    "throttled": "throttled by Zoho",
    "needs_reauth": "needs reconnect",
}


# -- display -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRowView:
    """Everything the token changelist shows for one stored user, and nothing secret."""

    user: str
    state: str
    state_label: str
    expiry: str
    expires_at: datetime
    last_refresh: str
    data_centre: str
    last_error: str
    access_token_tail: str
    refresh_token_tail: str


def describe_tokens(tokens: OAuthTokens, now: int | None = None) -> TokenRowView:
    """Describe ``tokens`` for people: state, expiry in words, data centre, masked tail."""
    current = now_ms() if now is None else now
    status = TokenStatus.of(tokens, current)
    now_dt = datetime.fromtimestamp(current / 1000, tz=UTC)
    if status.expires_in_seconds > 0:
        expiry = f"in {timeuntil(status.expires_at, now_dt)}"
    else:
        expiry = "expired"
    label = STATE_LABELS.get(status.state, status.state)
    if status.throttled_until is not None:
        label = f"{label}; throttled until {status.throttled_until:%H:%M:%S} UTC"
    if (
        status.last_refreshed_at is not None
        and (now_dt - status.last_refreshed_at).total_seconds() < 60
    ):
        last_refresh = "just now"
    elif status.last_refreshed_at is not None:
        last_refresh = f"{timesince(status.last_refreshed_at, now_dt)} ago"
    else:
        last_refresh = "never"
    return TokenRowView(
        user=status.user_identifier,
        state=status.state,
        state_label=label,
        expiry=expiry,
        expires_at=status.expires_at,
        last_refresh=last_refresh,
        data_centre=data_centre_label(tokens.accounts_server),
        last_error=redact(status.last_error),
        access_token_tail=status.access_token_tail,
        refresh_token_tail=mask(tokens.refresh_token),
    )


def describe_row(row: Any, now: int | None = None) -> TokenRowView:
    """Describe an ``OAuthToken`` model row (see :func:`describe_tokens`)."""
    return describe_tokens(tokens_from_row(row), now)


def data_centre_label(accounts_server: str | None) -> str:
    """ "EU" for a known Zoho accounts server, else its host (the configured one when unset)."""
    url = (accounts_server or get_settings().accounts_url).rstrip("/")
    for dc in DATA_CENTERS.values():
        if dc.accounts_url == url:
            return dc.code
    return urlsplit(url).netloc or url


def store_description() -> str | None:
    """None when tokens live in the database table the admin lists, else where they live."""
    try:
        store = get_persistence()
    except ZCRMImproperlyConfigured as exc:
        return f"The token store is misconfigured: {exc}"
    if isinstance(store, DatabasePersistence):
        return None
    return (
        f"Tokens are kept in {type(store).__name__}, not in this table: this list shows only "
        "the database store. Pasting and connecting still store tokens through the "
        "configured store."
    )


def token_database() -> str:
    """The database alias of the ``oauthtokens`` table (ZCRM['TOKEN_DATABASE'])."""
    return get_settings().TOKEN_DATABASE or "default"


# -- actions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """The result of one action for one user, in words."""

    user: str
    ok: bool
    message: str


def store_grant_token(grant_token: str, user_email: str | None = None) -> OAuthTokens:
    """Exchange a pasted grant token and store the tokens (under ``user_email`` if given).

    Without an e-mail the tokens go under ZCRM['CURRENT_USER_EMAIL'], else under the e-mail
    Zoho reports for them, as ``zcrm_generate_token`` does.
    """
    return get_oauth_client().generate_access_token(grant_token, user_email or None)


def grant_error_message(exc: ZCRMError | ZCRMImproperlyConfigured, asked: str | None = None) -> str:
    """Plain words for a failed grant exchange, with the accounts server that was asked."""
    from .exceptions import InvalidClientError, InvalidGrantTokenError

    message = exc.message if isinstance(exc, ZCRMError) else redact(str(exc))
    if isinstance(exc, (InvalidGrantTokenError, InvalidClientError)):
        accounts = asked or get_settings().accounts_url
        message += (
            f" This site asked {accounts}; a code made in another data centre's API "
            "console only works with that data centre (set ZCRM['DATA_CENTER'])."
        )
    return message


def refresh_users(users: list[str]) -> list[Outcome]:
    """Mint a new access token now for each user; one outcome per user."""
    client = get_oauth_client()
    outcomes = []
    for user in users:
        try:
            tokens = client.refresh_access_token(user)
        except ZCRMError as exc:
            outcomes.append(Outcome(user, False, f"Not refreshed for {user}: {exc.message}"))
            continue
        minutes = max(0, tokens.remaining_ms(client.now_ms()) // 60000)
        outcomes.append(
            Outcome(user, True, f"New access token for {user}, valid for {minutes} minutes.")
        )
    return outcomes


def revoke_users(users: list[str]) -> list[Outcome]:
    """Revoke each user's refresh token at Zoho and delete the stored tokens."""
    client = get_oauth_client()
    outcomes = []
    for user in users:
        try:
            client.revoke(user)
        except ZCRMError as exc:
            outcomes.append(Outcome(user, False, f"Not revoked, so kept: {user}. {exc.message}"))
            continue
        outcomes.append(Outcome(user, True, f"Revoked at Zoho and deleted: {user}."))
    return outcomes


def forget_users(users: list[str]) -> list[Outcome]:
    """Delete each user's stored tokens without asking Zoho (for tokens Zoho no longer knows)."""
    store = get_persistence()
    client = get_oauth_client()
    for user in users:
        store.delete_oauth_tokens(user)
    client.clear_cache()
    return [Outcome(user, True, f"Deleted here (not revoked at Zoho): {user}.") for user in users]


# -- the web-client flow -------------------------------------------------------------------------


class OAuthFlowError(ZCRMAuthError):
    """The redirect back from Zoho cannot be trusted or used; nothing was stored."""


def start_authorization(
    session: MutableMapping[str, Any], *, redirect_uri: str, next_url: str
) -> str:
    """Remember a fresh ``state`` in the session and return Zoho's consent URL."""
    client = get_oauth_client()
    state = secrets.token_urlsafe(32)
    now = time.time()
    pending = {
        key: value
        for key, value in dict(session.get(SESSION_KEY) or {}).items()
        if isinstance(value, dict) and value.get("created", 0) > now - STATE_LIFETIME_SECONDS
    }
    # A few pending states allow several tabs; more than that is only growth.
    for key in sorted(pending, key=lambda k: pending[k]["created"])[: -(MAX_PENDING_STATES - 1)]:
        pending.pop(key)
    pending[state] = {"created": now, "redirect_uri": redirect_uri, "next": next_url}
    session[SESSION_KEY] = pending
    return client.authorization_url(
        state=state, scopes=get_settings().scopes, redirect_uri=redirect_uri, access_type="offline"
    )


def pop_state(session: MutableMapping[str, Any], state: str | None) -> dict[str, Any]:
    """Take the pending request matching ``state`` out of the session (single use)."""
    pending = dict(session.get(SESSION_KEY) or {})
    match = None
    if state:
        for key in list(pending):
            # Constant-time comparison: the state is a secret bound to this browser session.
            if secrets.compare_digest(key.encode(), state.encode()):
                match = pending.pop(key)
    session[SESSION_KEY] = pending
    if match is None or match.get("created", 0) <= time.time() - STATE_LIFETIME_SECONDS:
        raise OAuthFlowError(
            'This answer from Zoho does not belong to a "Connect to Zoho" request started in '
            "this browser session (the state is missing, wrong, already used or older than "
            f"{STATE_LIFETIME_SECONDS // 60} minutes), so it was refused and nothing was stored. "
            'Start again with "Connect to Zoho".'
        )
    return match


def trusted_accounts_server(accounts_server: str | None, location: str | None) -> str:
    """The accounts server to exchange the code at, from Zoho's redirect parameters.

    The code exchange sends our client secret to this server. The redirect's query string is
    attacker-controlled (anyone can craft a link to our callback), so an unchecked
    ``accounts-server`` would let a forged redirect collect the secret. Only Zoho's own accounts
    servers (https, exact host from ``DATA_CENTERS``) or exactly the configured ACCOUNTS_URL pass.
    """
    conf = get_settings()
    configured = conf.accounts_url.rstrip("/")
    if not accounts_server:
        dc = DATA_CENTERS.get((location or "").strip().upper())
        # ``location`` alone names a Zoho data centre; an explicit ACCOUNTS_URL still wins.
        if dc is not None and not conf.raw.get("ACCOUNTS_URL"):
            return dc.accounts_url
        return configured
    candidate = accounts_server.strip().rstrip("/")
    if candidate == configured:
        return configured
    parts = urlsplit(candidate)
    known_hosts = {urlsplit(dc.accounts_url).netloc for dc in DATA_CENTERS.values()}
    if (
        parts.scheme == "https"
        and parts.hostname in known_hosts
        and parts.port is None
        and not parts.username
        and not parts.password
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
    ):
        return f"https://{parts.hostname}"
    raise OAuthFlowError(
        f"Zoho's answer named the accounts server {candidate!r}, which is neither a Zoho "
        f"accounts server nor the configured {configured!r}; it was refused and nothing was "
        "stored (sending the client secret there could leak it)."
    )


@dataclass(frozen=True)
class FlowOutcome:
    """How a redirect back from Zoho ended; ``refused`` means it was not trusted at all."""

    ok: bool
    message: str
    next_url: str = ""
    refused: bool = False
    user: str = ""


def finish_authorization(
    session: MutableMapping[str, Any], params: Mapping[str, str]
) -> FlowOutcome:
    """Check Zoho's redirect, exchange the code, store the tokens under the user's e-mail.

    A missing, wrong or reused ``state`` and untrusted parameters give ``refused``; a declined
    consent or a code Zoho will not exchange give ``ok=False`` with the reason in words.
    """
    try:
        pending = pop_state(session, params.get("state"))
    except OAuthFlowError as exc:
        logger.warning("Refused a redirect to the Zoho callback: no matching state in the session.")
        return FlowOutcome(False, exc.message, refused=True)
    next_url = str(pending.get("next") or "")
    error = params.get("error")
    if error:
        if error == "access_denied":
            message = "Access was declined on Zoho's consent page; nothing was stored."
        else:
            message = f"Zoho answered with the error {error!r}; nothing was stored."
        return FlowOutcome(False, message, next_url)
    code = (params.get("code") or "").strip()
    if not code:
        return FlowOutcome(
            False, "Zoho's answer carries no code; nothing was stored.", next_url, refused=True
        )
    try:
        accounts = trusted_accounts_server(params.get("accounts-server"), params.get("location"))
    except OAuthFlowError as exc:
        logger.warning("Refused a redirect to the Zoho callback: %s", exc.message)
        return FlowOutcome(False, exc.message, next_url, refused=True)
    redirect_uri = str(pending.get("redirect_uri") or "")
    try:
        client = get_oauth_client()
        if redirect_uri and redirect_uri != client.redirect_uri:
            # Zoho checks that the exchange names the redirect URI the consent request used.
            client = OAuthClient.from_settings(redirect_uri=redirect_uri)
        tokens = client.generate_access_token(code, accounts_server=accounts, discover_user=True)
    except (ZCRMError, ZCRMImproperlyConfigured) as exc:
        return FlowOutcome(
            False,
            "Zoho did not complete the connection: " + grant_error_message(exc, asked=accounts),
            next_url,
        )
    # The process-wide client may hold this user's previous tokens in memory.
    get_oauth_client().clear_cache()
    minutes = max(0, tokens.remaining_ms() // 60000)
    return FlowOutcome(
        True,
        f"Connected Zoho user {tokens.user_identifier} ({data_centre_label(tokens.accounts_server)}); "
        f"the access token is valid for {minutes} minutes and refreshes itself.",
        next_url,
        user=tokens.user_identifier,
    )


def api_console_url() -> str | None:
    """The Zoho API console of the configured data centre, or None for a non-Zoho server."""
    accounts = get_settings().accounts_url.rstrip("/")
    for dc in DATA_CENTERS.values():
        if dc.accounts_url == accounts:
            return accounts.replace("://accounts.", "://api-console.", 1)
    return None
