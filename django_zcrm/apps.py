"""App configuration: registers system checks, logging handlers and cache invalidation, and
wires the OAuth client in as the CRM client's token provider."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ZCRMConfig(AppConfig):
    """The ``django_zcrm`` app."""

    name = "django_zcrm"
    verbose_name = _("Zoho CRM")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register checks and receivers, wire in the client's token provider (models are ready)."""
        from django.core.signals import setting_changed

        from . import (
            checks,  # noqa: F401  (registration happens on import)
            receivers,
        )
        from .client import use_default_token_provider
        from .oauth import get_oauth_client

        setting_changed.connect(receivers.zcrm_setting_changed, dispatch_uid="django_zcrm.settings")
        receivers.configure_logging()
        # The CRM client knows only the TokenProvider contract; the OAuth client is wired in here.
        use_default_token_provider(get_oauth_client)
