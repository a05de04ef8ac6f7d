"""Django system checks for ``settings.ZCRM`` (ids ``django_zcrm.E0xx`` / ``W0xx``).

The rules live in :func:`django_zcrm.conf.validate` (core settings),
:func:`django_zcrm.sync.checks.validate_sync` (sync settings) and
:mod:`django_zcrm.security_checks` (token encryption, ``check --deploy``); this module only turns their
problems into Django check messages. Django does not run checks under WSGI, so the OAuth client
calls ``conf.validate`` itself when it is built: a wrong setting fails loudly either way.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register

from .conf import Problem, ZCRMSettings, raw_settings, validate
from .security_checks import deploy_problems, encryption_problems, sample_problems
from .sync.checks import validate_sync


def to_message(problem: Problem) -> CheckMessage:
    """One problem as a Django check message with the same id."""
    kind = Error if problem.is_error else Warning
    return kind(problem.message, hint=problem.hint or None, id=problem.id)


def check_settings(raw: Any) -> list[CheckMessage]:
    """Every problem with ``raw`` (the value of ``settings.ZCRM``) as check messages."""
    problems = validate(raw)
    if isinstance(raw, dict):
        problems += validate_sync(raw)
    return [to_message(p) for p in problems]


@register(Tags.compatibility, "django_zcrm")
def zcrm_settings_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The registered Django system check."""
    return check_settings(raw_settings())


@register(Tags.security, Tags.database, "django_zcrm")
def zcrm_token_encryption_check(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """Unusable keys, encryption off, and stored tokens the keys cannot decrypt."""
    raw = raw_settings()
    if not isinstance(raw, dict):
        return []  # E001 already says so
    problems = encryption_problems(raw)
    problems += sample_problems(ZCRMSettings(raw=dict(raw)), databases)
    return [to_message(p) for p in problems]


@register(Tags.security, "django_zcrm", deploy=True)
def zcrm_deploy_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``manage.py check --deploy``: http to Zoho, a readable token file, DEBUG console logs."""
    raw = raw_settings()
    if not isinstance(raw, dict):
        return []
    return [to_message(p) for p in deploy_problems(ZCRMSettings(raw=dict(raw)))]
