"""Re-encrypt every stored Zoho token with the first key of ZCRM['TOKEN_ENCRYPTION_KEYS']."""

from __future__ import annotations

from django.core.management.base import CommandError

from ...key_rotation import BATCH_SIZE, rotate_tokens
from ._base import ZCRMCommand


class Command(ZCRMCommand):
    help = (
        "Re-encrypt every stored Zoho token (database table and token file) with the first "
        "configured key; plaintext rows (written by Zoho's SDKs) are encrypted. Safe while other "
        "processes refresh tokens. --check only reports."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check", action="store_true", help="Only report what would be rewritten."
        )
        parser.add_argument(
            "--batch-size", type=int, default=BATCH_SIZE, help="Rows read per query."
        )

    def run(self, *args, **options):
        reports = rotate_tokens(check_only=options["check"], batch_size=options["batch_size"])
        failed = 0
        for report in reports:
            style = self.style.ERROR if report.undecryptable else self.style.SUCCESS
            self.stdout.write(style(report.summary()))
            for user in report.undecryptable_users:
                self.stdout.write(f"    cannot decrypt: {user}")
            failed += report.undecryptable
        if failed:
            raise CommandError(
                f"{failed} stored token(s) cannot be decrypted with the configured keys and were "
                "left as they are: add the key they were written with to "
                "ZCRM['TOKEN_ENCRYPTION_KEYS'] (or SECRET_KEY_FALLBACKS), or generate new tokens "
                "for those users."
            )
