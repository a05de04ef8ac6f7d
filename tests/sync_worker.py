"""A separate process that runs ``zcrm_sync`` with the arguments it is given.

Started by tests/test_sync_processes.py, which kills it part-way (``kill -9``) or runs a second
sync next to it. It opens the parent's test database and talks to the parent's fake Zoho server.
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
    from django.core.management.base import CommandError

    print("started", flush=True)
    try:
        call_command("zcrm_sync", *argv)
    except CommandError as exc:
        print(f"error: {exc}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
