"""COQL windows: a whole module read by id ranges, several windows in flight (``docs/design/sync.md``).

A cheap scan (``select id ... where id > X order by id limit L``) finds the first window's last
id; after it, the last ids of the next few windows are looked up at once (``select id ... where
id > X order by id limit 1 offset kL-1``, k = 1..n, within COQL's OFFSET reach), so at high
latency the scan does not hold the windows back. Every window (``id > lo and id <= hi``, read on
while an answer is full) is fetched on a small pool of threads while the scan goes on, and
windows are handed back **in id order**, so "every record up to this id is stored" is a complete
checkpoint for a resumed run. ``L`` is the version's
COQL row limit (:mod:`django_zcrm.services.limits`), falling back to 200 when Zoho refuses it; a
select list longer than the version's column limit is split into several queries per window,
joined by id. Owner fields come back from COQL as ``{"id"}`` only: their names and e-mails are
filled from the org's user list (one call per 200 users). A 429 (Zoho's concurrency limit)
lowers the number of windows in flight for the rest of the run (:class:`Pace`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..exceptions import ZCRMRateLimitError, ZCRMValidationError
from ..redaction import get_logger
from ..services import Module
from ..services.limits import COQL_FALLBACK_LIMIT, CoqlLimits

logger = get_logger(__name__)

__all__ = ["CoqlWindows", "Pace", "Window"]

#: Times one window is tried again after a 429 before the run fails.
WINDOW_RETRIES = 4


@dataclass(frozen=True, slots=True)
class Window:
    """One id range, fetched: every record with ``after < id <= last``."""

    after: str | None
    last: str
    records: list[dict[str, Any]]


class Pace:
    """How many windows may be in flight; a 429 lowers it for the rest of the run."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.lowered = 0
        self._lock = threading.Lock()

    def slow_down(self) -> None:
        """Zoho said too many calls: one window fewer in flight from now on (at least one)."""
        with self._lock:
            if self.limit > 1:
                self.limit -= 1
            self.lowered += 1
            logger.warning(
                "Zoho answered 429 to a COQL window; at most %d windows in flight from now on.",
                self.limit,
            )


def _later(one: str, other: str) -> bool:
    """Whether id ``one`` sorts after ``other`` (as numbers, Zoho's ids being digits)."""
    if one.isdigit() and other.isdigit():
        return int(one) > int(other)
    return one > other


class CoqlWindows:
    """Iterate a module's records in id-ordered windows (see the module docstring)."""

    def __init__(
        self,
        service: Module,
        columns: Sequence[str],
        limits: CoqlLimits,
        *,
        concurrency: int,
        after: str | None = None,
        owner_fields: Sequence[str] = (),
        users: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.service = service
        self.module = service.api_name
        # One column per group is ``id`` (the join key); the rest are split across groups.
        self.wanted = [c for c in dict.fromkeys(columns) if c.lower() != "id"]
        self._group_lock = threading.Lock()
        self.groups = self._split(limits.max_columns)
        self.rows = limits.max_limit
        self.reach = limits.max_reach
        # Window bounds looked up several at a time by OFFSET, until Zoho refuses such a query.
        self.bounds_ahead = True
        self.pace = Pace(concurrency)
        self.after = after
        self.owner_fields = list(owner_fields)
        self.users = users
        self.sleep = sleep
        self.calls = 0

    def _split(self, max_columns: int) -> list[list[str]]:
        width = max(1, max_columns - 1)
        wanted = self.wanted
        return [wanted[i : i + width] for i in range(0, len(wanted), width)] or [[]]

    def _refused_columns(self, exc: ZCRMValidationError, groups: list[list[str]]) -> bool:
        """Zoho allows fewer columns than the table says: split into narrower queries."""
        details = exc.details if isinstance(exc.details, dict) else {}
        limit = details.get("limit")
        if exc.code != "LIMIT_EXCEEDED" or details.get("clause") != "select":
            return False
        if not isinstance(limit, int) or limit < 2 or limit > max(len(g) for g in groups):
            return False
        with self._group_lock:
            if self.groups is groups:
                logger.info("Zoho allows %d COQL columns on %s; splitting.", limit, self.module)
                self.groups = self._split(limit)
        return True

    # -- queries ----------------------------------------------------------------------------------

    def _query(self, text: str) -> list[dict[str, Any]]:
        self.calls += 1
        page = self.service.coql(text)
        if page.response is not None and int(getattr(page.response, "attempts", 1)) > 1:
            # The client waited out a 429 (or a transient failure): go easier from now on.
            self.pace.slow_down()
        return [dict(r) for r in page.records]

    def _scan(self, after: str | None) -> list[str]:
        where = f"id > {after}" if after is not None else "id is not null"
        text = f"select id from {self.module} where {where} order by id asc limit {self.rows}"
        try:
            rows = self._query(text)
        except ZCRMValidationError as exc:
            if exc.code != "LIMIT_EXCEEDED" or self.rows <= COQL_FALLBACK_LIMIT:
                raise
            logger.info(
                "Zoho refused LIMIT %d for COQL on %s; using %d rows per call.",
                self.rows,
                self.module,
                COQL_FALLBACK_LIMIT,
            )
            self.rows = COQL_FALLBACK_LIMIT
            return self._scan(after)
        return [str(r["id"]) for r in rows]

    def _bound(self, after: str | None, position: int) -> str | None:
        """The id ``position`` places past ``after`` (0 is the next one); None past the end."""
        where = f"id > {after}" if after is not None else "id is not null"
        text = (
            f"select id from {self.module} where {where} order by id asc limit 1 offset {position}"
        )
        rows = self._query(text)
        return str(rows[0]["id"]) if rows else None

    def _bounds(self, after: str | None, pool: ThreadPoolExecutor) -> tuple[list[str], bool] | None:
        """The last ids of the next windows past ``after``, looked up at once by OFFSET.

        Returns them and whether the module ends within them; None when Zoho refuses such a
        query (the one-at-a-time scan takes over for the rest of the run). At most as many as
        windows in flight, and never past COQL's OFFSET + LIMIT reach.
        """
        count = min(self.pace.limit, self.reach // self.rows)
        if not self.bounds_ahead or count < 2:
            return None
        futures = [pool.submit(self._bound, after, k * self.rows - 1) for k in range(1, count + 1)]
        try:
            found = [future.result() for future in futures]
        except ZCRMValidationError as exc:
            for future in futures:
                future.cancel()
            self.bounds_ahead = False
            logger.info(
                "Zoho refused a COQL OFFSET query on %s (%s); finding windows one at a time.",
                self.module,
                exc.code,
            )
            return None
        bounds: list[str] = []
        for bound in found:
            if bound is None:
                break
            if bounds and not _later(bound, bounds[-1]):
                # Records deleted between the lookups: keep the consistent part, go on from it.
                return bounds, False
            bounds.append(bound)
        if len(bounds) == count:
            return bounds, False
        # Fewer than a window's worth of records past the last bound: one scan finds the end.
        tail = self._scan(bounds[-1] if bounds else after)
        if tail:
            bounds.append(tail[-1])
        # A full scan means records arrived meanwhile: the run goes on past them.
        return bounds, len(tail) < self.rows

    def _fetch(self, after: str | None, last: str) -> Window:
        while True:
            groups = self.groups
            try:
                return self._fetch_groups(after, last, groups)
            except ZCRMValidationError as exc:
                if not self._refused_columns(exc, groups):
                    raise

    def _fetch_groups(self, after: str | None, last: str, groups: list[list[str]]) -> Window:
        merged: dict[str, dict[str, Any]] = {}
        for group in groups:
            select = ", ".join(["id", *group]) if group else "id"
            start = after
            while True:
                lower = f"id > {start} and " if start is not None else ""
                text = (
                    f"select {select} from {self.module} where ({lower}id <= {last}) "
                    f"order by id asc limit {self.rows}"
                )
                rows = self._query_window(text)
                for row in rows:
                    merged.setdefault(str(row["id"]), {}).update(row)
                if len(rows) < self.rows or str(rows[-1]["id"]) == last:
                    break
                # A full answer short of the bound: the window holds more (a record restored
                # from the recycle bin keeps its old id; a deletion between bound lookups widens
                # a window).
                start = str(rows[-1]["id"])
        records = list(merged.values())
        self._fill_owners(records)
        return Window(after, last, records)

    def _query_window(self, text: str) -> list[dict[str, Any]]:
        """One window query; a 429 slows the run down and the query is tried again."""
        for attempt in range(WINDOW_RETRIES + 1):
            try:
                return self._query(text)
            except ZCRMRateLimitError:
                if attempt >= WINDOW_RETRIES:
                    raise
                self.pace.slow_down()
                self.sleep(min(8.0, 0.5 * 2**attempt))
        raise AssertionError("unreachable")  # the loop returns or raises

    def _fill_owners(self, records: list[dict[str, Any]]) -> None:
        if not self.owner_fields or self.users is None:
            return
        users = self.users()
        for record in records:
            for name in self.owner_fields:
                value = record.get(name)
                if isinstance(value, dict) and value.get("id") is not None:
                    user = users.get(str(value["id"]))
                    if user is not None:
                        value.setdefault("name", user.get("full_name"))
                        value.setdefault("email", user.get("email"))

    # -- iteration --------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Window]:
        """Windows in id order; at most ``pace.limit`` fetched ahead of the caller."""
        pending: deque[Future[Window]] = deque()
        limit = self.pace.limit
        with (
            ThreadPoolExecutor(limit, thread_name_prefix="zcrm-coql") as pool,
            ThreadPoolExecutor(limit, thread_name_prefix="zcrm-coql-bounds") as lookups,
        ):
            try:
                after = self.after
                first = True
                while True:
                    # The first scan is a plain one: it learns the row limit Zoho allows.
                    ahead = None if first else self._bounds(after, lookups)
                    first = False
                    if ahead is None:
                        ids = self._scan(after)
                        bounds, ends = ids[-1:], len(ids) < self.rows
                    else:
                        bounds, ends = ahead
                    for bound in bounds:
                        while len(pending) >= self.pace.limit:
                            yield pending.popleft().result()
                        pending.append(pool.submit(self._fetch, after, bound))
                        after = bound
                    if ends or not bounds:
                        break
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()
