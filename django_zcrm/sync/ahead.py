"""Pages read and their rows built ahead, in the fetching thread (``docs/design/sync.md``).

With ``SYNC_PREFETCH`` on, the thread that fetches the next page also turns its records into
:class:`~django_zcrm.sync.targets.Row` s while the caller's thread writes the current page. The
database's own work (SQLite's, or the wait on a server) runs without Python's lock, so building
rows overlaps it instead of following it. Nothing touches the database here: which rows are
written, and every checkpoint, are still decided in the caller's thread, in the page's
transaction (:class:`Prepared` only saves it the building).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from .mapping import MappingError
from .prefetch import prefetch
from .targets import Row, Target
from .timeutil import now as current_time
from .timeutil import parse_zoho_datetime

__all__ = ["Prepared", "prepare", "read_ahead"]

T = TypeVar("T")

#: What a record that cannot be stored raises while its row is built.
BUILD_ERRORS = (MappingError, ValueError, TypeError, ArithmeticError)


@dataclass(slots=True)
class Prepared:
    """One page's rows, built at ``now``: by Zoho id, a row or why it cannot be built."""

    now: datetime
    modified: dict[str, datetime | None] = field(default_factory=dict)
    rows: dict[str, Row | Exception] = field(default_factory=dict)

    def row(self, zoho_id: str) -> Row | None:
        """The record's row; None when it was not built; raises what building it raised."""
        built = self.rows.get(zoho_id)
        if isinstance(built, Exception):
            raise built
        return built


def prepare(target: Target, records: Sequence[Mapping[str, Any]]) -> Prepared:
    """Build the row of every record with an id (the last one of an id counts, as when stored)."""
    prepared = Prepared(current_time())
    for record in records:
        rid = record.get("id")
        if rid in (None, ""):
            continue
        key = str(rid)
        modified = parse_zoho_datetime(record.get("Modified_Time"))
        prepared.modified[key] = modified
        try:
            prepared.rows[key] = target.build(record, modified, prepared.now)
        except BUILD_ERRORS as exc:
            prepared.rows[key] = exc
    return prepared


def read_ahead(
    source: Iterable[T],
    records_of: Callable[[T], Sequence[Mapping[str, Any]]],
    target: Target,
    *,
    enabled: bool,
) -> Iterator[tuple[T, Prepared | None]]:
    """``source``'s items with their rows, fetched and built one item ahead when ``enabled``.

    Disabled, items come in line, unbuilt (None): the caller builds rows itself.
    """
    if not enabled:
        return ((item, None) for item in source)
    target.ready()  # made here: what building needs must not be created in the other thread
    return prefetch(((item, prepare(target, records_of(item))) for item in source), depth=1)
