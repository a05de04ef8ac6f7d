"""Tokens in the ``oauthtokens`` table (the default store), on the ``TOKEN_DATABASE`` alias.

The two token columns hold ``zcrm1:`` ciphertext (see :mod:`django_zcrm.crypto`); plaintext
values written by Zoho's SDKs are read as they are and encrypted the next time the row is saved.
"""

from __future__ import annotations

from django.db import DatabaseError, IntegrityError, transaction

from ..crypto import TokenCipher, get_cipher
from ..exceptions import ZCRMPersistenceError
from ..leases import claim
from ..models import OAuthToken
from ..tokens import OAuthTokens
from .base import TokenPersistence

_STATE_FIELDS = (
    "api_domain",
    "accounts_server",
    "throttled_until",
    "needs_reauth",
    "last_error",
    "last_refreshed_at",
)


def tokens_from_row(row: OAuthToken, cipher: TokenCipher | None = None) -> OAuthTokens:
    """Convert a model row to the plain token record, decrypting its tokens.

    Raises :class:`~django_zcrm.exceptions.ZCRMTokenDecryptionError` when no configured key
    decrypts them.
    """
    cipher = cipher or get_cipher()
    user = row.useridentifier
    return OAuthTokens(
        user_identifier=user,
        access_token=cipher.decrypt(row.accesstoken, what=f"the access token of {user}"),
        refresh_token=cipher.decrypt(row.refreshtoken, what=f"the refresh token of {user}"),
        expiry_time=int(row.expirytime),
        api_domain=row.api_domain,
        accounts_server=row.accounts_server,
        throttled_until=row.throttled_until,
        needs_reauth=bool(row.needs_reauth),
        last_error=row.last_error or "",
        last_refreshed_at=row.last_refreshed_at,
    )


class DatabasePersistence(TokenPersistence):
    """The ``OAuthToken`` model; the lease is a conditional UPDATE, portable to every backend."""

    def __init__(self, using: str = "default") -> None:
        self.using = using

    def _rows(self):
        return OAuthToken.objects.using(self.using)

    def save_oauth_tokens(self, tokens: OAuthTokens) -> None:
        """Insert or update the row of ``tokens.user_identifier`` (lease columns untouched)."""
        cipher = get_cipher()
        values = {
            "accesstoken": _fit(cipher.encrypt(tokens.access_token), "accesstoken"),
            "refreshtoken": _fit(cipher.encrypt(tokens.refresh_token), "refreshtoken"),
            "expirytime": int(tokens.expiry_time),
            **{name: getattr(tokens, name) for name in _STATE_FIELDS},
        }
        values["last_error"] = values["last_error"] or ""
        try:
            with transaction.atomic(using=self.using):
                updated = (
                    self._rows().filter(useridentifier=tokens.user_identifier).update(**values)
                )
                if not updated:
                    self._rows().create(useridentifier=tokens.user_identifier, **values)
        except IntegrityError:
            # Another process inserted the same user between our UPDATE and INSERT: update it.
            self._rows().filter(useridentifier=tokens.user_identifier).update(**values)
        except DatabaseError as exc:
            raise ZCRMPersistenceError(
                f"Could not save tokens in database '{self.using}': {exc}. Run migrate, and check "
                "ZCRM['TOKEN_DATABASE']."
            ) from exc

    def get_oauth_tokens(self, user_identifier: str) -> OAuthTokens | None:
        """Read a user's row."""
        try:
            row = self._rows().filter(useridentifier=user_identifier).first()
        except DatabaseError as exc:
            raise ZCRMPersistenceError(
                f"Could not read tokens from database '{self.using}': {exc}. Run migrate, and "
                "check ZCRM['TOKEN_DATABASE']."
            ) from exc
        return tokens_from_row(row) if row is not None else None

    def delete_oauth_tokens(self, user_identifier: str) -> None:
        """Delete a user's row."""
        self._rows().filter(useridentifier=user_identifier).delete()

    def list_user_identifiers(self) -> list[str]:
        """Every user with a row."""
        return list(
            self._rows().order_by("useridentifier").values_list("useridentifier", flat=True)
        )

    def acquire_refresh_lease(self, user_identifier: str, owner: str, until: int, now: int) -> bool:
        """One conditional UPDATE: it succeeds for exactly one process while the lease is free."""
        return claim(
            self._rows().filter(useridentifier=user_identifier),
            owner=owner,
            until=until,
            now=now,
            owner_field="refresh_lease_owner",
            until_field="refresh_lease_until",
        )

    def release_refresh_lease(self, user_identifier: str, owner: str) -> None:
        """Clear the lease if ``owner`` still holds it."""
        self._rows().filter(useridentifier=user_identifier, refresh_lease_owner=owner).update(
            refresh_lease_until=None, refresh_lease_owner=None
        )


def _fit(value: str, column: str) -> str:
    """``value`` if it fits its column; a typed error (before any write) if it does not."""
    limit = getattr(OAuthToken._meta.get_field(column), "max_length", None) or 0
    if len(value) > limit:
        raise ZCRMPersistenceError(
            f"The {column} value to store is {len(value)} characters long, more than the "
            f"{limit} the oauthtokens column holds: Zoho tokens are far shorter, so this one was "
            "not stored."
        )
    return value
