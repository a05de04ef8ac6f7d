"""What a sync or push run reports: plain dataclasses, returned to every caller alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ..exceptions import ZCRMError

__all__ = ["ProgressCallback", "PushResult", "SyncProgress", "SyncResult"]

#: Failures a ``SyncResult`` lists by id and reason (the count goes on past it).
MAX_FAILURES_KEPT = 50
#: Rejected rows a ``PushResult`` lists by primary key and reason.
MAX_ERRORS_KEPT = 50


@dataclass
class SyncResult:
    """What one run did to one module."""

    module: str
    model: str
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: int = 0
    #: Rows not overwritten because they hold local changes that zcrm_push has not sent yet.
    kept_local: int = 0
    api_calls: int = 0
    elapsed: float = 0.0
    pages: int = 0
    full: bool = False
    dry_run: bool = False
    resumed: bool = False
    #: How the run read Zoho: "rest" (pages) or "coql" (COQL windows); see ``sync.planner``.
    strategy: str = "rest"
    #: The checkpoint after the run (Modified_Time the next run starts from, before lookback).
    cursor: datetime | None = None
    #: True when records changed under the listing and the checkpoint was moved back for them.
    rewound: bool = False
    #: ``(zoho_id, reason)`` of the first records that could not be stored.
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: Records that could not be stored and wait in ``SyncState.failed_ids`` to be read again.
    pending_failures: int = 0
    #: Records of this run that could not be stored nor kept for retry (the list was full).
    retry_overflow: int = 0
    #: Some record that could not be stored was not kept for retry since the last full run:
    #: only ``--full`` reads it again.
    full_sync_needed: bool = False

    @property
    def changed(self) -> int:
        """Rows created, updated or deleted."""
        return self.created + self.updated + self.deleted

    def summary(self) -> str:
        """One line: ``Leads -> crm.lead: 5000 created, 0 updated, ... 26 API calls, 3.1 s``."""
        prefix = "[dry run] " if self.dry_run else ""
        text = (
            f"{prefix}{self.module} -> {self.model}: {self.created} created, {self.updated} "
            f"updated, {self.deleted} deleted, {self.unchanged} unchanged, {self.failed} failed, "
            f"{self.api_calls} API calls, {self.elapsed:.1f} s"
        )
        extras = []
        if self.kept_local:
            extras.append(f"{self.kept_local} kept (local changes not pushed yet)")
        if self.pending_failures:
            extras.append(f"{self.pending_failures} pending retry")
        if self.retry_overflow:
            extras.append(
                f"{self.retry_overflow} failed records not kept for retry (list full): "
                "run --full once the model is fixed"
            )
        elif self.full_sync_needed:
            extras.append(
                "failed records were not kept for retry: run --full once the model is fixed"
            )
        if self.strategy != "rest":
            extras.append(f"read by {self.strategy}")
        if self.resumed:
            extras.append("resumed an interrupted run")
        if self.rewound:
            extras.append("records changed during the run: the next run re-reads them")
        if extras:
            text += " (" + "; ".join(extras) + ")"
        return text

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly counters (stored in ``SyncState.last_result``)."""
        data = asdict(self)
        data["cursor"] = self.cursor.isoformat() if self.cursor else None
        data["failures"] = [list(f) for f in self.failures]
        return data

    def _fail(self, zoho_id: str, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_FAILURES_KEPT:
            self.failures.append((zoho_id, reason))


@dataclass
class SyncProgress:
    """Reported after every committed page (``phase``: ``records``, ``deleted`` or ``retry``)."""

    module: str
    phase: str
    pages: int
    records: int
    total: int | None
    result: SyncResult


ProgressCallback = Callable[[SyncProgress], None]


@dataclass
class PushResult:
    """What one push did."""

    module: str
    model: str
    total: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    unknown: int = 0
    not_attempted: int = 0
    api_calls: int = 0
    elapsed: float = 0.0
    #: ``(primary key, reason)`` of the first rows that were not accepted.
    errors: list[tuple[Any, str]] = field(default_factory=list)
    #: The error that stopped the push early (rate limit, lost connection...), if any.
    error: ZCRMError | None = None

    @property
    def succeeded(self) -> int:
        """Rows Zoho accepted."""
        return self.created + self.updated

    @property
    def ok(self) -> bool:
        """True when every row was accepted."""
        return self.succeeded == self.total and self.error is None

    def summary(self) -> str:
        """One line for logs and command output."""
        text = (
            f"{self.model} -> {self.module}: {self.total} local changes, {self.created} "
            f"created, {self.updated} updated, {self.failed} failed"
        )
        if self.unknown:
            text += f", {self.unknown} unknown"
        if self.not_attempted:
            text += f", {self.not_attempted} not attempted"
        text += f", {self.api_calls} API calls, {self.elapsed:.1f} s"
        if self.error is not None:
            text += f"; stopped by {type(self.error).__name__}: {self.error}"
        return text

    def _error(self, pk: Any, reason: str) -> None:
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append((pk, reason))
