"""Bulk Read as a read strategy: one export job, its CSV streamed in chunks (``docs/design/sync.md``).

The job is created, polled with back-off until Zoho completes it, its zip downloaded to a
temporary file, and the CSV inside streamed in chunks of ``chunk`` rows, each converted to the
JSON the REST API would have given (:func:`record_from_csv`) and stored like a page. Progress is
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
from ..services.bulk import BulkRead, iter_csv

logger = get_logger(__name__)

__all__ = ["BulkChunk", "BulkReadChunks", "parse_position", "record_from_csv"]

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


def record_from_csv(row: Mapping[str, str], types: Mapping[str, str]) -> dict[str, Any]:
    """One CSV row as the REST API's JSON: empty cells None, lookups ``{"id"}``, typed scalars."""
    record: dict[str, Any] = {}
    for name, text in row.items():
        if name is None:
            continue  # a row longer than the header: nothing to name it by
        kind = types.get(name, "text")
        if text is None or text == "":
            record[name] = [] if kind == "multiselectpicklist" else None
        elif name == "id":
            record[name] = text
        elif kind in LOOKUP_TYPES:
            record[name] = {"id": text}
        elif kind == "boolean":
            record[name] = text.strip().lower() == "true"
        elif kind == "multiselectpicklist":
            record[name] = text.split(";")
        elif kind in INTEGER_TYPES:
            record[name] = int(text) if text.lstrip("-").isdigit() else text
        elif kind in DECIMAL_TYPES:
            try:
                record[name] = float(text)
            except ValueError:
                record[name] = text  # left for the mapping to refuse, record by record
        else:
            record[name] = text
    return record


class BulkReadChunks:
    """Iterate a whole module by Bulk Read jobs, in chunks (see the module docstring)."""

    def __init__(
        self,
        service: BulkRead,
        fields: Sequence[str],
        types: Mapping[str, str],
        *,
        position: str = "",
        chunk: int = 2000,
        owner_fields: Sequence[str] = (),
        users: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None,
        wait: Callable[[BulkRead, str], Any] | None = None,
    ) -> None:
        self.service = service
        self.fields = [f for f in dict.fromkeys(fields) if f != "id"]
        self.types = types
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
            try:
                return job_id, skip, self.wait(self.service, job_id)
            except ZCRMNotFoundError:
                logger.warning("Bulk Read job %s is gone; starting a new one.", job_id)
        self.resume = None
        job_id = self.service.create(self.fields, page=page)
        self.jobs += 1
        return job_id, 0, self.wait(self.service, job_id)

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
                for row in iter_csv(archive):
                    done += 1
                    if done <= skip:
                        continue
                    batch.append(record_from_csv(row, self.types))
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
