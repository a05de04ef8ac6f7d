"""Run in a child process: serve a 1 GiB answer (made on the fly) and report the RSS growth.

``python -m tests.support.huge_answer plain|gzip|declared`` prints one JSON line:
``{"error": <class name>, "growth_mib": <peak RSS growth>, "seconds": <elapsed>}``. A child
process, so the peak RSS is this call's alone and not the test session's.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GIB = 1024**3
BLOCK = b"x" * (1024 * 1024)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    mode = "plain"

    def log_message(self, *args: object) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.mode == "declared":
            self.send_header("Content-Length", str(GIB))
        if self.mode == "gzip":
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        try:
            if self.mode == "gzip":
                packer = zlib.compressobj(9, zlib.DEFLATED, 31)
                zeros = b"0" * (1024 * 1024)
                for _ in range(1024):  # 1 GiB once decompressed, ~1 MiB on the wire
                    self.wfile.write(packer.compress(zeros))
                self.wfile.write(packer.flush())
            else:
                for _ in range(1024):
                    self.wfile.write(BLOCK)
        except OSError:
            return  # the client stopped reading: that is the point


def main(mode: str) -> None:
    """Serve, call the CRM client against it, print the outcome."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.test import override_settings

    from django_zcrm.client import ZCRMClient
    from django_zcrm.exceptions import ZCRMError
    from django_zcrm.tokens import OAuthTokens

    Handler.mode = mode
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"

    class Static:
        def get_tokens(self, user_identifier=None):
            return OAuthTokens("u@example.com", "access-token-0123456789", "r", 2**41)

        def refresh_access_token(self, user_identifier=None, *, stale_token=None):
            return self.get_tokens()

    zcrm = {"CLIENT_ID": "1000.X", "CLIENT_SECRET": "y", "API_BASE_URL": url, "MAX_RETRIES": 0}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    error = "none"
    with override_settings(ZCRM=zcrm):
        try:
            ZCRMClient(oauth_client=Static()).get("Leads")
        except ZCRMError as exc:
            error = type(exc).__name__
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "error": error,
                "growth_mib": (after - before) / 1024,
                "seconds": time.monotonic() - started,
            }
        )
    )
    server.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
