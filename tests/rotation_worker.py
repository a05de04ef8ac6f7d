"""A separate process that force-refreshes its users' access tokens again and again.

Started by tests/test_rotation_concurrency.py while the parent rotates the encryption key; it
prints, per user, a hash of the last access token it stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def main() -> int:
    import django
    from django.conf import settings

    django.setup()
    settings.ZCRM = json.loads(os.environ["ZCRM_WORKER_SETTINGS"])
    users = json.loads(os.environ["ZCRM_WORKER_USERS"])
    rounds = int(os.environ["ZCRM_WORKER_ROUNDS"])

    from django.db import connection

    from django_zcrm.oauth import get_oauth_client

    client = get_oauth_client()
    connection.ensure_connection()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 2
    last: dict[str, str] = {}
    try:
        for _ in range(rounds):
            for user in users:
                token = client.refresh_access_token(user).access_token
                last[user] = hashlib.sha256(token.encode()).hexdigest()
    except Exception as exc:  # reported to the parent, which fails the test with it
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    print(json.dumps({"ok": True, "last": last}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
