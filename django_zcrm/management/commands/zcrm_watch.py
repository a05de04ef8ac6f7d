"""Subscribe, renew, list or disable Zoho notification channels."""

from __future__ import annotations

from typing import Any

from ...notifications import channels
from ...notifications.channels import ChannelInfo, WatchResult
from ._base import ZCRMCommand


class Command(ZCRMCommand):
    help = (
        "Zoho instant notifications: with no option, enable a channel for ZCRM['NOTIFY_MODULES'] "
        "that POSTs to ZCRM['NOTIFY_URL']; --renew (run it from cron every hour) renews channels "
        "in the last third of their life and re-subscribes lapsed ones; --status lists channels; "
        "--disable unsubscribes them."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "modules", nargs="*", metavar="MODULE", help="Modules to watch (enable only)."
        )
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--renew", action="store_true", help="Renew channels that are due.")
        group.add_argument("--status", action="store_true", help="List channels and expiries.")
        group.add_argument("--disable", action="store_true", help="Unsubscribe every channel.")
        parser.add_argument("--force", action="store_true", help="With --renew: renew all now.")
        parser.add_argument("--user", metavar="EMAIL", help="The Zoho user (enable only).")

    def run(self, *args: Any, **options: Any) -> None:
        if options["renew"]:
            result = channels.renew(force=options["force"])
        elif options["status"]:
            result = channels.status()
        elif options["disable"]:
            result = channels.disable()
        else:
            result = channels.enable(options["modules"] or None, user=options["user"])
        self._print(result)

    def _line(self, info: ChannelInfo) -> str:
        if info.expired:
            when = "expired"
        elif info.renew_due:
            when = "renewal due"
        else:
            when = "ok"
        text = (
            f"channel {info.channel_id} [{info.state}] {', '.join(info.modules)} "
            f"expires {info.expires_at.isoformat()} ({when})"
        )
        return text + (f" last error: {info.last_error}" if info.last_error else "")

    def _print(self, result: WatchResult) -> None:
        for label, infos in (
            ("Enabled", result.enabled),
            ("Renewed", result.renewed),
            ("Subscribed again", result.resubscribed),
        ):
            for info in infos:
                self.stdout.write(self.style.SUCCESS(f"{label} {self._line(info)}"))
        for info in result.unchanged:
            self.stdout.write(self._line(info))
        for channel_id in result.disabled:
            self.stdout.write(f"Disabled channel {channel_id}")
        if result.action == "status" and not result.unchanged:
            self.stdout.write("No notification channel; run `manage.py zcrm_watch` to enable one.")
        for error in result.errors:
            self.stderr.write(self.style.ERROR(error))
        if result.errors:
            raise SystemExit(1)
