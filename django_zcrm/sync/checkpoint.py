"""Where a run starts and where it leaves the checkpoint (``docs/design/sync.md``).

Pure decisions over ``SyncState`` values, kept apart from the paging that feeds them: whether an
interrupted run is resumed, where a new one starts, and the checkpoint a finished run leaves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..redaction import get_logger
from .timeutil import aware, latest

logger = get_logger(__name__)

__all__ = ["FULL", "INCREMENTAL", "SINCE", "next_cursor", "resumes", "run_kind", "start_cursor"]

#: Kinds of run, as ``SyncState.run_kind`` stores them.
FULL, SINCE, INCREMENTAL = "full", "since", "incremental"


def run_kind(*, full: bool, since: datetime | None) -> str:
    """The kind of run these options ask for."""
    return FULL if full else SINCE if since is not None else INCREMENTAL


def resumes(state: Any, *, full: bool, since: datetime | None) -> bool:
    """Whether ``state`` holds an interrupted run that a run with these options continues.

    A full run resumes a full one; an incremental run resumes a full or an incremental one; a
    ``since`` run resumes one started from the same time.
    """
    if not state.run_id:
        return False
    if full:
        return state.run_kind == FULL
    if since is None:
        return state.run_kind in (FULL, INCREMENTAL)
    return state.run_kind == SINCE and aware(state.run_since) == since


def start_cursor(kind: str, since: datetime | None, checkpoint: datetime | None) -> datetime | None:
    """Where a new run's listing starts: nowhere (full), at ``since``, or at the checkpoint."""
    if kind == FULL:
        return None
    return since if kind == SINCE else checkpoint


def next_cursor(
    kind: str,
    *,
    old: datetime | None,
    since: datetime | None,
    read_up_to: datetime | None,
    signpost: datetime | None,
    rewind: datetime | None,
    module: str,
) -> tuple[datetime | None, bool]:
    """The checkpoint a finished run leaves, and whether it was moved back for ``rewind``.

    ``read_up_to`` is the newest ``Modified_Time`` the run stored, ``signpost`` Zoho's clock
    when the listing started (every older record was visible to it), ``rewind`` the oldest
    version of a record that moved under the listing. A ``since`` run that started after the
    checkpoint leaves it alone: the records between the two were not read.
    """
    contiguous = kind != SINCE or old is None or since is None or since <= old
    if kind == FULL:
        cursor = latest(read_up_to, signpost)
    elif contiguous:
        cursor = latest(old, read_up_to, signpost)
    else:
        cursor = old
        logger.warning(
            "The checkpoint of %s stays at %s: the --since run started later, "
            "so records between the two were not read.",
            module,
            old.isoformat() if old else None,
        )
    if rewind is not None and cursor is not None and rewind < cursor:
        logger.warning(
            "Records of %s changed or were deleted in Zoho while this run was paging; "
            "the checkpoint moves back to %s so the next run re-reads what paging may "
            "have skipped.",
            module,
            rewind.isoformat(),
        )
        return rewind, True
    return cursor, False
