"""The single reader of ``settings.ZCRM``: defaults, data centres, validation.

Settings are read on every access (never cached at import) so that ``override_settings`` and
pytest-django's ``settings`` fixture just work. Only objects built from dotted paths are cached
elsewhere, and those caches are cleared on Django's ``setting_changed`` signal.

:func:`validate` never raises: it returns :class:`Problem` objects with the stable system check
ids (``django_zcrm.E0xx`` / ``W0xx``). :mod:`django_zcrm.checks` turns them into check messages
and :class:`django_zcrm.oauth.OAuthClient` refuses to start on the error-level ones. Nothing here
imports another django_zcrm module but :mod:`.exceptions`, :mod:`.custom_store`
and the package's ``__version__``.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import environ
from django.conf import settings as django_settings

from . import __version__
from .custom_store import NOT_IMPORTABLE, load_store_class
from .exceptions import ZCRMConfigurationError

SETTING_NAME = "ZCRM"

#: Sent on every request to Zoho (accounts server and CRM API alike).
USER_AGENT = f"django-zcrm/{__version__}"


@dataclass(frozen=True)
class DataCenter:
    """The hosts Zoho runs for one data centre (its sandbox host: see :func:`sandbox_url`)."""

    code: str
    accounts_url: str
    api_base_url: str


DATA_CENTERS: dict[str, DataCenter] = {
    dc.code: dc
    for dc in (
        DataCenter("US", "https://accounts.zoho.com", "https://www.zohoapis.com"),
        DataCenter("EU", "https://accounts.zoho.eu", "https://www.zohoapis.eu"),
        DataCenter("IN", "https://accounts.zoho.in", "https://www.zohoapis.in"),
        DataCenter("AU", "https://accounts.zoho.com.au", "https://www.zohoapis.com.au"),
        DataCenter("JP", "https://accounts.zoho.jp", "https://www.zohoapis.jp"),
        DataCenter("CA", "https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
        DataCenter("CN", "https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"),
        DataCenter("SA", "https://accounts.zoho.sa", "https://www.zohoapis.sa"),
    )
}


def sandbox_url(url: str) -> str:
    """The sandbox twin of an API domain: the SDK replaces a leading ``www.`` by ``sandbox.``."""
    return url.replace("://www.", "://sandbox.", 1)


API_VERSIONS = ("v2", "v2.1", "v3", "v4", "v5", "v6", "v7", "v8")

DEFAULT_SCOPES = (
    "ZohoCRM.modules.ALL",
    "ZohoCRM.settings.ALL",
    "ZohoCRM.users.READ",
    "ZohoCRM.org.READ",
    "ZohoCRM.coql.READ",
    "ZohoCRM.notifications.ALL",
    "ZohoSearch.securesearch.READ",
    "AaaServer.profile.READ",
)

# Every key, its default and its meaning. The README's settings table is written from this.
DEFAULTS: dict[str, Any] = {
    # The SDK's configuration dictionary.
    "CLIENT_ID": "",
    "CLIENT_SECRET": "",
    "REDIRECT_URI": "",
    "CURRENT_USER_EMAIL": "",
    "ACCOUNTS_URL": "",
    "API_BASE_URL": "",
    "API_VERSION": "v2",
    "SANDBOX": False,
    "ACCESS_TYPE": "offline",
    "APPLICATION_LOG_FILE_PATH": "",
    "LOG_IN_CONSOLE": False,
    "TOKEN_PERSISTENCE_PATH": "",
    "PERSISTENCE_HANDLER_CLASS": "",
    "PERSISTENCE_HANDLER_CLASS_PATH": "",
    # Django-native additions.
    "DATA_CENTER": "US",
    "TOKEN_DATABASE": "default",
    "SCOPES": DEFAULT_SCOPES,
    # Tokens at rest (see django_zcrm.crypto): encrypted unless False; None derives the keys
    # from SECRET_KEY and SECRET_KEY_FALLBACKS, else a list of Fernet keys (first encrypts).
    "TOKEN_ENCRYPTION": True,
    "TOKEN_ENCRYPTION_KEYS": None,
    # Token lifecycle (seconds).
    "REFRESH_MARGIN": 300,
    "HARD_REFRESH_MARGIN": 60,
    "REFRESH_LEASE_SECONDS": 30,
    "THROTTLE_SECONDS": 600,
    "TOKEN_TIMEOUT": (5, 15),
    # CRM HTTP client.
    "HTTP_TIMEOUT": (5, 30),
    "MAX_RETRIES": 4,
    "RETRY_BACKOFF_BASE": 0.5,
    "RETRY_BACKOFF_MAX": 30,
    "MAX_RETRY_AFTER": 120,
    # Most CRM API calls one process has in flight at once (None or 0: no cap).
    "MAX_CONCURRENT_REQUESTS": 10,
    # Limits on one answer (CRM API and Zoho Accounts alike): the whole exchange, in seconds,
    # and the body, in bytes after decompression.
    "REQUEST_TOTAL_TIMEOUT": 120,
    "MAX_RESPONSE_BYTES": 64 * 1024 * 1024,
    # Of those, most heavy calls (COQL, Bulk Read) in flight at once (None or 0: no own cap).
    "MAX_CONCURRENT_HEAVY_REQUESTS": 5,
    # Sync.
    "SYNC_MODELS": {},
    "SYNC_DELETE_MODE": "mark",
    "SYNC_LOOKBACK_SECONDS": 10,
    "SYNC_LEASE_SECONDS": 300,
    # Task schedules (django_zcrm.tasks.beat_schedule): minutes between runs; None or 0: none.
    # SYNC_INTERVAL_MINUTES may be a dict per module, {"Leads": 5, "*": 30} ("*": the others).
    "SYNC_INTERVAL_MINUTES": 15,
    "TOKEN_REFRESH_INTERVAL_MINUTES": 10,
    # With NOTIFY_URL set: seconds between scheduled drains of the notification inbox, and minutes
    # between channel renewals (django_zcrm.process_notifications / renew_channels).
    "NOTIFY_PROCESS_INTERVAL_SECONDS": 5,
    "NOTIFY_RENEW_INTERVAL_MINUTES": 60,
    # Instant notifications (docs/design/notifications.md).
    "NOTIFY_URL": "",
    "NOTIFY_MODULES": None,
    "NOTIFY_CHANNEL_HOURS": 24,
    "NOTIFY_PROCESS_INLINE": False,
    "NOTIFY_MAX_BODY_BYTES": 65_536,
    "NOTIFY_RETRY_MAX_SECONDS": 3600,
    # Read planner (docs/design/sync.md, "Read strategies"): "auto", "rest", "coql" or "bulk".
    "SYNC_STRATEGY": "auto",
    # A run that reads a whole module switches to COQL windows from this many records.
    "SYNC_COQL_MIN_RECORDS": 2000,
    # ... and to one Bulk Read job from this many.
    "SYNC_BULK_MIN_RECORDS": 100_000,
    # Fetch the next page while the current one is written (a thread, a small queue).
    "SYNC_PREFETCH": True,
}

REQUIRED_KEYS = ("CLIENT_ID", "CLIENT_SECRET")


@dataclass(frozen=True)
class ZCRMSettings:
    """A resolved, read-only view of ``settings.ZCRM`` with derived URLs filled in."""

    raw: dict[str, Any] = field(repr=False)

    def __getattr__(self, name: str) -> Any:
        if name in DEFAULTS:
            return self.raw.get(name, DEFAULTS[name])
        raise AttributeError(name)

    @property
    def data_center(self) -> DataCenter | None:
        """The data centre named by ``DATA_CENTER``, or None when it is unknown."""
        return DATA_CENTERS.get(str(self.raw.get("DATA_CENTER", "US")).upper())

    @property
    def accounts_url(self) -> str:
        """``ACCOUNTS_URL``, or the data centre's accounts server."""
        explicit = self.raw.get("ACCOUNTS_URL")
        if explicit:
            return _normalise_url(explicit)
        dc = self.data_center or DATA_CENTERS["US"]
        return dc.accounts_url

    @property
    def api_base_url(self) -> str:
        """``API_BASE_URL``, or the data centre's API domain (its sandbox one when ``SANDBOX``)."""
        explicit = self.raw.get("API_BASE_URL")
        if explicit:
            url = _normalise_url(explicit)
        else:
            url = (self.data_center or DATA_CENTERS["US"]).api_base_url
        return sandbox_url(url) if self.sandbox else url

    @property
    def sandbox(self) -> bool:
        """``SANDBOX`` as a boolean (the SDK accepted the strings "true"/"false")."""
        return to_bool(self.raw.get("SANDBOX", False))

    @property
    def log_in_console(self) -> bool:
        """``LOG_IN_CONSOLE`` as a boolean."""
        return to_bool(self.raw.get("LOG_IN_CONSOLE", False))

    @property
    def max_concurrent_requests(self) -> int | None:
        """``MAX_CONCURRENT_REQUESTS`` as a cap, None when there is none (``None`` or ``0``).

        Raises ``ValueError`` when the value is not None or a whole number >= 0 (system check
        ``django_zcrm.E017`` reports the same).
        """
        value = self.raw.get("MAX_CONCURRENT_REQUESTS", DEFAULTS["MAX_CONCURRENT_REQUESTS"])
        if not is_valid_concurrency_cap(value):
            raise ValueError(
                f"ZCRM['MAX_CONCURRENT_REQUESTS'] = {value!r} is not None or a whole number >= 0"
            )
        return value or None

    @property
    def max_concurrent_heavy_requests(self) -> int | None:
        """``MAX_CONCURRENT_HEAVY_REQUESTS`` as a cap, None when there is none (E060 if invalid)."""
        key = "MAX_CONCURRENT_HEAVY_REQUESTS"
        value = self.raw.get(key, DEFAULTS[key])
        if not is_valid_concurrency_cap(value):
            raise ValueError(f"ZCRM['{key}'] = {value!r} is not None or a whole number >= 0")
        return value or None

    @property
    def scopes(self) -> tuple[str, ...]:
        """``SCOPES`` as a tuple; a comma-separated string is accepted too."""
        value = self.raw.get("SCOPES", DEFAULT_SCOPES)
        if isinstance(value, str):
            value = value.split(",")
        return tuple(s.strip() for s in value if s.strip())


def to_bool(value: Any) -> bool:
    """Interpret the SDK's "true"/"false" strings as well as real booleans."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def is_valid_concurrency_cap(value: Any) -> bool:
    """True for ``None`` or an ``int`` >= 0 (a bool is not a number of calls)."""
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


def is_valid_interval(value: Any) -> bool:
    """True for ``None`` or a number of minutes >= 0 (a bool is not a number of minutes)."""
    return value is None or (
        isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    )


def _normalise_url(url: str) -> str:
    url = str(url).strip().rstrip("/")
    if "://" not in url:
        # The SDK's apiBaseUrl is a bare host ("www.zohoapis.com").
        url = "https://" + url
    return url


def setting(key: str) -> str:
    """How a key is written in settings files, for messages: ``ZCRM['KEY']``."""
    return f"{SETTING_NAME}['{key}']"


def get_settings() -> ZCRMSettings:
    """Return the current ``settings.ZCRM`` (read now, not at import)."""
    raw = getattr(django_settings, SETTING_NAME, None) or {}
    if not isinstance(raw, dict):
        raw = {}
    return ZCRMSettings(raw=dict(raw))


def raw_settings() -> Any:
    """Return ``settings.ZCRM`` exactly as the project wrote it (for validation)."""
    return getattr(django_settings, SETTING_NAME, None)


def is_valid_url(url: str) -> bool:
    """True when ``url`` is an absolute http(s) URL (http is allowed for loopback testing)."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def settings_from_env(env: Any = None, prefix: str = "ZCRM_") -> dict[str, Any]:
    """Build a ``ZCRM`` dict from ``ZCRM_<KEY>`` environment variables (django-environ)."""
    env = env or environ.Env()
    result: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        name = prefix + key
        if name not in os.environ:
            continue
        if key == "NOTIFY_MODULES":
            result[key] = env.list(name)  # "Leads,Contacts"
        elif isinstance(default, bool):
            result[key] = env.bool(name)
        elif isinstance(default, int):
            result[key] = env.int(name)
        elif isinstance(default, float):
            result[key] = env.float(name)
        elif isinstance(default, tuple) and key in ("TOKEN_TIMEOUT", "HTTP_TIMEOUT"):
            result[key] = tuple(float(v) for v in env.list(name))
        elif isinstance(default, tuple):
            result[key] = tuple(env.list(name))
        elif isinstance(default, dict):
            result[key] = env.json(name)
        else:
            result[key] = env.str(name)
    return result


def load_custom_handler_class(conf: ZCRMSettings | None = None) -> type | None:
    """Import the class named by PERSISTENCE_HANDLER_CLASS(_PATH), or None when unset.

    Raises :class:`ZCRMConfigurationError` whose ``check_id`` is the system check reporting the
    same problem (see :func:`django_zcrm.custom_store.load_store_class`).
    """
    conf = conf or get_settings()
    return load_store_class(
        (conf.PERSISTENCE_HANDLER_CLASS or "").strip(),
        (conf.PERSISTENCE_HANDLER_CLASS_PATH or "").strip(),
    )


# -- validation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with ``settings.ZCRM``: a stable id, what is wrong and what to set."""

    id: str  # "django_zcrm.E002"; the system check id, never renumbered
    level: Literal["error", "warning"]
    message: str
    hint: str = ""

    @property
    def is_error(self) -> bool:
        """True for problems that stop the OAuth client from being built."""
        return self.level == "error"

    def sentence(self) -> str:
        """Message and hint as one readable sentence (for exceptions)."""
        return f"{self.message} {self.hint}".strip()


def _error(number: str, message: str, hint: str = "") -> Problem:
    return Problem(f"django_zcrm.{number}", "error", message, hint)


def _warning(number: str, message: str, hint: str = "") -> Problem:
    return Problem(f"django_zcrm.{number}", "warning", message, hint)


#: Numbers >= 0 that the core reads (seconds or counts); the sync ones live in sync.checks.
CORE_NUMBER_KEYS = (
    "REFRESH_MARGIN",
    "HARD_REFRESH_MARGIN",
    "REFRESH_LEASE_SECONDS",
    "THROTTLE_SECONDS",
    "MAX_RETRIES",
    "RETRY_BACKOFF_BASE",
    "RETRY_BACKOFF_MAX",
    "MAX_RETRY_AFTER",
)


def validate(raw: Any) -> list[Problem]:
    """Every problem of ``raw`` (the value of ``settings.ZCRM``) outside sync; never raises."""
    if raw is None:
        return [
            _error(
                "E001",
                "settings.ZCRM is not set.",
                "Add ZCRM = {'CLIENT_ID': ..., 'CLIENT_SECRET': ...} to your settings "
                "(see the README's settings table).",
            )
        ]
    if not isinstance(raw, dict):
        return [
            _error(
                "E001",
                f"settings.ZCRM must be a dict, not {type(raw).__name__}.",
                "Write ZCRM = {'CLIENT_ID': ..., 'CLIENT_SECRET': ...}.",
            )
        ]
    conf = ZCRMSettings(raw=dict(raw))
    return [
        *_required(raw),
        *_unknown_keys(raw),
        *_data_center(conf, raw),
        *_urls(conf, raw),
        *_api_version(raw),
        *_access_type(raw),
        *_persistence(conf, raw),
        *_token_database(raw),
        *number_problems(conf, CORE_NUMBER_KEYS),
        *_timeouts(conf),
        *_concurrency(raw),
        *_schedules(raw),
        *_heavy_concurrency(raw),
        *_log_file(raw),
        *_answer_limits(conf),
        *_notify(raw),
    ]


def configuration_errors(conf: ZCRMSettings) -> list[str]:
    """The error-level problems of a settings object, as readable sentences."""
    return [p.sentence() for p in validate(conf.raw) if p.is_error]


def _required(raw: dict) -> list[Problem]:
    return [
        _error(
            number,
            f"{setting(key)} is missing.",
            f"Set {setting(key)} to the value shown for your client in the Zoho API "
            "console (api-console.zoho.com), or to the one `manage.py zcrm_fake_server` "
            f"prints for the bundled fake; read it from the environment, e.g. ZCRM_{key} "
            "with settings_from_env().",
        )
        for number, key in zip(("E002", "E003"), REQUIRED_KEYS, strict=True)
        if not str(raw.get(key) or "").strip()
    ]


def _unknown_keys(raw: dict) -> list[Problem]:
    problems = []
    for key in sorted(k for k in raw if k not in DEFAULTS):
        guess = difflib.get_close_matches(str(key).upper(), DEFAULTS, n=1)
        hint = (
            f"Did you mean {setting(guess[0])}?"
            if guess
            else "Remove it; the README lists every key."
        )
        problems.append(_error("E004", f"{setting(key)} is not a django-zcrm setting.", hint))
    return problems


def _data_center(conf: ZCRMSettings, raw: dict) -> list[Problem]:
    if conf.data_center is not None:
        return []
    return [
        _error(
            "E005",
            f"{setting('DATA_CENTER')} = {raw.get('DATA_CENTER', 'US')!r} "
            "is not a Zoho data centre.",
            f"Set {setting('DATA_CENTER')} to one of {', '.join(DATA_CENTERS)} "
            "(the domain you log in to Zoho at: zoho.com = US, zoho.eu = EU, ...).",
        )
    ]


def _urls(conf: ZCRMSettings, raw: dict) -> list[Problem]:
    problems = []
    for key, value in (
        ("ACCOUNTS_URL", conf.accounts_url),
        ("API_BASE_URL", conf.api_base_url),
        ("REDIRECT_URI", raw.get("REDIRECT_URI") or ""),
    ):
        if not value:
            continue
        if not is_valid_url(value):
            problems.append(
                _error(
                    "E009",
                    f"{setting(key)} = {value!r} is not an http(s) URL.",
                    f"Set {setting(key)} to a URL such as 'https://accounts.zoho.eu', or remove "
                    "it to derive it from ZCRM['DATA_CENTER'].",
                )
            )
        elif urlsplit(value).scheme == "http" and not is_loopback_host(
            urlsplit(value).hostname or ""
        ):
            problems.append(
                _warning(
                    "W003",
                    f"{setting(key)} = {value!r} uses plain http.",
                    "Tokens would cross the network unencrypted: use https "
                    "(http is meant for the loopback fake server).",
                )
            )
    return problems


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (where plain http stays on the machine)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _api_version(raw: dict) -> list[Problem]:
    value = raw.get("API_VERSION", "v2")
    if value in API_VERSIONS:
        return []
    return [
        _error(
            "E010",
            f"{setting('API_VERSION')} = {value!r} is not a Zoho CRM API version.",
            f"Use one of {', '.join(API_VERSIONS)}.",
        )
    ]


def _access_type(raw: dict) -> list[Problem]:
    value = raw.get("ACCESS_TYPE", "offline")
    if value not in ("offline", "online"):
        return [
            _error(
                "E011",
                f"{setting('ACCESS_TYPE')} = {value!r} is not valid.",
                "Use 'offline' (a refresh token is issued; the default).",
            )
        ]
    if value == "online":
        return [
            _warning(
                "W001",
                f"{setting('ACCESS_TYPE')} is 'online': Zoho issues no refresh token.",
                "Tokens cannot be refreshed and stop working after an hour; use 'offline'.",
            )
        ]
    return []


def _persistence(conf: ZCRMSettings, raw: dict) -> list[Problem]:
    problems = []
    try:
        load_custom_handler_class(conf)
    except ZCRMConfigurationError as exc:
        problems.append(
            Problem(
                exc.check_id or NOT_IMPORTABLE,
                "error",
                str(exc),
                f"Fix {setting('PERSISTENCE_HANDLER_CLASS')} (and "
                f"{setting('PERSISTENCE_HANDLER_CLASS_PATH')}) or remove them "
                "to use the database.",
            )
        )
    path = raw.get("TOKEN_PERSISTENCE_PATH")
    problem = _unwritable_folder(str(path)) if path else None
    if problem:
        key = setting("TOKEN_PERSISTENCE_PATH")
        problems.append(
            _error(
                "E008",
                f"{key} = {path!r} {problem}.",
                f"Point {key} at a folder this process can write (the token file "
                "zcrm_oauthtokens.txt is created inside it), or remove it to keep tokens in the "
                "database.",
            )
        )
    return problems


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


def _token_database(raw: dict) -> list[Problem]:
    uses_database = not (raw.get("PERSISTENCE_HANDLER_CLASS") or raw.get("TOKEN_PERSISTENCE_PATH"))
    if "TOKEN_DATABASE" not in raw and not uses_database:
        # Tokens live in a file or a custom store: a project without databases is fine.
        return []
    alias = raw.get("TOKEN_DATABASE", "default")
    if alias in django_settings.DATABASES:
        return []
    return [
        _error(
            "E012",
            f"{setting('TOKEN_DATABASE')} = {alias!r} is not in settings.DATABASES.",
            f"Use one of {', '.join(django_settings.DATABASES)}, or add a "
            f"DATABASES[{alias!r}] entry (e.g. a MySQL database 'zohooauth').",
        )
    ]


def number_problems(conf: ZCRMSettings, keys: tuple[str, ...]) -> list[Problem]:
    """E013 for each of ``keys`` whose value is not a number >= 0."""
    return [
        _error(
            "E013",
            f"{setting(key)} = {value!r} must be a number >= 0.",
            f"Remove {setting(key)} to use the default ({DEFAULTS[key]}).",
        )
        for key, value in _values(conf, keys)
        if not (_is_number(value) and value >= 0)
    ]


def _timeouts(conf: ZCRMSettings) -> list[Problem]:
    return [
        _error(
            "E014",
            f"{setting(key)} = {value!r} must be (connect, read) seconds.",
            f"Write e.g. {setting(key)} = {DEFAULTS[key]!r}.",
        )
        for key, value in _values(conf, ("TOKEN_TIMEOUT", "HTTP_TIMEOUT"))
        if not (
            isinstance(value, (tuple, list))
            and len(value) == 2
            and all(isinstance(v, (int, float)) and v > 0 for v in value)
        )
    ]


def _answer_limits(conf: ZCRMSettings) -> list[Problem]:
    problems = []
    total = conf.REQUEST_TOTAL_TIMEOUT
    if not (_is_number(total) and 0 < total < float("inf")):
        problems.append(
            _error(
                "E070",
                f"{setting('REQUEST_TOTAL_TIMEOUT')} = {total!r} must be a number of seconds > 0.",
                "It bounds one whole exchange with Zoho (a server dripping its answer included); "
                f"remove it to use the default ({DEFAULTS['REQUEST_TOTAL_TIMEOUT']}).",
            )
        )
    cap = conf.MAX_RESPONSE_BYTES
    if not (isinstance(cap, int) and not isinstance(cap, bool) and cap >= 1024):
        problems.append(
            _error(
                "E071",
                f"{setting('MAX_RESPONSE_BYTES')} = {cap!r} must be a whole number of bytes "
                ">= 1024.",
                "It caps one answer after decompression; remove it to use the default "
                f"({DEFAULTS['MAX_RESPONSE_BYTES']}, 64 MiB).",
            )
        )
    return problems


def trusted_zoho_url(candidate: Any, configured: str, kind: str) -> str | None:
    """``candidate`` as a base URL when it is a Zoho server of ``kind`` or the configured one.

    ``kind`` is ``"accounts"`` or ``"api"``. Zoho names servers in its answers (the web flow's
    ``accounts-server``, a token answer's ``api_domain``); a forged or broken one must not
    receive our client secret or tokens. Only the exact hosts of :data:`DATA_CENTERS` over https
    (no port, user, path, query) or exactly the configured URL pass; anything else is None.
    """
    if not isinstance(candidate, str) or not candidate or len(candidate) > 255:
        return None
    if not candidate.isascii() or not candidate.isprintable():
        return None
    value = candidate.strip().rstrip("/")
    if "://" not in value:
        value = "https://" + value
    configured = configured.rstrip("/")
    if value == configured:
        return configured
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    urls = [
        dc.accounts_url if kind == "accounts" else dc.api_base_url for dc in DATA_CENTERS.values()
    ]
    known_hosts = {urlsplit(url).netloc for url in urls}
    if (
        parts.scheme == "https"
        and parts.hostname in known_hosts
        and port is None
        and not parts.username
        and not parts.password
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
    ):
        return f"https://{parts.hostname}"
    return None


def _values(conf: ZCRMSettings, keys: tuple[str, ...]) -> list[tuple[str, Any]]:
    return [(key, getattr(conf, key)) for key in keys]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _concurrency(raw: dict) -> list[Problem]:
    key = "MAX_CONCURRENT_REQUESTS"
    value = raw.get(key, DEFAULTS[key])
    if is_valid_concurrency_cap(value):
        return []
    return [
        _error(
            "E017",
            f"{setting(key)} = {value!r} must be None or a whole number >= 0.",
            f"Set {setting(key)} to the most CRM API calls one process may have in "
            "flight: your Zoho edition's concurrency limit (5 to 25 per org, 10 for "
            "heavy calls such as COQL and search) divided by the number of processes, "
            f"e.g. {DEFAULTS[key]}; None or 0 turn the cap off.",
        )
    ]


def _schedules(raw: dict) -> list[Problem]:
    """The task schedules' intervals (E030-E032): >= 0 or None; per module for syncs."""
    problems = []
    key = "TOKEN_REFRESH_INTERVAL_MINUTES"
    value = raw.get(key, DEFAULTS[key])
    if not is_valid_interval(value):
        problems.append(
            _error(
                "E031",
                f"{setting(key)} = {value!r} is not a number of minutes.",
                f"Use minutes between token refresh runs, e.g. {DEFAULTS[key]} (less than "
                "the hour a Zoho access token lives); None or 0 schedule none.",
            )
        )
    for key, unit in (
        ("NOTIFY_PROCESS_INTERVAL_SECONDS", "seconds"),
        ("NOTIFY_RENEW_INTERVAL_MINUTES", "minutes"),
    ):
        value = raw.get(key, DEFAULTS[key])
        if not is_valid_interval(value):
            problems.append(
                _error(
                    "E032",
                    f"{setting(key)} = {value!r} is not a number of {unit}.",
                    f"Use {unit} between scheduled runs, e.g. {DEFAULTS[key]}; None or 0 "
                    "schedule none.",
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
        where = setting(key) if module is None else f"{setting(key)}[{module!r}]"
        if module is not None and (not isinstance(module, str) or not module):
            problems.append(_error("E030", f"{where} is not a module name.", hint))
        elif not is_valid_interval(minutes):
            problems.append(
                _error("E030", f"{where} = {minutes!r} is not a number of minutes.", hint)
            )
    return problems


def _heavy_concurrency(raw: dict) -> list[Problem]:
    key = "MAX_CONCURRENT_HEAVY_REQUESTS"
    value = raw.get(key, DEFAULTS[key])
    if is_valid_concurrency_cap(value):
        return []
    return [
        _error(
            "E060",
            f"{setting(key)} = {value!r} must be None or a whole number >= 0.",
            f"Set {setting(key)} to the most heavy calls (COQL, Bulk Read) one process may "
            "have in flight, below Zoho's limit of 10 per org divided by the number of "
            f"processes, e.g. {DEFAULTS[key]}; None or 0 leave only MAX_CONCURRENT_REQUESTS.",
        )
    ]


def _log_file(raw: dict) -> list[Problem]:
    path = raw.get("APPLICATION_LOG_FILE_PATH")
    if not path:
        return []
    folder = os.path.dirname(os.path.abspath(str(path))) or "."
    if os.path.isdir(folder) and os.access(folder, os.W_OK):
        return []
    return [
        _warning(
            "W002",
            f"{setting('APPLICATION_LOG_FILE_PATH')} = {path!r}: its folder is not writable.",
            "Point it at a file in a writable folder.",
        )
    ]


#: Longest channel lifetime Zoho grants: one day up to v3, one week from v4 (wire-format.md).
def notify_max_hours(api_version: str) -> int:
    """The longest notification channel lifetime, in hours, for an API version."""
    return 24 if api_version in ("v2", "v2.1", "v3") else 168


def _notify(raw: dict) -> list[Problem]:
    """E050-E055 / W050: the NOTIFY_* keys."""
    problems: list[Problem] = []
    url = raw.get("NOTIFY_URL") or ""
    if url:
        if not isinstance(url, str) or not is_valid_url(url):
            problems.append(
                _error(
                    "E050",
                    f"{setting('NOTIFY_URL')} = {url!r} is not an http(s) URL.",
                    "Set it to the public URL of the zcrm:notify view, e.g. "
                    "'https://example.com/zoho/notify/'.",
                )
            )
        elif urlsplit(url).scheme == "http" and not is_loopback_host(urlsplit(url).hostname or ""):
            problems.append(
                _error(
                    "E051",
                    f"{setting('NOTIFY_URL')} = {url!r} uses plain http.",
                    "Zoho would send the channel's verification token unencrypted: use https "
                    "(http is accepted only for loopback addresses, for the fake server).",
                )
            )
    modules = raw.get("NOTIFY_MODULES")
    if modules is not None and (
        isinstance(modules, str)
        or not isinstance(modules, (list, tuple))
        or not all(isinstance(m, str) and m and "/" not in m and "." not in m for m in modules)
    ):
        problems.append(
            _error(
                "E052",
                f"{setting('NOTIFY_MODULES')} = {modules!r} is not a list of module API names.",
                'Write e.g. ["Leads", "Deals"], or leave it unset to watch the modules of '
                "ZCRM['SYNC_MODELS'].",
            )
        )
    hours = raw.get("NOTIFY_CHANNEL_HOURS", DEFAULTS["NOTIFY_CHANNEL_HOURS"])
    if not _is_number(hours) or hours <= 0:
        problems.append(
            _error(
                "E053",
                f"{setting('NOTIFY_CHANNEL_HOURS')} = {hours!r} is not a number of hours > 0.",
                "Set the channel lifetime to request, e.g. 24.",
            )
        )
    else:
        version = str(raw.get("API_VERSION", "v2"))
        most = notify_max_hours(version)
        if hours > most:
            problems.append(
                _warning(
                    "W050",
                    f"{setting('NOTIFY_CHANNEL_HOURS')} = {hours!r} is longer than the {most} hours "
                    f"Zoho grants a channel on {version}.",
                    f"zcrm_watch asks for {most} hours; renew from cron well within that.",
                )
            )
    inline = raw.get("NOTIFY_PROCESS_INLINE", False)
    if not isinstance(inline, bool):
        problems.append(
            _error(
                "E054",
                f"{setting('NOTIFY_PROCESS_INLINE')} = {inline!r} is not True or False.",
                "Set it to True to process notifications right after answering Zoho.",
            )
        )
    for key in ("NOTIFY_MAX_BODY_BYTES", "NOTIFY_RETRY_MAX_SECONDS"):
        value = raw.get(key, DEFAULTS[key])
        if not _is_number(value) or value <= 0:
            problems.append(
                _error(
                    "E055",
                    f"{setting(key)} = {value!r} is not a number > 0.",
                    f"Remove it to use the default ({DEFAULTS[key]}).",
                )
            )
    return problems
