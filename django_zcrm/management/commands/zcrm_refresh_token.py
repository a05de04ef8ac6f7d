"""Refresh a user's Zoho access token now."""

from __future__ import annotations

from ...oauth import get_oauth_client
from ...tokens import TokenStatus
from ._base import ZCRMCommand


class Command(ZCRMCommand):
    help = "Mint a new access token from the stored refresh token now (normally automatic)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--user", dest="user", default=None, help="The Zoho user (default: CURRENT_USER_EMAIL)."
        )

    def run(self, *args, **options):
        client = get_oauth_client()
        tokens = client.refresh_access_token(options["user"])
        status = TokenStatus.of(tokens, client.now_ms())
        self.stdout.write(
            self.style.SUCCESS(
                f"Refreshed the access token of {status.user_identifier} ({status.access_token_tail}); "
                f"it expires at {status.expires_at:%Y-%m-%d %H:%M:%S %Z}."
            )
        )
