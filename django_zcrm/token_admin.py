"""What the admin token pages do with tokens, one function per user action.

The admin stays thin: it parses input, calls one function here and shows its outcome. Nothing in
this module returns or formats a whole token; people see at most a masked tail. The web-client
OAuth flow (consent redirect and callback) lives in :mod:`django_zcrm.webflow`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from django.utils.timesince import timesince, timeuntil

from .conf import DATA_CENTERS, get_settings
from .exceptions import (
    ZCRMConfigurationError,
    ZCRMError,
    ZCRMInvalidClientError,
    ZCRMInvalidGrantError,
    ZCRMTokenDecryptionError,
)
from .oauth import get_oauth_client
from .persistence import DatabasePersistence, get_persistence
from .persistence.database import tokens_from_row
from .redaction import mask, redact
from .tokens import OAuthTokens, TokenStatus, now_ms

STATE_LABELS = {
    "valid": "valid",
    "expired": "expired (refreshed on next use)",
    "throttled": "throttled by Zoho",
    "needs_reauth": "needs reconnect",
    "cannot_decrypt": "cannot decrypt (see TOKEN_ENCRYPTION_KEYS / SECRET_KEY)",
}
#: The state of a row whose tokens no configured key decrypts.
CANNOT_DECRYPT = "cannot_decrypt"


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
    """Describe an ``OAuthToken`` model row (see :func:`describe_tokens`).

    A row no configured key decrypts is shown as "cannot decrypt" (the list still renders).
    """
    try:
        return describe_tokens(tokens_from_row(row), now)
    except (ZCRMTokenDecryptionError, ZCRMConfigurationError) as exc:
        problem = exc.message if isinstance(exc, ZCRMError) else str(exc)
    placeholder = OAuthTokens(
        user_identifier=row.useridentifier,
        access_token="",
        refresh_token="",
        expiry_time=int(row.expirytime or 0),
        accounts_server=row.accounts_server,
        last_refreshed_at=row.last_refreshed_at,
    )
    return replace(
        describe_tokens(placeholder, now),
        state=CANNOT_DECRYPT,
        state_label=STATE_LABELS[CANNOT_DECRYPT],
        last_error=problem,
    )


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
    except ZCRMConfigurationError as exc:
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


def grant_error_message(exc: ZCRMError | ZCRMConfigurationError, asked: str | None = None) -> str:
    """Plain words for a failed grant exchange, with the accounts server that was asked."""
    message = exc.message if isinstance(exc, ZCRMError) else redact(str(exc))
    if isinstance(exc, (ZCRMInvalidGrantError, ZCRMInvalidClientError)):
        accounts = asked or get_settings().accounts_url
        message += (
            f" This site asked {accounts}; a code made in another data centre's API "
            "console only works with that data centre (set ZCRM['DATA_CENTER'])."
        )
    return message


def refresh_users(users: list[str]) -> list[Outcome]:
    """Mint a new access token now for each user; one outcome per user."""
    client = get_oauth_client()

    def refresh(user: str) -> str:
        tokens = client.refresh_access_token(user)
        minutes = max(0, tokens.remaining_ms(client.now_ms()) // 60000)
        return f"New access token for {user}, valid for {minutes} minutes."

    return _each_user(users, refresh, lambda user, exc: f"Not refreshed for {user}: {exc.message}")


def revoke_users(users: list[str]) -> list[Outcome]:
    """Revoke each user's refresh token at Zoho and delete the stored tokens."""
    client = get_oauth_client()

    def revoke(user: str) -> str:
        client.revoke(user)
        return f"Revoked at Zoho and deleted: {user}."

    return _each_user(
        users, revoke, lambda user, exc: f"Not revoked, so kept: {user}. {exc.message}"
    )


def _each_user(
    users: list[str],
    action: Callable[[str], str],
    failed: Callable[[str, ZCRMError], str],
) -> list[Outcome]:
    """Run ``action`` per user: its message on success, ``failed``'s on a ZCRMError."""
    outcomes = []
    for user in users:
        try:
            outcomes.append(Outcome(user, True, action(user)))
        except ZCRMError as exc:
            outcomes.append(Outcome(user, False, failed(user, exc)))
    return outcomes


def forget_users(users: list[str]) -> list[Outcome]:
    """Delete each user's stored tokens without asking Zoho (for tokens Zoho no longer knows)."""
    store = get_persistence()
    client = get_oauth_client()
    for user in users:
        store.delete_oauth_tokens(user)
    client.clear_cache()
    return [Outcome(user, True, f"Deleted here (not revoked at Zoho): {user}.") for user in users]


def api_console_url() -> str | None:
    """The Zoho API console of the configured data centre, or None for a non-Zoho server."""
    accounts = get_settings().accounts_url.rstrip("/")
    for dc in DATA_CENTERS.values():
        if dc.accounts_url == accounts:
            return accounts.replace("://accounts.", "://api-console.", 1)
    return None
