"""Datetimes between Zoho (ISO 8601 with offsets), Python (aware) and the database (USE_TZ)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, overload

from django.conf import settings
from django.utils import timezone

from ..services import parse_datetime


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: datetime | None) -> datetime | None:
    """An aware datetime (naive ones, as the ORM returns with USE_TZ=False, are local time)."""
    if value is None:
        return None
    if timezone.is_naive(value):
        return timezone.make_aware(value, timezone.get_default_timezone())
    return value


@overload
def to_db(value: datetime) -> datetime: ...
@overload
def to_db(value: None) -> None: ...
def to_db(value: datetime | None) -> datetime | None:
    """The form the ORM accepts: aware with USE_TZ=True, naive local time without."""
    if value is None:
        return None
    if settings.USE_TZ:
        return aware(value)
    if timezone.is_aware(value):
        return timezone.make_naive(value, timezone.get_default_timezone())
    return value


def parse_zoho_datetime(value: Any) -> datetime | None:
    """Zoho's ``2021-08-09T14:54:48+02:00`` (or ``...Z``) as an aware datetime; None if unparsable."""
    return parse_datetime(value)


def minus_seconds(value: datetime | None, seconds: float) -> datetime | None:
    """``value - seconds`` (None stays None)."""
    if value is None:
        return None
    return value - timedelta(seconds=seconds)


def earliest(*values: datetime | None) -> datetime | None:
    """The earliest of the non-None values (None when all are None)."""
    present = [aware(v) for v in values if v is not None]
    return min(present) if present else None


def latest(*values: datetime | None) -> datetime | None:
    """The latest of the non-None values (None when all are None)."""
    present = [aware(v) for v in values if v is not None]
    return max(present) if present else None


def now() -> datetime:
    """The current time, aware."""
    return timezone.now() if settings.USE_TZ else aware(timezone.now())


#: How far ahead of this machine's clock a ``Modified_Time`` may be. Zoho stamps records with its
#: own clock, so anything later is a broken record; storing it would move the checkpoint past
#: every real change (``docs/design/sync.md``, records that cannot be stored).
FUTURE_LIMIT = timedelta(days=366)


def check_storable(value: datetime | None, what: str) -> None:
    """Raise ``ValueError`` naming ``what`` when ``value`` cannot be held as UTC by a database."""
    if value is None or value.tzinfo is None:
        return
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{what} {value.isoformat()} is out of range in UTC") from None


def check_modified(value: datetime | None, at: datetime | None = None) -> None:
    """Raise ``ValueError`` when a record's ``Modified_Time`` cannot be a real one.

    Out of range in UTC, or more than ``FUTURE_LIMIT`` ahead of ``at`` (default: now): such a
    record fails alone and goes to the retry list instead of moving the checkpoint to the far
    future.
    """
    if value is None:
        return
    check_storable(value, "Modified_Time")
    if aware(value) > (at or now()) + FUTURE_LIMIT:
        raise ValueError(f"Modified_Time {value.isoformat()} is more than a year in the future")
