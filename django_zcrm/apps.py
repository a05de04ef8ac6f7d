"""App configuration: registers system checks, logging handlers and cache invalidation."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ZCRMConfig(AppConfig):
    """The ``django_zcrm`` app."""

    name = "django_zcrm"
    verbose_name = _("Zoho CRM")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, signals  # noqa: F401  (registration happens on import)

        signals.configure_logging()
