"""Print Django model code for Zoho CRM modules (like inspectdb), ready for zcrm_sync."""

from __future__ import annotations

from ...sync import generate_models
from ._base import ZCRMCommand


class Command(ZCRMCommand):
    help = (
        "Print Django models for Zoho CRM modules from their field metadata: field types "
        "mapped, picklists as choices, lookups as id + name fields, with the ZohoMeta "
        "mapping zcrm_sync and zcrm_push use. Redirect it into an app's models.py."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "modules",
            nargs="+",
            metavar="MODULE",
            help="Zoho module API names (Leads, Contacts, Deals ...).",
        )
        parser.add_argument(
            "--user",
            metavar="EMAIL",
            help="The Zoho user whose tokens are used (default: CURRENT_USER_EMAIL).",
        )

    def run(self, *args, **options):
        self.stdout.write(generate_models(options["modules"], user=options["user"]), ending="")
