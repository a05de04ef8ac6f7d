"""The token record shared by every persistence handler and the OAuth client."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from .redaction import mask


def now_ms() -> int:
    """The current time as epoch milliseconds, the unit the SDKs store ``expirytime`` in."""
    return int(time.time() * 1000)


@dataclass
class OAuthTokens:
    """One user's tokens plus the state the refresh protocol shares between processes.

    The first four fields mirror the SDK's ``oauthtokens`` columns. ``repr()`` never shows a
    token: at most the last four characters.
    """

    user_identifier: str
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expiry_time: int  # epoch milliseconds
    api_domain: str | None = None
    accounts_server: str | None = None
    throttled_until: int | None = None  # epoch ms; no token request before this
    needs_reauth: bool = False
    last_error: str = ""
    last_refreshed_at: int | None = None  # epoch ms

    def __repr__(self) -> str:
        return (
            f"OAuthTokens(user_identifier={self.user_identifier!r}, "
            f"access_token={mask(self.access_token)!r}, "
            f"refresh_token={mask(self.refresh_token)!r}, expiry_time={self.expiry_time})"
        )

    __str__ = __repr__

    def remaining_ms(self, now: int | None = None) -> int:
        """Milliseconds until the access token expires (negative once it has)."""
        return int(self.expiry_time) - (now_ms() if now is None else now)

    def is_throttled(self, now: int | None = None) -> bool:
        """True while Zoho's token throttle window recorded for this user lasts."""
        current = now_ms() if now is None else now
        return bool(self.throttled_until and self.throttled_until > current)

    def state(self, now: int | None = None) -> str:
        """One word for people: valid, expired, throttled or needs_reauth."""
        if self.needs_reauth:
            return "needs_reauth"
        if self.is_throttled(now) and self.remaining_ms(now) <= 0:
            return "throttled"
        return "valid" if self.remaining_ms(now) > 0 else "expired"


@runtime_checkable
class TokenProvider(Protocol):
    """What the CRM API client needs from an OAuth client: current tokens, and a refresh on demand.

    ``django_zcrm.oauth.ZohoOAuthClient`` is the implementation; tests may pass any object with
    these two methods. See ``docs/design/token-refresh.md`` for the protocol behind them.
    """

    def get_tokens(self, user_identifier: str | None = None) -> OAuthTokens:
        """The user's current tokens, refreshed first when the access token is (nearly) expired."""
        ...

    def refresh_access_token(
        self, user_identifier: str | None = None, *, stale_token: str | None = None
    ) -> OAuthTokens:
        """Mint a new access token now; with ``stale_token``, only if it is still the stored one."""
        ...


@dataclass(frozen=True)
class TokenStatus:
    """What a person may see about one user's tokens: never a token, at most a masked tail."""

    user_identifier: str
    state: str
    expires_at: datetime
    expires_in_seconds: int
    api_domain: str | None
    last_refreshed_at: datetime | None
    throttled_until: datetime | None
    last_error: str
    access_token_tail: str

    @classmethod
    def of(cls, tokens: OAuthTokens, now: int | None = None) -> TokenStatus:
        """Describe ``tokens`` as of ``now`` (epoch ms)."""
        current = now_ms() if now is None else now
        return cls(
            user_identifier=tokens.user_identifier,
            state=tokens.state(current),
            expires_at=_from_ms(tokens.expiry_time),
            expires_in_seconds=tokens.remaining_ms(current) // 1000,
            api_domain=tokens.api_domain,
            last_refreshed_at=_from_ms(tokens.last_refreshed_at)
            if tokens.last_refreshed_at
            else None,
            throttled_until=(
                _from_ms(tokens.throttled_until or 0) if tokens.is_throttled(current) else None
            ),
            last_error=tokens.last_error,
            access_token_tail=mask(tokens.access_token),
        )

    @classmethod
    def undecryptable(cls, user_identifier: str, message: str) -> TokenStatus:
        """The status of a user whose stored tokens no configured key decrypts."""
        return cls(
            user_identifier=user_identifier,
            state="cannot_decrypt",
            expires_at=_from_ms(0),
            expires_in_seconds=0,
            api_domain=None,
            last_refreshed_at=None,
            throttled_until=None,
            last_error=message,
            access_token_tail="",
        )


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
