"""A separate process that asks for an access token when the parent test says "go".

Started by tests/test_concurrency.py; it opens the parent's test database (or token file) and
talks to the parent's fake Zoho server over HTTP.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def main() -> int:
    import django
    from django.conf import settings

    django.setup()
    settings.ZCRM = json.loads(os.environ["ZCRM_WORKER_SETTINGS"])

    from django.db import connection

    from django_zcrm.oauth import get_oauth_client

    client = get_oauth_client()
    connection.ensure_connection()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 2
    try:
        token = client.get_access_token()
    except Exception as exc:  # reported to the parent, which fails the test with it
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    import hashlib

    print(
        json.dumps({"ok": True, "token_hash": hashlib.sha256(token.encode()).hexdigest()}),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
