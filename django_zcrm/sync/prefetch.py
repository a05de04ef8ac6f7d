"""Fetch ahead in a thread while the caller writes (``docs/design/sync.md``, "Read strategies").

:func:`prefetch` runs an iterator of pages in a background thread and hands its items over a
bounded queue, so the network and the database overlap and memory stays flat: at most ``depth``
items wait, the producer blocks when the writer falls behind. Database writes stay in the
caller's thread (Django connections are per thread); the producer's thread closes whatever
connection it opened (e.g. a token read from the database) before it ends.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from django.db import connections

__all__ = ["prefetch"]

T = TypeVar("T")

_DONE = object()


class _Failure:
    """The producer's exception, re-raised in the consumer's thread."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Prefetch(Generic[T]):
    def __init__(self, source: Iterable[T], depth: int, name: str) -> None:
        self.queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self.stop = threading.Event()
        self.source = source
        self.thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self.thread.start()

    def _put(self, item: object) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        iterator = iter(self.source)
        try:
            for item in iterator:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(_Failure(exc))
        finally:
            close = getattr(iterator, "close", None)
            if callable(close):
                close()
            connections.close_all()

    def __iter__(self) -> Iterator[T]:
        try:
            while True:
                item = self.queue.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                yield item  # type: ignore[misc]
        finally:
            self.stop.set()
            self.thread.join(timeout=30)


def prefetch(source: Iterable[T], *, depth: int = 2, name: str = "zcrm-prefetch") -> Iterator[T]:
    """Iterate ``source`` in a background thread, at most ``depth`` items ahead of the caller.

    Exceptions of the source are raised in the caller's thread at the point they occurred;
    leaving the loop early stops the producer (after the item it is fetching).
    """
    return iter(_Prefetch(source, depth, name))
