"""Show the state of stored Zoho tokens (never the tokens themselves)."""

from __future__ import annotations

from django.core.management.base import CommandError

from ...oauth import get_oauth_client
from ._base import ZCRMCommand


class Command(ZCRMCommand):
    help = "Show each stored Zoho user's token state and expiry (tokens are never printed)."

    def add_arguments(self, parser):
        parser.add_argument("--user", dest="user", default=None, help="Only this user.")

    def run(self, *args, **options):
        client = get_oauth_client()
        statuses = client.status(options["user"])
        if not statuses and options["user"]:
            # A script checking one user must see a failure, not an exit status of 0.
            stored = ", ".join(s.user_identifier for s in client.status(None)) or "none"
            raise CommandError(
                f"No Zoho tokens are stored for {options['user']} (stored users: {stored}). "
                "Check the e-mail, or store tokens for it with zcrm_generate_token --user."
            )
        if not statuses:
            self.stdout.write(
                self.style.WARNING(
                    "No Zoho tokens are stored. Run zcrm_generate_token with a grant token."
                )
            )
            return
        for s in statuses:
            if s.state == "cannot_decrypt":
                self.stdout.write(self.style.ERROR(f"{s.user_identifier}  state=cannot_decrypt"))
                self.stdout.write(f"    {s.last_error}")
                continue
            style = self.style.SUCCESS if s.state == "valid" else self.style.WARNING
            if s.state == "needs_reauth":
                style = self.style.ERROR
            line = (
                f"{s.user_identifier}  state={s.state}  "
                f"expires={s.expires_at:%Y-%m-%d %H:%M:%S %Z} ({_human(s.expires_in_seconds)})  "
                f"access={s.access_token_tail}"
            )
            if s.throttled_until:
                line += f"  throttled_until={s.throttled_until:%H:%M:%S %Z}"
            self.stdout.write(style(line))
            if s.last_error and options["verbosity"] >= 1 and s.state != "valid":
                self.stdout.write(f"    last error: {s.last_error}")


def _human(seconds: int) -> str:
    if seconds <= 0:
        return "expired"
    if seconds < 120:
        return f"in {seconds} s"
    return f"in {seconds // 60} min"
