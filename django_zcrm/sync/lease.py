"""The sync lease: one database lease per module and local model, on its ``SyncState`` row.

See ``docs/design/sync.md``. Taking the lease is one conditional UPDATE
(:func:`django_zcrm.leases.claim`; free, expired, or held by a process of this host that no longer
exists), so it works the same on every database and across hosts. The holder renews it with every
checkpoint; a holder that dies (even ``kill -9``) blocks others only until the lease
expires, or not at all when the next run starts on the same host.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction

from ..conf import get_settings
from ..exceptions import ZCRMSyncAlreadyRunningError, ZCRMSyncError
from ..leases import claim
from ..redaction import get_logger
from .models import SyncState
from .timeutil import now as current_time

logger = get_logger(__name__)


def owner_name() -> str:
    """``host:pid:random``: unique per run, and tells whether a holder on this host is alive."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _dead_local_owner(owner: str | None) -> bool:
    """True when ``owner`` is a process of this host that has exited."""
    if not owner:
        return False
    parts = owner.split(":")
    if len(parts) < 3:
        return False
    host, pid_text = ":".join(parts[:-2]), parts[-2]
    if host != socket.gethostname()[:80] or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by another user
    return False


def get_state(
    module: str, target: str, direction: str = SyncState.PULL, using: str = "default"
) -> SyncState:
    """The state row, created on first use (concurrent creators end up with the same row)."""
    rows = SyncState.objects.using(using)
    found = rows.filter(module=module, target=target, direction=direction).first()
    if found is not None:
        return found
    try:
        with transaction.atomic(using=using):
            return rows.create(module=module, target=target, direction=direction)
    except IntegrityError:
        return rows.get(module=module, target=target, direction=direction)


@dataclass
class Lease:
    """A held lease; ``renew()`` inside the checkpoint transaction, ``release()`` at the end."""

    state_id: int
    owner: str
    seconds: float
    using: str
    label: str

    def _rows(self):
        return SyncState.objects.using(self.using).filter(pk=self.state_id, lease_owner=self.owner)

    def renew(self, **changes: Any) -> None:
        """Extend the lease and apply ``changes`` to the state row, only if still ours.

        Call it inside the transaction that writes a page: if another run took the lease over
        (ours had expired), the UPDATE matches nothing and the page is rolled back.
        """
        until = current_time() + timedelta(seconds=self.seconds)
        if not self._rows().update(lease_until=until, **changes):
            raise ZCRMSyncError(
                f"Lost the sync lease of {self.label}: it expired and another run took it over. "
                "This run stopped without writing its last page; raise ZCRM['SYNC_LEASE_SECONDS'] "
                "if pages take that long."
            )

    def release(self, **changes: Any) -> None:
        """Give the lease up (and apply ``changes``) if still ours."""
        self._rows().update(lease_owner=None, lease_until=None, **changes)


def acquire(
    module: str,
    target: str,
    direction: str = SyncState.PULL,
    *,
    using: str = "default",
    seconds: float | None = None,
    label: str | None = None,
) -> Lease:
    """Take the lease or raise :class:`ZCRMSyncAlreadyRunningError` naming the holder."""
    seconds = float(seconds if seconds is not None else get_settings().SYNC_LEASE_SECONDS)
    label = label or f"{module} -> {target}"
    state = get_state(module, target, direction, using)
    owner = owner_name()
    now = current_time()
    until = now + timedelta(seconds=seconds)
    rows = SyncState.objects.using(using).filter(pk=state.pk)
    claimed = claim(
        rows,
        owner=owner,
        until=until,
        now=now,
        owner_field="lease_owner",
        until_field="lease_until",
    )
    if not claimed:
        current = rows.values_list("lease_owner", "lease_until").first() or (None, None)
        holder, holder_until = current
        if _dead_local_owner(holder):
            # Same host, process gone (killed): no need to wait for the lease to lapse.
            claimed = (
                rows.filter(lease_owner=holder).update(lease_owner=owner, lease_until=until) > 0
            )
            if claimed:
                logger.warning(
                    "Took over the sync lease of %s from %s, a process of this host "
                    "that no longer exists.",
                    label,
                    holder,
                )
        if not claimed:
            when = f"{holder_until:%Y-%m-%d %H:%M:%S %Z}" if holder_until else "soon"
            raise ZCRMSyncAlreadyRunningError(
                f"A sync of {label} is already running (lease held by {holder} until {when}). "
                "Wait for it to finish; if that process died on another host, the lease lapses "
                "at that time.",
                code="SYNC_ALREADY_RUNNING",
            )
    return Lease(state.pk, owner, seconds, using, label)
