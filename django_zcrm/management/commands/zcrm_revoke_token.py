"""Revoke a user's Zoho refresh token and delete the stored tokens."""

from __future__ import annotations

from ...oauth import get_oauth_client
from ._base import ZCRMCommand


class Command(ZCRMCommand):
    help = "Revoke the user's refresh token at Zoho and delete the stored tokens."

    def add_arguments(self, parser):
        parser.add_argument(
            "--user", dest="user", default=None, help="The Zoho user (default: CURRENT_USER_EMAIL)."
        )

    def run(self, *args, **options):
        client = get_oauth_client()
        user = client.resolve_user(options["user"])
        client.revoke(user)
        self.stdout.write(self.style.SUCCESS(f"Revoked and deleted the Zoho tokens of {user}."))
