"""Choose the token store with the SDK's precedence: custom handler, then file, then database."""

from __future__ import annotations

import threading

from ..conf import ZCRMSettings, get_settings, load_custom_handler_class
from .base import SDKHandlerAdapter, TokenPersistence
from .database import DatabasePersistence
from .file import FILE_NAME, FilePersistence

__all__ = [
    "FILE_NAME",
    "DatabasePersistence",
    "FilePersistence",
    "SDKHandlerAdapter",
    "TokenPersistence",
    "build_persistence",
    "clear_cache",
    "get_persistence",
    "load_custom_handler_class",
]

_cache_lock = threading.Lock()
_cached: TokenPersistence | None = None


def build_persistence(conf: ZCRMSettings | None = None) -> TokenPersistence:
    """Build the store the settings ask for (custom > file > database)."""
    conf = conf or get_settings()
    cls = load_custom_handler_class(conf)
    if cls is not None:
        handler = cls()
        return handler if isinstance(handler, TokenPersistence) else SDKHandlerAdapter(handler)
    if conf.TOKEN_PERSISTENCE_PATH:
        return FilePersistence(conf.TOKEN_PERSISTENCE_PATH)
    return DatabasePersistence(using=conf.TOKEN_DATABASE or "default")


def get_persistence() -> TokenPersistence:
    """The configured store, built once and rebuilt when ``settings.ZCRM`` changes."""
    global _cached
    with _cache_lock:
        if _cached is None:
            _cached = build_persistence()
        return _cached


def clear_cache() -> None:
    """Forget the cached store (called on ``setting_changed``)."""
    global _cached
    with _cache_lock:
        _cached = None
