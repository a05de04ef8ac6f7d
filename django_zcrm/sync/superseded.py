"""Mirror rows left behind when a module moves from ``CRMRecord`` to a typed model.

Once ``SYNC_MODELS`` maps a module to a typed model, ``zcrm_sync`` writes there and the module's
``CRMRecord`` rows stop updating. Nothing breaks, so nobody would notice: each run into the typed
model logs a warning while such rows exist, and the SyncState admin marks the old mirror's row
(see docs/design/sync.md, "Typed models and the CRMRecord mirror").
"""

from __future__ import annotations

from django.db import router

from ..exceptions import ZCRMConfigurationError
from ..redaction import get_logger
from .models import CRMRecord, SyncState
from .targets import GenericTarget, Target, resolve_target

logger = get_logger(__name__)

__all__ = ["superseded_by", "warn_if_superseded"]

GENERIC_LABEL = CRMRecord._meta.label_lower


def superseded_by(state: SyncState) -> str | None:
    """The typed model that replaced ``state``'s ``CRMRecord`` mirror, or None when it is current."""
    if state.target != GENERIC_LABEL or state.direction != SyncState.PULL:
        return None
    try:
        target = resolve_target(state.module)
    except ZCRMConfigurationError:  # a broken SYNC_MODELS entry: the system checks report it
        return None
    return None if isinstance(target, GenericTarget) else target.label


def warn_if_superseded(target: Target) -> int:
    """Log a warning when ``target`` is typed and ``CRMRecord`` still holds the module; the count."""
    if isinstance(target, GenericTarget):
        return 0
    alias = router.db_for_read(CRMRecord)
    stale = CRMRecord.objects.using(alias).filter(module=target.module).count()
    if stale:
        logger.warning(
            "%s now syncs into %s: the %d %s rows of %s no longer update. Delete them once "
            "nothing reads them: CRMRecord.objects.filter(module=%r).delete()",
            target.module,
            target.label,
            stale,
            GENERIC_LABEL,
            target.module,
            target.module,
        )
    return stale
