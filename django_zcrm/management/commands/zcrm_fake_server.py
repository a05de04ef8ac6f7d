"""Run the bundled fake Zoho server in the foreground, for demos and manual testing."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ...testing.cli import DEFAULT_HOST, DEFAULT_PORT, is_loopback, parse_seed, serve
from ...testing.state import StateFileError


class Command(BaseCommand):
    help = (
        "Run the bundled fake Zoho (accounts + CRM) server on a loopback address until "
        "Ctrl-C or SIGTERM. It talks to no real Zoho host."
    )
    # The fake is what a project starts before it has any ZCRM settings: an incomplete ZCRM
    # (E002 no CLIENT_ID ...) must not stop it.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--host", default=DEFAULT_HOST, help="Loopback address to bind (default 127.0.0.1)."
        )
        parser.add_argument(
            "--port",
            type=int,
            default=DEFAULT_PORT,
            help="Port to bind (default 8765; 0 picks a free one).",
        )
        parser.add_argument(
            "--seed",
            action="append",
            default=[],
            metavar="MODULE=COUNT",
            help="Create COUNT realistic records in MODULE before serving, e.g. "
            "--seed Leads=500 (repeatable; seeded in the order given).",
        )

        parser.add_argument(
            "--state-file",
            metavar="PATH",
            help="Keep tokens, users and records in this JSON file across restarts (created if "
            "missing; when it exists --seed is skipped). Without it a restarted fake forgets "
            "every token, and stored tokens need reconnecting.",
        )

    def handle(self, *args, **options):
        host, port = options["host"], options["port"]
        self._verbosity = options.get("verbosity", 1)
        if not is_loopback(host):
            raise CommandError(
                f"--host {host!r} is not a loopback address; the fake Zoho server only "
                "listens on 127.0.0.1, ::1 or localhost."
            )
        try:
            seed = [parse_seed(value) for value in options["seed"]]
        except ValueError as exc:
            raise CommandError(f"--seed {exc}") from None
        try:
            serve(host, port, write=self._write, seed=seed, state_file=options["state_file"])
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from exc
        except StateFileError as exc:
            raise CommandError(f"Cannot use the state file: {exc}") from None
        except ValueError as exc:  # e.g. --seed Notes=5 with no records to attach the notes to
            raise CommandError(f"Cannot seed: {exc}") from None

    def _write(self, line: str) -> None:
        if self._verbosity >= 1 or line.startswith("Fake Zoho listening"):
            self.stdout.write(line)
            self.stdout.flush()
