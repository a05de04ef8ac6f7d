"""Custom token stores used by the tests: one subclassing the contract, one written to the SDK's
three-method shape only (as a user porting an old SDK handler would)."""

from __future__ import annotations

import copy
import threading

from django_zcrm.persistence import TokenPersistence

_data: dict[str, object] = {}
_lock = threading.Lock()


class MemoryTokenStore(TokenPersistence):
    """Keeps tokens in a module-level dict (one process)."""

    def save_oauth_tokens(self, tokens):
        with _lock:
            _data[tokens.user_identifier] = copy.deepcopy(tokens)

    def get_oauth_tokens(self, user_identifier):
        with _lock:
            tokens = _data.get(user_identifier)
            return copy.deepcopy(tokens) if tokens is not None else None

    def delete_oauth_tokens(self, user_identifier):
        with _lock:
            _data.pop(user_identifier, None)

    def list_user_identifiers(self):
        with _lock:
            return sorted(_data)


class NotAStore:
    """Has none of the three methods."""


def clear() -> None:
    """Empty the memory store between tests."""
    with _lock:
        _data.clear()
