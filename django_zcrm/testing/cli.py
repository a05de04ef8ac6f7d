"""Run the fake Zoho server in the foreground (shared by ``python -m django_zcrm.testing`` and
``manage.py zcrm_fake_server``)."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from .accounts import FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, FAKE_USER_EMAIL
from .server import FakeZoho
from .state import StateFile, StateFileError

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
    """Lines telling a developer how to point a project at ``fake``.

    The client secret is the fake's public constant (it opens nothing but this loopback fake), so
    it is printed: a project's settings need its value.
    """
    crm = "served" if fake.crm is not None else "not available (django_zcrm.testing.crm missing)"
    return [
        f"Fake Zoho listening on {fake.url}",
        f"  Accounts + API URL : {fake.url}   (CRM endpoints: {crm})",
        f"  Client ID          : {FAKE_CLIENT_ID}",
        f"  Client secret      : {FAKE_CLIENT_SECRET}   (django_zcrm.testing.FAKE_CLIENT_SECRET)",
        f"  User               : {FAKE_USER_EMAIL}",
        f"  Grant token        : curl {fake.url}/_fake/self-client/grant",
        "  Environment (.env) for ZCRM = settings_from_env(env):",
        *(f"    {line}" for line in env_lines(fake.url)),
        "Press Ctrl-C to stop.",
    ]


def env_lines(url: str) -> list[str]:
    """``ZCRM_<KEY>=value`` lines pointing a project at the fake at ``url``."""
    return [
        f"ZCRM_CLIENT_ID={FAKE_CLIENT_ID}",
        f"ZCRM_CLIENT_SECRET={FAKE_CLIENT_SECRET}",
        f"ZCRM_ACCOUNTS_URL={url}",
        f"ZCRM_API_BASE_URL={url}",
        f"ZCRM_CURRENT_USER_EMAIL={FAKE_USER_EMAIL}",
    ]


def parse_seed(value: str) -> tuple[str, int]:
    """``"Leads=20000"`` -> ``("Leads", 20000)``; raises ValueError naming what is wrong."""
    module, sep, count = value.partition("=")
    module = module.strip()
    if not sep or not module:
        raise ValueError(f"{value!r} is not MODULE=COUNT (e.g. Leads=20000)")
    try:
        number = int(count.replace("_", "").replace(",", ""))
    except ValueError:
        raise ValueError(f"{value!r}: {count!r} is not a whole number") from None
    if number < 0:
        raise ValueError(f"{value!r}: the count cannot be negative")
    from ._crm.schema import MODULES

    if module not in MODULES:
        raise ValueError(
            f"{value!r}: the fake has no module {module!r}; it has {', '.join(MODULES)}"
        )
    return module, number


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    write: Callable[[str], Any] = print,
    stop: threading.Event | None = None,
    seed: Sequence[tuple[str, int]] = (),
    state_file: str | None = None,
    **options: Any,
) -> None:
    """Serve a FakeZoho until Ctrl-C, SIGTERM or ``stop`` is set; refuses non-loopback hosts.

    ``seed`` is ``[(module, count), ...]``: records created with ``fake.crm.seed`` (in that order,
    so Contacts seeded after Accounts point at them) before the banner is written; the
    "Fake Zoho listening on" line therefore means the data is there. ``state_file``: a JSON file
    the fake loads at start and keeps up to date (see :mod:`.state`); when it already existed, the
    saved records are served and ``seed`` is skipped.
    """
    if not is_loopback(host):
        raise ValueError(
            f"refusing to listen on {host!r}: the fake Zoho server only binds loopback "
            "addresses (127.0.0.1, ::1, localhost)"
        )
    stop = stop or threading.Event()
    previous: Any = None
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:

        def on_term(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        with FakeZoho(host=host, port=port, **options) as fake:
            state = StateFile(state_file) if state_file else None
            restored = state is not None and state.load(fake)
            if restored:
                write(f"Loaded tokens and records from {state_file} (--seed skipped)")
            else:
                for module, count in seed:
                    started = time.perf_counter()
                    fake.crm.seed(module, count)
                    write(f"Seeded {count:,} {module} in {time.perf_counter() - started:.1f} s")
            if state is not None:
                state.save()
                state.start()
            try:
                for line in banner(fake):
                    write(line)
                try:
                    while not stop.wait(0.2):
                        pass
                except KeyboardInterrupt:
                    pass
            finally:
                if state is not None:
                    state.close()
                    write(f"Saved tokens and records to {state_file}")
            write("Stopping the fake Zoho server.")
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m django_zcrm.testing [--host H] [--port P] [--seed MODULE=COUNT ...] [--state-file PATH]``."""
    parser = argparse.ArgumentParser(
        prog="python -m django_zcrm.testing",
        description="Run the bundled fake Zoho (accounts + CRM) server.",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="loopback address to bind (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port (default 8765; 0 picks a free one)"
    )
    parser.add_argument(
        "--seed",
        action="append",
        default=[],
        metavar="MODULE=COUNT",
        help="create COUNT realistic records in MODULE before serving, e.g. "
        "--seed Leads=20000 (repeatable; seeded in the order given)",
    )
    parser.add_argument(
        "--state-file",
        metavar="PATH",
        help="keep tokens, users and records in this JSON file across restarts (created if "
        "missing; when it exists --seed is skipped)",
    )
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(
            f"--host {args.host!r} is not a loopback address; use 127.0.0.1, ::1 or localhost"
        )
    try:
        seed = [parse_seed(value) for value in args.seed]
    except ValueError as exc:
        parser.error(f"--seed {exc}")
    try:
        serve(
            args.host,
            args.port,
            write=lambda line: print(line, flush=True),
            seed=seed,
            state_file=args.state_file,
        )
    except OSError as exc:
        parser.exit(1, f"cannot listen on {args.host}:{args.port}: {exc}\n")
    except StateFileError as exc:
        parser.exit(1, f"cannot use the state file: {exc}\n")
    except ValueError as exc:  # e.g. --seed Notes=5 with no records to attach the notes to
        parser.exit(1, f"cannot seed: {exc}\n")
    return 0
