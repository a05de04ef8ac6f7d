"""The single reader of ``settings.ZCRM``: defaults, data centres, validation.

Settings are read on every access (never cached at import) so that ``override_settings`` and
pytest-django's ``settings`` fixture just work. Only objects built from dotted paths are cached
elsewhere, and those caches are cleared on Django's ``setting_changed`` signal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings as django_settings

SETTING_NAME = "ZCRM"


@dataclass(frozen=True)
class DataCenter:
    """The hosts Zoho runs for one data centre."""

    code: str
    accounts_url: str
    api_base_url: str
    sandbox_api_base_url: str
    developer_api_base_url: str
    content_url: str


DATA_CENTERS: dict[str, DataCenter] = {
    dc.code: dc
    for dc in (
        DataCenter(
            "US",
            "https://accounts.zoho.com",
            "https://www.zohoapis.com",
            "https://sandbox.zohoapis.com",
            "https://developer.zohoapis.com",
            "https://content.zohoapis.com",
        ),
        DataCenter(
            "EU",
            "https://accounts.zoho.eu",
            "https://www.zohoapis.eu",
            "https://sandbox.zohoapis.eu",
            "https://developer.zohoapis.eu",
            "https://content.zohoapis.eu",
        ),
        DataCenter(
            "IN",
            "https://accounts.zoho.in",
            "https://www.zohoapis.in",
            "https://sandbox.zohoapis.in",
            "https://developer.zohoapis.in",
            "https://content.zohoapis.in",
        ),
        DataCenter(
            "AU",
            "https://accounts.zoho.com.au",
            "https://www.zohoapis.com.au",
            "https://sandbox.zohoapis.com.au",
            "https://developer.zohoapis.com.au",
            "https://content.zohoapis.com.au",
        ),
        DataCenter(
            "JP",
            "https://accounts.zoho.jp",
            "https://www.zohoapis.jp",
            "https://sandbox.zohoapis.jp",
            "https://developer.zohoapis.jp",
            "https://content.zohoapis.jp",
        ),
        DataCenter(
            "CA",
            "https://accounts.zohocloud.ca",
            "https://www.zohoapis.ca",
            "https://sandbox.zohoapis.ca",
            "https://developer.zohoapis.ca",
            "https://upload.zohocloud.ca",
        ),
        DataCenter(
            "CN",
            "https://accounts.zoho.com.cn",
            "https://www.zohoapis.com.cn",
            "https://sandbox.zohoapis.com.cn",
            "https://developer.zohoapis.com.cn",
            "https://content.zohoapis.com.cn",
        ),
        DataCenter(
            "SA",
            "https://accounts.zoho.sa",
            "https://www.zohoapis.sa",
            "https://sandbox.zohoapis.sa",
            "https://developer.zohoapis.sa",
            "https://files.zoho.sa",
        ),
    )
}

API_VERSIONS = ("v2", "v2.1", "v3", "v4", "v5", "v6", "v7", "v8")

DEFAULT_SCOPES = (
    "ZohoCRM.modules.ALL",
    "ZohoCRM.settings.ALL",
    "ZohoCRM.users.READ",
    "ZohoCRM.org.READ",
    "ZohoCRM.coql.READ",
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
    # Sync.
    "SYNC_MODELS": {},
    "SYNC_DELETE_MODE": "mark",
    "SYNC_LOOKBACK_SECONDS": 10,
    "SYNC_LEASE_SECONDS": 300,
    # Task schedules (django_zcrm.tasks.beat_schedule): minutes between runs; None or 0: none.
    # SYNC_INTERVAL_MINUTES may be a dict per module, {"Leads": 5, "*": 30} ("*": the others).
    "SYNC_INTERVAL_MINUTES": 15,
    "TOKEN_REFRESH_INTERVAL_MINUTES": 10,
}

REQUIRED_KEYS = ("CLIENT_ID", "CLIENT_SECRET")
BOOLEAN_KEYS = ("SANDBOX", "LOG_IN_CONSOLE")


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
            if self.sandbox and "://www." in url:
                # The SDK derives the sandbox host by replacing "www" with "sandbox".
                url = url.replace("://www.", "://sandbox.", 1)
            return url
        dc = self.data_center or DATA_CENTERS["US"]
        return dc.sandbox_api_base_url if self.sandbox else dc.api_base_url

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
    import environ

    env = env or environ.Env()
    result: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        name = prefix + key
        if name not in os.environ:
            continue
        if isinstance(default, bool):
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
