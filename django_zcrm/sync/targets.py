"""Where synced records land: the generic ``CRMRecord`` mirror or a project's typed model.

A target knows its table's columns and writes pages in bulk: one locking read of the rows a page
touches, one prepared upsert (``INSERT ... ON CONFLICT DO UPDATE`` / ``ON DUPLICATE KEY UPDATE``)
run with ``executemany`` over rows built straight from the mapping (see ``upsert.py``), and small
UPDATEs for deletions. It never talks to Zoho.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db import DatabaseError, connections, models, router, transaction

from ..conf import get_settings
from ..exceptions import ZCRMConfigurationError
from .mapping import ModelMapping, get_mapping
from .models import CRMRecord, ZohoSyncedModel
from .timeutil import aware, check_modified, to_db
from .upsert import Upsert

GENERIC_LABEL = "django_zcrm.crmrecord"


@dataclass(slots=True)
class Existing:
    """What the local table holds for one Zoho id."""

    modified: datetime | None
    deleted: bool
    synced_at: datetime | None
    dirty: bool = False


def _without_nul(value: Any) -> Any:
    """``value`` with every NUL character removed from its strings, keys included."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, Mapping):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


@dataclass(slots=True)
class Row:
    """One record ready for the database: its Zoho id and its column values, already adapted.

    What :meth:`Target.build` returns and :meth:`Target.write` takes; no model instance is made.
    """

    zoho_id: str
    values: tuple[Any, ...]


class Target:
    """Common behaviour; subclasses name the columns and build rows."""

    model: type[models.Model]
    key = "zoho_id"
    mtime_field = "zoho_modified_time"
    deleted_field = "zoho_deleted"
    synced_field = "synced_at"
    dirty_field: str | None = None

    def __init__(self, module: str, using: str | None = None) -> None:
        self.module = module
        self.using = using or router.db_for_write(self.model)
        self._upsert: Upsert | None = None
        self._strip_nul: bool | None = None
        # to_db(now) of the page being built: one object, so its column is adapted once.
        self._now: tuple[datetime | None, datetime | None] = (None, None)

    @property
    def label(self) -> str:
        """``app_label.model_name`` of the local model."""
        return self.model._meta.label_lower

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.module} -> {self.label}>"

    def ready(self) -> None:
        """Make, in this thread, what :meth:`build` needs, so it can then run in another one."""
        self.upsert()
        self._strip_nul = connections[self.using].vendor == "postgresql"

    def storable(self, record: Mapping[str, Any]) -> Mapping[str, Any]:
        """``record`` as this database can hold it.

        PostgreSQL refuses NUL characters in text and ``jsonb`` values, so a record holding one
        would fail on every run and stay on the retry list; there they are dropped. Other
        databases keep the record as Zoho sent it.
        """
        if self._strip_nul is None:
            self._strip_nul = connections[self.using].vendor == "postgresql"
        return _without_nul(record) if self._strip_nul else record

    # -- what to ask Zoho for ---------------------------------------------------------------------

    def zoho_fields(self) -> list[str] | None:
        """Field API names to request (None: all of them)."""
        return None

    # -- reading ------------------------------------------------------------------------------------

    def rows(self) -> models.QuerySet:
        """This module's rows."""
        return self.model._base_manager.using(self.using)

    def existing(self, ids: Iterable[str], *, lock: bool) -> dict[str, Existing]:
        """Local state of these ids (rows locked for the rest of the transaction when ``lock``)."""
        ids = list(ids)
        if not ids:
            return {}
        columns = [self.key, self.mtime_field, self.deleted_field, self.synced_field]
        if self.dirty_field:
            columns.append(self.dirty_field)
        query = self.rows().filter(**{f"{self.key}__in": ids})
        if lock:
            query = query.select_for_update()
        found = {}
        for row in query.values_list(*columns):
            found[row[0]] = Existing(
                aware(row[1]),
                bool(row[2]),
                aware(row[3]),
                bool(row[4]) if self.dirty_field else False,
            )
        return found

    # -- writing ------------------------------------------------------------------------------------

    def values(
        self, record: Mapping[str, Any], modified: datetime | None, now: datetime
    ) -> dict[str, Any]:
        """Python values of the key and ``update_fields()`` for ``record`` (``MappingError``)."""
        raise NotImplementedError

    def value_fields(self) -> list[str]:
        """The columns a record fills: the key, then ``update_fields()``."""
        return [self.key, *self.update_fields()]

    def value_list(
        self, record: Mapping[str, Any], modified: datetime | None, now: datetime
    ) -> list[Any]:
        """:meth:`values` as a list in ``value_fields()`` order."""
        values = self.values(record, modified, now)
        return [values[name] for name in self.value_fields()]

    def fixed_values(self) -> dict[str, Any]:
        """Columns with the same value on every row of this target (e.g. the module name)."""
        return {}

    def trusted_types(self) -> dict[str, frozenset[type]]:
        """Value field -> every type :meth:`value_list` can give it, where that is known."""
        return {self.key: frozenset({str})}

    def db_now(self, now: datetime) -> datetime | None:
        """``to_db(now)``, the same object for every row built with the same ``now``."""
        cached = self._now  # read once: rows may be built in another thread (sync/ahead.py)
        if cached[0] is not now:
            cached = (now, to_db(now))
            self._now = cached
        return cached[1]

    def update_fields(self) -> list[str]:
        """Columns an upsert overwrites on an existing row."""
        raise NotImplementedError

    def unique_fields(self) -> list[str]:
        """The unique key an upsert conflicts on."""
        raise NotImplementedError

    def upsert(self) -> Upsert:
        """The prepared statement of this target on its database (made once per target)."""
        if self._upsert is None:
            self._upsert = Upsert(
                self.model,
                connections[self.using],
                fixed=self.fixed_values(),
                value_fields=self.value_fields(),
                update_fields=self.update_fields(),
                unique_fields=self.unique_fields(),
                trusted=self.trusted_types(),
            )
        return self._upsert

    def build(self, record: Mapping[str, Any], modified: datetime | None, now: datetime) -> Row:
        """The row to write for ``record``; ``MappingError``/``ValueError`` for one it cannot hold.

        Every value is converted and adapted here, so a record the database could not take
        (a datetime out of range, an integer past 64 bits) fails alone, before the page's write.
        """
        check_modified(modified, now)
        values = self.value_list(self.storable(record), modified, now)
        return Row(str(record["id"]), self.upsert().adapt_list(values, now))

    def build_instance(
        self, record: Mapping[str, Any], modified: datetime | None, now: datetime
    ) -> models.Model:
        """An unsaved model instance for ``record`` (the ORM's way, for comparison and tools)."""
        check_modified(modified, now)
        values = {**self.fixed_values(), **self.values(self.storable(record), modified, now)}
        return self.model(**values)

    def write_instances(self, objs: list[models.Model]) -> None:
        """Upsert model instances through the ORM's ``bulk_create`` (the slow, reference path)."""
        features = connections[self.using].features
        kwargs: dict[str, Any] = {"update_conflicts": True, "update_fields": self.update_fields()}
        # MySQL/MariaDB's ON DUPLICATE KEY UPDATE takes no conflict target, and Django refuses one.
        if features.supports_update_conflicts_with_target:
            kwargs["unique_fields"] = self.unique_fields()
        with transaction.atomic(using=self.using):
            self.model._base_manager.using(self.using).bulk_create(objs, **kwargs)

    def write(self, rows: list[Row]) -> dict[str, str]:
        """Upsert ``rows``; return ``{zoho_id: error}`` for rows the database refused.

        One prepared statement for the page (``executemany``); if the database refuses it (a
        value too long for a column, say), each row is retried alone in its own savepoint so
        one bad record does not block the other 199.
        """
        if not rows:
            return {}
        upsert = self.upsert()
        try:
            with transaction.atomic(using=self.using):
                upsert.execute([row.values for row in rows])
            return {}
        except (DatabaseError, ValueError, TypeError, ArithmeticError):
            pass
        failures: dict[str, str] = {}
        for row in rows:
            try:
                with transaction.atomic(using=self.using):
                    upsert.execute([row.values])
            except (DatabaseError, ValueError, TypeError, ArithmeticError) as exc:
                failures[row.zoho_id] = f"database refused the row: {exc}"
        return failures

    def touch(self, ids: list[str], now: datetime) -> None:
        """Record that these rows were read in this run (without changing their data)."""
        if ids:
            self.rows().filter(**{f"{self.key}__in": ids}).update(**{self.synced_field: to_db(now)})

    def deleted_values(self, when: datetime | None) -> dict[str, Any]:
        """Column values flagging a row as deleted in Zoho (at ``when``, where the model keeps it)."""
        return {self.deleted_field: True}

    def mark_deleted(self, deletions: Mapping[str, datetime | None]) -> int:
        """Flag rows as deleted in Zoho (``{zoho_id: deleted_time}``); return how many changed."""
        if not deletions:
            return 0
        return (
            self.rows()
            .filter(**{f"{self.key}__in": list(deletions), self.deleted_field: False})
            .update(**self.deleted_values(None))
        )

    def delete_rows(self, ids: list[str]) -> int:
        """Remove rows; return how many were deleted."""
        if not ids:
            return 0
        count = 0
        for start in range(0, len(ids), 500):
            # A real delete(): the project's own relations to these rows cascade as declared.
            _, per_model = (
                self.rows().filter(**{f"{self.key}__in": ids[start : start + 500]}).delete()
            )
            count += per_model.get(self.model._meta.label, 0)
        return count

    def unseen(self, run_started_at: datetime) -> models.QuerySet:
        """Live rows with a Zoho id that the current run has not read (full-run reconciliation)."""
        started = to_db(run_started_at)
        return (
            self.rows()
            .filter(**{f"{self.key}__isnull": False, self.deleted_field: False})
            .exclude(**{f"{self.synced_field}__gte": started})
        )

    def reconcile(self, run_started_at: datetime, now: datetime, *, delete: bool) -> int:
        """After a full run: flag (``delete``: remove) live rows it did not read; return how many."""
        unseen = self.unseen(run_started_at)
        if not delete:
            return unseen.update(**self.deleted_values(now))
        # Rows with unpushed local changes are flagged, never dropped; the rest go.
        flagged = (
            unseen.filter(**{self.dirty_field: True}).update(**{self.deleted_field: True})
            if self.dirty_field
            else 0
        )
        ids = list(unseen.values_list(self.key, flat=True))
        return flagged + self.delete_rows(ids)


class GenericTarget(Target):
    """``CRMRecord``: the whole record as JSON, for any module."""

    model = CRMRecord
    mtime_field = "modified_time"
    deleted_field = "deleted"

    def rows(self) -> models.QuerySet:
        return super().rows().filter(module=self.module)

    def fixed_values(self) -> dict[str, Any]:
        return {"module": self.module}

    def values(
        self, record: Mapping[str, Any], modified: datetime | None, now: datetime
    ) -> dict[str, Any]:
        return {
            "zoho_id": str(record["id"]),
            "data": dict(record),
            "modified_time": to_db(modified),
            "deleted": False,
            "deleted_at": None,
            "synced_at": self.db_now(now),
        }

    def update_fields(self) -> list[str]:
        return ["data", "modified_time", "deleted", "deleted_at", "synced_at"]

    def unique_fields(self) -> list[str]:
        return ["module", "zoho_id"]

    def deleted_values(self, when: datetime | None) -> dict[str, Any]:
        return {"deleted": True, "deleted_at": to_db(when)}

    def mark_deleted(self, deletions: Mapping[str, datetime | None]) -> int:
        by_time: dict[datetime | None, list[str]] = defaultdict(list)
        for zoho_id, when in deletions.items():
            by_time[when].append(zoho_id)
        changed = 0
        for when, ids in by_time.items():
            changed += (
                self.rows()
                .filter(zoho_id__in=ids, deleted=False)
                .update(**self.deleted_values(when))
            )
        return changed


class TypedTarget(Target):
    """A project's model deriving from ``ZohoSyncedModel`` with a ``ZohoMeta`` mapping."""

    dirty_field = "zoho_dirty"

    def __init__(self, module: str, model: type[models.Model], using: str | None = None) -> None:
        self.model = model
        self.mapping: ModelMapping = get_mapping(model)  # type: ignore[assignment]
        super().__init__(module, using)

    def zoho_fields(self) -> list[str] | None:
        return self.mapping.zoho_fields

    def values(
        self, record: Mapping[str, Any], modified: datetime | None, now: datetime
    ) -> dict[str, Any]:
        values = dict(zip(self.mapping.model_fields, self.mapping.row_values(record), strict=True))
        values.update(
            zoho_id=str(record["id"]),
            zoho_modified_time=to_db(modified),
            zoho_deleted=False,
            synced_at=self.db_now(now),
        )
        return values

    def update_fields(self) -> list[str]:
        return [*self.mapping.model_fields, "zoho_modified_time", "zoho_deleted", "synced_at"]

    def value_list(
        self, record: Mapping[str, Any], modified: datetime | None, now: datetime
    ) -> list[Any]:
        # value_fields() order, without the dict values() builds.
        return [
            str(record["id"]),
            *self.mapping.row_values(record),
            to_db(modified),
            False,
            self.db_now(now),
        ]

    def unique_fields(self) -> list[str]:
        return ["zoho_id"]

    def trusted_types(self) -> dict[str, frozenset[type]]:
        return {
            **super().trusted_types(),
            **self.mapping.output_types(),
            "zoho_deleted": frozenset({bool}),
        }

    def unseen(self, run_started_at: datetime) -> models.QuerySet:
        # A row pushed (and so given its Zoho id) during this run was never listed: keep it.
        return super().unseen(run_started_at).exclude(zoho_pushed_at__gte=to_db(run_started_at))


def installed_model(model: type[models.Model] | str, source: str) -> type[models.Model]:
    """``model`` itself, or the installed model its ``"app_label.Model"`` label names.

    ``source`` names where ``model`` came from, for the error message.
    """
    if not isinstance(model, str):
        return model
    try:
        return apps.get_model(model)
    except (LookupError, ValueError):
        raise ZCRMConfigurationError(
            f'{source} is {model!r}, which is not an installed model: use "app_label.Model" '
            "and add the app to INSTALLED_APPS."
        ) from None


def require_typed(model: Any, source: str) -> type[ZohoSyncedModel]:
    """``model``, if it derives from ``ZohoSyncedModel``; else ``ZCRMConfigurationError``."""
    if not (isinstance(model, type) and issubclass(model, ZohoSyncedModel)):
        raise ZCRMConfigurationError(
            f"{source} names {getattr(model, '__name__', model)!r}, which does not derive from "
            "django_zcrm.sync.ZohoSyncedModel (zcrm_inspect writes such models)."
        )
    return model


def resolve_target(
    module: str,
    model: type[models.Model] | str | None = None,
    using: str | None = None,
    *,
    source: str = "the model argument",
) -> Target:
    """The target for ``module``: ``model``, else ``ZCRM["SYNC_MODELS"][module]``, else CRMRecord.

    ``source`` names where ``model`` came from, for error messages.
    """
    if not module or "/" in module:
        raise ZCRMConfigurationError(f"Not a Zoho module API name: {module!r}.")
    if model is None:
        configured = get_settings().SYNC_MODELS or {}
        if not isinstance(configured, Mapping):
            raise ZCRMConfigurationError(
                'ZCRM[\'SYNC_MODELS\'] must be a dict such as {"Leads": "crm.Lead"}.'
            )
        model = configured.get(module)
        source = f"ZCRM['SYNC_MODELS'][{module!r}]"
    if model is None:
        return GenericTarget(module, using)
    model = installed_model(model, source)
    if model is CRMRecord:
        return GenericTarget(module, using)
    typed = require_typed(model, source)
    declared = get_mapping(typed).module  # type: ignore[union-attr]
    if declared and declared != module:
        raise ZCRMConfigurationError(
            f"{typed._meta.label}.ZohoMeta.module is {declared!r} but it is being synced from "
            f"{module!r}; fix {source} or ZohoMeta.module."
        )
    return TypedTarget(module, typed, using)
