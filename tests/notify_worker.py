"""A separate process running ``zcrm_process_notifications --watch`` (stopped with SIGTERM).

Started by tests/test_notifications.py; it opens the parent's test database and talks to the
parent's fake Zoho server, exactly like the worker a site runs under systemd.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def main(argv: list[str]) -> int:
    import django
    from django.conf import settings

    django.setup()
    settings.ZCRM = json.loads(os.environ["ZCRM_WORKER_SETTINGS"])

    from django.core.management import call_command

    print("started", flush=True)
    call_command("zcrm_process_notifications", "--watch", *argv)
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
