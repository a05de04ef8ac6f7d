"""``NOTIFY_PROCESS_INLINE``: drain the inbox right after the response has gone to Zoho.

The WSGI server calls ``close()`` on a response once its bytes are sent; the receiver's answer
is a :class:`ProcessAfterClose`, whose ``close()`` wakes one background thread per process that
drains the inbox and exits when nothing is left. A burst of callbacks starts one drain, not one
thread each. The inbox row was committed before the response, so a crash here loses nothing: the
next drain (or a worker) picks the event up.
"""

from __future__ import annotations

import threading

from django.db import close_old_connections
from django.http import JsonResponse

from ..redaction import get_logger
from .processor import process_pending

logger = get_logger(__name__)

_lock = threading.Lock()
_running = False
_again = False
#: Threads started by the last drains (tests join them).
threads: list[threading.Thread] = []


class ProcessAfterClose(JsonResponse):
    """A JSON answer that starts an inbox drain once the server has sent it."""

    def close(self) -> None:
        super().close()
        wake()


def wake() -> None:
    """Start a drain thread, or ask the running one to go round once more."""
    global _running, _again
    with _lock:
        if _running:
            _again = True
            return
        _running = True
        _again = False
        thread = threading.Thread(target=_drain_loop, name="zcrm-notify-inline", daemon=True)
        threads[:] = [t for t in threads if t.is_alive()] + [thread]
    thread.start()


def _drain_loop() -> None:
    global _running, _again
    try:
        while True:
            try:
                process_pending()
            except Exception:
                # Logged, never raised into the server thread; the events stay in the inbox.
                logger.exception("Processing notifications after the response failed.")
            with _lock:
                if not _again:
                    _running = False
                    return
                _again = False
    finally:
        close_old_connections()
        with _lock:
            _running = False
