"""Organisation and module metadata: ``/org`` and ``/settings/modules``."""

from __future__ import annotations

import builtins
from typing import Any

from ..client import quote_segment
from .base import Service, answer_object, first_object, malformed, object_list


class Org(Service):
    """The Zoho CRM organisation of the user."""

    def get(self) -> dict[str, Any]:
        """The organisation's details (``company_name``, ``id``, ``zgid``, ``time_zone`` ...)."""
        response = self.client.get("org")
        items = object_list(response, "org")
        if not items:
            raise malformed(response, "expected a non-empty list under 'org'")
        return items[0]


class Modules(Service):
    """The modules of the organisation (``/settings/modules``)."""

    def list(self) -> list[dict[str, Any]]:
        """Every module's metadata (``api_name``, ``api_supported``, ``plural_label`` ...)."""
        response = self.client.get("settings/modules")
        if response.is_empty:
            return []
        if answer_object(response).get("modules") is None:
            raise malformed(response, "expected a list under 'modules', found none")
        return object_list(response, "modules")

    def get(self, api_name: str) -> dict[str, Any]:
        """One module's (richer) metadata; :class:`ZCRMNotFoundError` when there is none."""
        response = self.client.get(f"settings/modules/{quote_segment(api_name)}")
        return first_object(response, "modules", f"No module {api_name!r}.")

    def api_names(self) -> builtins.list[str]:
        """API names of the modules the API can be used on."""
        return [
            m["api_name"]
            for m in self.list()
            if isinstance(m.get("api_name"), str) and m["api_name"] and m.get("api_supported", True)
        ]
