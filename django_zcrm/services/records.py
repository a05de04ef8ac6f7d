"""CRM records as Python objects: a ``dict`` of the API's fields plus ``.id``, ``.module``, ...

A :class:`Record` *is* the dict Zoho sent (a shallow copy made once when the page is read), so
lookups (``{"name", "id"}``), owners, multi-select lists and ``$``-properties come through intact,
and it can be sent back, stored in a ``JSONField`` or serialised as it is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from django.utils import timezone


def parse_datetime(value: Any) -> datetime | None:
    """Parse Zoho's ISO-8601 datetimes (``2021-08-09T14:54:48+02:00``, ``...Z``) into aware ones."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # Zoho always sends an offset; a bare value is read as UTC rather than the server's zone.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_datetime(value: datetime | date | str) -> str:
    """Format a datetime the way Zoho accepts it: ISO 8601, seconds, numeric offset.

    Naive datetimes are taken to be in Django's default time zone (as the ORM does).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = timezone.make_aware(value, timezone.get_default_timezone())
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return datetime(
            value.year, value.month, value.day, tzinfo=timezone.get_default_timezone()
        ).isoformat()
    raise TypeError(f"expected a datetime, date or ISO string, not {type(value).__name__}")


class Record(dict):
    """One CRM record: the API's fields as a dict, plus ``id``, ``module`` and ``modified_time``."""

    __slots__ = ("module",)

    def __init__(self, data: Any = (), module: str | None = None, /, **fields: Any) -> None:
        super().__init__(data, **fields)
        self.module = module

    @property
    def id(self) -> str | None:
        """The record id (a string of digits), or None for a record not yet created."""
        value = self.get("id")
        return None if value is None else str(value)

    @property
    def modified_time(self) -> datetime | None:
        """``Modified_Time`` as an aware datetime (None when the field was not fetched)."""
        return parse_datetime(self.get("Modified_Time"))

    @property
    def created_time(self) -> datetime | None:
        """``Created_Time`` as an aware datetime (None when the field was not fetched)."""
        return parse_datetime(self.get("Created_Time"))

    def to_dict(self) -> dict[str, Any]:
        """A plain ``dict`` copy of the fields."""
        return dict(self)

    def __repr__(self) -> str:
        return f"Record({self.module!r}, {dict.__repr__(self)})"

    def __reduce__(self) -> Any:
        return (type(self), (dict(self), self.module))


class DeletedRecord(Record):
    """An entry of ``/{module}/deleted``: ``id``, ``display_name``, ``type``, ``deleted_time``..."""

    __slots__ = ()

    @property
    def deleted_time(self) -> datetime | None:
        """When the record was deleted, as an aware datetime."""
        return parse_datetime(self.get("deleted_time"))

    @property
    def modified_time(self) -> datetime | None:
        """For a deleted record, the deletion time."""
        return self.deleted_time

    @property
    def type(self) -> str | None:
        """``recycle`` (still in the recycle bin) or ``permanent``."""
        return self.get("type")

    def __repr__(self) -> str:
        return f"DeletedRecord({self.module!r}, {dict.__repr__(self)})"
