"""The records of one CRM module: list, get, write in batches, search, COQL, notes, files, tags."""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any, cast

from ..client import APIResponse, ZCRMClient, quote_segment
from ..exceptions import (
    ZCRMConnectionError,
    ZCRMError,
    ZCRMMalformedResponseError,
    ZCRMNotFoundError,
    ZCRMServerError,
    ZCRMValidationError,
)
from .base import (
    MAX_PER_PAGE,
    MAX_PER_WRITE,
    Page,
    Service,
    answer_object,
    check_id,
    check_ids,
    first_object,
    info_of,
    iter_chunks,
    malformed,
    object_list,
)
from .batches import run_batches, workers_for
from .prefetch import iter_pages_ahead
from .records import DeletedRecord, Record, format_datetime
from .results import (
    ACTIONS,
    FAILED,
    NOT_ATTEMPTED,
    SUCCEEDED,
    UNKNOWN,
    BatchResult,
    RecordResult,
)

#: From this version on, list calls must name their ``fields`` (at most 50).
FIELDS_REQUIRED_FROM = (7, 0)
#: At most this many names in ``fields``.
MAX_FIELDS = 50
#: From this version on a note's ``Parent_Id`` is ``{"module": {"api_name"}, "id"}``.
NOTE_PARENT_OBJECT_FROM = (6, 0)
#: From this version on tags are added/removed with a JSON body (names before that).
TAGS_JSON_FROM = (7, 0)
DELETED_TYPES = ("all", "recycle", "permanent")

Criterion = tuple[str, str, Any]
KeyFunction = Callable[[Any], Any]


@dataclass(frozen=True)
class Attachment:
    """A downloaded attachment."""

    filename: str
    content_type: str
    content: bytes

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.content)


class Module(Service):
    """Records of one module (``Leads``, ``Contacts``, a custom ``Projects__c`` ...)."""

    def __init__(
        self, api_name: str, user_identifier: str | None = None, client: ZCRMClient | None = None
    ) -> None:
        if not api_name or "/" in api_name:
            raise ValueError(f"not a module API name: {api_name!r}")
        super().__init__(user_identifier, client)
        self.api_name = api_name
        self._field_names: list[str] | None = None

    def __repr__(self) -> str:
        return f"<Module {self.api_name}>"

    # -- reading ------------------------------------------------------------------------------

    def iter_records(
        self,
        fields: Sequence[str] | str | None = None,
        modified_since: datetime | date | str | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
        cvid: str | None = None,
        per_page: int = MAX_PER_PAGE,
        *,
        params: Mapping[str, Any] | None = None,
        concurrency: int = 1,
    ) -> Iterator[Record]:
        """Every record of the module, lazily, 200 per request, past the 2,000-record cap.

        ``modified_since`` sends ``If-Modified-Since``: only records changed after it come back,
        and a 304 (nothing changed) simply yields nothing. ``params`` adds other query
        parameters (``converted``, ``approved``, ``territory_id`` ...). ``concurrency=N`` reads
        the numbered pages (the first 2,000 records) up to N at a time, then follows
        ``page_token`` one page after another (see :mod:`django_zcrm.services.prefetch`).
        """
        for page in self.iter_pages(
            fields,
            modified_since,
            sort_by,
            sort_order,
            cvid,
            per_page,
            params=params,
            concurrency=concurrency,
        ):
            yield from page.records

    def iter_pages(
        self,
        fields: Sequence[str] | str | None = None,
        modified_since: datetime | date | str | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
        cvid: str | None = None,
        per_page: int = MAX_PER_PAGE,
        *,
        params: Mapping[str, Any] | None = None,
        concurrency: int = 1,
    ) -> Iterator[Page]:
        """Like :meth:`iter_records`, one :class:`Page` (records + ``info``) at a time."""
        query: dict[str, Any] = dict(params or {})
        query.update(
            fields=self._list_fields(fields), sort_by=sort_by, sort_order=sort_order, cvid=cvid
        )
        if concurrency != 1 and workers_for(concurrency) > 1:
            return iter_pages_ahead(
                self.client.get,
                self.api_name,
                query,
                headers=_modified_since_header(modified_since),
                per_page=per_page,
                module=self.api_name,
                concurrency=concurrency,
            )
        return self._iter_pages(
            self.api_name,
            query,
            module=self.api_name,
            headers=_modified_since_header(modified_since),
            per_page=per_page,
        )

    def get(self, record_id: str | int, fields: Sequence[str] | str | None = None) -> Record:
        """One record by id; raises :class:`ZCRMNotFoundError` when there is none."""
        record_id = check_id(record_id, "record_id")
        params = {"fields": _join_fields(fields)} if fields else None
        path = f"{self.api_name}/{quote_segment(record_id)}"
        try:
            response = self.client.get(path, params=params)
        except ZCRMValidationError as exc:
            # Newer versions answer 400 INVALID_DATA ("the id given seems to be invalid").
            if exc.code == "INVALID_DATA":
                raise ZCRMNotFoundError(
                    f"No {self.api_name} record with id {record_id}.",
                    status=exc.status,
                    code=exc.code,
                    details=exc.details,
                    request_id=exc.request_id,
                ) from exc
            raise
        item = first_object(response, "data", f"No {self.api_name} record with id {record_id}.")
        return Record(item, self.api_name)

    def search(
        self,
        criteria: str | Sequence[Criterion] | None = None,
        email: str | None = None,
        phone: str | None = None,
        word: str | None = None,
        *,
        fields: Sequence[str] | str | None = None,
        per_page: int = MAX_PER_PAGE,
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[Record]:
        """Records matching one of ``criteria``/``email``/``phone``/``word``, lazily, paged.

        ``criteria`` is Zoho's string (``"(Last_Name:equals:Smith)"``) or a list of
        ``(field, operator, value)`` triples joined with ``and``. Zoho reaches at most 2,000
        search results; past that it answers ``LIMIT_REACHED``.
        """
        if not any(v is not None for v in (criteria, email, phone, word)):
            raise ZCRMValidationError("search() needs one of criteria=, email=, phone= or word=.")
        query: dict[str, Any] = dict(params or {})
        query.update(
            criteria=build_criteria(criteria) if criteria is not None else None,
            email=email,
            phone=phone,
            word=word,
            fields=_join_fields(fields),
        )
        for page in self._iter_pages(
            f"{self.api_name}/search", query, module=self.api_name, per_page=per_page
        ):
            yield from page.records

    def coql(self, query: str) -> Page:
        """Run a COQL ``select`` (one call; page it yourself with ``limit offset, count``)."""
        return coql(query, client=self.client, module=self.api_name)

    def iter_deleted(
        self,
        type: str = "all",  # noqa: A002 - Zoho's parameter name
        modified_since: datetime | date | str | None = None,
        per_page: int = MAX_PER_PAGE,
    ) -> Iterator[DeletedRecord]:
        """Deleted records (``all``, ``recycle`` or ``permanent``), lazily."""
        if type not in DELETED_TYPES:
            raise ZCRMValidationError(
                f"type must be one of {', '.join(DELETED_TYPES)}, not {type!r}."
            )
        for page in self._iter_pages(
            f"{self.api_name}/deleted",
            {"type": type},
            module=self.api_name,
            headers=_modified_since_header(modified_since),
            per_page=per_page,
            record_class=DeletedRecord,
        ):
            yield from cast("list[DeletedRecord]", page.records)

    # -- metadata -------------------------------------------------------------------------------

    def fields(self) -> list[dict[str, Any]]:
        """The module's field metadata (``/settings/fields?module=``)."""
        response = self.client.get("settings/fields", params={"module": self.api_name})
        return _metadata_list(response, "fields")

    def layouts(self) -> list[dict[str, Any]]:
        """The module's layouts (``/settings/layouts?module=``)."""
        response = self.client.get("settings/layouts", params={"module": self.api_name})
        return _metadata_list(response, "layouts")

    def related_lists(self) -> list[dict[str, Any]]:
        """The module's related lists (``/settings/related_lists?module=``)."""
        response = self.client.get("settings/related_lists", params={"module": self.api_name})
        return _metadata_list(response, "related_lists")

    def field_names(self, *, refresh: bool = False) -> list[str]:
        """API names of the module's fields (fetched once per :class:`Module`, then cached)."""
        if self._field_names is None or refresh:
            self._field_names = [f["api_name"] for f in self.fields() if f.get("api_name")]
        return list(self._field_names)

    # -- writing --------------------------------------------------------------------------------

    def create(
        self,
        records: Iterable[Mapping[str, Any]],
        *,
        trigger: Sequence[str] | None = None,
        key: str | KeyFunction | None = None,
        concurrency: int = 1,
    ) -> BatchResult:
        """Insert any number of records, 100 per call; every input gets an outcome.

        An insert is never repeated after a 5xx or a timeout (that could create duplicates):
        the records of that call are reported ``unknown`` and the run stops. ``concurrency``
        (see :func:`~django_zcrm.services.batches.run_batches`) sends up to that many calls
        at once; results keep the input order either way.
        """
        return self._write(
            "create",
            "POST",
            self.api_name,
            records,
            trigger=trigger,
            key=key,
            idempotent=False,
            default_action="created",
            concurrency=concurrency,
        )

    def update(
        self,
        records: Iterable[Mapping[str, Any]],
        *,
        trigger: Sequence[str] | None = None,
        key: str | KeyFunction | None = None,
        concurrency: int = 1,
    ) -> BatchResult:
        """Update any number of records (each with its ``id``), 100 per call (``concurrency``: as
        :meth:`create`)."""
        return self._write(
            "update",
            "PUT",
            self.api_name,
            records,
            trigger=trigger,
            key=key,
            idempotent=True,
            default_action="updated",
            concurrency=concurrency,
        )

    def upsert(
        self,
        records: Iterable[Mapping[str, Any]],
        duplicate_check_fields: Sequence[str] | None = None,
        *,
        trigger: Sequence[str] | None = None,
        key: str | KeyFunction | None = None,
        concurrency: int = 1,
    ) -> BatchResult:
        """Insert or update by ``duplicate_check_fields`` (e.g. ``["Email"]``), 100 per call.

        Each result's ``action`` says ``created`` or ``updated``. ``concurrency``: as
        :meth:`create`.
        """
        extra = {}
        if duplicate_check_fields:
            extra["duplicate_check_fields"] = list(duplicate_check_fields)
        checks = list(duplicate_check_fields or ())

        def repeatable(batch: list[RecordResult]) -> bool:
            # A record with neither its id nor a duplicate-check value is a plain insert, which
            # is never repeated (docs/design/retries.md, "Safe to repeat").
            return all(
                e.input.get("id") or any(e.input.get(f) not in (None, "") for f in checks)
                for e in batch
            )

        return self._write(
            "upsert",
            "POST",
            f"{self.api_name}/upsert",
            records,
            trigger=trigger,
            key=key,
            idempotent=repeatable,
            default_action=None,
            extra=extra,
            concurrency=concurrency,
        )

    def delete(
        self,
        ids: Iterable[str | int],
        *,
        trigger_workflow: bool | None = None,
        concurrency: int = 1,
    ) -> BatchResult:
        """Delete records by id, 100 per call; every id gets an outcome (``concurrency``: as
        :meth:`create`)."""
        ids = check_ids(_id_list(ids), "ids")
        result = BatchResult("delete", self.api_name)

        def batches() -> Iterator[list[RecordResult]]:
            for chunk in iter_chunks(ids, MAX_PER_WRITE):
                entries = [
                    RecordResult(len(result.results) + i, rid, NOT_ATTEMPTED, key=str(rid))
                    for i, rid in enumerate(chunk)
                ]
                result.results.extend(entries)
                yield entries

        def send(entries: list[RecordResult]) -> tuple[int, ZCRMError | None]:
            params: dict[str, Any] = {"ids": ",".join(str(e.input) for e in entries)}
            if trigger_workflow is not None:
                params["wf_trigger"] = "true" if trigger_workflow else "false"
            try:
                response = self.client.request(
                    "DELETE", self.api_name, params=params, allow_item_errors=True
                )
            except ZCRMError as exc:
                _failed_call(entries, exc, idempotent=True)
                return int(exc.request_sent), exc
            return 1, _apply_items(entries, response, "deleted", forgiving_delete=True)

        run_batches(result, batches(), send, concurrency)
        return result

    def _write(
        self,
        operation: str,
        method: str,
        path: str,
        records: Iterable[Mapping[str, Any]],
        *,
        trigger: Sequence[str] | None,
        key: str | KeyFunction | None,
        idempotent: bool | Callable[[list[RecordResult]], bool],
        default_action: str | None,
        extra: Mapping[str, Any] | None = None,
        concurrency: int = 1,
    ) -> BatchResult:
        if isinstance(records, Mapping):
            raise TypeError(f"{operation}() takes a list of records; wrap a single one in [ ].")
        result = BatchResult(operation, self.api_name)
        key_of = _key_function(key)

        def batches() -> Iterator[list[RecordResult]]:
            for chunk in iter_chunks(records, MAX_PER_WRITE):
                start = len(result.results)
                entries = [
                    RecordResult(start + i, rec, NOT_ATTEMPTED, key=key_of(rec))
                    for i, rec in enumerate(chunk)
                ]
                result.results.extend(entries)
                sendable = []
                for entry in entries:
                    if isinstance(entry.input, Mapping):
                        id_problem = _bad_update_id(operation, entry)
                        if id_problem:
                            _local_failure(entry, id_problem, code="INVALID_ID")
                            entry.field = "id"
                        else:
                            sendable.append(entry)
                    else:
                        _local_failure(
                            entry,
                            f"expected a mapping of field names to values, got "
                            f"{type(entry.input).__name__}",
                        )
                if sendable:
                    yield sendable

        def send(sendable: list[RecordResult]) -> tuple[int, ZCRMError | None]:
            payload: dict[str, Any] = {
                "data": [e.input if isinstance(e.input, dict) else dict(e.input) for e in sendable]
            }
            if trigger is not None:
                payload["trigger"] = list(trigger)
            if extra:
                payload.update(extra)
            safe = idempotent(sendable) if callable(idempotent) else idempotent
            try:
                response = self.client.request(
                    method, path, json=payload, idempotent=safe, allow_item_errors=True
                )
            except ZCRMError as exc:
                _failed_call(sendable, exc, idempotent=safe)
                return int(exc.request_sent), exc
            return 1, _apply_items(sendable, response, default_action)

        run_batches(result, batches(), send, concurrency)
        return result

    # -- related records ------------------------------------------------------------------------

    def iter_related(
        self,
        record_id: str | int,
        related_list: str,
        fields: Sequence[str] | str | None = None,
        per_page: int = MAX_PER_PAGE,
    ) -> Iterator[Record]:
        """Records of a related list (``Contacts`` of an Account, ``Deals`` ...), lazily."""
        record_id = check_id(record_id, "record_id")
        path = f"{self.api_name}/{quote_segment(record_id)}/{quote_segment(related_list)}"
        query = {"fields": _join_fields(fields)}
        return self._iter_records(path, query, related_list, per_page)

    def _iter_records(
        self, path: str, query: Mapping[str, Any], module: str, per_page: int
    ) -> Iterator[Record]:
        # A separate generator, so the callers check their ids when called, not at first next().
        for page in self._iter_pages(path, query, module=module, per_page=per_page):
            yield from page.records

    def link_related(
        self,
        record_id: str | int,
        related_list: str,
        related_id: str | int,
        data: Mapping[str, Any] | None = None,
    ) -> RecordResult:
        """Relate ``related_id`` to the record (with relation fields in ``data``)."""
        record_id = check_id(record_id, "record_id")
        related_id = check_id(related_id, "related_id")
        path = (
            f"{self.api_name}/{quote_segment(record_id)}/{quote_segment(related_list)}/"
            f"{quote_segment(related_id)}"
        )
        response = self.client.put(path, json={"data": [dict(data or {})]}, allow_item_errors=True)
        return _single_item(response, related_id, "linked")

    def unlink_related(
        self, record_id: str | int, related_list: str, related_id: str | int
    ) -> RecordResult:
        """Remove the relation between the record and ``related_id``."""
        record_id = check_id(record_id, "record_id")
        related_id = check_id(related_id, "related_id")
        path = (
            f"{self.api_name}/{quote_segment(record_id)}/{quote_segment(related_list)}/"
            f"{quote_segment(related_id)}"
        )
        response = self.client.delete(path, allow_item_errors=True)
        return _single_item(response, related_id, "unlinked")

    # -- notes ----------------------------------------------------------------------------------

    def notes(self, record_id: str | int, per_page: int = MAX_PER_PAGE) -> Iterator[Record]:
        """The notes of one record, lazily."""
        record_id = check_id(record_id, "record_id")
        path = f"{self.api_name}/{quote_segment(record_id)}/Notes"
        return self._iter_records(path, {"fields": self._notes_fields()}, "Notes", per_page)

    def add_note(self, record_id: str | int, content: str, title: str | None = None) -> str:
        """Add a note to the record; return the new note's id."""
        record_id = check_id(record_id, "record_id")
        note: dict[str, Any] = {"Note_Content": content}
        if title is not None:
            note["Note_Title"] = title
        if self.version >= NOTE_PARENT_OBJECT_FROM:
            # v6+: the parent is an object naming its module, sent to the Notes module itself.
            note["Parent_Id"] = {"module": {"api_name": self.api_name}, "id": str(record_id)}
            response = self.client.post("Notes", json={"data": [note]}, allow_item_errors=True)
        else:
            response = self.client.post(
                f"{self.api_name}/{quote_segment(record_id)}/Notes",
                json={"data": [note]},
                allow_item_errors=True,
            )
        return _single_item(response, note, "created", raise_on_failure=True).id or ""

    def delete_note(self, record_id: str | int, note_id: str | int) -> None:
        """Delete one note of the record."""
        record_id = check_id(record_id, "record_id")
        note_id = check_id(note_id, "note_id")
        path = f"{self.api_name}/{quote_segment(record_id)}/Notes/{quote_segment(note_id)}"
        response = self.client.delete(path, allow_item_errors=True)
        _single_item(response, note_id, "deleted", raise_on_failure=True)

    def _notes_fields(self) -> str | None:
        if self.version >= FIELDS_REQUIRED_FROM:
            return "Note_Title,Note_Content,Parent_Id,Owner,Created_Time,Modified_Time"
        return None

    # -- attachments ----------------------------------------------------------------------------

    def attachments(self, record_id: str | int, per_page: int = MAX_PER_PAGE) -> Iterator[Record]:
        """The attachments of one record (metadata, not content), lazily."""
        record_id = check_id(record_id, "record_id")
        path = f"{self.api_name}/{quote_segment(record_id)}/Attachments"
        fields = None
        if self.version >= FIELDS_REQUIRED_FROM:
            fields = "id,File_Name,Size,Created_Time,Modified_Time,Owner,Parent_Id"
        return self._iter_records(path, {"fields": fields}, "Attachments", per_page)

    def upload_attachment(
        self,
        record_id: str | int,
        file: IO[bytes] | bytes | str | os.PathLike,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """Attach a file (bytes, an open binary file or a path) to the record; return its id."""
        record_id = check_id(record_id, "record_id")
        if isinstance(file, (str, os.PathLike)):
            filename = filename or os.path.basename(os.fspath(file))
            with open(file, "rb") as handle:
                content = handle.read()
        elif isinstance(file, (bytes, bytearray, memoryview)):
            content = bytes(file)
        else:
            content = file.read()
            filename = filename or os.path.basename(getattr(file, "name", "") or "")
        filename = filename or "attachment"
        content_type = (
            content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        )
        response = self.client.request(
            "POST",
            f"{self.api_name}/{quote_segment(record_id)}/Attachments",
            files={"file": (filename, content, content_type)},
            allow_item_errors=True,
        )
        return _single_item(response, filename, "created", raise_on_failure=True).id or ""

    def download_attachment(self, record_id: str | int, attachment_id: str | int) -> Attachment:
        """Download one attachment's content."""
        record_id = check_id(record_id, "record_id")
        attachment_id = check_id(attachment_id, "attachment_id")
        path = (
            f"{self.api_name}/{quote_segment(record_id)}/Attachments/{quote_segment(attachment_id)}"
        )
        response = self.client.request("GET", path, raw=True)
        if response.status == 204:
            raise ZCRMNotFoundError(
                f"No attachment {attachment_id} on {self.api_name} record {record_id}.",
                status=204,
                request_id=response.request_id,
            )
        return Attachment(
            filename=_filename(response.headers.get("Content-Disposition", ""))
            or str(attachment_id),
            content_type=response.headers.get("Content-Type", "application/octet-stream"),
            content=response.content,
        )

    def delete_attachment(self, record_id: str | int, attachment_id: str | int) -> None:
        """Delete one attachment of the record."""
        record_id = check_id(record_id, "record_id")
        attachment_id = check_id(attachment_id, "attachment_id")
        path = (
            f"{self.api_name}/{quote_segment(record_id)}/Attachments/{quote_segment(attachment_id)}"
        )
        response = self.client.delete(path, allow_item_errors=True)
        _single_item(response, attachment_id, "deleted", raise_on_failure=True)

    # -- tags -----------------------------------------------------------------------------------

    def tags(self) -> list[dict[str, Any]]:
        """The module's tags (``/settings/tags?module=``)."""
        response = self.client.get("settings/tags", params={"module": self.api_name})
        return _metadata_list(response, "tags")

    def add_tags(self, ids: Iterable[str | int], tags: Sequence[str]) -> BatchResult:
        """Tag the records (tag names; created when new), 100 ids per call."""
        return self._tag("add_tags", ids, tags)

    def remove_tags(self, ids: Iterable[str | int], tags: Sequence[str]) -> BatchResult:
        """Remove tags (by name) from the records, 100 ids per call."""
        return self._tag("remove_tags", ids, tags)

    def _tag(self, action: str, ids: Iterable[str | int], tags: Sequence[str]) -> BatchResult:
        if isinstance(tags, str):
            tags = [tags]
        names = [str(t) for t in tags]
        ids = check_ids(_id_list(ids), "ids")
        if not names or len(names) > 50:
            raise ZCRMValidationError("Give between 1 and 50 tag names.")
        result = BatchResult(action, self.api_name)
        stop: ZCRMError | None = None
        path = f"{self.api_name}/actions/{action}"
        for chunk in iter_chunks(ids, MAX_PER_WRITE):
            entries = [
                RecordResult(len(result.results) + i, rid, NOT_ATTEMPTED, key=str(rid))
                for i, rid in enumerate(chunk)
            ]
            result.results.extend(entries)
            if stop is not None:
                _not_attempted(entries, stop)
                continue
            try:
                if self.version >= TAGS_JSON_FROM:
                    response = self.client.request(
                        "POST",
                        path,
                        json={"tags": [{"name": n} for n in names], "ids": [str(i) for i in chunk]},
                        idempotent=True,
                        allow_item_errors=True,
                    )
                else:
                    response = self.client.request(
                        "POST",
                        path,
                        params={
                            "ids": ",".join(str(i) for i in chunk),
                            "tag_names": ",".join(names),
                        },
                        idempotent=True,
                        allow_item_errors=True,
                    )
            except ZCRMError as exc:
                result.requests += int(exc.request_sent)
                stop = result.error = exc
                _failed_call(entries, exc, idempotent=True)
                continue
            result.requests += 1
            problem = _apply_items(
                entries, response, "tagged" if action == "add_tags" else "untagged"
            )
            if problem is not None:
                stop = result.error = problem
        return result

    # -- helpers --------------------------------------------------------------------------------

    def _list_fields(self, fields: Sequence[str] | str | None) -> str | None:
        if fields:
            return _join_fields(fields)
        if self.version < FIELDS_REQUIRED_FROM:
            return None
        names = self.field_names()
        if len(names) > MAX_FIELDS:
            raise ZCRMValidationError(
                f"API_VERSION {self.api_version} requires list calls to name their fields (at "
                f"most {MAX_FIELDS}) and {self.api_name} has {len(names)}: pass fields=[...]."
            )
        return ",".join(names)


# -- module-level functions -----------------------------------------------------------------------


_FROM_RE = re.compile(r"\bfrom\s+([A-Za-z0-9_]+)", re.IGNORECASE)


def coql(
    query: str,
    *,
    user_identifier: str | None = None,
    client: ZCRMClient | None = None,
    module: str | None = None,
) -> Page:
    """Run one COQL query (``POST /coql``); return its records (``module`` from the FROM clause)."""
    service = Service(user_identifier, client)
    response = service.client.post("coql", json={"select_query": query}, idempotent=True)
    if module is None:
        match = _FROM_RE.search(query)
        module = match.group(1) if match else None
    if response.is_empty:
        return Page([], {"count": 0, "more_records": False}, response=response)
    items = object_list(response, "data")
    return Page([Record(item, module) for item in items], info_of(response), response=response)


def build_criteria(criteria: str | Sequence[Criterion]) -> str:
    """Zoho's criteria string from a string (kept) or ``(field, operator, value)`` triples."""
    if isinstance(criteria, str):
        return criteria
    parts = []
    for item in criteria:
        try:
            field_name, operator, value = item
        except (TypeError, ValueError):
            raise ZCRMValidationError(
                f"criteria items must be (field, operator, value) triples, not {item!r}"
            ) from None
        if isinstance(value, (list, tuple, set)):
            text = ",".join(_escape_criteria(v) for v in value)
        else:
            text = _escape_criteria(value)
        parts.append(f"({field_name}:{operator}:{text})")
    if not parts:
        raise ZCRMValidationError("criteria is empty.")
    return parts[0] if len(parts) == 1 else "(" + "and".join(parts) + ")"


def _escape_criteria(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (datetime, date)):
        text = format_datetime(value)
    else:
        text = str(value)
    return re.sub(r"([(),\\])", r"\\\1", text)


def _join_fields(fields: Sequence[str] | str | None) -> str | None:
    if not fields:
        return None
    if isinstance(fields, str):
        return fields
    return ",".join(fields)


def _modified_since_header(value: datetime | date | str | None) -> dict[str, str] | None:
    if value is None:
        return None
    return {"If-Modified-Since": format_datetime(value)}


def _metadata_list(response: APIResponse, key: str) -> list[dict[str, Any]]:
    if response.is_empty:
        return []
    if answer_object(response).get(key) is None:
        raise malformed(response, f"expected a list under {key!r}, found none")
    return object_list(response, key)


def _key_function(key: str | KeyFunction | None) -> KeyFunction:
    if key is None:
        return lambda record: None
    if callable(key):
        return key
    return lambda record: record.get(key) if isinstance(record, Mapping) else None


def _field_of(details: Mapping[str, Any]) -> str | None:
    name = details.get("api_name")
    if name:
        return str(name)
    path = details.get("json_path")
    if isinstance(path, str) and "." in path:
        return path.rsplit(".", 1)[-1]
    return None


def _apply_items(
    entries: list[RecordResult],
    response: APIResponse,
    default_action: str | None,
    *,
    forgiving_delete: bool = False,
) -> ZCRMError | None:
    """Copy Zoho's per-item answers onto the entries; return an error if the answer is unusable."""
    items = response.data.get("data") if isinstance(response.data, dict) else None
    if not isinstance(items, list) or len(items) != len(entries):
        got = len(items) if isinstance(items, list) else "no"
        error = ZCRMMalformedResponseError(
            f"{response.method} {response.path}: sent {len(entries)} records, Zoho answered with "
            f"{got} per-record results (HTTP {response.status}); their outcome is unknown.",
            status=response.status,
            request_id=response.request_id,
        )
        for entry in entries:
            entry.status, entry.message = UNKNOWN, str(error)
        return error
    for entry, item in zip(entries, items, strict=False):
        if not isinstance(item, Mapping):
            entry.status, entry.message = UNKNOWN, "Zoho's per-record result is not an object"
            continue
        details: dict[str, Any] = item["details"] if isinstance(item.get("details"), dict) else {}
        code = item.get("code")
        entry.code = code
        entry.message = str(item.get("message") or "")
        entry.details = details
        status = item.get("status")
        if status == "success" or (status is None and code == "SUCCESS"):
            entry.status = SUCCEEDED
            rid = details.get("id")
            entry.id = str(rid) if rid is not None else _input_id(entry.input)
            entry.action = ACTIONS.get(str(item.get("action") or ""), default_action)
        elif (
            forgiving_delete
            and response.repeated_after_ambiguous
            and code in ("INVALID_DATA", "RECORD_NOT_FOUND")
        ):
            # Our first attempt (whose answer was lost) deleted it: the goal is reached.
            entry.status, entry.id, entry.action = SUCCEEDED, _input_id(entry.input), "deleted"
        else:
            entry.status = FAILED
            entry.field = _field_of(details)
    return None


def _id_list(ids: Any) -> Iterable[Any]:
    # A single id (a string is iterable too) would otherwise be split into characters; None or
    # another non-iterable is a single (bad) id, for check_ids to name.
    return ids if isinstance(ids, Iterable) and not isinstance(ids, str) else [ids]


def _input_id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return None if value is None else str(value)


def _failed_call(entries: list[RecordResult], error: ZCRMError, *, idempotent: bool) -> None:
    """Mark the records of a call that raised: not sent, unknown (may be applied) or failed."""
    sent = error.request_sent
    may_be_applied = sent and isinstance(error, (ZCRMServerError, ZCRMConnectionError))
    for entry in entries:
        entry.code = error.code
        entry.details = error.details if isinstance(error.details, dict) else {}
        if not sent:
            entry.status = NOT_ATTEMPTED
            entry.message = f"not sent: {error}"
        elif may_be_applied:
            entry.status = UNKNOWN
            advice = (
                "safe to send again"
                if idempotent
                else "look the records up before sending them again"
            )
            entry.message = f"Zoho may or may not have applied this call ({advice}): {error}"
        else:
            entry.status = FAILED
            entry.message = str(error)
            entry.field = _field_of(entry.details)


def _not_attempted(entries: list[RecordResult], error: ZCRMError) -> None:
    for entry in entries:
        entry.message = f"not sent: an earlier call failed ({type(error).__name__}: {error.code or error.status})"


def _local_failure(entry: RecordResult, message: str, code: str = "INVALID_INPUT") -> None:
    entry.status, entry.code, entry.message = FAILED, code, message


def _bad_update_id(operation: str, entry: RecordResult) -> str | None:
    """Why an update record's ``id`` cannot be sent (None, empty, not digits), or None.

    One bad record fails alone, unsent, as Zoho's own per-record errors do; a record with no
    ``id`` key at all is left to Zoho, which names the missing mandatory field.
    """
    if operation != "update" or "id" not in entry.input:
        return None
    try:
        check_id(entry.input["id"], f"records[{entry.index}]['id']")
    except ZCRMValidationError as exc:
        return exc.message
    return None


def _single_item(
    response: APIResponse, value: Any, default_action: str, *, raise_on_failure: bool = False
) -> RecordResult:
    entry = RecordResult(0, value, NOT_ATTEMPTED)
    problem = _apply_items([entry], response, default_action)
    if problem is not None:
        raise problem
    if raise_on_failure and entry.status != SUCCEEDED:
        raise ZCRMValidationError(
            f"{response.method} {response.path}: {entry.message or 'refused'}",
            status=response.status,
            code=entry.code,
            details=entry.details,
            request_id=response.request_id,
        )
    return entry


def _filename(disposition: str) -> str | None:
    if not disposition:
        return None
    # RFC 5987 (filename*=UTF-8''name.ext) first, as Zoho sends it.
    match = re.search(r"filename\*\s*=\s*([^']*)'[^']*'([^;]+)", disposition, re.IGNORECASE)
    if match:
        from urllib.parse import unquote

        return unquote(match.group(2).strip(), encoding=match.group(1) or "utf-8")
    match = re.search(r'filename\s*=\s*"?([^";]+)"?', disposition, re.IGNORECASE)
    return match.group(1).strip() if match else None
