"""API writes of records and notes: validating one item, batch updates, batch deletes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .core import SOURCE_API
from .request import CRMRequests
from .schema import FieldProblem, is_empty
from .store import ModuleStore, copy_record
from .util import CRMContext as _Ctx
from .util import CRMFault, iso, json_path
from .util import error_item as _error_item


class RecordWriter(CRMRequests):
    """Write helpers shared by the records, notes and related-list handlers."""

    def _write_details(self, ctx: _Ctx, record: dict[str, Any]) -> dict[str, Any]:
        details = {
            "Modified_Time": record["Modified_Time"],
            "Modified_By": self._short_user(record["Modified_By"]),
            "Created_Time": record["Created_Time"],
            "id": record["id"],
            "Created_By": self._short_user(record["Created_By"]),
        }
        if ctx.vnum >= (6, 0):
            details["$approval_state"] = "approved"
        return details

    def _write_one(
        self,
        ctx: _Ctx,
        store: ModuleStore,
        raw: Any,
        index: int,
        *,
        existing_id: str | None,
        extra: dict[str, Any] | None = None,
        skip_mandatory: Iterable[str] = (),
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Validate and apply one written record; return ``(result element, stored record or None)``."""
        spec = store.spec

        def path(name: str) -> dict[str, Any]:
            return {"json_path": json_path(index, name)} if ctx.modern else {}

        if not isinstance(raw, dict):
            return _error_item(
                "INVALID_DATA",
                "invalid data",
                {"expected_data_type": "jsonobject", "api_name": "data", **path("")},
            ), None
        existing = store.rows.get(existing_id) if existing_id is not None else None
        skip = set(skip_mandatory)
        for mandatory in spec.mandatory:
            name = mandatory.api_name
            if name in skip:
                continue
            missing = (
                (name in raw and is_empty(raw[name]))
                if existing is not None
                else is_empty(raw.get(name))
            )
            if missing:
                return _error_item(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    {"api_name": name, **path(name)},
                ), None
        values: dict[str, Any] = {}
        for name, value in raw.items():
            if name == "id" or name.startswith("$"):
                continue
            field_spec = spec.get_field(name)
            if field_spec is None or field_spec.read_only:
                continue
            try:
                values[name] = self._coerce(field_spec, value)
            except FieldProblem as problem:
                return _error_item(
                    problem.code, problem.message, {**problem.details, **path(name)}
                ), None
        for unique in spec.unique_fields:
            if unique.api_name not in values:
                continue
            other = store.find_unique(unique.api_name, values[unique.api_name])
            if other is not None and other != existing_id:
                if ctx.vnum >= (6, 0):
                    details: dict[str, Any] = {
                        "api_name": unique.api_name,
                        **path(unique.api_name),
                        "duplicate_record": {
                            "id": other,
                            "module": {"api_name": spec.api_name, "id": spec.id},
                            "Owner": self._short_user(store.rows[other]["Owner"]),
                        },
                    }
                else:
                    details = {"api_name": unique.api_name, "id": other, **path(unique.api_name)}
                return _error_item("DUPLICATE_DATA", "duplicate data", details), None
        now = self.now()
        if existing is None:
            owner = values.pop("Owner", None) or ctx.user
            record = self._new_record(spec, owner, now, now, {}, extra or {})
            record["Created_By"] = dict(ctx.user)
            record["Modified_By"] = dict(ctx.user)
            record.update(values)
            self._finish_record(spec, record)
            self._insert(store, record, ctime=now, mtime=now, source=SOURCE_API)
            message = "record added"
        else:
            record = copy_record(existing)
            record.update(values)
            record["Modified_Time"] = iso(now, self.tz)
            record["Modified_By"] = dict(ctx.user)
            self._finish_record(spec, record)
            self._replace(store, record, mtime=now, source=SOURCE_API)
            message = "record updated"
        return {
            "code": "SUCCESS",
            "details": self._write_details(ctx, record),
            "message": message,
            "status": "success",
        }, record

    def _update_items(
        self, ctx: _Ctx, store: ModuleStore, items: list[Any], forced_id: str | None = None
    ) -> list[dict[str, Any]]:
        results = []
        for n, raw in enumerate(items):
            record_id = forced_id
            if record_id is None:
                raw_id = raw.get("id") if isinstance(raw, dict) else None
                if raw_id is None or raw_id == "":
                    details = {
                        "api_name": "id",
                        **({"json_path": json_path(n, "id")} if ctx.modern else {}),
                    }
                    results.append(
                        _error_item("MANDATORY_NOT_FOUND", "required field not found", details)
                    )
                    continue
                record_id = str(raw_id)
            if record_id not in store.rows:
                results.append(
                    _error_item(
                        "INVALID_DATA", "the id given seems to be invalid", {"id": record_id}
                    )
                )
                continue
            results.append(self._write_one(ctx, store, raw, n, existing_id=record_id)[0])
        return results

    def _delete_ids(self, ctx: _Ctx, store: ModuleStore, ids: list[str]) -> list[dict[str, Any]]:
        results = []
        for record_id in ids:
            if record_id in store.rows:
                self._delete_record(store, record_id, ctx.user, permanent=False, source=SOURCE_API)
                results.append(
                    {
                        "code": "SUCCESS",
                        "details": {"id": record_id},
                        "message": "record deleted",
                        "status": "success",
                    }
                )
            else:
                results.append(_error_item("INVALID_DATA", "record not deleted", {"id": record_id}))
        return results

    def _parent(self, ctx: _Ctx) -> tuple[ModuleStore, dict[str, Any]]:
        store = self._store(ctx)
        record = store.rows.get(ctx.request.path_params["id"])
        if record is None:
            raise CRMFault(
                400,
                "INVALID_DATA",
                "the id given seems to be invalid",
                {"id": ctx.request.path_params["id"]},
            )
        return store, record
