"""Organisation and module metadata: ``/org`` and ``/settings/modules``."""

from __future__ import annotations

import builtins
from typing import Any

from ..client import quote_segment
from ..exceptions import ZCRMMalformedResponseError, ZCRMNotFoundError
from .base import Service


class Org(Service):
    """The Zoho CRM organisation of the user."""

    def get(self) -> dict[str, Any]:
        """The organisation's details (``company_name``, ``id``, ``zgid``, ``time_zone`` ...)."""
        response = self.client.get("org")
        items = (response.data or {}).get("org") if not response.is_empty else None
        if not isinstance(items, list) or not items:
            raise ZCRMMalformedResponseError(
                "GET org: expected a list under 'org'.",
                status=response.status,
                request_id=response.request_id,
            )
        return items[0]


class Modules(Service):
    """The modules of the organisation (``/settings/modules``)."""

    def list(self) -> list[dict[str, Any]]:
        """Every module's metadata (``api_name``, ``api_supported``, ``plural_label`` ...)."""
        response = self.client.get("settings/modules")
        if response.is_empty:
            return []
        items = response.data.get("modules")
        if not isinstance(items, list):
            raise ZCRMMalformedResponseError(
                "GET settings/modules: expected a list under 'modules'.",
                status=response.status,
                request_id=response.request_id,
            )
        return items

    def get(self, api_name: str) -> dict[str, Any]:
        """One module's (richer) metadata; :class:`ZCRMNotFoundError` when there is none."""
        response = self.client.get(f"settings/modules/{quote_segment(api_name)}")
        items = (response.data or {}).get("modules") if not response.is_empty else None
        if not items:
            raise ZCRMNotFoundError(
                f"No module {api_name!r}.", status=response.status, request_id=response.request_id
            )
        return items[0]

    def api_names(self) -> builtins.list[str]:
        """API names of the modules the API can be used on."""
        return [
            m["api_name"] for m in self.list() if m.get("api_name") and m.get("api_supported", True)
        ]
