"""Celery beat schedules from ``settings.ZCRM``: which module syncs how often, and token upkeep.

Only settings are read here (no model, no Celery), so a Celery app module can build its beat
schedule before Django's app registry is ready:

    from django_zcrm.schedules import beat_schedule
    app.conf.beat_schedule = beat_schedule()

The task names are those of :mod:`django_zcrm.tasks`, which re-exports :func:`beat_schedule`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from .conf import DEFAULTS, get_settings, is_valid_interval
from .exceptions import ZCRMConfigurationError

__all__ = [
    "beat_schedule",
    "configured_modules",
    "notification_intervals",
    "sync_intervals",
    "token_refresh_interval",
]


def configured_modules() -> list[str]:
    """The modules of ``ZCRM["SYNC_MODELS"]``, in the order the project wrote them."""
    configured = get_settings().SYNC_MODELS or {}
    if not isinstance(configured, Mapping):
        raise ZCRMConfigurationError(
            'ZCRM[\'SYNC_MODELS\'] must be a dict such as {"Leads": "crm.Lead"}.'
        )
    return [str(module) for module in configured]


def sync_intervals() -> dict[str, float]:
    """Minutes between scheduled syncs, per module (modules with no schedule are left out).

    The modules are those of ``SYNC_MODELS`` plus any named in a ``SYNC_INTERVAL_MINUTES`` dict
    (such a module syncs into ``SYNC_MODELS``' model, else the generic ``CRMRecord``).
    """
    setting = get_settings().SYNC_INTERVAL_MINUTES
    per_module: Mapping[str, Any] = setting if isinstance(setting, Mapping) else {}
    default = (
        per_module.get("*", DEFAULTS["SYNC_INTERVAL_MINUTES"])
        if isinstance(setting, Mapping)
        else setting
    )
    modules = configured_modules() + [m for m in per_module if m != "*"]
    result: dict[str, float] = {}
    for module in dict.fromkeys(modules):
        minutes = per_module.get(module, default)
        if not is_valid_interval(minutes):
            raise ZCRMConfigurationError(
                f"ZCRM['SYNC_INTERVAL_MINUTES'] gives {module} {minutes!r}, not a number of "
                "minutes (None or 0: no schedule)."
            )
        if minutes:
            result[module] = float(minutes)
    return result


def token_refresh_interval() -> float | None:
    """Minutes between ``refresh_tokens`` runs, or None when none are scheduled."""
    minutes = get_settings().TOKEN_REFRESH_INTERVAL_MINUTES
    if not is_valid_interval(minutes):
        raise ZCRMConfigurationError(
            f"ZCRM['TOKEN_REFRESH_INTERVAL_MINUTES'] = {minutes!r} is not a number of minutes "
            "(None or 0: no schedule)."
        )
    return float(minutes) if minutes else None


def notification_intervals() -> tuple[float | None, float | None]:
    """Seconds between inbox drains and minutes between channel renewals; None when off.

    Both are None unless ``NOTIFY_URL`` is set: without it no channel exists to feed the inbox.
    """
    conf = get_settings()
    if not conf.NOTIFY_URL:
        return None, None
    values = []
    for key in ("NOTIFY_PROCESS_INTERVAL_SECONDS", "NOTIFY_RENEW_INTERVAL_MINUTES"):
        value = getattr(conf, key)
        if not is_valid_interval(value):
            raise ZCRMConfigurationError(
                f"ZCRM[{key!r}] = {value!r} is not a number (None or 0: no schedule)."
            )
        values.append(float(value) if value else None)
    return values[0], values[1]


def beat_schedule() -> dict[str, dict[str, Any]]:
    """A Celery beat schedule from ``settings.ZCRM``: one entry per synced module, one for tokens.

    ``SYNC_INTERVAL_MINUTES`` (a number, or a dict per module with ``"*"`` for the others) and
    ``TOKEN_REFRESH_INTERVAL_MINUTES``; None or 0 leaves the entry out. Reads the settings when
    called, so call it where Django's settings can be read (a Celery app module can).
    """
    schedule: dict[str, dict[str, Any]] = {}
    for module, minutes in sync_intervals().items():
        schedule[f"django_zcrm.sync_module:{module}"] = {
            "task": "django_zcrm.sync_module",
            "schedule": timedelta(minutes=minutes),
            "args": (module,),
            # A run still queued when the next is due is dropped, not stacked behind it.
            "options": {"expires": minutes * 60},
        }
    refresh = token_refresh_interval()
    if refresh:
        schedule["django_zcrm.refresh_tokens"] = {
            "task": "django_zcrm.refresh_tokens",
            "schedule": timedelta(minutes=refresh),
            "options": {"expires": refresh * 60},
        }
    process, renew = notification_intervals()
    if process:
        schedule["django_zcrm.process_notifications"] = {
            "task": "django_zcrm.process_notifications",
            "schedule": timedelta(seconds=process),
            "options": {"expires": process},
        }
    if renew:
        schedule["django_zcrm.renew_channels"] = {
            "task": "django_zcrm.renew_channels",
            "schedule": timedelta(minutes=renew),
            "options": {"expires": renew * 60},
        }
    return schedule
