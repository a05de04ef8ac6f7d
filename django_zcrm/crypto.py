"""Tokens encrypted at rest: the keys, the ``zcrm1:`` format, and reading plaintext SDK values.

A stored token is either plaintext (as Zoho's SDKs and earlier versions of this app write it) or
``zcrm1:`` followed by a Fernet token (AES-128-CBC plus HMAC-SHA256: authenticated encryption,
so a tampered or foreign value fails to decrypt instead of decrypting to junk). The keys come
from ``ZCRM['TOKEN_ENCRYPTION_KEYS']`` (the first encrypts, all decrypt) or, when that is unset,
are derived with HKDF from ``SECRET_KEY`` then each of ``SECRET_KEY_FALLBACKS``, so a fresh
install is encrypted without configuration and Django's own secret rotation keeps working. See
``docs/design/token-refresh.md`` (token stores).

Only the built-in stores (database and file) use this module; a custom store receives and
returns plaintext tokens.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings as django_settings

from .conf import get_settings, setting, to_bool
from .exceptions import ZCRMConfigurationError, ZCRMTokenDecryptionError

#: Marks a stored value as ciphertext; the digit is the format version.
PREFIX = "zcrm1:"
KEYS_SETTING = "TOKEN_ENCRYPTION_KEYS"
SWITCH_SETTING = "TOKEN_ENCRYPTION"
INVALID_KEYS_CHECK = "django_zcrm.E040"
# Fixed salt and context: the derived key must be the same in every process of a site, and
# different from keys other apps derive from the same SECRET_KEY.
_HKDF_SALT = b"django-zcrm"
_HKDF_INFO = b"django_zcrm token encryption v1"


def is_encrypted(stored: str | None) -> bool:
    """True when ``stored`` is in the ``zcrm1:`` ciphertext format."""
    return isinstance(stored, str) and stored.startswith(PREFIX)


def derive_key(secret: str | bytes) -> bytes:
    """The Fernet key HKDF-SHA256 derives from a Django secret key."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(raw))


def configured_keys(value: Any) -> list[str]:
    """``TOKEN_ENCRYPTION_KEYS`` as a list of strings (a comma-separated string is accepted)."""
    if isinstance(value, str):
        return [k.strip() for k in value.split(",") if k.strip()]
    if isinstance(value, (list, tuple)):
        return [k.decode() if isinstance(k, bytes) else k for k in value]
    raise ZCRMConfigurationError(
        f"{setting(KEYS_SETTING)} must be a list of Fernet keys, not {type(value).__name__}.",
        check_id=INVALID_KEYS_CHECK,
    )


def key_problems(value: Any) -> list[str]:
    """What is wrong with a ``TOKEN_ENCRYPTION_KEYS`` value (empty when it is usable)."""
    if value is None:
        return []
    try:
        keys = configured_keys(value)
    except ZCRMConfigurationError as exc:
        return [str(exc)]
    if not keys:
        return [f"{setting(KEYS_SETTING)} is empty: it needs at least one key."]
    problems = []
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except (TypeError, ValueError):
            # Never echo the value: it is meant to be a secret.
            problems.append(
                f"{setting(KEYS_SETTING)}[{index}] is not a Fernet key (32 bytes, url-safe "
                "base64, 44 characters)."
            )
    return problems


@dataclass(frozen=True)
class TokenCipher:
    """Encrypts tokens for storage and reads stored values, ciphertext or plaintext."""

    fernets: tuple[Fernet, ...]
    enabled: bool = True
    source: str = "SECRET_KEY"

    @functools.cached_property
    def _multi(self) -> MultiFernet:
        return MultiFernet(list(self.fernets))

    def encrypt(self, plaintext: str) -> str:
        """The value to store for ``plaintext`` (plaintext itself when encryption is off)."""
        if not self.enabled or not plaintext:
            return plaintext
        return PREFIX + self._multi.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, stored: str, *, what: str = "a stored token") -> str:
        """The plaintext of a stored value; plaintext values are returned as they are."""
        if not is_encrypted(stored):
            return stored
        try:
            return self._multi.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise ZCRMTokenDecryptionError(self._cannot_decrypt(what)) from exc

    def is_current(self, stored: str) -> bool:
        """True when ``stored`` is already in the form :meth:`encrypt` writes (no rewrite due)."""
        if not stored:
            return True
        if not self.enabled:
            return not is_encrypted(stored)
        if not is_encrypted(stored):
            return False
        try:
            self.fernets[0].decrypt(stored[len(PREFIX) :].encode("ascii"))
        except InvalidToken:
            return False
        return True

    def _cannot_decrypt(self, what: str) -> str:
        if self.source == KEYS_SETTING:
            where = f"{setting(KEYS_SETTING)} holds {len(self.fernets)} key(s) and none decrypts it"
            fix = f"add the key it was written with to {setting(KEYS_SETTING)}"
        else:
            where = (
                f"{setting(KEYS_SETTING)} is unset, and the key derived from SECRET_KEY (and each "
                "of SECRET_KEY_FALLBACKS) does not decrypt it"
            )
            fix = (
                "restore the SECRET_KEY it was written under (or add it to SECRET_KEY_FALLBACKS), "
                f"or set {setting(KEYS_SETTING)} to the key it was written with"
            )
        return (
            f"Cannot decrypt {what}: {where}. To fix it, {fix}; or generate new tokens "
            "(zcrm_generate_token, or reconnect in the admin). Nothing was overwritten."
        )


def get_cipher() -> TokenCipher:
    """The cipher the current settings describe (keys from the setting, else from SECRET_KEY)."""
    conf = get_settings()
    enabled = to_bool(conf.raw.get(SWITCH_SETTING, True))
    value = conf.raw.get(KEYS_SETTING)
    if value is not None:
        problems = key_problems(value)
        if problems:
            raise ZCRMConfigurationError(" ".join(problems), check_id=INVALID_KEYS_CHECK)
        return _cipher(tuple(configured_keys(value)), enabled, KEYS_SETTING)
    secrets = [django_settings.SECRET_KEY, *getattr(django_settings, "SECRET_KEY_FALLBACKS", ())]
    return _derived_cipher(tuple(str(s) for s in secrets if s), enabled)


@functools.lru_cache(maxsize=16)
def _cipher(keys: tuple[str, ...], enabled: bool, source: str) -> TokenCipher:
    return TokenCipher(tuple(Fernet(k) for k in keys), enabled, source)


@functools.lru_cache(maxsize=16)
def _derived_cipher(secrets: tuple[str, ...], enabled: bool) -> TokenCipher:
    if not secrets:
        raise ZCRMConfigurationError(
            f"SECRET_KEY is empty, so no token encryption key can be derived: set SECRET_KEY or "
            f"{setting(KEYS_SETTING)}.",
            check_id=INVALID_KEYS_CHECK,
        )
    return _cipher(tuple(derive_key(s).decode("ascii") for s in secrets), enabled, "SECRET_KEY")


def generate_key() -> str:
    """A new random key for ``TOKEN_ENCRYPTION_KEYS``."""
    return Fernet.generate_key().decode("ascii")
