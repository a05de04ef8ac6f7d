"""A fast path for COQL windows by id range, so the fake answers them in time at 100,000 records.

Without it every COQL call scans and sorts the whole module under the CRM lock, a cost real Zoho
does not have, and a benchmark would measure the fake. :func:`candidates` narrows the records to
the id range the query's ``where`` requires; the compiled query still filters, sorts and pages
them, so answers are the same as without it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from typing import Any

_WHERE_RE = re.compile(r"\bwhere\b(?P<where>.*?)(?:\border\s+by\b|\blimit\b|$)", re.I | re.S)
_ID_COND_RE = re.compile(r"\bid\s*(?P<op>>=|<=|>|<)\s*'?(?P<value>\d+)'?", re.I)
_ID_ONLY_RE = re.compile(
    r"^[\s()]*(?:(?:id\s*(?:>=|<=|>|<)\s*'?\d+'?|id\s+is\s+not\s+null)[\s()]*(?:\band\b[\s()]*)?)+$",
    re.I,
)
_ORDER_BY_ID_RE = re.compile(
    r"\border\s+by\s+id(?:\s+asc)?\s+limit\s+(\d+)(?:\s+offset\s+(\d+))?\s*$", re.I
)


def candidates(query: str, rows: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Records that can match ``query``'s id bounds, in id order; None when it has none usable."""
    found = _WHERE_RE.search(query)
    if not found:
        return None
    where = found.group("where")
    # An "or" or a "not" could let records outside the bounds match: no shortcut.
    if re.search(r"\b(or|not\s+between|not)\b", where.replace("is not null", ""), re.I):
        return None
    low, high = None, None
    for cond in _ID_COND_RE.finditer(where):
        value, op = int(cond.group("value")), cond.group("op")
        if op in (">", ">="):
            bound = value + 1 if op == ">" else value
            low = bound if low is None else max(low, bound)
        else:
            bound = value - 1 if op == "<" else value
            high = bound if high is None else min(high, bound)
    id_only = _ID_ONLY_RE.match(where) is not None
    if low is None and high is None and not id_only:
        return None
    ids = sorted(int(rid) for rid in rows)
    start = bisect.bisect_left(ids, low) if low is not None else 0
    end = bisect.bisect_right(ids, high) if high is not None else len(ids)
    chosen = ids[start:end]
    order = _ORDER_BY_ID_RE.search(query)
    if order and id_only:
        # Only id bounds and "order by id limit N [offset M]": the first M + N + 1 records give
        # the page and tell "more_records" exactly.
        chosen = chosen[: int(order.group(2) or 0) + int(order.group(1)) + 1]
    return [rows[str(rid)] for rid in chosen]
