"""Bulk Read: one asynchronous export job per module page (``/crm/bulk/{version}/read``).

``BulkRead("Leads").create(fields)`` starts a job; :meth:`BulkRead.wait` polls its state with
back-off until ``COMPLETED``; :meth:`BulkRead.download` writes the zip to a file;
:func:`iter_csv` then streams the rows of the CSV inside it without loading the file (the wire
format is in ``docs/design/wire-format.md``, "Bulk Read"). Every cell is a string: lookups and
owners hold their id, booleans ``true``/``false``, multi-select picklists ``;``-joined values.
"""

from __future__ import annotations

import csv
import io
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

from ..client import ZCRMClient
from ..exceptions import ZCRMBulkReadError, ZCRMMalformedResponseError
from .base import Service

__all__ = ["BulkRead", "ZCRMBulkReadError", "iter_csv", "iter_csv_rows"]

COMPLETED, FAILURE = "COMPLETED", "FAILURE"


class BulkRead(Service):
    """Bulk Read jobs of one module."""

    def __init__(
        self,
        module: str,
        user_identifier: str | None = None,
        client: ZCRMClient | None = None,
    ) -> None:
        super().__init__(user_identifier, client)
        self.module = module

    def _path(self, suffix: str = "") -> str:
        return f"/crm/bulk/{self.api_version}/read{suffix}"

    def create(self, fields: Sequence[str] | None = None, *, page: int = 1) -> str:
        """Start a job for ``fields`` (all when None) of page ``page``; return the job id."""
        module: Any = self.module if self.version < (2, 1) else {"api_name": self.module}
        query: dict[str, Any] = {"module": module, "page": page}
        if fields:
            query["fields"] = list(fields)
        response = self.client.post(
            self._path(), json={"query": query, "file_type": "csv"}, idempotent=False
        )
        try:
            return str(response.data["data"][0]["details"]["id"])
        except (KeyError, IndexError, TypeError):
            raise ZCRMMalformedResponseError(
                "POST bulk read: expected data[0].details.id in the answer.",
                status=response.status,
                request_id=response.request_id,
            ) from None

    def status(self, job_id: str) -> dict[str, Any]:
        """The job as Zoho describes it (``state``, and ``result`` once completed)."""
        response = self.client.get(self._path(f"/{job_id}"))
        items = response.data.get("data") if isinstance(response.data, dict) else None
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            raise ZCRMMalformedResponseError(
                f"GET bulk read {job_id}: expected a job under 'data'.",
                status=response.status,
                request_id=response.request_id,
            )
        return items[0]

    def wait(
        self,
        job_id: str,
        *,
        timeout: float = 3600.0,
        first_delay: float = 1.0,
        max_delay: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> dict[str, Any]:
        """Poll until the job completes (delays double from ``first_delay`` up to ``max_delay``)."""
        deadline = clock() + timeout
        delay = first_delay
        while True:
            job = self.status(job_id)
            state = str(job.get("state") or "")
            if state == COMPLETED:
                return job
            if state == FAILURE:
                raise ZCRMBulkReadError(f"Bulk Read job {job_id} of {self.module} failed at Zoho.")
            if clock() + delay > deadline:
                raise ZCRMBulkReadError(
                    f"Bulk Read job {job_id} of {self.module} is still {state or 'pending'} "
                    f"after {timeout:g} s; try again later (the job id stays valid for a day)."
                )
            sleep(delay)
            delay = min(max_delay, delay * 2)

    def download(self, job_id: str, into: IO[bytes]) -> int:
        """Write the job's zip into ``into``; return its size in bytes."""
        response = self.client.request("GET", self._path(f"/{job_id}/result"), raw=True)
        into.write(response.content)
        return len(response.content)


#: What a broken download raises while it is read: a file that is not a zip, a truncated or
#: corrupt one, text that is not UTF-8, a CSV its reader cannot parse.
_UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, UnicodeDecodeError, csv.Error)


@contextmanager
def _csv_text(archive: IO[bytes]) -> Iterator[IO[str]]:
    """The one CSV file inside a Bulk Read zip, open as text.

    A download that cannot be read raises ``ZCRMMalformedResponseError`` saying why; rows
    already handed out stay valid (a resumed sync downloads the job again).
    """
    try:
        with zipfile.ZipFile(archive) as zipped:
            names = [n for n in zipped.namelist() if n.lower().endswith(".csv")]
            if len(names) != 1:
                raise ZCRMMalformedResponseError(
                    f"A Bulk Read zip should hold one CSV file; it holds {len(names)}."
                )
            with zipped.open(names[0]) as raw:
                yield io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    except _UNREADABLE as exc:
        raise ZCRMMalformedResponseError(
            f"The Bulk Read download cannot be read ({type(exc).__name__}: {exc}); "
            "download the job's result again, or start a new job."
        ) from exc


def iter_csv(archive: IO[bytes]) -> Iterator[dict[str, str]]:
    """The rows of the CSV inside a Bulk Read zip, one dict per row, streamed."""
    with _csv_text(archive) as text:
        yield from csv.DictReader(text)


def iter_csv_rows(archive: IO[bytes]) -> Iterator[list[str]]:
    """The CSV inside a Bulk Read zip as lists of cells, its header first, streamed.

    Cheaper than :func:`iter_csv` for a reader that converts every row anyway.
    """
    with _csv_text(archive) as text:
        yield from csv.reader(text)
