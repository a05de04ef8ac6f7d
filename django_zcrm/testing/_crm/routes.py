"""Route declarations of the fake CRM: one ``"METHOD /path/{placeholder}"`` string per route.

The string is both the route's name (what ``fail_next(endpoint=...)``, ``fake.count(endpoint)`` and
``RequestRecord.endpoint`` use) and its pattern: each ``{placeholder}`` becomes a named regex group
(``{related_list}`` is captured as ``related``), everything else matches literally.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PLACEHOLDERS", "VERSION_RE", "Route", "path_regex"]

VERSION_RE = r"(?P<version>v2|v2\.1|v[3-8])"
_NAME = r"[A-Za-z][A-Za-z0-9_]*"
_DIGITS = r"[0-9]+"

#: Placeholder -> regex; add one here when a new route needs a new kind of path segment.
PLACEHOLDERS: dict[str, str] = {
    "version": VERSION_RE,
    "module": rf"(?P<module>{_NAME})",
    "id": rf"(?P<id>{_DIGITS})",
    "note_id": rf"(?P<note_id>{_DIGITS})",
    "attachment_id": rf"(?P<attachment_id>{_DIGITS})",
    "related_list": rf"(?P<related>{_NAME})",
    "related_id": rf"(?P<related_id>{_DIGITS})",
}

_PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")


def path_regex(path: str) -> str:
    """The full-match regex of a route path such as ``/crm/{version}/{module}/{id}``."""
    parts: list[str] = []
    last = 0
    for found in _PLACEHOLDER_RE.finditer(path):
        name = found.group(1)
        if name not in PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{name}}} in route {path!r}")
        parts.append(re.escape(path[last : found.start()]))
        parts.append(PLACEHOLDERS[name])
        last = found.end()
    parts.append(re.escape(path[last:]))
    return "".join(parts)


@dataclass(frozen=True)
class Route:
    """One route: its name ``"METHOD /path"`` and the name of the handler method on the CRM."""

    name: str
    handler: str

    @property
    def method(self) -> str:
        """The HTTP method, e.g. ``GET``."""
        return self.name.split(" ", 1)[0]

    @property
    def path(self) -> str:
        """The path template, e.g. ``/crm/{version}/{module}``."""
        return self.name.split(" ", 1)[1]

    @property
    def pattern(self) -> str:
        """The full-match regex the server tries for this route."""
        return path_regex(self.path)
