"""The fake server's state file: tokens, users and records kept across restarts (``--state-file``).

Without it a restarted fake forgets every refresh token it issued, so every token a project
stored turns into "needs reconnect". :class:`StateFile` loads the JSON file at start and writes it
atomically (temp file, fsync, rename; mode 0600) when the state changed, checked every
``interval`` seconds, and once more at shutdown. The tokens in it are the fake's own, worthless
anywhere else. Request counters, injected faults and options are not kept.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from .accounts import FakeAccounts, FakeUser, TokenInfo, _AccessToken, _Grant, _RefreshToken

logger = logging.getLogger(__name__)

__all__ = ["STATE_VERSION", "StateFile", "StateFileError", "load_state", "restore", "snapshot"]

STATE_VERSION = 1


class StateFileError(ValueError):
    """The state file cannot be used (unreadable, another format, its folder missing)."""


# -- accounts ---------------------------------------------------------------------------------------


def _accounts_snapshot(accounts: FakeAccounts) -> dict[str, Any]:
    now = accounts._now()
    with accounts._lock:
        return {
            "next_zuid": accounts._next_zuid,
            "next_refresh_id": accounts._next_refresh_id,
            "users": [vars(u).copy() for u in accounts.users.values()],
            "grants": {
                code: vars(g).copy()
                for code, g in accounts._grants.items()
                if not g.used and g.expires_at > now
            },
            "refresh": {
                token: {**vars(r), "access_tokens": list(r.access_tokens)}
                for token, r in accounts._refresh.items()
            },
            "refresh_order": [
                [user, client, list(tokens)]
                for (user, client), tokens in accounts._refresh_order.items()
            ],
            "access": {
                token: {
                    "user_email": a.info.user_email,
                    "client_id": a.info.client_id,
                    "scopes": sorted(a.info.scopes),
                    "expires_at": a.info.expires_at,
                    "refresh_token_id": a.info.refresh_token_id,
                    "valid": a.valid,
                }
                for token, a in accounts._access.items()
                if a.valid and a.info.expires_at > now
            },
        }


def _accounts_restore(accounts: FakeAccounts, data: dict[str, Any]) -> None:
    with accounts._lock:
        accounts.users = {u["email"]: FakeUser(**u) for u in data["users"]}
        accounts._next_zuid = int(data["next_zuid"])
        accounts._next_refresh_id = int(data["next_refresh_id"])
        accounts._grants = {code: _Grant(**g) for code, g in data["grants"].items()}
        accounts._refresh = {token: _RefreshToken(**r) for token, r in data["refresh"].items()}
        accounts._refresh_by_id = {r.id: token for token, r in accounts._refresh.items()}
        accounts._refresh_order = {
            (user, client): list(tokens) for user, client, tokens in data["refresh_order"]
        }
        accounts._access = {
            token: _AccessToken(
                TokenInfo(
                    a["user_email"],
                    a["client_id"],
                    frozenset(a["scopes"]),
                    float(a["expires_at"]),
                    a["refresh_token_id"],
                ),
                bool(a["valid"]),
            )
            for token, a in data["access"].items()
        }
        live = set(accounts._access)
        for record in accounts._refresh.values():
            record.access_tokens = [t for t in record.access_tokens if t in live]


# -- CRM --------------------------------------------------------------------------------------------


def _crm_snapshot(crm: Any) -> dict[str, Any]:
    with crm._lock:
        seed_next = next(crm._seed_seq)
        crm._seed_seq = itertools.count(seed_next)
        modules = {}
        for name, store in crm.stores.items():
            if not store.rows and not store.deleted:
                continue
            modules[name] = {
                "rows": [[r, store.ctime[i], store.mtime[i]] for i, r in store.rows.items()],
                "deleted": list(store.deleted),
            }
        return {
            "last_id": crm._last_id,
            "seed_seq": seed_next,
            "user_ids": dict(crm._user_ids),
            "next_user_id": crm._next_user_id,
            "modules": modules,
            "attachments": {
                a_id: {
                    "doc": doc,
                    "parent": list(crm._attachment_parent[a_id]),
                    "blob": base64.b64encode(crm._blobs[a_id]).decode("ascii")
                    if a_id in crm._blobs
                    else None,
                }
                for a_id, doc in crm._attachments.items()
            },
            "tags": crm._tags,
        }


def _crm_restore(crm: Any, data: dict[str, Any]) -> None:
    with crm._lock:
        crm._last_id = int(data["last_id"])
        crm._seed_seq = itertools.count(int(data["seed_seq"]))
        crm._user_ids = dict(data["user_ids"])
        crm._next_user_id = int(data["next_user_id"])
        for name, saved in data["modules"].items():
            store = crm.stores.get(name)
            if store is None:
                logger.warning("fake Zoho state file: skipping unknown module %s", name)
                continue
            for record, ctime, mtime in saved["rows"]:
                store.put(record, ctime=int(ctime), mtime=int(mtime))
            store.deleted = list(saved["deleted"])
            store.deleted_ids = {entry["id"] for entry in store.deleted}
        for a_id, saved in data["attachments"].items():
            crm._attachments[a_id] = saved["doc"]
            crm._attachment_parent[a_id] = tuple(saved["parent"])
            if saved["blob"] is not None:
                crm._blobs[a_id] = base64.b64decode(saved["blob"])
        for name, tags in data["tags"].items():
            if name in crm._tags:
                crm._tags[name] = tags


# -- the whole fake ---------------------------------------------------------------------------------


def snapshot(fake: Any) -> dict[str, Any]:
    """The fake's tokens, users and records as a JSON-ready dict."""
    state: dict[str, Any] = {
        "version": STATE_VERSION,
        "accounts": _accounts_snapshot(fake.accounts),
    }
    if fake.crm is not None:
        state["crm"] = _crm_snapshot(fake.crm)
    return state


def restore(fake: Any, state: dict[str, Any]) -> None:
    """Put a :func:`snapshot` back into a freshly created fake."""
    if state.get("version") != STATE_VERSION:
        raise StateFileError(
            f"state file version {state.get('version')!r} is not {STATE_VERSION}; delete the file"
        )
    _accounts_restore(fake.accounts, state["accounts"])
    if fake.crm is not None and "crm" in state:
        _crm_restore(fake.crm, state["crm"])


def fingerprint(fake: Any) -> tuple[Any, ...]:
    """A cheap value that changes whenever the state :func:`snapshot` writes may have changed."""
    accounts = fake.accounts
    with accounts._lock:
        marks: list[Any] = [
            len(accounts.users),
            len(accounts._grants),
            sum(g.used for g in accounts._grants.values()),
            accounts._next_refresh_id,
            sum(r.revoked for r in accounts._refresh.values()),
            len(accounts._access),
            sum(not a.valid for a in accounts._access.values()),
        ]
    crm = fake.crm
    if crm is not None:
        with crm._lock:
            marks += [store.version for store in crm.stores.values()]
            marks += [len(crm._attachments), len(crm._user_ids)]
            marks += [len(tags) for tags in crm._tags.values()]
    return tuple(marks)


def load_state(path: Path) -> dict[str, Any] | None:
    """The state saved in ``path``, or None when there is no such file; ValueError when unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateFileError(f"{path} is not a fake Zoho state file ({exc}); delete it") from None
    if not isinstance(state, dict):
        raise StateFileError(f"{path} is not a fake Zoho state file; delete it")
    return state


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class StateFile:
    """Keeps one fake's state in ``path``: :meth:`load` at start, then saves on change and at close."""

    def __init__(self, path: str | os.PathLike[str], *, interval: float = 0.5) -> None:
        self.path = Path(path).expanduser().resolve()
        self.interval = interval
        self._fake: Any = None
        self._written: str | None = None
        self._mark: tuple[Any, ...] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._save_lock = threading.Lock()

    def load(self, fake: Any) -> bool:
        """Restore ``fake`` from the file; False when there was no file yet (a fresh start)."""
        if not self.path.parent.is_dir():
            raise StateFileError(f"the folder of the state file {self.path} does not exist")
        self._fake = fake
        state = load_state(self.path)
        if state is None:
            return False
        restore(fake, state)
        self._written = self._render()
        self._mark = fingerprint(fake)
        return True

    def _render(self) -> str:
        return json.dumps(snapshot(self._fake), separators=(",", ":"), sort_keys=True)

    def save(self, *, force: bool = False) -> bool:
        """Write the state when it changed since the last write; True when it wrote."""
        with self._save_lock:
            mark = fingerprint(self._fake)
            if not force and mark == self._mark:
                return False  # nothing changed: skip rendering 100,000 records
            text = self._render()
            self._mark = mark
            if text == self._written:
                return False
            _write_atomically(self.path, text)
            self._written = text
            return True

    def start(self) -> None:
        """Save in a background thread every ``interval`` seconds while anything changes."""
        self._thread = threading.Thread(target=self._run, name="fake-zoho-state", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.save(force=True)
            except OSError as exc:  # keep serving; the next round (or shutdown) tries again
                logger.warning("fake Zoho: cannot write the state file %s: %s", self.path, exc)

    def close(self) -> None:
        """Stop the background saver and write the final state."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._fake is not None:
            self.save(force=True)
