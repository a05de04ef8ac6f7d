"""What a batch write did to every input record (docs/design/retries.md, "Batch results").

Nothing is dropped: each input gets exactly one :class:`RecordResult`, in input order, in one of
four states:

* ``succeeded``: Zoho applied it; ``id`` and ``action`` (``created``/``updated``/``deleted``...).
* ``failed``: Zoho refused it; ``code``, ``field`` and ``message`` say why. Fix and re-send.
* ``unknown``: the request may or may not have been applied (a 5xx or a timeout on an insert,
  which is never repeated blindly). Look the records up before sending them again.
* ``not_attempted``: never sent, because an earlier batch hit an error that stops the run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from ..exceptions import ZCRMError

SUCCEEDED = "succeeded"
FAILED = "failed"
UNKNOWN = "unknown"
NOT_ATTEMPTED = "not_attempted"

#: Zoho's per-item ``action`` / operation name -> ours.
ACTIONS = {"insert": "created", "update": "updated", "upsert": "upserted", "delete": "deleted"}


@dataclass(slots=True)
class RecordResult:
    """The outcome for one input record."""

    index: int
    input: Any
    status: str
    id: str | None = None
    action: str | None = None
    code: str | None = None
    message: str = ""
    field: str | None = None
    details: dict[str, Any] = dc_field(default_factory=dict)
    key: Any = None

    @property
    def ok(self) -> bool:
        """True when Zoho applied this record."""
        return self.status == SUCCEEDED

    @property
    def duplicate_of(self) -> str | None:
        """For ``DUPLICATE_DATA``: the id of the existing record, when Zoho says it."""
        if self.code != "DUPLICATE_DATA":
            return None
        existing = self.details.get("duplicate_record")
        if isinstance(existing, dict) and existing.get("id"):
            return str(existing["id"])
        value = self.details.get("id")
        return str(value) if value else None

    def describe(self) -> str:
        """One line for people: ``#3 failed: MANDATORY_NOT_FOUND on Last_Name (required ...)``."""
        label = f"#{self.index}" + (f" ({self.key})" if self.key is not None else "")
        if self.status == SUCCEEDED:
            return f"{label} {self.action or 'done'}: {self.id}"
        if self.status == FAILED:
            where = f" on {self.field}" if self.field else ""
            return f"{label} failed: {self.code}{where} ({self.message})"
        if self.status == UNKNOWN:
            return f"{label} outcome unknown: {self.message}"
        return f"{label} not attempted: {self.message}"


@dataclass
class BatchResult(Sequence[RecordResult]):
    """Every input's outcome in input order, plus the error that stopped the run (if any)."""

    operation: str
    module: str
    results: list[RecordResult] = dc_field(default_factory=list)
    error: ZCRMError | None = None
    #: API calls made (one per batch sent; the client's own retries are not counted).
    requests: int = 0

    # -- sequence -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: Any) -> Any:
        return self.results[index]

    def __iter__(self) -> Iterator[RecordResult]:
        return iter(self.results)

    # -- buckets --------------------------------------------------------------------------------

    def _bucket(self, status: str) -> list[RecordResult]:
        return [r for r in self.results if r.status == status]

    @property
    def succeeded(self) -> list[RecordResult]:
        """Records Zoho applied."""
        return self._bucket(SUCCEEDED)

    @property
    def failed(self) -> list[RecordResult]:
        """Records Zoho refused, with its code, field and message."""
        return self._bucket(FAILED)

    @property
    def unknown(self) -> list[RecordResult]:
        """Records whose request may or may not have been applied."""
        return self._bucket(UNKNOWN)

    @property
    def not_attempted(self) -> list[RecordResult]:
        """Records never sent because the run stopped."""
        return self._bucket(NOT_ATTEMPTED)

    @property
    def created(self) -> list[RecordResult]:
        """Succeeded records Zoho created (insert, or upsert that inserted)."""
        return [r for r in self.results if r.status == SUCCEEDED and r.action == "created"]

    @property
    def updated(self) -> list[RecordResult]:
        """Succeeded records Zoho updated (update, or upsert that found a duplicate)."""
        return [r for r in self.results if r.status == SUCCEEDED and r.action == "updated"]

    @property
    def ids(self) -> list[str | None]:
        """The Zoho id for every input, in input order (None where it did not succeed)."""
        return [r.id if r.status == SUCCEEDED else None for r in self.results]

    @property
    def ok(self) -> bool:
        """True when every record succeeded."""
        return self.error is None and all(r.status == SUCCEEDED for r in self.results)

    def counts(self) -> dict[str, int]:
        """How many records ended in each state."""
        counts = {SUCCEEDED: 0, FAILED: 0, UNKNOWN: 0, NOT_ATTEMPTED: 0}
        for r in self.results:
            counts[r.status] += 1
        return counts

    def summary(self) -> str:
        """One line for logs and command output."""
        counts = self.counts()
        parts = [f"{counts[SUCCEEDED]} succeeded", f"{counts[FAILED]} failed"]
        if counts[UNKNOWN]:
            parts.append(f"{counts[UNKNOWN]} unknown")
        if counts[NOT_ATTEMPTED]:
            parts.append(f"{counts[NOT_ATTEMPTED]} not attempted")
        records = len(self.results)
        text = (
            f"{self.operation} {self.module}: {records} record{'s' * (records != 1)}, "
            + ", ".join(parts)
            + f" in {self.requests} request{'s' * (self.requests != 1)}"
        )
        if self.error is not None:
            text += f"; stopped by {type(self.error).__name__}: {self.error}"
        return text

    def raise_for_error(self) -> None:
        """Raise the error that stopped the run, if there was one."""
        if self.error is not None:
            raise self.error

    def __repr__(self) -> str:
        return f"<BatchResult {self.summary()}>"
