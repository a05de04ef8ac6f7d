"""The rules behind the token-encryption checks and the ``check --deploy`` checks (E040-W049).

Like :func:`django_zcrm.conf.validate`, every function here returns :class:`Problem` objects and
never raises; :mod:`django_zcrm.checks` turns them into check messages.

- E040: ``TOKEN_ENCRYPTION_KEYS`` is not a list of Fernet keys (or no key can be derived).
- E041: the configured keys cannot decrypt a stored token (one sample row, or the token file).
- W040: ``TOKEN_ENCRYPTION`` is False: tokens are stored in plaintext.
- W041 (deploy): a Zoho URL uses plain http to a host that is not this machine.
- W042 (deploy): the token file or its folder can be read by other users.
- W043 (deploy): ``DEBUG`` with ``LOG_IN_CONSOLE`` and the django_zcrm logger at DEBUG level.
"""

from __future__ import annotations

import logging
import os
import stat
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.db import DatabaseError, connections

from .conf import Problem, ZCRMSettings, is_loopback_host, setting, to_bool
from .crypto import INVALID_KEYS_CHECK, KEYS_SETTING, SWITCH_SETTING, get_cipher, key_problems
from .exceptions import ZCRMConfigurationError, ZCRMError
from .models import OAuthToken
from .persistence.file import FILE_NAME, SECRET_FIELDS, FilePersistence

UNDECRYPTABLE_CHECK = "django_zcrm.E041"


def encryption_problems(raw: dict[str, Any]) -> list[Problem]:
    """E040 (unusable keys) and W040 (encryption off)."""
    problems = [
        Problem(
            INVALID_KEYS_CHECK,
            "error",
            message,
            f'Each key is made by `python -c "from django_zcrm.crypto import generate_key; '
            f'print(generate_key())"`; or remove {setting(KEYS_SETTING)} to derive the key '
            "from SECRET_KEY.",
        )
        for message in key_problems(raw.get(KEYS_SETTING))
    ]
    if raw.get(KEYS_SETTING) is None and not django_settings.SECRET_KEY:
        problems.append(
            Problem(
                INVALID_KEYS_CHECK,
                "error",
                "SECRET_KEY is empty, so no token encryption key can be derived.",
                f"Set SECRET_KEY, or {setting(KEYS_SETTING)}.",
            )
        )
    if not to_bool(raw.get(SWITCH_SETTING, True)):
        problems.append(
            Problem(
                "django_zcrm.W040",
                "warning",
                f"{setting(SWITCH_SETTING)} is False: Zoho tokens are stored in plaintext.",
                "Anyone who reads a database dump, a backup or the token file gets permanent "
                "access to the CRM. Turn it off only to share a token file with a Zoho SDK.",
            )
        )
    return problems


def sample_problems(conf: ZCRMSettings, databases: Any = None) -> list[Problem]:
    """E041 when the configured keys cannot decrypt a stored token (one row or the file).

    The database is read only when ``databases`` names the token database (``check --database
    default``, and before ``migrate``), as Django asks of checks that query. Says nothing when
    there is nothing to read: no row yet, no migration yet, no database.
    """
    if conf.PERSISTENCE_HANDLER_CLASS or conf.PERSISTENCE_HANDLER_CLASS_PATH:
        return []  # a custom store keeps tokens its own way
    try:
        cipher = get_cipher()
    except ZCRMConfigurationError:
        return []  # E040 already says so
    if conf.TOKEN_PERSISTENCE_PATH:
        samples = _file_sample(conf)
    elif databases and (conf.TOKEN_DATABASE or "default") in databases:
        samples = _row_sample(conf)
    else:
        return []
    if samples is None:
        return []
    where, user, values = samples
    try:
        for value in values:
            cipher.decrypt(value, what=f"the stored tokens of {user} ({where})")
    except ZCRMError as exc:
        return [
            Problem(
                UNDECRYPTABLE_CHECK,
                "error",
                exc.message,
                "zcrm_rotate_token_key --check lists every user concerned.",
            )
        ]
    return []


def _row_sample(conf: ZCRMSettings) -> tuple[str, str, tuple[str, ...]] | None:
    using = conf.TOKEN_DATABASE or "default"
    if using not in connections.settings:
        return None
    try:
        row = (
            OAuthToken.objects.using(using)
            .order_by("pk")
            .values_list("useridentifier", "accesstoken", "refreshtoken")
            .first()
        )
    except DatabaseError:
        return None  # not migrated or not reachable: nothing to say about keys
    if row is None:
        return None
    return f"database '{using}'", row[0], (row[1], row[2])


def _file_sample(conf: ZCRMSettings) -> tuple[str, str, tuple[str, ...]] | None:
    store = FilePersistence(conf.TOKEN_PERSISTENCE_PATH)
    if not os.path.exists(store.path):
        return None
    found: list[tuple[str, tuple[str, ...]]] = []

    def first(user: str, record: dict[str, Any]) -> bool:
        if not found:
            found.append((user, tuple(str(record.get(n) or "") for n in SECRET_FIELDS)))
        return False

    try:
        store.rewrite_entries(first)
    except ZCRMError:
        return None  # an unreadable file is reported when it is used, with its own message
    if not found:
        return None
    return store.path, found[0][0], found[0][1]


# -- check --deploy ------------------------------------------------------------------------------


def deploy_problems(conf: ZCRMSettings) -> list[Problem]:
    """The W041-W043 deployment problems."""
    return [*_plain_http(conf), *_readable_token_file(conf), *_debug_console_logging(conf)]


def _plain_http(conf: ZCRMSettings) -> list[Problem]:
    problems = []
    for key, url in (
        ("ACCOUNTS_URL", conf.accounts_url),
        ("API_BASE_URL", conf.api_base_url),
        ("REDIRECT_URI", str(conf.raw.get("REDIRECT_URI") or "")),
    ):
        parts = urlsplit(url)
        if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
            problems.append(
                Problem(
                    "django_zcrm.W041",
                    "warning",
                    f"{setting(key)} = {url!r} sends tokens over plain http.",
                    "Use https in a deployment: anyone on the network path can read tokens and "
                    "grant codes sent over http.",
                )
            )
    return problems


def _readable_token_file(conf: ZCRMSettings) -> list[Problem]:
    folder = conf.TOKEN_PERSISTENCE_PATH
    if not folder or conf.PERSISTENCE_HANDLER_CLASS or conf.PERSISTENCE_HANDLER_CLASS_PATH:
        return []
    problems = []
    for path, what in ((os.path.join(folder, FILE_NAME), "token file"), (folder, "token folder")):
        try:
            mode = stat.S_IMODE(os.lstat(path).st_mode)
        except OSError:
            continue
        # The folder may be traversable by others; only reading or writing it matters.
        loose = mode & (0o066 if what == "token folder" else 0o077)
        if loose:
            problems.append(
                Problem(
                    "django_zcrm.W042",
                    "warning",
                    f"The {what} {path} has mode {mode:o}: other users can read or change it.",
                    f"Run chmod {'700' if what == 'token folder' else '600'} {path}.",
                )
            )
    return problems


def _debug_console_logging(conf: ZCRMSettings) -> list[Problem]:
    level = logging.getLogger("django_zcrm").getEffectiveLevel()
    if not (django_settings.DEBUG and conf.log_in_console and level <= logging.DEBUG):
        return []
    return [
        Problem(
            "django_zcrm.W043",
            "warning",
            f"DEBUG is on and {setting('LOG_IN_CONSOLE')} logs django_zcrm at DEBUG level.",
            "Request details end up in the console and its log collector; turn DEBUG off and "
            "log django_zcrm at INFO or above in a deployment.",
        )
    ]
