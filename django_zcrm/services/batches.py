"""Send the batches of one write (create/update/upsert/delete), one after another or a few at once.

``concurrency=1`` (the default) is the plain loop: one call, its outcomes, the next call; the
first call that fails stops the run and the later batches are reported ``not_attempted``.
``concurrency=N`` keeps up to N calls in flight from a small thread pool (never more than
``ZCRM["MAX_CONCURRENT_REQUESTS"]``, which the client enforces per process anyway): batches
already in flight when one fails finish and keep their outcomes, the ones not yet sent are
``not_attempted``. Each call follows the client's rules of what is safe to repeat
(``docs/design/retries.md``): an insert is never repeated, concurrent or not. Results stay in
input order, one per input, because every batch fills the entries made for it in advance.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import connections

from ..conf import get_settings
from ..exceptions import ZCRMError
from .results import NOT_ATTEMPTED, BatchResult, RecordResult

#: Sends one batch; returns (requests sent, the error that stops the run or None).
Sender = Callable[[list[RecordResult]], tuple[int, ZCRMError | None]]


def workers_for(concurrency: int) -> int:
    """``concurrency`` as a number of threads: at least 1, at most ``MAX_CONCURRENT_REQUESTS``."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise TypeError(f"concurrency must be a whole number, got {concurrency!r}")
    cap = get_settings().MAX_CONCURRENT_REQUESTS
    # None or 0: the process has no cap (docs/design/retries.md, the in-flight cap).
    return max(1, min(concurrency, int(cap)) if cap else concurrency)


def run_batches(
    result: BatchResult,
    batches: Iterable[list[RecordResult]],
    send: Sender,
    concurrency: int = 1,
) -> None:
    """Send every batch with ``send``; record requests and the first stopping error on ``result``."""
    workers = workers_for(concurrency)
    stop: ZCRMError | None = None

    def settle(sent: int, problem: ZCRMError | None) -> None:
        nonlocal stop
        result.requests += sent
        if problem is not None and stop is None:
            stop = result.error = problem

    if workers == 1:
        for entries in batches:
            if stop is not None:
                _not_attempted(entries, stop)
                continue
            settle(*send(entries))
        return
    batches = iter(batches)
    # The first batch goes from the calling thread: it proves the tokens (refreshing them once,
    # not once per thread) before anything fans out, and a run stopped by it sends nothing more.
    for entries in batches:
        settle(*send(entries))
        break
    in_flight: deque[Future[tuple[int, ZCRMError | None]]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zcrm-write") as pool:
        try:
            for entries in batches:
                # A bounded window: at most ``workers`` batches materialised and in flight.
                while len(in_flight) >= workers:
                    settle(*in_flight.popleft().result())
                if stop is not None:
                    _not_attempted(entries, stop)
                    continue
                in_flight.append(pool.submit(_in_worker, send, entries))
        finally:
            while in_flight:
                settle(*in_flight.popleft().result())


def _in_worker(send: Sender, entries: list[RecordResult]) -> tuple[int, ZCRMError | None]:
    """``send`` in a pool thread, closing any database connection it opened (a token read)."""
    try:
        return send(entries)
    finally:
        for connection in connections.all(initialized_only=True):
            connection.close()


def _not_attempted(entries: list[RecordResult], error: ZCRMError) -> None:
    for entry in entries:
        if entry.status == NOT_ATTEMPTED:
            entry.message = (
                f"not sent: an earlier call failed ({type(error).__name__}: "
                f"{error.code or error.status})"
            )
