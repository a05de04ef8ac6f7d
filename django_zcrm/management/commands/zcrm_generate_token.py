"""Exchange a Zoho grant token for stored access and refresh tokens."""

from __future__ import annotations

from ...oauth import get_oauth_client
from ...tokens import TokenStatus
from ._base import ZCRMCommand


class Command(ZCRMCommand):
    help = (
        "Exchange a grant token (Zoho API console > Self Client > Generate Code; it works once, "
        "for the time duration chosen when generating it: 3 minutes by default, at most 10) for "
        "access and refresh tokens, and store them."
    )

    def add_arguments(self, parser):
        parser.add_argument("grant_token", help="The grant token (code) Zoho showed you.")
        parser.add_argument(
            "--user",
            dest="user",
            default=None,
            help="Store the tokens under this e-mail (default: CURRENT_USER_EMAIL, "
            "else the e-mail Zoho reports for the token).",
        )

    def run(self, *args, **options):
        client = get_oauth_client()
        tokens = client.generate_access_token(options["grant_token"], options["user"])
        status = TokenStatus.of(tokens, client.now_ms())
        self.stdout.write(
            self.style.SUCCESS(
                f"Stored Zoho tokens for {status.user_identifier}; the access token "
                f"({status.access_token_tail}) expires at {status.expires_at:%Y-%m-%d %H:%M:%S %Z} "
                "and will be refreshed automatically."
            )
        )
