"""Validation of the sync settings: SYNC_MODELS (E015), SYNC_DELETE_MODE (E016), numbers (E013),
the read planner's SYNC_STRATEGY (E061) and its thresholds (E062).

Like :func:`django_zcrm.conf.validate`, it reports and never raises; :mod:`django_zcrm.checks`
turns both into system checks.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps

from ..conf import Problem, ZCRMSettings, number_problems, setting
from ..exceptions import ZCRMConfigurationError
from .targets import resolve_target

SYNC_NUMBER_KEYS = ("SYNC_LOOKBACK_SECONDS", "SYNC_LEASE_SECONDS")
DELETE_MODES = ("mark", "delete")
STRATEGIES = ("auto", "rest", "coql", "bulk")


def validate_sync(raw: dict[str, Any]) -> list[Problem]:
    """Every problem of the sync keys of ``raw`` (a ``settings.ZCRM`` dict)."""
    conf = ZCRMSettings(raw=dict(raw))
    problems = number_problems(conf, SYNC_NUMBER_KEYS)
    if str(conf.SYNC_DELETE_MODE).lower() not in DELETE_MODES:
        problems.append(
            Problem(
                "django_zcrm.E016",
                "error",
                f"{setting('SYNC_DELETE_MODE')} = {conf.SYNC_DELETE_MODE!r} is "
                'neither "mark" nor "delete".',
                'Use "mark" to flag rows deleted in Zoho, or "delete" to remove them.',
            )
        )
    if str(conf.SYNC_STRATEGY).lower() not in STRATEGIES:
        problems.append(
            Problem(
                "django_zcrm.E061",
                "error",
                f"{setting('SYNC_STRATEGY')} = {conf.SYNC_STRATEGY!r} is not one of "
                + ", ".join(repr(s) for s in STRATEGIES)
                + ".",
                'Use "auto" (the planner picks per run), "rest" (pages of 200), "coql" '
                '(COQL windows) or "bulk" (Bulk Read) for runs that read the whole module.',
            )
        )
    for key, example in (("SYNC_COQL_MIN_RECORDS", 2000), ("SYNC_BULK_MIN_RECORDS", 100_000)):
        minimum = getattr(conf, key)
        if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 0:
            problems.append(
                Problem(
                    "django_zcrm.E062",
                    "error",
                    f"{setting(key)} = {minimum!r} is not a whole number >= 0.",
                    "Set it to the module size from which a run reading the whole module "
                    f"switches strategy, e.g. {example}.",
                )
            )
    if apps.models_ready:
        problems += _sync_models(conf.SYNC_MODELS or {})
    return problems


def _sync_models(configured: Any) -> list[Problem]:
    key = setting("SYNC_MODELS")
    hint = (
        f'Fix {key}: it maps Zoho module API names to "app_label.Model" '
        "labels of models derived from ZohoSyncedModel."
    )

    def problem(message: str) -> Problem:
        return Problem("django_zcrm.E015", "error", message, hint)

    if not isinstance(configured, dict):
        return [problem(f"{key} must be a dict, not {type(configured).__name__}.")]
    problems = []
    for module, model in configured.items():
        if not isinstance(model, str) or not model:
            problems.append(problem(f"{key}[{module!r}] is {model!r}, not a model label."))
            continue
        try:
            # The same resolution a sync does, so the check and the sync cannot disagree.
            resolve_target(module, model, source=f"{key}[{module!r}]")
        except ZCRMConfigurationError as exc:
            problems.append(problem(str(exc)))
    return problems
