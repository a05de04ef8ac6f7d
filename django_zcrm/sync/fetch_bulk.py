"""Bulk Read as a read strategy: one export job, its CSV streamed in chunks (``docs/design/sync.md``).

The job is created, polled with back-off until Zoho completes it, its zip downloaded to a
temporary file, and the CSV inside streamed in chunks of ``chunk`` rows, each converted to the
JSON the REST API would have given (:class:`CsvRecords`) and stored like a page. Progress is
``bulk:{job id}:{page}:{rows stored}`` in ``SyncState.run_position``: a resumed run downloads the
same job again and skips the rows already stored; a job Zoho no longer knows is started afresh.
Pages of 200,000 records follow one another (``more_records``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..exceptions import ZCRMNotFoundError
from ..redaction import get_logger
from ..services.bulk import BulkRead, iter_csv_rows

logger = get_logger(__name__)

__all__ = ["BulkChunk", "BulkReadChunks", "CsvRecords", "parse_position", "record_from_csv"]

INTEGER_TYPES = frozenset({"integer", "bigint", "autonumber_integer"})
DECIMAL_TYPES = frozenset({"double", "currency", "percent", "decimal"})
LOOKUP_TYPES = frozenset({"lookup", "ownerlookup", "userlookup"})


@dataclass(frozen=True, slots=True)
class BulkChunk:
    """Converted records and the position to store with them."""

    records: list[dict[str, Any]]
    position: str


def parse_position(text: str) -> tuple[str, int, int] | None:
    """``(job id, page, rows stored)`` from ``SyncState.run_position``; None if not a bulk one."""
    parts = text.split(":")
    if len(parts) != 4 or parts[0] != "bulk":
        return None
    try:
        return parts[1], int(parts[2]), int(parts[3])
    except ValueError:
        return None


def _cell_converter(kind: str) -> Callable[[str], Any] | None:
    """How a non-empty CSV cell of Zoho type ``kind`` becomes its JSON value (None: as text)."""
    if kind in LOOKUP_TYPES:
        return lambda text: {"id": text}
    if kind == "boolean":
        return lambda text: text.strip().lower() == "true"
    if kind == "multiselectpicklist":
        return lambda text: text.split(";")
    if kind in INTEGER_TYPES:
        return lambda text: int(text) if text.lstrip("-").isdigit() else text
    if kind in DECIMAL_TYPES:
        return _decimal
    return None


def _decimal(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text  # left for the mapping to refuse, record by record


class CsvRecords:
    """Turns Bulk Read CSV rows (lists of cells under ``header``) into the REST API's JSON.

    Empty cells become None (``[]`` for a multi-select picklist), lookups ``{"id"}``, booleans
    and numbers typed; other cells stay text. The per-column work is decided once, from the
    header, so a row costs one dict comprehension plus the typed columns.
    """

    def __init__(self, header: Sequence[str], types: Mapping[str, str]) -> None:
        self.names = list(header)
        self.typed: list[tuple[str, int, Callable[[str], Any], bool]] = []
        for index, name in enumerate(self.names):
            kind = types.get(name, "text")
            convert = None if name == "id" else _cell_converter(kind)
            if convert is not None:
                self.typed.append((name, index, convert, kind == "multiselectpicklist"))

    def __call__(self, row: Sequence[str]) -> dict[str, Any]:
        """One row's record; missing trailing cells are empty, extra ones dropped."""
        if len(row) < len(self.names):
            row = [*row, *[""] * (len(self.names) - len(row))]
        record: dict[str, Any] = {
            name: text or None for name, text in zip(self.names, row, strict=False)
        }
        for name, index, convert, listed in self.typed:
            text = row[index]
            if text:
                record[name] = convert(text)
            elif listed:
                record[name] = []
        return record


def record_from_csv(row: Mapping[str, str | None], types: Mapping[str, str]) -> dict[str, Any]:
    """One CSV row (header -> cell, as :func:`~django_zcrm.services.iter_csv` gives) as JSON."""
    cells = [(name, text) for name, text in row.items() if name is not None]
    return CsvRecords([n for n, _ in cells], types)([t or "" for _, t in cells])


class BulkReadChunks:
    """Iterate a whole module by Bulk Read jobs, in chunks (see the module docstring)."""

    def __init__(
        self,
        service: BulkRead,
        fields: Sequence[str],
        types: Mapping[str, str] | Callable[[], Mapping[str, str]],
        *,
        position: str = "",
        chunk: int = 2000,
        owner_fields: Sequence[str] = (),
        users: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None,
        wait: Callable[[BulkRead, str], Any] | None = None,
    ) -> None:
        self.service = service
        self.fields = [f for f in dict.fromkeys(fields) if f != "id"]
        self._types = types
        self.resume = parse_position(position)
        self.chunk = max(1, chunk)
        self.owner_fields = list(owner_fields)
        self.users = users
        self.wait = wait or (lambda service, job_id: service.wait(job_id))
        self.jobs = 0

    def _job(self, page: int) -> tuple[str, int, Mapping[str, Any]]:
        """A completed job for ``page``: the resumed one when Zoho still has it, else a new one."""
        if self.resume is not None and self.resume[1] == page:
            job_id, _, skip = self.resume
            self.resume = None
            self._prepare()
            try:
                return job_id, skip, self.wait(self.service, job_id)
            except ZCRMNotFoundError:
                logger.warning("Bulk Read job %s is gone; starting a new one.", job_id)
        self.resume = None
        job_id = self.service.create(self.fields, page=page)
        self.jobs += 1
        self._prepare()
        return job_id, 0, self.wait(self.service, job_id)

    def types(self) -> Mapping[str, str]:
        """Field API name -> Zoho ``data_type`` (read on first use when given as a function)."""
        if callable(self._types):
            self._types = self._types()
        return self._types

    def _prepare(self) -> None:
        """Read what converting the CSV needs (field types, the user directory) while Zoho works.

        Done once a job is running rather than before it, so these calls cost no time of their
        own: the job takes longer than they do.
        """
        self.types()
        if self.owner_fields and self.users is not None:
            self.users()

    def _fill_owners(self, records: list[dict[str, Any]]) -> None:
        if not self.owner_fields or self.users is None:
            return
        users = self.users()
        for record in records:
            for name in self.owner_fields:
                value = record.get(name)
                if isinstance(value, dict):
                    user = users.get(str(value.get("id")))
                    if user is not None:
                        value.setdefault("name", user.get("full_name"))
                        value.setdefault("email", user.get("email"))

    def __iter__(self) -> Iterator[BulkChunk]:
        page = self.resume[1] if self.resume is not None else 1
        while True:
            job_id, skip, job = self._job(page)
            with tempfile.TemporaryFile(prefix="zcrm-bulk-") as archive:
                self.service.download(job_id, archive)
                archive.seek(0)
                done = 0
                batch: list[dict[str, Any]] = []
                rows = iter_csv_rows(archive)
                to_record = CsvRecords(next(rows, []), self.types())
                for row in rows:
                    if not row:
                        continue  # a blank line, as csv.DictReader skips it
                    done += 1
                    if done <= skip:
                        continue
                    batch.append(to_record(row))
                    if len(batch) >= self.chunk:
                        self._fill_owners(batch)
                        yield BulkChunk(batch, f"bulk:{job_id}:{page}:{done}")
                        batch = []
                if batch:
                    self._fill_owners(batch)
                    yield BulkChunk(batch, f"bulk:{job_id}:{page}:{done}")
            result = job.get("result") if isinstance(job, Mapping) else None
            if not (isinstance(result, Mapping) and result.get("more_records")):
                return
            page += 1
