"""Count the API calls a sync or push makes (204/304 answers and retries included)."""

from __future__ import annotations

import email.utils
import threading
from datetime import datetime
from typing import Any

from ..client import APIResponse, ZCRMClient, get_client
from ..exceptions import ZCRMError


class MeteredClient:
    """Wraps a :class:`~django_zcrm.client.ZCRMClient`; ``calls`` counts requests sent to Zoho.

    Services take it in place of the client (``Module(name, client=MeteredClient(...))``).
    """

    def __init__(
        self, client: ZCRMClient | None = None, user_identifier: str | None = None
    ) -> None:
        self.client = client if client is not None else get_client(user_identifier)
        self.calls = 0
        # Batched writes, prefetch and COQL windows send from several threads: count under a lock.
        self._lock = threading.Lock()
        #: Zoho's clock (the ``Date`` header) at the first answer after :meth:`mark`.
        self.first_server_time: datetime | None = None

    def mark(self) -> None:
        """Forget ``first_server_time``: the next answer sets it."""
        self.first_server_time = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def __repr__(self) -> str:
        return f"<MeteredClient {self.client!r} calls={self.calls}>"

    def request(self, method: str, path: str, **kwargs: Any) -> APIResponse:
        """Send through the wrapped client and count the attempts it took."""
        try:
            response = self.client.request(method, path, **kwargs)
        except ZCRMError:
            with self._lock:
                self.calls += 1
            raise
        with self._lock:
            self.calls += max(1, int(response.attempts))
            if self.first_server_time is None:
                self.first_server_time = _server_time(response)
        return response

    def get(self, path: str, **kwargs: Any) -> APIResponse:
        """GET through :meth:`request`."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> APIResponse:
        """POST through :meth:`request`."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> APIResponse:
        """PUT through :meth:`request`."""
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> APIResponse:
        """DELETE through :meth:`request`."""
        return self.request("DELETE", path, **kwargs)


def _server_time(response: APIResponse) -> datetime | None:
    value = response.headers.get("Date") if response.headers else None
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None
