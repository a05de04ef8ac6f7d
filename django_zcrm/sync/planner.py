"""The read planner: which strategy a run reads Zoho with (``docs/design/sync.md``, "Read strategies").

* ``rest``: pages of 200 sorted by ``Modified_Time`` (the only choice for incremental and
  ``--since`` runs, whose window is small; also for the ``CRMRecord`` mirror by default, which
  stores Zoho's whole record as the REST API gives it: COQL has no ``select *`` and gives lookups
  without their names).
* ``bulk``: one Bulk Read job (:mod:`.fetch_bulk`) for the same kind of run once the module
  holds at least ``SYNC_BULK_MIN_RECORDS`` records: a handful of calls instead of two per 2,000
  records, at the price of Zoho's job processing time.
* ``coql``: COQL windows by id range, several in flight (:mod:`.fetch_coql`), for a run that reads
  the whole module (``--full``, or the first run) of a typed model, when the module is known to
  hold at least ``SYNC_COQL_MIN_RECORDS`` records (the last whole read's count, or the local
  table's) and the mapping needs no name of a module lookup (owner names are filled from the
  user list).

``SYNC_STRATEGY`` (or ``sync_module(strategy=...)``) forces one: ``"rest"`` always pages;
``"coql"`` and ``"bulk"`` are used whenever the run reads the whole module, whatever its size or
target (the mirror then stores what they give: lookups without names).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..exceptions import ZCRMConfigurationError
from .mapping import Lookup, Owner
from .targets import Target, TypedTarget

__all__ = [
    "AUTO",
    "BULK",
    "COQL",
    "REST",
    "STRATEGIES",
    "WINDOWED",
    "Plan",
    "choose",
    "lookup_fields",
]

AUTO, REST, COQL, BULK = "auto", "rest", "coql", "bulk"
STRATEGIES = (AUTO, REST, COQL, BULK)
#: Strategies that read by id or by export file, not in ``Modified_Time`` order.
WINDOWED = frozenset({COQL, BULK})


@dataclass(frozen=True, slots=True)
class Plan:
    """The strategy chosen and why (the reason goes to the log)."""

    strategy: str
    reason: str


def check_strategy(value: object) -> str:
    """``value`` as a strategy name; a clear error for anything else."""
    name = str(value).lower()
    if name not in STRATEGIES:
        raise ZCRMConfigurationError(
            f"Read strategy {value!r} is not one of {', '.join(STRATEGIES)}: set "
            "ZCRM['SYNC_STRATEGY'] (or strategy=) to auto, rest, coql or bulk."
        )
    return name


def lookup_fields(target: Target) -> tuple[list[str], list[str]]:
    """``(owner fields, module lookups whose name the mapping stores)`` of a typed target."""
    if not isinstance(target, TypedTarget):
        return [], []
    owners, named = [], []
    for api_name, converter in target.mapping.converters.items():
        if isinstance(converter, Owner):
            owners.append(api_name)
        elif isinstance(converter, Lookup) and converter.name:
            named.append(api_name)
    return owners, named


def choose(
    target: Target,
    *,
    setting: str,
    whole_module: bool,
    known_size: int | None,
    coql_min_records: int,
    bulk_min_records: int,
) -> Plan:
    """The strategy of one run (see the module docstring)."""
    setting = check_strategy(setting)
    if setting == REST:
        return Plan(REST, "SYNC_STRATEGY is rest")
    if not whole_module:
        return Plan(REST, "an incremental window")
    if setting in (COQL, BULK):
        return Plan(setting, f"SYNC_STRATEGY is {setting}")
    if not isinstance(target, TypedTarget):
        return Plan(REST, "the mirror stores whole records")
    _, named = lookup_fields(target)
    if named:
        return Plan(REST, f"the mapping stores lookup names ({', '.join(named)})")
    if known_size is None:
        return Plan(REST, "module size unknown")
    if known_size >= bulk_min_records:
        return Plan(BULK, f"{known_size} records >= SYNC_BULK_MIN_RECORDS")
    if known_size < coql_min_records:
        return Plan(REST, f"{known_size} records < SYNC_COQL_MIN_RECORDS")
    return Plan(COQL, f"{known_size} records >= SYNC_COQL_MIN_RECORDS")
