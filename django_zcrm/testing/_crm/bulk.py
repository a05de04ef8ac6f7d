"""Bulk Read routes: ``/crm/bulk/{version}/read`` (create a job, its status, its zipped CSV).

A job is ``ADDED``, then ``IN PROGRESS``, then ``COMPLETED`` as the fake clock passes
``CRMOptions.bulk_read_delay`` seconds after it was created (half the delay each), and holds the
module's records as they were when it was created, 200,000 per ``page``. Its file is written
while the job runs, as Zoho's is: a thread started at creation renders the CSV and zips it (fast
deflate), so creating a job answers at once and the download serves ready bytes (waiting for the
thread only when the download comes early). The result is a zip
holding one CSV: a header row of API names (``id`` first), then one row per record with the
values as Zoho writes them in Bulk Read files: lookups and owners as their id, booleans as
``true``/``false``, multi-select picklists joined with ``;``, empty values as empty cells. More
than ``bulk_read_downloads_per_minute`` downloads in a minute answer 429. Criteria are not
modelled: a job with ``criteria`` is refused with 400 ``NOT_SUPPORTED`` so a test never
believes it filtered.
"""

from __future__ import annotations

import csv
import io
import threading
import zipfile
from collections import deque
from typing import Any, ClassVar

from .._server.messages import FakeResponse, json_response
from .request import CRMRequests
from .routes import Route
from .schema import MODULES
from .util import CRMContext as _Ctx
from .util import CRMFault, iso

#: Records per Bulk Read page (``result.per_page``).
BULK_PAGE = 200_000


def csv_value(value: Any) -> str:
    """One value as a Bulk Read CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return str(value.get("id") or "")
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


class _Archive:
    """The zipped CSV of one job, rendered in a background thread from the job's snapshot."""

    def __init__(self, name: str, fields: list[str], records: list[dict[str, Any]]) -> None:
        self._name = name
        self._fields = fields
        self._records = records
        self._data: bytes | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._render, name="fake-bulk-read", daemon=True)
        self._thread.start()

    def _render(self) -> None:
        try:
            text = io.StringIO()
            writer = csv.writer(text)
            writer.writerow(self._fields)
            fields = self._fields
            writer.writerows([csv_value(r.get(f)) for f in fields] for r in self._records)
            data = io.BytesIO()
            # Level 1: the file is for a test's reader, not for the wire; deflate stays the format.
            with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
                archive.writestr(f"{self._name}.csv", text.getvalue())
            self._data = data.getvalue()
        except BaseException as exc:  # re-raised by the download that needs the file
            self._error = exc
        finally:
            self._records = []

    def data(self) -> bytes:
        """The zip's bytes, once rendered."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._data is not None
        return self._data


class BulkReadRoutes(CRMRequests):
    """Handlers of ``/crm/bulk/{version}/read[/{id}[/result]]``."""

    ROUTES: ClassVar[tuple[Route, ...]] = (
        Route("POST /crm/bulk/{version}/read", "_h_bulk_create"),
        Route("GET /crm/bulk/{version}/read/{id}", "_h_bulk_status"),
        Route("GET /crm/bulk/{version}/read/{id}/result", "_h_bulk_result"),
    )

    @property
    def _bulk_jobs(self) -> dict[str, dict[str, Any]]:
        return self.__dict__.setdefault("_bulk_jobs_store", {})

    @property
    def _bulk_downloads(self) -> deque[float]:
        return self.__dict__.setdefault("_bulk_downloads_store", deque())

    def _h_bulk_create(self, ctx: _Ctx) -> FakeResponse:
        content_type = ctx.request.headers.get("Content-Type", "")
        if "application/json" not in content_type.lower():
            raise CRMFault(415, "MEDIA_TYPE_NOT_SUPPORTED", "the content type is not supported")
        body = self._body(ctx)
        query = body.get("query")
        if not isinstance(query, dict):
            raise CRMFault(
                400, "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "query"}
            )
        module_ref = query.get("module")
        module = module_ref.get("api_name") if isinstance(module_ref, dict) else module_ref
        spec = MODULES.get(str(module or ""))
        if spec is None:
            raise CRMFault(
                400,
                "INVALID_MODULE",
                "the module name given seems to be invalid",
                {"api_name": module},
            )
        self._require_module(ctx, spec.api_name, "READ")
        if query.get("criteria"):
            raise CRMFault(
                400,
                "NOT_SUPPORTED",
                "the fake does not filter Bulk Read jobs",
                {"api_name": "criteria"},
            )
        fields = query.get("fields") or [f.api_name for f in spec.fields]
        for name in fields:
            if name != "id" and spec.get_field(name) is None:
                raise CRMFault(400, "INVALID_DATA", "invalid field", {"api_name": name})
        page = int(query.get("page") or 1)
        now = self.fake.clock.now()
        with self._lock:
            store = self.stores[spec.api_name]
            ordered = store.ordered("id", False)
            chosen = ordered[(page - 1) * BULK_PAGE : page * BULK_PAGE]
            # A snapshot: a change replaces a record's dict, so the job keeps these versions.
            records = [dict(store.rows[i]) for i in chosen]
            job_id = self._new_id()
            columns = ["id", *[f for f in fields if f != "id"]]
            self._bulk_jobs[job_id] = {
                "id": job_id,
                "module": spec.api_name,
                "fields": columns,
                "count": len(records),
                "archive": _Archive(job_id, columns, records),
                "page": page,
                "more": len(ordered) > page * BULK_PAGE,
                "created": now,
                "created_by": {"id": ctx.user.get("id"), "name": ctx.user.get("name")},
            }
        details = {
            "id": job_id,
            "operation": "read",
            "state": "ADDED",
            "created_by": self._bulk_jobs[job_id]["created_by"],
            "created_time": iso(now, self.tz),
        }
        item = {
            "status": "success",
            "code": "ADDED_SUCCESSFULLY",
            "message": "Added successfully.",
            "details": details,
        }
        return json_response(201, {"data": [item], "info": {}})

    def _bulk_job(self, ctx: _Ctx) -> dict[str, Any]:
        job = self._bulk_jobs.get(ctx.request.path_params["id"])
        if job is None:
            raise CRMFault(404, "RESOURCE_NOT_FOUND", "the requested resource doesn't exist")
        return job

    def _bulk_state(self, job: dict[str, Any]) -> str:
        waited = self.fake.clock.now() - job["created"]
        delay = float(self.options.bulk_read_delay)
        if waited >= delay:
            return "COMPLETED"
        return "IN PROGRESS" if waited >= delay / 2 else "ADDED"

    def _h_bulk_status(self, ctx: _Ctx) -> FakeResponse:
        job = self._bulk_job(ctx)
        state = self._bulk_state(job)
        item: dict[str, Any] = {
            "id": job["id"],
            "operation": "read",
            "state": state,
            "query": {"module": job["module"], "fields": job["fields"][1:], "page": job["page"]},
            "created_by": job["created_by"],
            "created_time": iso(job["created"], self.tz),
            "file_type": "csv",
        }
        if state == "COMPLETED":
            item["result"] = {
                "page": job["page"],
                "per_page": BULK_PAGE,
                "count": job["count"],
                "download_url": f"/crm/bulk/{ctx.version}/read/{job['id']}/result",
                "more_records": job["more"],
            }
        return json_response(200, {"data": [item]})

    def _h_bulk_result(self, ctx: _Ctx) -> FakeResponse:
        job = self._bulk_job(ctx)
        if self._bulk_state(job) != "COMPLETED":
            # Zoho's exact answer here is not documented; the fake refuses plainly.
            raise CRMFault(400, "INVALID_REQUEST", "the job has not completed yet")
        now = self.fake.clock.now()
        with self._lock:
            recent = self._bulk_downloads
            while recent and recent[0] <= now - 60:
                recent.popleft()
            if len(recent) >= int(self.options.bulk_read_downloads_per_minute):
                raise CRMFault(
                    429,
                    "TOO_MANY_REQUESTS",
                    "too many Bulk Read downloads in a minute",
                    headers={"Retry-After": str(max(1, int(recent[0] + 60 - now) + 1))},
                )
            recent.append(now)
        return FakeResponse(
            200,
            job["archive"].data(),
            {
                "Content-Type": "application/zip",
                "Content-Disposition": f'attachment; filename="{job["id"]}.zip"',
            },
        )
