"""One prepared upsert per target: rows as tuples, adapted once per column, sent by ``executemany``.

The ORM's ``bulk_create(update_conflicts=True)`` prepares every field of every row through the
insert compiler and splits a 200-row page into many statements on SQLite (its parameter
limit). This writes the same rows with one ``INSERT ... ON CONFLICT (key) DO UPDATE`` (``ON
DUPLICATE KEY UPDATE`` on MySQL/MariaDB, as Django's backend spells it) and
``cursor.executemany``: each value goes through its field's ``get_db_prep_save`` (the ORM's own
adaptation, so dates, decimals, JSON and booleans come out as the ORM would write them), with a
shortcut for values that need none (a ``str`` for a text column, a ``bool`` for a boolean, an
``int`` in range for an integer, a ``float`` for a float column; a ``date`` goes straight to the
backend's ``adapt_datefield_value``). Columns a record does not fill get the field's default, as
the ORM would give them (``docs/design/sync.md``, the write path).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.constants import OnConflict

from .timeutil import check_storable, to_db

Adapter = Callable[[Any], Any]

# A list or dict default is a fresh empty one per row; adapted, every row gets the same value.
_CONSTANT_FACTORIES = (list, dict, tuple, str, int, float, bool)
#: Integers every backend holds in a 64-bit column.
_INT64 = (-(2**63), 2**63 - 1)

# Plan entries: where a column's value comes from.
_VALUE, _CONSTANT, _DEFAULT, _NOW = range(4)


def _overrides(field: models.Field, name: str, *bases: type) -> bool:
    """Whether ``field``'s class defines ``name`` differently from every class in ``bases``."""
    found = getattr(type(field), name)
    return all(found is not getattr(base, name) for base in bases)


def _plain(field: models.Field) -> bool:
    """True when the field adapts a value only through ``get_prep_value`` (no backend step)."""
    return not _overrides(field, "get_db_prep_save", models.Field) and not _overrides(
        field, "get_db_prep_value", models.Field
    )


_NONE = type(None)


def column_adapter(field: models.Field, connection: BaseDatabaseWrapper) -> Adapter:
    """The function turning a Python value of ``field`` into what the database driver takes.

    Errors come out as ``ValueError`` naming the field, so the record fails alone.
    """
    return _column_plan(field, connection)[0]


def _column_plan(
    field: models.Field, connection: BaseDatabaseWrapper
) -> tuple[Adapter, frozenset[type]]:
    """:func:`column_adapter`, and the value types it returns unchanged (exact types)."""
    name = field.name

    def slow(value: Any) -> Any:
        try:
            return field.get_db_prep_save(value, connection)
        except (ValidationError, TypeError, ValueError, ArithmeticError) as exc:
            text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            raise ValueError(f"{name}: {text}") from None

    if isinstance(field, (models.CharField, models.TextField)) and _plain(field):
        if not _overrides(field, "get_prep_value", models.CharField, models.TextField):
            return (lambda v: v if v is None or type(v) is str else slow(v)), frozenset(
                {str, _NONE}
            )
    if isinstance(field, models.BooleanField) and _plain(field):
        if not _overrides(field, "get_prep_value", models.BooleanField):
            return (lambda v: v if v is None or type(v) is bool else slow(v)), frozenset(
                {bool, _NONE}
            )
    if isinstance(field, models.FloatField) and _plain(field):
        if not _overrides(field, "get_prep_value", models.FloatField):
            # FloatField.get_prep_value is float(value): a float comes out as itself.
            return (lambda v: v if v is None or type(v) is float else slow(v)), frozenset(
                {float, _NONE}
            )
    if (
        isinstance(field, models.DateField)
        and not isinstance(field, models.DateTimeField)
        and not _overrides(field, "get_db_prep_save", models.Field)
        and not _overrides(field, "get_db_prep_value", models.DateField)
        and not _overrides(field, "get_prep_value", models.DateField)
    ):
        # DateField.to_python returns a date as is; then the backend's adapt_datefield_value.
        adapt_date = connection.ops.adapt_datefield_value
        return (lambda v: adapt_date(v) if type(v) is date else slow(v)), frozenset()
    if isinstance(field, models.IntegerField):
        try:
            low, high = connection.ops.integer_field_range(field.get_internal_type())
        except KeyError:
            low, high = _INT64
        low = _INT64[0] if low is None else low
        high = _INT64[1] if high is None else high

        def integer(value: Any) -> Any:
            prepared = value if type(value) is int else slow(value)
            if type(prepared) is int and not low <= prepared <= high:
                raise ValueError(f"{name}: {prepared} is out of range for this column")
            return prepared

        return integer, frozenset()
    if isinstance(field, models.DateTimeField):
        return _datetime_adapter(field, connection, slow), frozenset()
    return slow, frozenset()


def _datetime_adapter(
    field: models.Field, connection: BaseDatabaseWrapper, slow: Adapter
) -> Adapter:
    """An aware datetime as the backend takes it, the way Django's ``adapt_datetimefield_value``
    does it (naive in the connection's zone, as text, on SQLite and MySQL; as is on PostgreSQL),
    without its per-value settings lookups; anything else through ``slow``.
    """
    name = field.name
    plain = not _overrides(
        field, "get_prep_value", models.DateTimeField, models.DateField
    ) and not _overrides(field, "get_db_prep_value", models.DateTimeField, models.DateField)
    direct = plain and settings.USE_TZ and connection.vendor in ("sqlite", "mysql")
    zone = connection.timezone if direct else None
    # The last value and its result: a row's synced_at is the same object all page long.
    last: tuple[Any, Any] = (None, None)

    def moment(value: Any) -> Any:
        nonlocal last
        memo = last  # read once: another thread may be replacing it
        if value is not None and value is memo[0]:
            return memo[1]
        if type(value) is datetime and value.tzinfo is not None:
            if zone is not None:
                try:
                    out = str(value.astimezone(zone).replace(tzinfo=None))
                except OverflowError:
                    raise ValueError(f"{name} {value.isoformat()} is out of range") from None
                last = (value, out)
                return out
            check_storable(value, name)
        return slow(value)

    return moment


class Upsert:
    """The prepared upsert of one model on one connection (see the module docstring)."""

    def __init__(
        self,
        model: type[models.Model],
        connection: BaseDatabaseWrapper,
        *,
        fixed: Mapping[str, Any],
        value_fields: Sequence[str],
        update_fields: Sequence[str],
        unique_fields: Sequence[str],
        trusted: Mapping[str, frozenset[type]] | None = None,
    ) -> None:
        """``trusted``: value field -> every type its values can have (from the mapping); a
        column whose adapter returns all of those types unchanged is not adapted row by row.
        """
        meta = model._meta
        self.connection = connection
        self.value_fields = list(value_fields)
        by_name = {f.name: f for f in meta.concrete_fields}
        # The record's own columns first, in ``value_fields`` order: adapt_list() zips them.
        self.fields: list[models.Field] = [by_name[name] for name in self.value_fields]
        trusted = trusted or {}
        # (position, adapter) of the record's columns that need adapting, row by row.
        self._checked: list[tuple[int, Adapter]] = []
        for index, field in enumerate(self.fields):
            adapter, passes = _column_plan(field, connection)
            if field.name not in trusted or not trusted[field.name] <= passes:
                self._checked.append((index, adapter))
        self._width = len(self.fields)
        self._rest: list[tuple[int, Any, Adapter]] = []
        for field in meta.concrete_fields:
            if field.name in by_name and by_name[field.name] in self.fields:
                continue
            if getattr(field, "generated", False):
                continue
            if field.primary_key and getattr(field, "db_returning", False):
                continue  # an auto-increment key: the database numbers new rows
            adapt = column_adapter(field, connection)
            if field.name in fixed:
                entry = (_CONSTANT, adapt(fixed[field.name]), adapt)
            elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                entry = (_NOW, None, adapt)
            elif field.has_default() and callable(field.default):
                if field.default in _CONSTANT_FACTORIES:
                    entry = (_CONSTANT, adapt(field.get_default()), adapt)
                else:
                    entry = (_DEFAULT, field, adapt)
            elif not field.has_default() and getattr(field, "has_db_default", lambda: False)():
                continue  # the database's own default fills it, as with the ORM
            else:
                entry = (_CONSTANT, adapt(field.get_default()), adapt)
            self.fields.append(field)
            self._rest.append(entry)
        # Columns whose value is the same on every row: appended as one ready tuple.
        self._constant = tuple(source for kind, source, _ in self._rest if kind == _CONSTANT)
        self._varying = [entry for entry in self._rest if entry[0] != _CONSTANT]
        if self._varying:
            # Keep the SQL's column order equal to the parameters' order.
            constant_fields = [
                f
                for f, e in zip(self.fields[len(self.value_fields) :], self._rest, strict=True)
                if e[0] == _CONSTANT
            ]
            varying_fields = [
                f
                for f, e in zip(self.fields[len(self.value_fields) :], self._rest, strict=True)
                if e[0] != _CONSTANT
            ]
            self.fields = [
                *self.fields[: len(self.value_fields)],
                *constant_fields,
                *varying_fields,
            ]
        quote = connection.ops.quote_name
        update = [by_name[name].column for name in update_fields]
        unique = [meta.get_field(name).column for name in unique_fields]  # type: ignore[union-attr]
        if not connection.features.supports_update_conflicts_with_target:
            unique = []
        suffix = connection.ops.on_conflict_suffix_sql(
            self.fields, OnConflict.UPDATE, update, unique
        )
        self.sql = (
            f"INSERT INTO {quote(meta.db_table)} "
            f"({', '.join(quote(str(f.column)) for f in self.fields)}) "
            f"VALUES ({', '.join(['%s'] * len(self.fields))}) {suffix}"
        )

    def adapt_list(self, values: Sequence[Any], now: datetime) -> tuple[Any, ...]:
        """The statement's parameters for one row, from the values of ``value_fields`` in order.

        ``ValueError`` names a value the column cannot take.
        """
        if len(values) != self._width:
            raise ValueError(f"expected {self._width} values, got {len(values)}")
        out = list(values)
        for index, adapt in self._checked:
            out[index] = adapt(out[index])
        out.extend(self._constant)
        for kind, source, adapt in self._varying:
            out.append(adapt(source.get_default()) if kind == _DEFAULT else adapt(to_db(now)))
        return tuple(out)

    def adapt(self, values: Mapping[str, Any], now: datetime) -> tuple[Any, ...]:
        """:meth:`adapt_list` from a mapping holding every one of ``value_fields``."""
        return self.adapt_list([values[name] for name in self.value_fields], now)

    def execute(self, rows: list[tuple[Any, ...]]) -> None:
        """Write ``rows`` (from :meth:`adapt`) with one ``executemany``."""
        with self.connection.cursor() as cursor:
            cursor.executemany(self.sql, rows)
