"""The process-wide clients, one per Zoho user, and their reset when ``settings.ZCRM`` changes."""

from __future__ import annotations

import threading
from typing import Any

from django.core.signals import setting_changed

from .core import ZCRMClient
from .slots import forget_request_slots

_clients: dict[str | None, ZCRMClient] = {}
_clients_lock = threading.Lock()


def get_client(user_identifier: str | None = None) -> ZCRMClient:
    """A shared client for the user (one per process and user, so connections are reused)."""
    client = _clients.get(user_identifier)
    if client is None:
        with _clients_lock:
            client = _clients.setdefault(user_identifier, ZCRMClient(user_identifier))
    return client


def close_clients() -> None:
    """Close and forget the shared clients (done when ``settings.ZCRM`` changes)."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "ZCRM":
        close_clients()
        forget_request_slots()


setting_changed.connect(_on_setting_changed, dispatch_uid="django_zcrm.client.setting_changed")
