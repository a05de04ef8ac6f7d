"""Record routes: list, get, insert, update, upsert, delete and the deleted-records list."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from .._server.messages import FakeResponse, empty_response, json_response
from .routes import Route
from .schema import FieldProblem, is_empty
from .util import CRMContext as _Ctx
from .util import CRMFault, invalid_param
from .util import error_item as _error_item
from .writes import RecordWriter


def _bool_param(value: str | None, name: str, default: str) -> str:
    value = (value or default).lower()
    if value not in ("true", "false", "both"):
        raise invalid_param(name)
    return value


class RecordRoutes(RecordWriter):
    """Handlers of ``/crm/{version}/{module}[/{id}]``, ``/upsert`` and ``/deleted``."""

    # The generic {module}[/{id}] routes match almost any path: this family is registered last.
    ROUTES: ClassVar[tuple[Route, ...]] = (
        Route("GET /crm/{version}/{module}/deleted", "_h_deleted"),
        Route("POST /crm/{version}/{module}/upsert", "_h_upsert"),
        Route("GET /crm/{version}/{module}/{id}", "_h_get_record"),
        Route("PUT /crm/{version}/{module}/{id}", "_h_update_one"),
        Route("DELETE /crm/{version}/{module}/{id}", "_h_delete_one"),
        Route("GET /crm/{version}/{module}", "_h_list"),
        Route("POST /crm/{version}/{module}", "_h_insert"),
        Route("PUT /crm/{version}/{module}", "_h_update"),
        Route("DELETE /crm/{version}/{module}", "_h_delete"),
    )

    def _h_list(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        spec = store.spec
        self._require_module(ctx, spec.api_name, "READ")
        wanted = self._fields_param(ctx, spec, enforce=self._fields_enforced(ctx))
        sort_by, descending = self._sort_params(ctx, spec)
        since = self._if_modified_since(ctx)
        converted = _bool_param(ctx.param("converted"), "converted", "false")
        approved = _bool_param(ctx.param("approved"), "approved", "true")
        raw_ids = ctx.param("ids")
        ids = tuple(p.strip() for p in raw_ids.split(",") if p.strip()) if raw_ids else ()
        binding = (
            ctx.user_email,
            "list",
            spec.api_name,
            sort_by,
            descending,
            since,
            ids,
            ctx.param("cvid"),
            converted,
            approved,
        )
        with self._lock:
            ordered = store.ordered(sort_by, descending, modified_after=since)
            if ids:
                wanted_ids = set(ids)
                ordered = [i for i in ordered if i in wanted_ids]
            if converted == "true" or approved == "false":
                ordered = []  # the fake holds no converted or unapproved records
        return self._list_response(
            ctx,
            spec,
            ordered,
            store.rows,
            wanted=wanted,
            binding=binding,
            cap=self.options.page_token_cap,
            sort_by=sort_by,
            descending=descending,
            not_modified=since is not None and not ordered,
            token_keys=True,
        )

    def _h_get_record(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        self._require_module(ctx, store.spec.api_name, "READ")
        wanted = self._fields_param(ctx, store.spec, enforce=False)
        with self._lock:
            record = store.rows.get(ctx.request.path_params["id"])
            if record is None:
                return empty_response(204)
            return json_response(200, {"data": [self._render(ctx, store.spec, record, wanted)]})

    def _h_insert(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        self._require_module(ctx, store.spec.api_name, "CREATE")
        items = self._data_items(ctx, self._body(ctx))
        with self._lock:
            results = [
                self._write_one(ctx, store, raw, n, existing_id=None)[0]
                for n, raw in enumerate(items)
            ]
        return json_response(self._batch_status(results, 201), {"data": results})

    def _h_update(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        self._require_module(ctx, store.spec.api_name, "UPDATE")
        items = self._data_items(ctx, self._body(ctx))
        with self._lock:
            results = self._update_items(ctx, store, items)
        return json_response(self._batch_status(results, 200), {"data": results})

    def _h_update_one(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        self._require_module(ctx, store.spec.api_name, "UPDATE")
        items = self._data_items(ctx, self._body(ctx))
        with self._lock:
            # Only the first element is applied: the id in the URL names one record.
            results = self._update_items(
                ctx, store, items[:1], forced_id=ctx.request.path_params["id"]
            )
        return json_response(self._batch_status(results, 200), {"data": results})

    def _h_upsert(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        spec = store.spec
        self._require_module(ctx, spec.api_name, "CREATE")
        self._require_module(ctx, spec.api_name, "UPDATE")
        body = self._body(ctx)
        items = self._data_items(ctx, body)
        check = body.get("duplicate_check_fields")
        if isinstance(check, str):
            check = [c.strip() for c in check.split(",") if c.strip()]
        if check is None:
            check = list(spec.duplicate_check_fields) + [
                f.api_name
                for f in spec.unique_fields
                if f.api_name not in spec.duplicate_check_fields
            ]
        if not isinstance(check, list) or not all(isinstance(c, str) for c in check):
            raise CRMFault(
                400,
                "INVALID_DATA",
                "invalid data",
                {"expected_data_type": "jsonarray", "api_name": "duplicate_check_fields"},
            )
        for name in check:
            if spec.get_field(name) is None:
                raise CRMFault(
                    400,
                    "INVALID_DATA",
                    "invalid data",
                    {"api_name": name, "param_name": "duplicate_check_fields"},
                )
        results = []
        with self._lock:
            indexes: dict[str, dict[str, str]] = {}

            def find(name: str, value: Any) -> str | None:
                field_spec = spec.field_map[name]
                try:
                    stored = self._coerce(field_spec, value)
                except FieldProblem:
                    return None
                if field_spec.unique:
                    return store.find_unique(name, stored)
                if name not in indexes:
                    index: dict[str, str] = {}
                    for rid in store.ordered("id", False):
                        key = _match_key(store.rows[rid].get(name))
                        if key is not None:
                            index.setdefault(key, rid)
                    indexes[name] = index
                key = _match_key(stored)
                return indexes[name].get(key) if key is not None else None

            for n, raw in enumerate(items):
                target = None
                matched_field = None
                if isinstance(raw, dict):
                    raw_id = raw.get("id")
                    if raw_id not in (None, ""):
                        if str(raw_id) not in store.rows:
                            results.append(
                                _error_item(
                                    "INVALID_DATA",
                                    "the id given seems to be invalid",
                                    {"id": str(raw_id)},
                                )
                            )
                            continue
                        target = str(raw_id)
                    else:
                        for name in check:
                            if not is_empty(raw.get(name)):
                                target = find(name, raw[name])
                                if target is not None:
                                    matched_field = name
                                    break
                element, record = self._write_one(ctx, store, raw, n, existing_id=target)
                if record is not None:
                    element = {
                        "code": element["code"],
                        "duplicate_field": matched_field,
                        "action": "update" if target is not None else "insert",
                        "details": element["details"],
                        "message": element["message"],
                        "status": element["status"],
                    }
                    if target is None:
                        for name, index in indexes.items():
                            key = _match_key(record.get(name))
                            if key is not None:
                                index.setdefault(key, record["id"])
                results.append(element)
        return json_response(self._batch_status(results, 200), {"data": results})

    def _h_delete(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        self._require_module(ctx, store.spec.api_name, "DELETE")
        ids = self._ids_param(ctx)
        with self._lock:
            results = self._delete_ids(ctx, store, ids)
        return json_response(self._batch_status(results, 200), {"data": results})

    def _h_delete_one(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        self._require_module(ctx, store.spec.api_name, "DELETE")
        with self._lock:
            results = self._delete_ids(ctx, store, [ctx.request.path_params["id"]])
        return json_response(self._batch_status(results, 200), {"data": results})

    def _h_deleted(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        self._require_module(ctx, store.spec.api_name, "READ")
        kind = (ctx.param("type") or "all").lower()
        if kind not in ("all", "recycle", "permanent"):
            raise CRMFault(
                400,
                "PATTERN_NOT_MATCHED",
                "Please check whether the input values are correct",
                {"param_name": "type"},
            )
        since = self._if_modified_since(ctx)
        with self._lock:
            entries = [
                e
                for e in reversed(store.deleted)
                if (kind == "all" or e["type"] == kind) and (since is None or e["_epoch"] > since)
            ]
            rows = {e["id"] + ":" + str(n): e for n, e in enumerate(entries)}
            keys = list(rows)
            per_page, page, offset = self._page_window(ctx, None, cap=None)
            window = [rows[k] for k in keys[offset : offset + per_page]]
            data = [{k: v for k, v in e.items() if not k.startswith("_")} for e in window]
        if not data:
            return empty_response(304 if since is not None and not entries else 204)
        more = len(keys) > offset + len(window)
        return json_response(
            200,
            {
                "data": data,
                "info": self._info(ctx, per_page=per_page, count=len(data), page=page, more=more),
            },
        )


def _match_key(value: Any) -> str | None:
    """Case-insensitive key used to find upsert duplicates on non-unique fields."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, dict):
        value = value.get("id")
    elif isinstance(value, list):
        value = ";".join(str(v) for v in value)
    elif isinstance(value, (date, datetime)):
        value = value.isoformat()
    return str(value).strip().casefold()
