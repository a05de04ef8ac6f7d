"""Where a client built without a token provider gets one: the provider the app wires in.

The client depends on the :class:`~django_zcrm.tokens.TokenProvider` contract only, never on
:mod:`django_zcrm.oauth` (which reaches the token store and the models): ``apps.ready()`` hands the
OAuth client's factory to :func:`use_default_token_provider`, so imports stay one-way.
"""

from __future__ import annotations

from collections.abc import Callable

from ..exceptions import ZCRMConfigurationError
from ..tokens import TokenProvider

TokenProviderFactory = Callable[[], TokenProvider]

_default_factory: TokenProviderFactory | None = None


def use_default_token_provider(factory: TokenProviderFactory | None) -> TokenProviderFactory | None:
    """Make ``factory()`` the provider of clients built without one; return the previous factory."""
    global _default_factory
    previous, _default_factory = _default_factory, factory
    return previous


def default_token_provider() -> TokenProvider:
    """The wired-in provider, asked for on each call (settings changes rebuild the OAuth client)."""
    factory = _default_factory
    if factory is None:
        raise ZCRMConfigurationError(
            "The Zoho CRM client has no token provider: add 'django_zcrm' to INSTALLED_APPS (its "
            "AppConfig.ready() wires in the OAuth client) and call django.setup() before making "
            "requests, or pass ZCRMClient(oauth_client=...)."
        )
    return factory()
