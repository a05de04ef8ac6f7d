"""Record storage of the fake CRM: one :class:`ModuleStore` per module.

Records are stored in their response shape and replaced, never mutated, on update (copy on
write), so a handler can serialise a snapshot outside the lock. Ordered id lists are cached per
(sort, filter) and dropped on any change, so paging through 100,000 records costs one sort and
then a slice per page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .schema import DECIMAL_TYPES, INTEGER_TYPES, FieldSpec, ModuleSpec
from .util import parse_date, parse_datetime

__all__ = ["ModuleStore", "copy_record", "sort_key_for"]

_CACHE_LIMIT = 32


def copy_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy deep enough for callers to mutate (records nest one level: lookups, lists)."""
    return {
        key: dict(value)
        if isinstance(value, dict)
        else list(value)
        if isinstance(value, list)
        else value
        for key, value in record.items()
    }


def _text_key(value: Any) -> Any:
    if isinstance(value, dict):
        value = value.get("name") or value.get("id") or ""
    elif isinstance(value, list):
        value = ";".join(str(v) for v in value)
    return str(value).casefold()


def _number_key(value: Any) -> Any:
    return (
        float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else float("-inf")
    )


def _datetime_key(value: Any) -> Any:
    try:
        return parse_datetime(value)
    except (TypeError, ValueError):
        return float("-inf")


def _date_key(value: Any) -> Any:
    try:
        return parse_date(value).toordinal()
    except (TypeError, ValueError):
        return -1


def sort_key_for(spec: FieldSpec | None) -> Callable[[Any], Any]:
    """A key function for non-null values of a field (None: the ``id`` pseudo-field)."""
    if spec is None:
        return lambda value: int(value)
    if spec.data_type in INTEGER_TYPES | DECIMAL_TYPES:
        return _number_key
    if spec.data_type == "datetime":
        return _datetime_key
    if spec.data_type == "date":
        return _date_key
    if spec.data_type == "boolean":
        return lambda value: bool(value)
    return _text_key


class ModuleStore:
    """Live records of one module, plus its recycle bin."""

    def __init__(self, spec: ModuleSpec) -> None:
        self.spec = spec
        self.rows: dict[str, dict[str, Any]] = {}
        self.ctime: dict[str, int] = {}
        self.mtime: dict[str, int] = {}
        self.unique: dict[str, dict[str, str]] = {f.api_name: {} for f in spec.unique_fields}
        # Every live holder of each unique value, oldest first (seeded data may share a value), so
        # that removing the indexed holder re-points the index without scanning every record.
        self._holders: dict[str, dict[str, dict[str, None]]] = {
            f.api_name: {} for f in spec.unique_fields
        }
        self.deleted: list[dict[str, Any]] = []  # entries in deletion order, each with "_epoch"
        self.deleted_ids: set[str] = set()
        self.version = 0
        self._cache: dict[Any, list[str]] = {}
        self._cache_version = -1

    # -- mutation ----------------------------------------------------------------------------------

    def _changed(self) -> None:
        self.version += 1

    def put(self, record: dict[str, Any], *, ctime: int, mtime: int) -> None:
        """Insert or replace a record (its ``id`` is the key); keeps the unique indexes right."""
        record_id = record["id"]
        old = self.rows.get(record_id)
        for name in self.unique:
            if old is not None:
                self._unindex(name, _unique_key(old.get(name)), record_id)
            new_key = _unique_key(record.get(name))
            if new_key is not None:
                self._holders[name].setdefault(new_key, {})[record_id] = None
                self.unique[name].setdefault(new_key, record_id)
        self.rows[record_id] = record
        self.ctime[record_id] = ctime
        self.mtime[record_id] = mtime
        self._changed()

    def remove(self, record_id: str) -> dict[str, Any] | None:
        """Drop a live record (not into the recycle bin: the caller records that); return it."""
        old = self.rows.pop(record_id, None)
        if old is None:
            return None
        self.ctime.pop(record_id, None)
        self.mtime.pop(record_id, None)
        for name in self.unique:
            self._unindex(name, _unique_key(old.get(name)), record_id)
        self._changed()
        return old

    def _unindex(self, name: str, key: str | None, record_id: str) -> None:
        if key is None:
            return
        holders = self._holders[name].get(key, {})
        holders.pop(record_id, None)
        index = self.unique[name]
        if index.get(key) == record_id:
            if holders:
                index[key] = next(iter(holders))
            else:
                del index[key]
        if not holders:
            self._holders[name].pop(key, None)

    def find_unique(self, api_name: str, value: Any) -> str | None:
        """The id of the live record whose unique field ``api_name`` equals ``value`` (case-insensitive)."""
        key = _unique_key(value)
        index = self.unique.get(api_name)
        if key is None or index is None:
            return None
        return index.get(key)

    # -- ordered views -----------------------------------------------------------------------------

    def _cached(self, key: Any, build: Callable[[], list[str]]) -> list[str]:
        if self._cache_version != self.version:
            self._cache.clear()
            self._cache_version = self.version
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            found = build()
            self._cache[key] = found
        return found

    def ordered(
        self,
        sort_by: str,
        descending: bool,
        *,
        modified_after: float | None = None,
        match: tuple[str, str] | None = None,
    ) -> list[str]:
        """Ids of live records sorted by ``sort_by`` (ties by id), optionally filtered.

        ``modified_after``: keep records with Modified_Time strictly later. ``match``:
        ``(lookup field, id)`` keeps records whose lookup points at that id (related lists).
        Nulls sort first ascending, last descending. The list is cached until the next change.
        """

        def build() -> list[str]:
            ids: Iterable[str] = self._sorted(sort_by, descending)
            if modified_after is not None:
                mtime = self.mtime
                ids = [i for i in ids if mtime[i] > modified_after]
            if match is not None:
                name, target = match
                rows = self.rows
                ids = [i for i in ids if _lookup_id(rows[i].get(name)) == target]
            return list(ids)

        if modified_after is None and match is None:
            return self._sorted(sort_by, descending)
        return self._cached((sort_by, descending, modified_after, match), build)

    def _sorted(self, sort_by: str, descending: bool) -> list[str]:
        def build() -> list[str]:
            if sort_by == "id":
                return sorted(self.rows, key=int, reverse=descending)
            if sort_by in ("Created_Time", "Modified_Time"):
                times = self.ctime if sort_by == "Created_Time" else self.mtime
                return sorted(self.rows, key=lambda i: (times[i], int(i)), reverse=descending)
            spec = self.spec.get_field(sort_by)
            value_key = sort_key_for(spec)
            rows = self.rows

            def key(record_id: str) -> Any:
                value = rows[record_id].get(sort_by)
                if value is None or value == "" or value == []:
                    return (0, 0, int(record_id))
                return (1, value_key(value), int(record_id))

            return sorted(rows, key=key, reverse=descending)

        return self._cached(("sorted", sort_by, descending), build)


def _unique_key(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip().casefold()
    return None


def _lookup_id(value: Any) -> str | None:
    if isinstance(value, dict):
        found = value.get("id")
        return str(found) if found is not None else None
    return None
