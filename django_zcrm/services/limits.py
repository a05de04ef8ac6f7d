"""Zoho's per-version limits of COQL, in one table the client and the bundled fake both read.

The sources disagree on the largest ``LIMIT`` (the overview pages say 2,000 rows per call, an
error table of v7 says 200; ``docs/design/wire-format.md``, "COQL"). The table says 2,000 for
every version and the COQL windows of the sync fall back to 200 rows when Zoho answers
``LIMIT_EXCEEDED`` about the limit clause, so either reading is handled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["COQL_FALLBACK_LIMIT", "CoqlLimits", "coql_limits"]


@dataclass(frozen=True, slots=True)
class CoqlLimits:
    """What one COQL query may ask for in one API version."""

    #: Most rows per call (``LIMIT``).
    max_limit: int
    #: Most columns in the select clause.
    max_columns: int
    #: ``OFFSET + LIMIT`` may not reach beyond this: past it, windows by id ranges are needed.
    max_reach: int
    #: Most values in one ``in (...)``.
    max_in_values: int


#: First version (major, minor) each row applies from; the last row at or below a version wins.
_TABLE: tuple[tuple[tuple[int, int], CoqlLimits], ...] = (
    ((2, 0), CoqlLimits(max_limit=2000, max_columns=50, max_reach=10_000, max_in_values=50)),
    ((7, 0), CoqlLimits(max_limit=2000, max_columns=500, max_reach=10_000, max_in_values=100)),
)
#: Rows per call when a server refuses the table's ``max_limit`` (the stricter reading).
COQL_FALLBACK_LIMIT = 200

_VERSION_RE = re.compile(r"^v(\d+)(?:\.(\d+))?$")


def coql_limits(version: str) -> CoqlLimits:
    """The COQL limits of API ``version`` (``"v2"``, ``"v2.1"`` ... ``"v8"``)."""
    found = _VERSION_RE.match(version)
    if not found:
        raise ValueError(f"not a CRM API version: {version!r} (expected v2, v2.1, v3 ... v8)")
    number = (int(found.group(1)), int(found.group(2) or 0))
    chosen = _TABLE[0][1]
    for first, limits in _TABLE:
        if number >= first:
            chosen = limits
    return chosen
