"""Checks of what a caller asks a sync run to do, shared by ``sync_module`` and ``zcrm_sync``."""

from __future__ import annotations

from datetime import date, datetime

from ..exceptions import ZCRMValidationError
from ..services import MAX_PER_PAGE
from .timeutil import aware

__all__ = ["check_run_options", "parse_since"]


def check_run_options(
    *, full: bool, since: datetime | date | str | None, batch_size: int
) -> datetime | None:
    """Refuse contradictory or out-of-range options; return ``since`` as an aware datetime.

    Raises :class:`~django_zcrm.exceptions.ZCRMValidationError` saying what to change, before
    any call to Zoho.
    """
    if full and since is not None:
        raise ZCRMValidationError(
            "Give either --full or --since (full=True or since=...), not both."
        )
    if not 1 <= int(batch_size) <= MAX_PER_PAGE:
        raise ZCRMValidationError(
            f"The batch size (--batch-size, batch_size=) must be between 1 and {MAX_PER_PAGE} "
            f"(Zoho's page size limit), not {batch_size}."
        )
    return parse_since(since)


def parse_since(value: datetime | date | str | None) -> datetime | None:
    """An aware datetime from a datetime, a date or an ISO string (naive: the project's zone)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ZCRMValidationError(
                f"since={value!r} is not an ISO date or datetime (e.g. 2024-05-01 or "
                "2024-05-01T09:30:00+02:00)."
            ) from None
    if isinstance(value, datetime):
        return aware(value)
    return aware(datetime(value.year, value.month, value.day))
