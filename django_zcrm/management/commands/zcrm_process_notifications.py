"""Apply the Zoho notifications waiting in the inbox to the local models."""

from __future__ import annotations

import signal
import threading
from typing import Any

from ...notifications.processor import ProcessResult, process_forever, process_pending
from ._base import ZCRMCommand


class Command(ZCRMCommand):
    help = (
        "Process the notification inbox: read the changed records from Zoho (ids=, 100 per "
        "call) and store them like zcrm_sync. --watch keeps running and picks new "
        "notifications up within a second."
    )

    def add_arguments(self, parser):
        parser.add_argument("--watch", action="store_true", help="Keep running (a worker).")
        parser.add_argument(
            "--poll", type=float, default=0.5, metavar="SECONDS", help="Idle poll interval [0.5]."
        )

    def run(self, *args: Any, **options: Any) -> None:
        if not options["watch"]:
            result = process_pending()
            self.stdout.write(result.summary())
            for error in result.errors:
                self.stderr.write(error)
            return
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
        self.stdout.write("Processing notifications; Ctrl-C to stop.")
        self.stdout.flush()
        process_forever(poll=options["poll"], stop=stop, on_result=self._report)

    def _report(self, result: ProcessResult) -> None:
        self.stdout.write(result.summary())
        self.stdout.flush()
