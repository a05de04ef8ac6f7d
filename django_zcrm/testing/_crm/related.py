"""Related-list routes: list a record's related records, link and delink them."""

from __future__ import annotations

from typing import ClassVar

from .._server.messages import FakeResponse, json_response
from .core import SOURCE_API
from .routes import Route
from .schema import ModuleSpec, RelatedList
from .store import copy_record
from .util import CRMContext as _Ctx
from .util import CRMFault, iso
from .util import error_item as _error_item
from .writes import RecordWriter


class RelatedRoutes(RecordWriter):
    """Handlers of ``/crm/{version}/{module}/{id}/{related_list}[/{related_id}]``."""

    ROUTES: ClassVar[tuple[Route, ...]] = (
        Route("GET /crm/{version}/{module}/{id}/{related_list}", "_h_related"),
        Route("PUT /crm/{version}/{module}/{id}/{related_list}/{related_id}", "_h_relate"),
        Route("DELETE /crm/{version}/{module}/{id}/{related_list}/{related_id}", "_h_delink"),
    )

    def _relation(self, ctx: _Ctx, spec: ModuleSpec) -> RelatedList:
        name = ctx.request.path_params["related"]
        for rel in spec.related:
            if rel.api_name == name and rel.field is not None:
                return rel
        raise CRMFault(
            400,
            "INVALID_DATA",
            "the related list name given seems to be invalid",
            {"api_name": name},
        )

    def _h_related(self, ctx: _Ctx) -> FakeResponse:
        with self._lock:
            store, parent = self._parent(ctx)
        rel = self._relation(ctx, store.spec)
        self._require_module(ctx, store.spec.api_name, "READ")
        child = self.stores[rel.module]
        self._require_module(ctx, rel.module, "READ")
        wanted = self._fields_param(ctx, child.spec, enforce=False)
        sort_by, descending = self._sort_params(ctx, child.spec)
        with self._lock:
            ordered = child.ordered(sort_by, descending, match=(rel.field or "", parent["id"]))
        return self._list_response(
            ctx, child.spec, ordered, child.rows, wanted=wanted, binding=None, cap=None
        )

    def _relation_change(self, ctx: _Ctx, link: bool) -> FakeResponse:
        with self._lock:
            store, parent = self._parent(ctx)
            rel = self._relation(ctx, store.spec)
            self._require_module(ctx, rel.module, "UPDATE")
            child = self.stores[rel.module]
            related_id = ctx.request.path_params["related_id"]
            record = child.rows.get(related_id)
            if record is None:
                result = _error_item(
                    "INVALID_DATA", "the related id given seems to be invalid", {"id": related_id}
                )
                return json_response(400, {"data": [result]})
            current = record.get(rel.field or "")
            points_here = isinstance(current, dict) and current.get("id") == parent["id"]
            if link or points_here:
                updated = copy_record(record)
                updated[rel.field or ""] = (
                    self._lookup_ref(store.spec.api_name, parent["id"]) if link else None
                )
                now = self.now()
                updated["Modified_Time"] = iso(now, self.tz)
                updated["Modified_By"] = dict(ctx.user)
                self._replace(child, updated, mtime=now, source=SOURCE_API)
            message = "relation added" if link else "relation removed"
            return json_response(
                200,
                {
                    "data": [
                        {
                            "code": "SUCCESS",
                            "details": {"id": related_id},
                            "message": message,
                            "status": "success",
                        }
                    ]
                },
            )

    def _h_relate(self, ctx: _Ctx) -> FakeResponse:
        return self._relation_change(ctx, link=True)

    def _h_delink(self, ctx: _Ctx) -> FakeResponse:
        return self._relation_change(ctx, link=False)
