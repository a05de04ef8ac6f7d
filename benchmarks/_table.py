"""Plain-text tables for the benchmark scripts (aligned columns, a dashed rule under the header)."""

from __future__ import annotations

from collections.abc import Sequence


def print_columns(headers: Sequence[str], lines: Sequence[Sequence[str]]) -> None:
    """Print ``lines`` under ``headers``, each column as wide as its widest cell."""
    widths = [
        max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
        for i, h in enumerate(headers)
    ]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip())
    print("  ".join("-" * w for w in widths))
    for line in lines:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=False)).rstrip())
