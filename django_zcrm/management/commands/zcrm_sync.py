"""Sync Zoho CRM modules into local models (incremental, resumable, one run per module)."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from ...conf import get_settings
from ...exceptions import ZCRMConfigurationError, ZCRMError
from ...services import MAX_PER_PAGE
from ...sync import SyncProgress, sync_module
from ...sync.options import check_run_options
from ._base import ZCRMCommand


class Command(ZCRMCommand):
    help = (
        "Sync Zoho CRM modules into the database: incremental from the last checkpoint, "
        "resumable after a crash, deletions included. Modules default to the keys of "
        "ZCRM['SYNC_MODELS']; modules not listed there go to the generic CRMRecord table."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "modules",
            nargs="*",
            metavar="MODULE",
            help="Zoho module API names (Leads, Contacts, Deals ...).",
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="Re-read every record and flag local rows Zoho no longer has.",
        )
        parser.add_argument(
            "--since",
            metavar="ISO_DATETIME",
            help="Read records modified after this time instead of the checkpoint "
            "(e.g. 2024-05-01 or 2024-05-01T09:30:00+02:00).",
        )
        parser.add_argument(
            "--user",
            metavar="EMAIL",
            help="The Zoho user whose tokens are used (default: CURRENT_USER_EMAIL).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Read from Zoho and count what would change; write nothing.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=MAX_PER_PAGE,
            metavar="N",
            help=f"Records per request and per transaction, 1-{MAX_PER_PAGE} [{MAX_PER_PAGE}].",
        )
        parser.add_argument(
            "--model",
            metavar="APP_LABEL.MODEL",
            help="Sync into this model instead of ZCRM['SYNC_MODELS'] (one module "
            "only; django_zcrm.CRMRecord for the generic table).",
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar even on a terminal."
        )

    def run(self, *args, **options):
        modules = options["modules"] or list((get_settings().SYNC_MODELS or {}).keys())
        if not modules:
            raise CommandError(
                "Name the modules to sync (e.g. `zcrm_sync Leads Contacts`) or set "
                "ZCRM['SYNC_MODELS']."
            )
        if options["model"] and len(modules) != 1:
            raise CommandError("--model needs exactly one module.")
        # Bad options stop the command before any module is synced (the engine checks them too).
        check_run_options(
            full=options["full"], since=options["since"], batch_size=options["batch_size"]
        )
        verbosity = options["verbosity"]
        written = 0  # rows the whole run wrote: the DEBUG warning is about them
        show_bar = verbosity >= 1 and not options["no_progress"] and self.stderr.isatty()
        failed = []
        for module in modules:
            bar = _Bar(module, self.stderr._out) if show_bar else None
            try:
                result = sync_module(
                    module,
                    model=options["model"],
                    full=options["full"],
                    since=options["since"],
                    user=options["user"],
                    dry_run=options["dry_run"],
                    batch_size=options["batch_size"],
                    progress=bar.update if bar else None,
                )
            except ZCRMConfigurationError:
                raise
            except ZCRMError as exc:
                failed.append(f"{module}: {exc}")
                if len(modules) > 1:
                    self.stderr.write(self.style.ERROR(failed[-1]))
                continue
            finally:
                if bar is not None:
                    bar.close()
            written += result.changed
            if verbosity >= 1:
                attention = (
                    result.failed
                    or result.rewound
                    or result.pending_failures
                    or result.full_sync_needed
                )
                style = self.style.WARNING if attention else self.style.SUCCESS
                self.stdout.write(style(result.summary()))
            if verbosity >= 2:
                for zoho_id, reason in result.failures:
                    self.stdout.write(f"    {zoho_id}: {reason}")
        if settings.DEBUG and verbosity >= 1 and written:
            # Django keeps the SQL of the last 9,000 queries under DEBUG: a page's insert is ~350 KB.
            # Said once per run, and only when the run wrote rows (a no-change run costs nothing).
            self.stderr.write(
                self.style.WARNING(
                    "DEBUG is True: Django keeps the SQL of every query, so a large sync uses far "
                    "more memory. Run big syncs with DEBUG = False."
                )
            )
        if len(modules) == 1 and failed:
            raise CommandError(failed[0])
        if failed:
            raise CommandError(f"{len(failed)} of {len(modules)} modules failed; see above.")


class _Bar:
    """A tqdm bar fed by the engine's progress reports (only built on a terminal)."""

    def __init__(self, module: str, stream: Any) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.module = module
        self.stream = stream
        self.bar: Any = None
        self.phase: str | None = None
        self.done = 0

    def update(self, report: SyncProgress) -> None:
        if report.phase != self.phase:
            self.close()
            label = {
                "records": self.module,
                "deleted": f"{self.module} deletions",
                "retry": f"{self.module} retries",
            }.get(report.phase, self.module)
            width = _terminal_width(self.stream)
            self.bar = self._tqdm(
                total=report.total,
                desc=label,
                unit=" records",
                file=self.stream,
                leave=False,
                dynamic_ncols=width is None,
                ncols=width,
            )
            self.phase, self.done = report.phase, 0
        self.bar.update(report.records - self.done)
        self.done = report.records

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _terminal_width(stream: Any) -> int | None:
    """None when the terminal reports its width; 80 when it reports none (a pty nobody sized)."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 80
    # tqdm draws nothing at all in a zero-column terminal.
    return None if columns > 0 else 80
