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
        """Register the system checks and connect the receivers (imported here: models are ready)."""
        from django.core.signals import setting_changed

        from . import (
            checks,  # noqa: F401  (registration happens on import)
            receivers,
        )

        setting_changed.connect(receivers.zcrm_setting_changed, dispatch_uid="django_zcrm.settings")
        receivers.configure_logging()
