"""Inter-process file locks (``fcntl.flock``): released by the kernel when a holder dies."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator

from ..exceptions import ZCRMPersistenceError


@contextlib.contextmanager
def file_lock(path: str, *, timeout: float = 10.0, poll: float = 0.01) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created 0600 if missing) for the ``with`` block."""
    try:
        # O_NOFOLLOW: a symlink planted at the lock path is refused, never followed.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ZCRMPersistenceError(
                f"Refusing to lock {path}: it is a symbolic link. Remove it (the lock file is "
                "recreated)."
            ) from exc
        raise ZCRMPersistenceError(f"Cannot open the lock file {path}: {exc.strerror}.") from exc
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise ZCRMPersistenceError(f"Cannot lock {path}: {exc.strerror}") from exc
                if time.monotonic() >= deadline:
                    raise ZCRMPersistenceError(
                        f"Timed out after {timeout:.0f}s waiting for the lock on {path}; another "
                        "process holds it. If none is running, the lock file can be deleted."
                    ) from exc
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
