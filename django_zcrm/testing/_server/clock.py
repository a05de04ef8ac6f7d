"""The fake server's clock: real time plus an offset tests move."""

from __future__ import annotations

import threading
import time


class FakeClock:
    """A thread-safe clock: real time plus an offset that tests move with :meth:`advance`/:meth:`set`."""

    def __init__(self, offset: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._offset = float(offset)

    def now(self) -> float:
        """Return the fake time as epoch seconds."""
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (negative moves it back)."""
        with self._lock:
            self._offset += float(seconds)

    def set(self, epoch: float) -> None:
        """Make :meth:`now` return ``epoch`` at this instant; time then keeps flowing from there."""
        with self._lock:
            self._offset = float(epoch) - time.time()

    def __repr__(self) -> str:
        return f"FakeClock(offset={self._offset:+.3f}s)"
