"""Run the fake Zoho server in the foreground (shared by ``python -m django_zcrm.testing`` and
``manage.py zcrm_fake_server``)."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from .accounts import FAKE_CLIENT_ID, FAKE_USER_EMAIL
from .server import FakeZoho

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses: the fake must never listen beyond this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def banner(fake: FakeZoho) -> list[str]:
    """Lines telling a developer how to point a project at ``fake`` (no secret is printed)."""
    crm = "served" if fake.crm is not None else "not available (django_zcrm.testing.crm missing)"
    return [
        f"Fake Zoho listening on {fake.url}",
        f"  Accounts + API URL : {fake.url}   (CRM endpoints: {crm})",
        f"  Client ID          : {FAKE_CLIENT_ID}",
        "  Client secret      : the constant django_zcrm.testing.FAKE_CLIENT_SECRET",
        f"  User               : {FAKE_USER_EMAIL}",
        f"  Grant token        : curl {fake.url}/_fake/self-client/grant",
        f"  Settings           : ZCRM = {{'ACCOUNTS_URL': '{fake.url}', 'API_BASE_URL': '{fake.url}', "
        "'CLIENT_ID': FAKE_CLIENT_ID, 'CLIENT_SECRET': FAKE_CLIENT_SECRET}",
        "Press Ctrl-C to stop.",
    ]


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, write: Callable[[str], Any] = print,
          stop: threading.Event | None = None, **options: Any) -> None:
    """Serve a FakeZoho until Ctrl-C, SIGTERM or ``stop`` is set; refuses non-loopback hosts."""
    if not is_loopback(host):
        raise ValueError(f"refusing to listen on {host!r}: the fake Zoho server only binds loopback "
                         "addresses (127.0.0.1, ::1, localhost)")
    stop = stop or threading.Event()
    previous: Any = None
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        def on_term(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        with FakeZoho(host=host, port=port, **options) as fake:
            for line in banner(fake):
                write(line)
            try:
                while not stop.wait(0.2):
                    pass
            except KeyboardInterrupt:
                pass
            write("Stopping the fake Zoho server.")
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m django_zcrm.testing [--host H] [--port P]``."""
    parser = argparse.ArgumentParser(prog="python -m django_zcrm.testing",
                                     description="Run the bundled fake Zoho (accounts + CRM) server.")
    parser.add_argument("--host", default=DEFAULT_HOST, help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8765; 0 picks a free one)")
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"--host {args.host!r} is not a loopback address; use 127.0.0.1, ::1 or localhost")
    try:
        serve(args.host, args.port, write=lambda line: print(line, flush=True))
    except OSError as exc:
        parser.exit(1, f"cannot listen on {args.host}:{args.port}: {exc}\n")
    return 0
