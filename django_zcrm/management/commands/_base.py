"""What every zcrm_* command shares: turning our errors into CommandError."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ...exceptions import ZCRMConfigurationError, ZCRMError


class ZCRMCommand(BaseCommand):
    """A command whose ``run()`` errors become readable CommandErrors (no traceback)."""

    def handle(self, *args, **options):
        try:
            return self.run(*args, **options)
        except (ZCRMError, ZCRMConfigurationError) as exc:
            raise CommandError(str(exc)) from exc

    def run(self, *args, **options):  # pragma: no cover - every command overrides it
        raise NotImplementedError
