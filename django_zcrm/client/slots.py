"""The process-wide caps on CRM API calls in flight (``MAX_CONCURRENT_REQUESTS`` and, for heavy
calls such as COQL and Bulk Read, the lower ``MAX_CONCURRENT_HEAVY_REQUESTS``).

Zoho limits the calls an org has in flight at once (5 to 25 by edition, 10 for heavy calls; see
``docs/design/retries.md``, "The in-flight cap (MAX_CONCURRENT_REQUESTS)"). Every client of the
process shares one semaphore, held for the HTTP exchange only (never during a back-off sleep or a
token refresh). A call that finds no free slot within its bound is not sent and raises
:class:`ZCRMRateLimitError` with code ``LOCAL_CONCURRENCY_LIMIT``, naming the setting. After a
fork the child starts with a free cap.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from ..conf import ZCRMSettings, get_settings
from ..exceptions import ZCRMConfigurationError, ZCRMRateLimitError
from ..redaction import get_logger

# One logger for the whole client package: the name projects configure and tests look for.
logger = get_logger("django_zcrm.client")

#: ``ZCRMRateLimitError.code`` when this process's own cap (MAX_CONCURRENT_REQUESTS) had no free
#: slot in time; the request was not sent.
LOCAL_CONCURRENCY_LIMIT = "LOCAL_CONCURRENCY_LIMIT"


@dataclass(frozen=True, slots=True)
class Slots:
    """One semaphore of ``limit`` slots, shared by every client of the process."""

    limit: int
    semaphore: threading.BoundedSemaphore
    heavy: bool = False

    def take(self, method: str, path: str, bound: float) -> None:
        """Take a slot, waiting at most ``bound`` seconds; raise the local-limit error if none."""
        if self.semaphore.acquire(blocking=False):
            return
        logger.debug(
            "%s %s waits for a free slot (%d calls in flight, up to %.1f s).",
            method,
            path,
            self.limit,
            bound,
        )
        started = time.monotonic()
        if self.semaphore.acquire(timeout=bound):
            logger.debug(
                "%s %s got a slot after %.0f ms.", method, path, (time.monotonic() - started) * 1000
            )
            return
        key = "MAX_CONCURRENT_HEAVY_REQUESTS" if self.heavy else "MAX_CONCURRENT_REQUESTS"
        kind = "heavy CRM API" if self.heavy else "CRM API"
        error = ZCRMRateLimitError(
            f"{method} {path}: not sent: this process already had {self.limit} {kind} "
            f"call{'s' if self.limit != 1 else ''} in flight "
            f"(ZCRM['{key}'] = {self.limit}) and none finished "
            f"within {bound:g} s. Raise ZCRM['{key}'] (keeping it within your "
            "Zoho edition's concurrency limit divided by the number of processes), make fewer "
            "calls at once, or look for calls that hang (ZCRM['HTTP_TIMEOUT']).",
            code=LOCAL_CONCURRENCY_LIMIT,
        )
        # Batch writes report these records as not attempted.
        error.request_sent = False
        logger.warning("%s", error)
        raise error

    def release(self) -> None:
        """Give the slot back."""
        self.semaphore.release()


_slots: Slots | None = None
_heavy: Slots | None = None
_slots_lock = threading.Lock()

#: Heavy calls (Zoho counts them against its own, lower limit): COQL and Bulk Read.
HEAVY_PATHS = ("coql",)
HEAVY_PREFIXES = ("/crm/bulk/",)


def is_heavy(path: str) -> bool:
    """Whether a call to ``path`` counts against ``MAX_CONCURRENT_HEAVY_REQUESTS``."""
    return path.strip("/") in HEAVY_PATHS or path.startswith(HEAVY_PREFIXES)


def heavy_slots(conf: ZCRMSettings) -> Slots | None:
    """The process's semaphore for heavy calls (taken before, and on top of, the general one)."""
    global _heavy
    try:
        limit = conf.max_concurrent_heavy_requests
    except ValueError as exc:
        raise ZCRMConfigurationError(
            f"{exc}. Set it to the most heavy calls (COQL, Bulk Read) one process may have in "
            "flight (e.g. 5), or None / 0 for no cap of their own."
        ) from None
    if limit is None:
        return None
    slots = _heavy
    if slots is None or slots.limit != limit:
        with _slots_lock:
            slots = _heavy
            if slots is None or slots.limit != limit:
                slots = _heavy = Slots(limit, threading.BoundedSemaphore(limit), heavy=True)
    return slots


def request_slots(conf: ZCRMSettings) -> Slots | None:
    """The semaphore shared by every client of this process; None when there is no cap.

    Built on first use and rebuilt when the configured cap differs (settings changed). Calls in
    flight on an old semaphore release into that one, so nothing leaks either way.
    """
    global _slots
    limit = _configured_cap(conf)
    if limit is None:
        return None
    slots = _slots
    if slots is None or slots.limit != limit:
        with _slots_lock:
            slots = _slots
            if slots is None or slots.limit != limit:
                slots = _slots = Slots(limit, threading.BoundedSemaphore(limit))
    return slots


def forget_request_slots() -> None:
    """Drop the semaphore unless the cap is unchanged (calls in flight on it stay counted)."""
    global _slots, _heavy
    try:
        limit = get_settings().max_concurrent_requests
    except ValueError:
        limit = None
    try:
        heavy = get_settings().max_concurrent_heavy_requests
    except ValueError:
        heavy = None
    with _slots_lock:
        if _slots is not None and _slots.limit != limit:
            _slots = None
        if _heavy is not None and _heavy.limit != heavy:
            _heavy = None


def _configured_cap(conf: ZCRMSettings) -> int | None:
    try:
        return conf.max_concurrent_requests
    except ValueError as exc:
        # Checks (E017) and the OAuth client's start-up validation normally catch this first.
        raise ZCRMConfigurationError(
            f"{exc}. Set it to the most CRM API calls one process may have in flight (e.g. 10), "
            "or None / 0 for no cap."
        ) from None


def _after_fork_in_child() -> None:
    # The parent's threads (and the slots they held) do not exist here; start with a free cap.
    global _slots, _heavy, _slots_lock
    _slots, _heavy, _slots_lock = None, None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
