"""Verification tokens of notification channels: generated here, stored only as an HMAC.

The HMAC key is derived from ``SECRET_KEY`` (``salted_hmac`` with a fixed salt), so a database
dump alone does not reveal a token; comparison is constant-time (``docs/design/notifications.md``).
"""

from __future__ import annotations

import hmac
import secrets

from django.utils.crypto import salted_hmac

#: Zoho accepts tokens of at most 50 characters (docs/design/wire-format.md).
TOKEN_LENGTH = 48
_SALT = "django_zcrm.notifications.token"


def new_token() -> str:
    """A random verification token of ``TOKEN_LENGTH`` URL-safe characters."""
    return secrets.token_urlsafe(TOKEN_LENGTH)[:TOKEN_LENGTH]


def new_channel_id() -> str:
    """A random channel id: a positive integer below 2**53 (Zoho's ids are longs), as a string."""
    return str(secrets.randbelow(2**53 - 10**12) + 10**12)


def token_hash(token: str) -> str:
    """The hex HMAC-SHA256 of ``token`` under a key derived from ``SECRET_KEY``."""
    return salted_hmac(_SALT, token, algorithm="sha256").hexdigest()


def token_matches(token: object, *hashes: str) -> bool:
    """Whether ``token`` hashes to one of ``hashes`` (each compared in constant time)."""
    if not isinstance(token, str) or not token:
        return False
    given = token_hash(token)
    found = False
    for stored in hashes:
        # No early exit: every stored hash is compared.
        if stored and hmac.compare_digest(given, stored):
            found = True
    return found
