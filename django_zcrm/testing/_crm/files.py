"""Notes, attachments and tags routes of the fake CRM.

Notes live in the ``Notes`` module store (so listing, sorting and paging are shared with records);
attachments keep their bytes beside their metadata. ``Parent_Id`` of a note is a plain id plus
``se_module`` before v6 and an object ``{"module":{"api_name"},"id"}`` from v6 (see "Notes" and
"Attachments" in ``docs/design/wire-format.md``). Storing attachments and building a note's parent
fields live in :mod:`.core`, because the control API needs them too.
"""

from __future__ import annotations

import mimetypes
from typing import Any, ClassVar
from urllib.parse import quote

from .._server.messages import FakeResponse, empty_response, json_response
from .core import SOURCE_API
from .routes import Route
from .schema import MODULES, is_empty
from .store import ModuleStore, copy_record
from .util import CRMContext as _Ctx
from .util import CRMFault, iso, json_path, missing_param
from .util import error_item as _error_item
from .writes import RecordWriter

__all__ = ["FilesRoutes"]


class FilesRoutes(RecordWriter):
    """Handlers for Notes, Attachments and Tags."""

    # Registered before the related-list and record families, whose patterns also match these paths.
    ROUTES: ClassVar[tuple[Route, ...]] = (
        Route("GET /crm/{version}/settings/tags", "_h_tags"),
        Route("GET /crm/{version}/Notes", "_h_notes_list"),
        Route("POST /crm/{version}/Notes", "_h_notes_create"),
        Route("DELETE /crm/{version}/Notes", "_h_notes_delete"),
        Route("GET /crm/{version}/Notes/{id}", "_h_note_get"),
        Route("PUT /crm/{version}/Notes/{id}", "_h_note_update"),
        Route("DELETE /crm/{version}/Notes/{id}", "_h_note_delete"),
        Route("POST /crm/{version}/{module}/actions/add_tags", "_h_add_tags"),
        Route("POST /crm/{version}/{module}/actions/remove_tags", "_h_remove_tags"),
        Route("POST /crm/{version}/{module}/{id}/actions/add_tags", "_h_add_tags"),
        Route("POST /crm/{version}/{module}/{id}/actions/remove_tags", "_h_remove_tags"),
        Route("GET /crm/{version}/{module}/{id}/Notes", "_h_record_notes"),
        Route("POST /crm/{version}/{module}/{id}/Notes", "_h_record_notes_create"),
        Route("PUT /crm/{version}/{module}/{id}/Notes/{note_id}", "_h_record_note_update"),
        Route("DELETE /crm/{version}/{module}/{id}/Notes/{note_id}", "_h_record_note_delete"),
        Route("GET /crm/{version}/{module}/{id}/Attachments", "_h_attachments"),
        Route("POST /crm/{version}/{module}/{id}/Attachments", "_h_attachment_upload"),
        Route(
            "GET /crm/{version}/{module}/{id}/Attachments/{attachment_id}",
            "_h_attachment_download",
        ),
        Route(
            "DELETE /crm/{version}/{module}/{id}/Attachments/{attachment_id}",
            "_h_attachment_delete",
        ),
    )

    @property
    def _notes(self) -> ModuleStore:
        return self.stores["Notes"]

    def _note_parent_from_body(
        self, ctx: _Ctx, raw: dict[str, Any], index: int
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Resolve ``Parent_Id`` (+ ``se_module`` before v6); return ``(extra fields, error element)``."""

        def path(name: str) -> dict[str, Any]:
            return {"json_path": json_path(index, name)} if ctx.modern else {}

        parent = raw.get("Parent_Id")
        if is_empty(parent):
            return None, _error_item(
                "MANDATORY_NOT_FOUND",
                "required field not found",
                {"api_name": "Parent_Id", **path("Parent_Id")},
            )
        if ctx.vnum >= (6, 0):
            module_ref = parent.get("module") if isinstance(parent, dict) else None
            module = module_ref.get("api_name") if isinstance(module_ref, dict) else None
            if not isinstance(parent, dict) or not module:
                return None, _error_item(
                    "INVALID_DATA",
                    "invalid data",
                    {
                        "expected_data_type": "jsonobject",
                        "api_name": "Parent_Id",
                        **path("Parent_Id"),
                    },
                )
            record_id = parent.get("id")
        else:
            module = raw.get("se_module")
            if is_empty(module):
                return None, _error_item(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    {"api_name": "se_module", **path("se_module")},
                )
            record_id = parent.get("id") if isinstance(parent, dict) else parent
        if (
            not isinstance(module, str)
            or module not in MODULES
            or not MODULES[module].records_module
        ):
            return None, _error_item(
                "INVALID_MODULE",
                "the module name given seems to be invalid",
                {
                    "api_name": "se_module" if ctx.vnum < (6, 0) else "Parent_Id",
                    **path("Parent_Id"),
                },
            )
        if (
            isinstance(record_id, bool)
            or record_id is None
            or str(record_id) not in self.stores[module].rows
        ):
            return None, _error_item(
                "INVALID_DATA",
                "the related id given seems to be invalid",
                {
                    "api_name": "Parent_Id",
                    "id": None if record_id is None else str(record_id),
                    **path("Parent_Id"),
                },
            )
        return self._note_parent_fields(module, str(record_id)), None

    def _require_notes(self, ctx: _Ctx, operation: str, parent_module: str | None = None) -> None:
        modules = ["notes"] + ([parent_module] if parent_module else [])
        self._require_module(ctx, modules, operation)

    def _h_notes_list(self, ctx: _Ctx) -> FakeResponse:
        self._require_notes(ctx, "READ")
        spec = self._notes.spec
        wanted = self._fields_param(ctx, spec, enforce=False)
        sort_by, descending = self._sort_params(ctx, spec)
        with self._lock:
            ordered = self._notes.ordered(sort_by, descending)
        return self._list_response(
            ctx, spec, ordered, self._notes.rows, wanted=wanted, binding=None, cap=None
        )

    def _h_note_get(self, ctx: _Ctx) -> FakeResponse:
        self._require_notes(ctx, "READ")
        with self._lock:
            note = self._notes.rows.get(ctx.request.path_params["id"])
            if note is None:
                return empty_response(204)
            return json_response(200, {"data": [self._render(ctx, self._notes.spec, note, None)]})

    def _create_notes(
        self, ctx: _Ctx, items: list[Any], parent: tuple[str, str] | None
    ) -> FakeResponse:
        results = []
        with self._lock:
            for n, raw in enumerate(items):
                if not isinstance(raw, dict):
                    results.append(
                        _error_item(
                            "INVALID_DATA",
                            "invalid data",
                            {"expected_data_type": "jsonobject", "api_name": "data"},
                        )
                    )
                    continue
                extra: dict[str, Any] | None
                if parent is not None:
                    extra, error = self._note_parent_fields(*parent), None
                else:
                    extra, error = self._note_parent_from_body(ctx, raw, n)
                if error is not None:
                    results.append(error)
                    continue
                element, _ = self._write_one(
                    ctx, self._notes, raw, n, existing_id=None, extra=extra
                )
                results.append(element)
        return json_response(self._batch_status(results, 201), {"data": results})

    def _h_notes_create(self, ctx: _Ctx) -> FakeResponse:
        self._require_notes(ctx, "CREATE")
        return self._create_notes(ctx, self._data_items(ctx, self._body(ctx)), None)

    def _h_record_notes(self, ctx: _Ctx) -> FakeResponse:
        with self._lock:
            store, parent = self._parent(ctx)
        self._require_notes(ctx, "READ", store.spec.api_name)
        spec = self._notes.spec
        wanted = self._fields_param(ctx, spec, enforce=False)
        sort_by, descending = self._sort_params(ctx, spec)
        with self._lock:
            ordered = self._notes.ordered(sort_by, descending, match=("Parent_Id", parent["id"]))
        return self._list_response(
            ctx, spec, ordered, self._notes.rows, wanted=wanted, binding=None, cap=None
        )

    def _h_record_notes_create(self, ctx: _Ctx) -> FakeResponse:
        with self._lock:
            store, parent = self._parent(ctx)
        self._require_notes(ctx, "CREATE", store.spec.api_name)
        return self._create_notes(
            ctx, self._data_items(ctx, self._body(ctx)), (store.spec.api_name, parent["id"])
        )

    def _update_note(self, ctx: _Ctx, note_id: str, parent: tuple[str, str] | None) -> FakeResponse:
        items = self._data_items(ctx, self._body(ctx))
        with self._lock:
            note = self._notes.rows.get(note_id)
            if note is None or (
                parent is not None and (note.get("Parent_Id") or {}).get("id") != parent[1]
            ):
                result = _error_item(
                    "INVALID_DATA", "the id given seems to be invalid", {"id": note_id}
                )
                return json_response(400, {"data": [result]})
            element, _ = self._write_one(ctx, self._notes, items[0], 0, existing_id=note_id)
        return json_response(200 if element["status"] == "success" else 400, {"data": [element]})

    def _h_note_update(self, ctx: _Ctx) -> FakeResponse:
        self._require_notes(ctx, "UPDATE")
        return self._update_note(ctx, ctx.request.path_params["id"], None)

    def _h_record_note_update(self, ctx: _Ctx) -> FakeResponse:
        with self._lock:
            store, parent = self._parent(ctx)
        self._require_notes(ctx, "UPDATE", store.spec.api_name)
        return self._update_note(
            ctx, ctx.request.path_params["note_id"], (store.spec.api_name, parent["id"])
        )

    def _delete_notes(
        self, ctx: _Ctx, ids: list[str], parent_id: str | None = None
    ) -> FakeResponse:
        with self._lock:
            if parent_id is not None:
                ids = [
                    i
                    for i in ids
                    if (self._notes.rows.get(i, {}).get("Parent_Id") or {}).get("id") == parent_id
                ]
                if not ids:
                    ids_given = [ctx.request.path_params["note_id"]]
                    results = [
                        _error_item("INVALID_DATA", "record not deleted", {"id": i})
                        for i in ids_given
                    ]
                    return json_response(400, {"data": results})
            results = self._delete_ids(ctx, self._notes, ids)
        return json_response(self._batch_status(results, 200), {"data": results})

    def _h_notes_delete(self, ctx: _Ctx) -> FakeResponse:
        self._require_notes(ctx, "DELETE")
        return self._delete_notes(ctx, self._ids_param(ctx))

    def _h_note_delete(self, ctx: _Ctx) -> FakeResponse:
        self._require_notes(ctx, "DELETE")
        return self._delete_notes(ctx, [ctx.request.path_params["id"]])

    def _h_record_note_delete(self, ctx: _Ctx) -> FakeResponse:
        with self._lock:
            store, parent = self._parent(ctx)
        self._require_notes(ctx, "DELETE", store.spec.api_name)
        return self._delete_notes(ctx, [ctx.request.path_params["note_id"]], parent_id=parent["id"])

    # ==============================================================================================
    # Attachments
    # ==============================================================================================

    def _require_attachments(self, ctx: _Ctx, module: str, operation: str) -> None:
        self._require_module(ctx, ["attachments", module], operation)

    def _h_attachments(self, ctx: _Ctx) -> FakeResponse:
        with self._lock:
            store, parent = self._parent(ctx)
        self._require_attachments(ctx, store.spec.api_name, "READ")
        with self._lock:
            key = (store.spec.api_name, parent["id"])
            ids = sorted((a for a, p in self._attachment_parent.items() if p == key), key=int)
            per_page, page, offset = self._page_window(ctx, None, cap=None)
            window = ids[offset : offset + per_page]
            data = [dict(self._attachments[a]) for a in window]
        if not data:
            return empty_response(204)
        info = self._info(
            ctx, per_page=per_page, count=len(data), page=page, more=len(ids) > offset + len(window)
        )
        return json_response(200, {"data": data, "info": info})

    def _h_attachment_upload(self, ctx: _Ctx) -> FakeResponse:
        with self._lock:
            store, parent = self._parent(ctx)
        self._require_attachments(ctx, store.spec.api_name, "CREATE")
        request = ctx.request
        link = (request.param("attachmentUrl") or "").strip() or None
        upload = request.files().get("file")
        if link is None and (upload is None or not upload[0]):
            raise missing_param("file")
        if (
            link is None
            and upload is not None
            and len(upload[1]) > self.options.attachment_max_bytes
        ):
            raise CRMFault(
                413,
                "FILE_SIZE_MORE_THAN_ALLOWED_SIZE",
                "file size exceeds the allowed limit",
                {"limit": self.options.attachment_max_bytes},
            )
        with self._lock:
            if link is not None:
                doc = self._store_attachment(
                    store.spec, parent["id"], ctx.user, file_name=link, content=None, link=link
                )
            else:
                assert upload is not None
                doc = self._store_attachment(
                    store.spec,
                    parent["id"],
                    ctx.user,
                    file_name=upload[0],
                    content=upload[1],
                    link=None,
                )
        details = {
            "Modified_Time": doc["Modified_Time"],
            "Modified_By": self._short_user(doc["Modified_By"]),
            "Created_Time": doc["Created_Time"],
            "id": doc["id"],
            "Created_By": self._short_user(doc["Created_By"]),
        }
        return json_response(
            200,
            {
                "data": [
                    {
                        "code": "SUCCESS",
                        "details": details,
                        "message": "attachment uploaded successfully",
                        "status": "success",
                    }
                ]
            },
        )

    def _attachment_of(self, ctx: _Ctx, store: ModuleStore, parent: dict[str, Any]) -> str | None:
        attachment_id = ctx.request.path_params["attachment_id"]
        if self._attachment_parent.get(attachment_id) != (store.spec.api_name, parent["id"]):
            return None
        return attachment_id

    def _h_attachment_download(self, ctx: _Ctx) -> FakeResponse:
        with self._lock:
            store, parent = self._parent(ctx)
        self._require_attachments(ctx, store.spec.api_name, "READ")
        with self._lock:
            attachment_id = self._attachment_of(ctx, store, parent)
            if attachment_id is None:
                return empty_response(204)
            doc = self._attachments[attachment_id]
            content = self._blobs.get(attachment_id)
        if content is None:
            raise CRMFault(
                400,
                "INVALID_DATA",
                "a link attachment has no content to download",
                {"id": attachment_id},
            )
        name = doc["File_Name"]
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        headers = {
            "Content-Type": media_type,
            "Content-Disposition": "attachment;filename*=UTF-8''" + quote(name, safe=""),
        }
        return FakeResponse(200, content, headers)

    def _h_attachment_delete(self, ctx: _Ctx) -> FakeResponse:
        with self._lock:
            store, parent = self._parent(ctx)
        self._require_attachments(ctx, store.spec.api_name, "DELETE")
        with self._lock:
            attachment_id = self._attachment_of(ctx, store, parent)
            if attachment_id is None:
                given = ctx.request.path_params["attachment_id"]
                return json_response(
                    400,
                    {"data": [_error_item("INVALID_DATA", "record not deleted", {"id": given})]},
                )
            self._drop_attachment(attachment_id)
        return json_response(
            200,
            {
                "data": [
                    {
                        "code": "SUCCESS",
                        "details": {"id": attachment_id},
                        "message": "record deleted",
                        "status": "success",
                    }
                ]
            },
        )

    # ==============================================================================================
    # Tags
    # ==============================================================================================

    def _tag_names(self, ctx: _Ctx, body: dict[str, Any] | None) -> list[str]:
        names: list[str] = []
        if body is not None and isinstance(body.get("tags"), list):
            for tag in body["tags"]:
                name = tag.get("name") if isinstance(tag, dict) else tag
                if isinstance(name, str) and name.strip():
                    names.append(name.strip())
        else:
            raw = ctx.param("tag_names") or ""
            names = [n.strip() for n in raw.split(",") if n.strip()]
        if not names:
            raise missing_param("tag_names" if ctx.vnum < (7, 0) else "tags")
        if len(names) > 50:
            raise CRMFault(400, "LIMIT_EXCEEDED", "at most 50 tags per call", {"limit": 50})
        return names

    def _tag_call(self, ctx: _Ctx, add: bool) -> FakeResponse:
        store = self._store(ctx)
        self._require_module(ctx, store.spec.api_name, "UPDATE")
        body: dict[str, Any] | None = None
        if ctx.request.body.strip() and ctx.request.body.strip() != b"null":
            body = self._body(ctx)
        names = self._tag_names(ctx, body)
        limit = 500 if ctx.vnum >= (7, 0) else 100
        if "id" in ctx.request.path_params:
            ids = [ctx.request.path_params["id"]]
        elif body is not None and isinstance(body.get("ids"), list):
            ids = [str(i) for i in body["ids"]]
            if len(ids) > limit:
                raise CRMFault(
                    400, "LIMIT_EXCEEDED", f"at most {limit} ids per call", {"limit": limit}
                )
        else:
            ids = self._ids_param(ctx, limit=limit)
        over_write = (
            bool(body.get("over_write")) if body is not None else ctx.param("over_write") == "true"
        )
        results = []
        with self._lock:
            registry = self._tags[store.spec.api_name]
            tags = []
            for name in names:
                tag = registry.get(name.casefold())
                if tag is None and add:
                    stamp = iso(self.now(), self.tz)
                    tag = {
                        "id": self._new_id(),
                        "name": name,
                        "created_by": self._short_user(ctx.user),
                        "modified_by": self._short_user(ctx.user),
                        "created_time": stamp,
                        "modified_time": stamp,
                    }
                    registry[name.casefold()] = tag
                if tag is not None:
                    tags.append({"name": tag["name"], "id": tag["id"]})
            for record_id in ids:
                record = store.rows.get(record_id)
                if record is None:
                    results.append(
                        _error_item(
                            "INVALID_DATA", "the id given seems to be invalid", {"id": record_id}
                        )
                    )
                    continue
                current = [] if (add and over_write) else list(record.get("Tag") or [])
                if add:
                    known = {t["id"] for t in current}
                    current += [t for t in tags if t["id"] not in known]
                else:
                    removing = {t["id"] for t in tags}
                    current = [t for t in current if t["id"] not in removing]
                updated = copy_record(record)
                updated["Tag"] = current
                self._replace(store, updated, mtime=store.mtime[record_id], source=SOURCE_API)
                shown: list[Any] = (
                    [t["name"] for t in current]
                    if ctx.vnum < (7, 0)
                    else [dict(t) for t in current]
                )
                results.append(
                    {
                        "code": "SUCCESS",
                        "details": {"id": record_id, "tags": shown},
                        "message": "tags updated successfully",
                        "status": "success",
                    }
                )
        return json_response(self._batch_status(results, 200), {"data": results})

    def _h_add_tags(self, ctx: _Ctx) -> FakeResponse:
        return self._tag_call(ctx, add=True)

    def _h_remove_tags(self, ctx: _Ctx) -> FakeResponse:
        return self._tag_call(ctx, add=False)

    def _h_tags(self, ctx: _Ctx) -> FakeResponse:
        self._require(ctx, "settings", "tags")
        store = self._store(ctx, self._module_param(ctx))
        with self._lock:
            tags = [dict(t) for t in self._tags[store.spec.api_name].values()]
        return json_response(
            200, {"tags": tags, "info": {"count": len(tags), "allowed_count": 500}}
        )
