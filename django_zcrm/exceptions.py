"""The whole error tree of django_zcrm.

Every error carries what a caller needs to react (HTTP status, Zoho's ``code``, ``details``, the
request id) and a message that says what to do. ``str()`` never contains a token, secret or grant
code: messages pass through :func:`django_zcrm.redaction.redact`.
"""

from __future__ import annotations

import warnings
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .redaction import redact


class ZCRMConfigurationError(ImproperlyConfigured):
    """A setting in ``settings.ZCRM`` is missing or wrong; the message names it.

    ``check_id`` is the system check that reports the same problem, when there is one.
    """

    def __init__(self, *args: Any, check_id: str | None = None) -> None:
        super().__init__(*args)
        self.check_id = check_id


class ZCRMError(Exception):
    """Root of every runtime error raised by django_zcrm."""

    default_message = "Zoho CRM request failed"
    #: False when the request never left this process, so Zoho cannot have acted on it.
    request_sent: bool = True

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        details: Any = None,
        request_id: str | None = None,
        response: Any = None,
    ) -> None:
        self.message = redact(message or self.default_message)
        self.status = status
        self.code = code
        self.details = details if details is not None else {}
        self.request_id = request_id
        # Kept for callers that want headers or timing; never rendered in str().
        self.response = response
        super().__init__(self.message)

    def __str__(self) -> str:
        extra = []
        if self.status is not None:
            extra.append(f"HTTP {self.status}")
        if self.code:
            extra.append(f"code {self.code}")
        if self.details:
            extra.append(f"details {redact(str(self.details))}")
        if self.request_id:
            extra.append(f"request id {self.request_id}")
        return f"{self.message} ({', '.join(extra)})" if extra else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self):  # keep pickling (multiprocessing) working with keyword arguments
        return (
            _rebuild,
            (type(self), self.message, self.status, self.code, self.details, self.request_id),
        )


def _rebuild(cls, message, status, code, details, request_id):
    error = cls.__new__(cls)
    ZCRMError.__init__(
        error, message, status=status, code=code, details=details, request_id=request_id
    )
    return error


class ZCRMRetryLaterError(ZCRMError):
    """Adds ``retry_after``: seconds until Zoho accepts the request again (None: not said)."""

    def __init__(
        self, message: str | None = None, *, retry_after: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


# --- Authentication and tokens -------------------------------------------------------------


class ZCRMAuthError(ZCRMError):
    """Authentication with Zoho failed."""

    default_message = "Zoho authentication failed"


class ZCRMInvalidGrantError(ZCRMAuthError):
    """The grant token was wrong, expired or already used."""

    default_message = (
        "The grant token is wrong, expired or already used: it works once, for the time duration "
        "chosen when generating it (3 minutes by default, at most 10); generate a new one in the "
        "Zoho API console (Self Client) and use it at once."
    )


class ZCRMInvalidClientError(ZCRMAuthError):
    """Zoho does not know the client id/secret (or they belong to another data centre)."""

    default_message = (
        "Zoho rejected the client: check ZCRM['CLIENT_ID'] and ZCRM['CLIENT_SECRET'], and that "
        "ZCRM['DATA_CENTER'] (or ACCOUNTS_URL) is the data centre the client was registered in."
    )


class ZCRMTokenThrottledError(ZCRMRetryLaterError, ZCRMAuthError):
    """Zoho refuses to mint access tokens for now ("Access Denied", 10 per 10 minutes)."""

    default_message = (
        "Zoho is throttling token requests for this refresh token (at most 10 access tokens "
        "per 10 minutes): no further token request will be sent until the window passes."
    )


class ZCRMReauthorizationRequiredError(ZCRMAuthError):
    """The refresh token was revoked or is invalid; a new grant token is needed."""

    default_message = (
        "The stored refresh token is no longer valid (revoked, deleted or pushed out by newer "
        "ones): generate a new grant token and run zcrm_generate_token (or reconnect in the admin)."
    )


class ZCRMTokenNotFoundError(ZCRMAuthError):
    """No tokens are stored for the user."""

    default_message = "No Zoho tokens are stored for this user: run zcrm_generate_token first."


class ZCRMInvalidTokenError(ZCRMAuthError):
    """The CRM API rejected the access token (401 INVALID_TOKEN / AUTHENTICATION_FAILURE)."""


class ZCRMScopeMismatchError(ZCRMAuthError):
    """The token lacks a scope the call needs (401 OAUTH_SCOPE_MISMATCH)."""


class ZCRMOAuthFlowError(ZCRMAuthError):
    """The redirect back from Zoho cannot be trusted or used; nothing was stored."""


# --- CRM API -------------------------------------------------------------------------------


class ZCRMNotFoundError(ZCRMError):
    """The record, module or URL does not exist."""


class ZCRMValidationError(ZCRMError, ValueError):
    """Zoho rejected the input (INVALID_DATA, MANDATORY_NOT_FOUND, ...) or we refused to send it."""


class ZCRMPermissionError(ZCRMError):
    """The Zoho user lacks the permission (NO_PERMISSION, AUTHORIZATION_FAILED)."""


class ZCRMRateLimitError(ZCRMRetryLaterError, ZCRMError):
    """Zoho answered 429: credits exhausted or too many concurrent calls."""


class ZCRMServerError(ZCRMError):
    """Zoho answered 5xx."""


class ZCRMConnectionError(ZCRMError):
    """The network failed: connection refused or reset, DNS, or timeout."""


class ZCRMMalformedResponseError(ZCRMError):
    """Zoho's answer was not the JSON the wire format promises."""


class ZCRMResponseTooLargeError(ZCRMMalformedResponseError):
    """The answer was larger than ``MAX_RESPONSE_BYTES`` (after decompression); it was dropped."""


class ZCRMDeadlineExceededError(ZCRMConnectionError):
    """One exchange took longer than ``REQUEST_TOTAL_TIMEOUT`` in all; it was cut off."""


class ZCRMRedirectRefusedError(ZCRMError):
    """The server answered with a redirect; it was not followed, so no credential went there."""


class ZCRMUntrustedAnswerError(ZCRMMalformedResponseError):
    """A token answer was incomplete or implausible (or named a foreign host); nothing was stored."""


class ZCRMPersistenceError(ZCRMError):
    """The token store could not be read or written."""


class ZCRMTokenDecryptionError(ZCRMPersistenceError):
    """A stored token is ciphertext that none of the configured keys decrypts; nothing changed."""

    default_message = (
        "A stored Zoho token cannot be decrypted with the configured keys: put the key it was "
        "written with back in ZCRM['TOKEN_ENCRYPTION_KEYS'] (or SECRET_KEY / "
        "SECRET_KEY_FALLBACKS when TOKEN_ENCRYPTION_KEYS is unset), or generate new tokens."
    )


class ZCRMBulkReadError(ZCRMError):
    """A Bulk Read job failed at Zoho, or did not complete within the time allowed."""


class ZCRMSyncError(ZCRMError):
    """A sync run failed."""


class ZCRMSyncAlreadyRunningError(ZCRMSyncError):
    """Another process holds the sync lease for this module."""


# --- Deprecated names ------------------------------------------------------------------------

#: Names used before every error was called ``ZCRM...Error``; importing one warns.
DEPRECATED_NAMES: dict[str, str] = {
    "ZCRMImproperlyConfigured": "ZCRMConfigurationError",
    "InvalidGrantTokenError": "ZCRMInvalidGrantError",
    "InvalidClientError": "ZCRMInvalidClientError",
    "TokenThrottledError": "ZCRMTokenThrottledError",
    "ReauthorizationRequired": "ZCRMReauthorizationRequiredError",
    "TokenNotFoundError": "ZCRMTokenNotFoundError",
    "InvalidTokenError": "ZCRMInvalidTokenError",
    "ScopeMismatchError": "ZCRMScopeMismatchError",
    "PersistenceError": "ZCRMPersistenceError",
    "SyncError": "ZCRMSyncError",
    "SyncAlreadyRunning": "ZCRMSyncAlreadyRunningError",
    "OAuthFlowError": "ZCRMOAuthFlowError",
}


def __getattr__(name: str) -> type[Exception]:
    """Resolve an old error name to its new class, with a DeprecationWarning."""
    new_name = DEPRECATED_NAMES.get(name)
    if new_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"django_zcrm.exceptions.{name} is deprecated; use {new_name}.",
        DeprecationWarning,
        stacklevel=2,
    )
    return globals()[new_name]
