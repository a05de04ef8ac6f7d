"""Choose the token store with the SDK's precedence: custom handler, then file, then database."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading

from django.utils.module_loading import import_string

from ..conf import ZCRMSettings, get_settings
from ..exceptions import ZCRMImproperlyConfigured
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

REQUIRED_METHODS = ("save_oauth_tokens", "get_oauth_tokens", "delete_oauth_tokens")

_cache_lock = threading.Lock()
_cached: TokenPersistence | None = None


def load_custom_handler_class(conf: ZCRMSettings | None = None) -> type | None:
    """Import the class named by PERSISTENCE_HANDLER_CLASS(_PATH), or None when unset."""
    conf = conf or get_settings()
    name = (conf.PERSISTENCE_HANDLER_CLASS or "").strip()
    file_path = (conf.PERSISTENCE_HANDLER_CLASS_PATH or "").strip()
    if not name:
        if file_path:
            raise ZCRMImproperlyConfigured(
                "ZCRM['PERSISTENCE_HANDLER_CLASS_PATH'] is set but ZCRM['PERSISTENCE_HANDLER_CLASS'] "
                "is not: set it to the name of the class defined in that file."
            )
        return None
    if file_path:
        cls = _load_from_file(name, file_path)
    else:
        try:
            cls = import_string(name)
        except ImportError as exc:
            raise ZCRMImproperlyConfigured(
                f"ZCRM['PERSISTENCE_HANDLER_CLASS'] = {name!r} cannot be imported ({exc}). Use a "
                "dotted path such as 'myproject.tokens.RedisTokenStore', or a class name plus "
                "ZCRM['PERSISTENCE_HANDLER_CLASS_PATH'] pointing at the .py file."
            ) from exc
    if not isinstance(cls, type):
        raise ZCRMImproperlyConfigured(
            f"ZCRM['PERSISTENCE_HANDLER_CLASS'] = {name!r} is not a class."
        )
    missing = [m for m in REQUIRED_METHODS if not callable(getattr(cls, m, None))]
    if missing and not issubclass(cls, TokenPersistence):
        raise ZCRMImproperlyConfigured(
            f"ZCRM['PERSISTENCE_HANDLER_CLASS'] = {name!r} is not a token store: it lacks "
            f"{', '.join(missing)}. Subclass django_zcrm.persistence.TokenPersistence."
        )
    return cls


def _load_from_file(name: str, file_path: str) -> type:
    path = os.path.abspath(file_path)
    if not os.path.isfile(path):
        raise ZCRMImproperlyConfigured(
            f"ZCRM['PERSISTENCE_HANDLER_CLASS_PATH'] = {file_path!r} is not a file: point it at the "
            f".py file that defines {name}."
        )
    module_name = "django_zcrm_custom_persistence_" + str(abs(hash(path)))
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ZCRMImproperlyConfigured(
            f"ZCRM['PERSISTENCE_HANDLER_CLASS_PATH'] = {file_path!r} "
            "cannot be loaded as a Python module."
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # any error in the user's file is a configuration error to report
        sys.modules.pop(module_name, None)
        raise ZCRMImproperlyConfigured(
            f"Loading ZCRM['PERSISTENCE_HANDLER_CLASS_PATH'] = {file_path!r} failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    try:
        return getattr(module, name.rsplit(".", 1)[-1])
    except AttributeError as exc:
        raise ZCRMImproperlyConfigured(
            f"{file_path!r} defines no class {name!r}: fix ZCRM['PERSISTENCE_HANDLER_CLASS']."
        ) from exc


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
