"""The HTTP client for the Zoho CRM REST API.

``core`` holds :class:`ZCRMClient` (sessions, auth header, the retry loop); it maps answers to
typed errors with ``errors``, encodes bodies and URLs with ``encoding``, takes one of the
process's ``MAX_CONCURRENT_REQUESTS`` slots from ``slots`` per exchange, and returns the
:class:`APIResponse` of ``response``. ``registry`` keeps one shared client per Zoho user. Calls go
one way: registry -> core -> (auth, errors, encoding, slots, response). Tokens come through the
:class:`~django_zcrm.tokens.TokenProvider` contract: ``auth`` holds the default provider, which
``apps.ready()`` wires to :mod:`django_zcrm.oauth` (the client never imports oauth).
"""

from __future__ import annotations

from ..conf import USER_AGENT
from .auth import TokenProviderFactory, default_token_provider, use_default_token_provider
from .core import SAFE_METHODS, ZCRMClient
from .encoding import quote_segment
from .errors import NOT_FOUND_CODES, PERMISSION_CODES, RATE_LIMIT_CODES, TOKEN_REJECTED_CODES
from .registry import close_clients, get_client
from .response import REQUEST_ID_HEADERS, APIResponse
from .slots import LOCAL_CONCURRENCY_LIMIT

__all__ = [
    "LOCAL_CONCURRENCY_LIMIT",
    "NOT_FOUND_CODES",
    "PERMISSION_CODES",
    "RATE_LIMIT_CODES",
    "REQUEST_ID_HEADERS",
    "SAFE_METHODS",
    "TOKEN_REJECTED_CODES",
    "USER_AGENT",
    "APIResponse",
    "TokenProviderFactory",
    "ZCRMClient",
    "close_clients",
    "default_token_provider",
    "get_client",
    "quote_segment",
    "use_default_token_provider",
]
