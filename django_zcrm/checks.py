"""Django system checks for ``settings.ZCRM`` (ids ``django_zcrm.E0xx`` / ``W0xx``).

Django does not run checks under WSGI, so :func:`configuration_errors` is also called when the
OAuth client is first built: a wrong setting fails loudly either way.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from .conf import (
    API_VERSIONS,
    DATA_CENTERS,
    DEFAULTS,
    REQUIRED_KEYS,
    ZCRMSettings,
    is_valid_concurrency_cap,
    is_valid_interval,
    is_valid_url,
    raw_settings,
)

_ID = "django_zcrm."


def _setting(key: str) -> str:
    return f"ZCRM['{key}']"


def check_settings(raw: Any) -> list[CheckMessage]:
    """Every problem with ``raw`` (the value of ``settings.ZCRM``) as check messages."""
    if raw is None:
        return [
            Error(
                "settings.ZCRM is not set.",
                hint="Add ZCRM = {'CLIENT_ID': ..., 'CLIENT_SECRET': ...} to your settings "
                "(see the README's settings table).",
                id=_ID + "E001",
            )
        ]
    if not isinstance(raw, dict):
        return [
            Error(
                f"settings.ZCRM must be a dict, not {type(raw).__name__}.",
                hint="Write ZCRM = {'CLIENT_ID': ..., 'CLIENT_SECRET': ...}.",
                id=_ID + "E001",
            )
        ]
    conf = ZCRMSettings(raw=dict(raw))
    messages: list[CheckMessage] = []
    messages += _required(raw)
    messages += _unknown_keys(raw)
    messages += _data_center(conf, raw)
    messages += _urls(conf, raw)
    messages += _api_version(raw)
    messages += _access_type(raw)
    messages += _persistence(conf, raw)
    messages += _token_database(raw)
    messages += _margins(conf)
    messages += _concurrency(raw)
    messages += _schedules(raw)
    messages += _log_file(raw)
    messages += _sync(conf)
    return messages


def configuration_errors(conf: ZCRMSettings) -> list[str]:
    """The error-level problems of a settings object, as readable sentences."""
    return [f"{m.msg} {m.hint or ''}".strip() for m in check_settings(conf.raw) if m.is_serious()]


@register(Tags.compatibility, "django_zcrm")
def zcrm_settings_check(app_configs=None, **kwargs: Any) -> list[CheckMessage]:
    """The registered Django system check."""
    return check_settings(raw_settings())


def _required(raw: dict) -> list[CheckMessage]:
    messages = []
    for number, key in zip(("E002", "E003"), REQUIRED_KEYS, strict=False):
        if not str(raw.get(key) or "").strip():
            messages.append(
                Error(
                    f"{_setting(key)} is missing.",
                    hint=f"Set {_setting(key)} to the value shown for your client in the Zoho API "
                    "console (api-console.zoho.com); read it from the environment, e.g. "
                    f"env('ZCRM_{key}').",
                    id=_ID + number,
                )
            )
    return messages


def _unknown_keys(raw: dict) -> list[CheckMessage]:
    messages = []
    for key in sorted(k for k in raw if k not in DEFAULTS):
        guess = difflib.get_close_matches(str(key).upper(), DEFAULTS, n=1)
        hint = (
            f"Did you mean {_setting(guess[0])}?"
            if guess
            else "Remove it; the README lists every key."
        )
        messages.append(
            Error(f"{_setting(key)} is not a django-zcrm setting.", hint=hint, id=_ID + "E004")
        )
    return messages


def _data_center(conf: ZCRMSettings, raw: dict) -> list[CheckMessage]:
    value = raw.get("DATA_CENTER", "US")
    if conf.data_center is None:
        return [
            Error(
                f"{_setting('DATA_CENTER')} = {value!r} is not a Zoho data centre.",
                hint=f"Set {_setting('DATA_CENTER')} to one of {', '.join(DATA_CENTERS)} "
                "(the domain you log in to Zoho at: zoho.com = US, zoho.eu = EU, ...).",
                id=_ID + "E005",
            )
        ]
    return []


def _urls(conf: ZCRMSettings, raw: dict) -> list[CheckMessage]:
    messages = []
    for key, value in (
        ("ACCOUNTS_URL", conf.accounts_url),
        ("API_BASE_URL", conf.api_base_url),
        ("REDIRECT_URI", raw.get("REDIRECT_URI") or ""),
    ):
        if not value:
            continue
        if not is_valid_url(value):
            messages.append(
                Error(
                    f"{_setting(key)} = {value!r} is not an http(s) URL.",
                    hint=f"Set {_setting(key)} to a URL such as "
                    "'https://accounts.zoho.eu', or remove it to derive it from "
                    "ZCRM['DATA_CENTER'].",
                    id=_ID + "E009",
                )
            )
        elif urlsplit(value).scheme == "http" and not _is_loopback(urlsplit(value).hostname or ""):
            messages.append(
                Warning(
                    f"{_setting(key)} = {value!r} uses plain http.",
                    hint="Tokens would cross the network unencrypted: use https "
                    "(http is meant for the loopback fake server).",
                    id=_ID + "W003",
                )
            )
    return messages


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _api_version(raw: dict) -> list[CheckMessage]:
    value = raw.get("API_VERSION", "v2")
    if value not in API_VERSIONS:
        return [
            Error(
                f"{_setting('API_VERSION')} = {value!r} is not a Zoho CRM API version.",
                hint=f"Use one of {', '.join(API_VERSIONS)}.",
                id=_ID + "E010",
            )
        ]
    return []


def _access_type(raw: dict) -> list[CheckMessage]:
    value = raw.get("ACCESS_TYPE", "offline")
    if value not in ("offline", "online"):
        return [
            Error(
                f"{_setting('ACCESS_TYPE')} = {value!r} is not valid.",
                hint="Use 'offline' (a refresh token is issued; the default).",
                id=_ID + "E011",
            )
        ]
    if value == "online":
        return [
            Warning(
                f"{_setting('ACCESS_TYPE')} is 'online': Zoho issues no refresh token.",
                hint="Tokens cannot be refreshed and stop working after an hour; use 'offline'.",
                id=_ID + "W001",
            )
        ]
    return []


def _persistence(conf: ZCRMSettings, raw: dict) -> list[CheckMessage]:
    from .exceptions import ZCRMImproperlyConfigured
    from .persistence import load_custom_handler_class

    messages = []
    try:
        load_custom_handler_class(conf)
    except ZCRMImproperlyConfigured as exc:
        text = str(exc)
        number = "E007" if ("not a token store" in text or "not a class" in text) else "E006"
        messages.append(
            Error(
                text,
                hint="Fix ZCRM['PERSISTENCE_HANDLER_CLASS'] (and "
                "ZCRM['PERSISTENCE_HANDLER_CLASS_PATH']) or remove them "
                "to use the database.",
                id=_ID + number,
            )
        )
    path = raw.get("TOKEN_PERSISTENCE_PATH")
    if path:
        problem = _unwritable_folder(str(path))
        if problem:
            messages.append(
                Error(
                    f"{_setting('TOKEN_PERSISTENCE_PATH')} = {path!r} {problem}.",
                    hint=f"Point {_setting('TOKEN_PERSISTENCE_PATH')} at a folder this process can "
                    "write (the token file zcrm_oauthtokens.txt is created inside it), or remove "
                    "it to keep tokens in the database.",
                    id=_ID + "E008",
                )
            )
    return messages


def _unwritable_folder(path: str) -> str | None:
    folder = os.path.abspath(path)
    if os.path.exists(folder):
        if not os.path.isdir(folder):
            return "is a file, not a folder"
        if not os.access(folder, os.W_OK | os.X_OK):
            return "is not writable"
        return None
    parent = os.path.dirname(folder)
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not parent or not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        return "does not exist and cannot be created"
    return None


def _token_database(raw: dict) -> list[CheckMessage]:
    uses_database = not (raw.get("PERSISTENCE_HANDLER_CLASS") or raw.get("TOKEN_PERSISTENCE_PATH"))
    if "TOKEN_DATABASE" not in raw and not uses_database:
        # Tokens live in a file or a custom store: a project without databases is fine.
        return []
    alias = raw.get("TOKEN_DATABASE", "default")
    if alias not in django_settings.DATABASES:
        return [
            Error(
                f"{_setting('TOKEN_DATABASE')} = {alias!r} is not in settings.DATABASES.",
                hint=f"Use one of {', '.join(django_settings.DATABASES)}, or add a "
                f"DATABASES[{alias!r}] entry (e.g. a MySQL database 'zohooauth').",
                id=_ID + "E012",
            )
        ]
    return []


def _margins(conf: ZCRMSettings) -> list[CheckMessage]:
    messages = []
    for key in (
        "REFRESH_MARGIN",
        "HARD_REFRESH_MARGIN",
        "REFRESH_LEASE_SECONDS",
        "THROTTLE_SECONDS",
        "MAX_RETRIES",
        "RETRY_BACKOFF_BASE",
        "RETRY_BACKOFF_MAX",
        "MAX_RETRY_AFTER",
        "SYNC_LOOKBACK_SECONDS",
        "SYNC_LEASE_SECONDS",
    ):
        value = getattr(conf, key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            messages.append(
                Error(
                    f"{_setting(key)} = {value!r} must be a number >= 0.",
                    hint=f"Remove {_setting(key)} to use the default ({DEFAULTS[key]}).",
                    id=_ID + "E013",
                )
            )
    for key in ("TOKEN_TIMEOUT", "HTTP_TIMEOUT"):
        value = getattr(conf, key)
        if not (
            isinstance(value, (tuple, list))
            and len(value) == 2
            and all(isinstance(v, (int, float)) and v > 0 for v in value)
        ):
            messages.append(
                Error(
                    f"{_setting(key)} = {value!r} must be (connect, read) seconds.",
                    hint=f"Write e.g. {_setting(key)} = {DEFAULTS[key]!r}.",
                    id=_ID + "E014",
                )
            )
    return messages


def _concurrency(raw: dict) -> list[CheckMessage]:
    key = "MAX_CONCURRENT_REQUESTS"
    value = raw.get(key, DEFAULTS[key])
    if is_valid_concurrency_cap(value):
        return []
    return [
        Error(
            f"{_setting(key)} = {value!r} must be None or a whole number >= 0.",
            hint=f"Set {_setting(key)} to the most CRM API calls one process may have in "
            "flight: your Zoho edition's concurrency limit (5 to 25 per org, 10 for "
            "heavy calls such as COQL and search) divided by the number of processes, "
            f"e.g. {DEFAULTS[key]}; None or 0 turn the cap off.",
            id=_ID + "E017",
        )
    ]


def _schedules(raw: dict) -> list[CheckMessage]:
    """The task schedules' intervals (E030, E031): minutes >= 0 or None; per module for syncs."""
    messages = []
    key = "TOKEN_REFRESH_INTERVAL_MINUTES"
    value = raw.get(key, DEFAULTS[key])
    if not is_valid_interval(value):
        messages.append(
            Error(
                f"{_setting(key)} = {value!r} is not a number of minutes.",
                hint=f"Use minutes between token refresh runs, e.g. {DEFAULTS[key]} (less than "
                "the hour a Zoho access token lives); None or 0 schedule none.",
                id=_ID + "E031",
            )
        )
    key = "SYNC_INTERVAL_MINUTES"
    value = raw.get(key, DEFAULTS[key])
    hint = (
        f"Use minutes between syncs of each module, e.g. {DEFAULTS[key]}, or a dict per module "
        'such as {"Leads": 5, "*": 30} ("*": every other module of SYNC_MODELS); None or 0 '
        "schedule none."
    )
    entries = value.items() if isinstance(value, dict) else [(None, value)]
    for module, minutes in entries:
        where = _setting(key) if module is None else f"{_setting(key)}[{module!r}]"
        if module is not None and (not isinstance(module, str) or not module):
            messages.append(Error(f"{where} is not a module name.", hint=hint, id=_ID + "E030"))
        elif not is_valid_interval(minutes):
            messages.append(
                Error(
                    f"{where} = {minutes!r} is not a number of minutes.", hint=hint, id=_ID + "E030"
                )
            )
    return messages


def _sync(conf: ZCRMSettings) -> list[CheckMessage]:
    from django.apps import apps

    from .exceptions import ZCRMImproperlyConfigured

    messages = []
    if str(conf.SYNC_DELETE_MODE).lower() not in ("mark", "delete"):
        messages.append(
            Error(
                f"{_setting('SYNC_DELETE_MODE')} = {conf.SYNC_DELETE_MODE!r} is "
                'neither "mark" nor "delete".',
                hint='Use "mark" to flag rows deleted in Zoho, or "delete" to remove them.',
                id=_ID + "E016",
            )
        )
    if not apps.models_ready:
        return messages
    from .sync.targets import resolve_target

    configured = conf.SYNC_MODELS or {}
    hint = (
        f'Fix {_setting("SYNC_MODELS")}: it maps Zoho module API names to "app_label.Model" '
        "labels of models derived from ZohoSyncedModel."
    )
    if not isinstance(configured, dict):
        return messages + [
            Error(
                f"{_setting('SYNC_MODELS')} must be a dict, not {type(configured).__name__}.",
                hint=hint,
                id=_ID + "E015",
            )
        ]
    for module, model in configured.items():
        if not isinstance(model, str) or not model:
            messages.append(
                Error(
                    f"{_setting('SYNC_MODELS')}[{module!r}] is {model!r}, not a model label.",
                    hint=hint,
                    id=_ID + "E015",
                )
            )
            continue
        try:
            # The same resolution a sync does, so the check and the sync cannot disagree.
            resolve_target(module, model, source=f"{_setting('SYNC_MODELS')}[{module!r}]")
        except ZCRMImproperlyConfigured as exc:
            messages.append(Error(str(exc), hint=hint, id=_ID + "E015"))
    return messages


def _log_file(raw: dict) -> list[CheckMessage]:
    path = raw.get("APPLICATION_LOG_FILE_PATH")
    if not path:
        return []
    folder = os.path.dirname(os.path.abspath(str(path))) or "."
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        return [
            Warning(
                f"{_setting('APPLICATION_LOG_FILE_PATH')} = {path!r}: its folder is not writable.",
                hint="Point it at a file in a writable folder.",
                id=_ID + "W002",
            )
        ]
    return []
