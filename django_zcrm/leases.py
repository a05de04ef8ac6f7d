"""The one lease rule every lease of django_zcrm follows, and the conditional UPDATE that takes it.

A lease is a time-limited claim written beside the thing it guards: an owner and an expiry. It is
held while it has an owner and its expiry has not passed; anyone may take a lease that is not
held. A holder that dies blocks others only until the expiry (see
``docs/design/token-refresh.md`` for the token refresh lease, ``docs/design/sync.md`` for the
per-module sync lease). The database leases take it with one conditional UPDATE, which exactly
one process wins on every backend; the file leases apply :func:`is_held` under a file lock.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet


def is_held(owner: Any, until: Any, now: Any) -> bool:
    """True while a lease with this ``owner`` and expiry ``until`` is held at ``now``."""
    return bool(owner) and until is not None and until >= now


def not_held(now: Any, *, owner_field: str, until_field: str) -> Q:
    """The rows whose lease is free at ``now``: the database form of ``not is_held(...)``."""
    return (
        Q(**{f"{owner_field}__isnull": True})
        | Q(**{f"{until_field}__isnull": True})
        | Q(**{f"{until_field}__lt": now})
    )


def claim(
    rows: QuerySet, *, owner: str, until: Any, now: Any, owner_field: str, until_field: str
) -> bool:
    """Take the lease on ``rows`` (one row) if it is free at ``now``; True when this call won."""
    free = rows.filter(not_held(now, owner_field=owner_field, until_field=until_field))
    return free.update(**{owner_field: owner, until_field: until}) == 1
