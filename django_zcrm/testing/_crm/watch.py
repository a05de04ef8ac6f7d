"""Route family ``/crm/{version}/actions/watch`` (instant notifications) and the callback sender.

Channels follow ``docs/design/wire-format.md`` ("Notifications"): ``POST`` enables (201), ``GET``
lists one entry per (channel, module) or answers 204, ``PUT`` replaces, ``PATCH`` merges (or, with
``_delete_events``, removes events), ``DELETE ?channel_ids=`` disables. A channel lives until its
``channel_expiry``: one hour when none is sent or the value is beyond the version's maximum (one
day up to v3, one week from v4); past that it is gone and PATCH/PUT answer 400 ``NOT_SUBSCRIBED``.

Every stored record change (``RecordChange`` from ``crm.change_listeners``) is queued and POSTed
from background threads (``Notifier.senders``, 4: concurrently, in no promised order) to each live channel watching that module and operation. Tests steer the
delivery through :class:`Notifier`: drop, duplicate, delay or reorder callbacks, expire a channel.
"""

from __future__ import annotations

import http.client
import json
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from .._server.messages import FakeResponse, empty_response, json_response
from .core import RecordChange
from .request import CRMRequests
from .routes import Route
from .schema import MODULES
from .util import CRMContext as _Ctx
from .util import CRMFault, iso, missing_param, parse_datetime

#: Lifetime of a channel enabled without (or with too late) a ``channel_expiry``.
DEFAULT_LIFETIME = 3600
#: Longest lifetime per version: one day up to v3, one week from v4.
DAY, WEEK = 86_400, 7 * 86_400
#: Zoho's callback operation for each stored change, and the subscription event it matches.
EVENT_OF = {"insert": "create", "update": "edit", "delete": "delete"}
OPS = ("create", "edit", "delete")
TOKEN_MAX = 50
ENABLED = "Successfully subscribed for actions-watch of the given module"
UPDATED = "Successfully updated the subscribe details"
REMOVED = "Successfully removed the subscribe details"
UNSUBSCRIBED = "Successfully un-subscribed from actions-watch"


def max_lifetime(vnum: tuple[int, int]) -> int:
    """The longest channel lifetime the API version grants, in seconds."""
    return WEEK if vnum >= (4, 0) else DAY


@dataclass
class Channel:
    """One subscription as the fake keeps it."""

    channel_id: str
    events: dict[str, set[str]]  # module -> {"create", "edit", "delete"}
    notify_url: str
    token: str | None
    expires_at: int
    notify_on_related_action: bool = True
    return_affected_field_values: bool = False


@dataclass
class Callback:
    """One POST the fake is about to send."""

    url: str
    body: dict[str, Any]
    due: float = 0.0


@dataclass
class Delivery:
    """What happened to one callback (kept on ``Notifier.deliveries``)."""

    channel_id: str
    module: str
    operation: str
    ids: list[str]
    status: int | None
    error: str = ""


class Notifier:
    """Queues record changes and POSTs callbacks from its own thread (switches for tests)."""

    def __init__(self, crm: WatchRoutes) -> None:
        self.crm = crm
        self._queue: queue.Queue[Callback | None] = queue.Queue()
        #: Threads POSTing callbacks at once (Zoho sends concurrently; no order is promised).
        self.senders = 4
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.drop = 0
        self.duplicate = 0
        self.delay = 0.0
        self._hold: list[Callback] | None = None
        self.deliveries: list[Delivery] = []
        self.timeout = 10.0
        self._idle = threading.Condition()
        self._busy = 0

    # -- switches ----------------------------------------------------------------------------------

    def drop_next(self, count: int = 1) -> None:
        """Do not send the next ``count`` callbacks (as if Zoho lost them)."""
        with self._lock:
            self.drop += count

    def duplicate_next(self, count: int = 1) -> None:
        """Send each of the next ``count`` callbacks twice."""
        with self._lock:
            self.duplicate += count

    def set_delay(self, seconds: float) -> None:
        """Wait ``seconds`` (real time) before sending each callback."""
        self.delay = float(seconds)

    def hold(self) -> None:
        """Keep callbacks back until :meth:`release` (which sends them in reverse order)."""
        with self._lock:
            self._hold = []

    def release(self, *, reverse: bool = True) -> int:
        """Send the held callbacks (newest first by default); return how many."""
        with self._lock:
            held, self._hold = self._hold or [], None
        for callback in reversed(held) if reverse else held:
            self._put(callback)
        return len(held)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued callback was sent (or ``timeout``); True when idle."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    # -- queueing ----------------------------------------------------------------------------------

    def record_changed(self, change: RecordChange) -> None:
        """``crm.change_listeners`` entry: queue one callback per matching live channel."""
        now = self.crm.now()
        for channel in list(self.crm.watch_channels.values()):
            if channel.expires_at <= now:
                continue
            if EVENT_OF[change.operation] not in channel.events.get(change.module, set()):
                continue
            self._enqueue(Callback(channel.notify_url, self._body(channel, change)))

    def _body(self, channel: Channel, change: RecordChange) -> dict[str, Any]:
        query = dict(parse_qsl(urlsplit(channel.notify_url).query))
        body: dict[str, Any] = {
            "server_time": int(self.crm.fake.clock.now() * 1000),
            "query_params": query,
            "module": change.module,
            "resource_uri": f"https://www.zohoapis.com/crm/v2/{change.module}",
            "ids": [change.record_id],
            "affected_fields": [],
            "operation": change.operation,
            "channel_id": channel.channel_id,
            "token": channel.token,
        }
        return body

    def _enqueue(self, callback: Callback) -> None:
        with self._lock:
            if self.drop > 0:
                self.drop -= 1
                self.deliveries.append(self._delivery(callback, None, "dropped"))
                return
            copies = 1
            if self.duplicate > 0:
                self.duplicate -= 1
                copies = 2
            if self._hold is not None:
                self._hold.extend([callback] * copies)
                return
        for _ in range(copies):
            self._put(callback)

    def _put(self, callback: Callback) -> None:
        callback.due = time.monotonic() + self.delay
        with self._idle:
            self._busy += 1
        self._start()
        self._queue.put(callback)

    def _start(self) -> None:
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < max(1, self.senders):
                thread = threading.Thread(target=self._run, name="fake-zoho-notifier", daemon=True)
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        """Stop the sender threads (queued callbacks are discarded)."""
        threads = [t for t in self._threads if t.is_alive()]
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join(5)

    # -- sending -----------------------------------------------------------------------------------

    def _run(self) -> None:
        connections: dict[tuple[str, str, int], http.client.HTTPConnection] = {}
        while True:
            callback = self._queue.get()
            if callback is None:
                break
            try:
                wait = callback.due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self._send(callback, connections)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()
        for conn in connections.values():
            conn.close()

    def _send(
        self,
        callback: Callback,
        connections: dict[tuple[str, str, int], http.client.HTTPConnection],
    ) -> None:
        parts = urlsplit(callback.url)
        key = (parts.scheme, parts.hostname or "", parts.port or 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        payload = json.dumps(callback.body).encode()
        status: int | None = None
        error = ""
        for _attempt in range(2):  # a kept-alive connection the server closed: reconnect once
            conn = connections.get(key)
            if conn is None:
                conn_class = (
                    http.client.HTTPSConnection
                    if parts.scheme == "https"
                    else http.client.HTTPConnection
                )
                conn = conn_class(key[1], key[2], timeout=self.timeout)
                connections[key] = conn
            try:
                conn.request(
                    "POST", path, body=payload, headers={"Content-Type": "application/json"}
                )
                response = conn.getresponse()
                response.read()
                status = response.status
                error = ""
                if response.will_close:
                    conn.close()
                    connections.pop(key, None)
                break
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                connections.pop(key, None)
                error = f"{type(exc).__name__}: {exc}"
        self.deliveries.append(self._delivery(callback, status, error))

    @staticmethod
    def _delivery(callback: Callback, status: int | None, error: str) -> Delivery:
        body = callback.body
        return Delivery(
            str(body.get("channel_id")),
            str(body.get("module")),
            str(body.get("operation")),
            list(body.get("ids") or []),
            status,
            error,
        )


@dataclass
class _Parsed:
    channel_id: str
    events: dict[str, set[str]] = field(default_factory=dict)


class WatchRoutes(CRMRequests):
    """Handlers of ``/actions/watch`` and the fake's channels (``crm.watch_channels``)."""

    ROUTES: ClassVar[tuple[Route, ...]] = (
        Route("POST /crm/{version}/actions/watch", "_h_watch_enable"),
        Route("GET /crm/{version}/actions/watch", "_h_watch_get"),
        Route("PUT /crm/{version}/actions/watch", "_h_watch_put"),
        Route("PATCH /crm/{version}/actions/watch", "_h_watch_patch"),
        Route("DELETE /crm/{version}/actions/watch", "_h_watch_delete"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watch_channels: dict[str, Channel] = {}
        self.notifier = Notifier(self)
        self.change_listeners.append(self.notifier.record_changed)

    # -- control API -------------------------------------------------------------------------------

    #: ``POST /_fake/watch/{action}`` control endpoints (no authentication, loopback only).
    CONTROL_ACTIONS = ("expire", "drop", "duplicate", "delay", "hold", "release", "channels")

    def install_watch_controls(self) -> None:
        """Register ``POST /_fake/watch/{action}``: the notifier's switches over HTTP."""
        self.fake.route(
            "POST",
            r"/_fake/watch/(?P<action>[a-z]+)/?",
            self._h_watch_control,
            "POST /_fake/watch/{action}",
        )

    def _h_watch_control(self, request: Any) -> FakeResponse:
        """``expire?channel_id=``, ``drop?count=``, ``duplicate?count=``, ``delay?seconds=``,
        ``hold``, ``release``, ``channels`` (lists the live ones)."""
        action = request.path_params.get("action")
        notifier = self.notifier
        try:
            if action == "expire":
                self.expire_channel(str(request.param("channel_id") or ""))
            elif action == "drop":
                notifier.drop_next(int(request.param("count") or 1))
            elif action == "duplicate":
                notifier.duplicate_next(int(request.param("count") or 1))
            elif action == "delay":
                notifier.set_delay(float(request.param("seconds") or 0))
            elif action == "hold":
                notifier.hold()
            elif action == "release":
                return json_response(200, {"released": notifier.release()})
            elif action != "channels":
                return json_response(404, {"error": f"unknown action {action!r}"})
        except ValueError as exc:
            return json_response(400, {"error": str(exc)})
        live = [
            {"channel_id": c.channel_id, "modules": sorted(c.events), "expires_at": c.expires_at}
            for c in self.live_channels()
        ]
        return json_response(200, {"ok": True, "channels": live})

    def expire_channel(self, channel_id: str) -> None:
        """Let a channel lapse now (it vanishes, as Zoho removes expired channels)."""
        with self._lock:
            self.watch_channels.pop(str(channel_id), None)

    def live_channels(self) -> list[Channel]:
        """The channels that have not expired on the fake clock."""
        with self._lock:
            self._drop_expired()
            return list(self.watch_channels.values())

    # -- helpers -----------------------------------------------------------------------------------

    def _drop_expired(self) -> None:
        now = self.now()
        for cid in [c for c, ch in self.watch_channels.items() if ch.expires_at <= now]:
            del self.watch_channels[cid]

    def _require_notifications(self, ctx: _Ctx, operation: str) -> None:
        if not self.options.check_scopes:
            return
        ops = {"all", operation.lower()}
        if operation in ("CREATE", "UPDATE", "DELETE"):
            ops.add("write")
        if not self._has(ctx, *(f"zohocrm.notifications.{op}" for op in ops)):
            raise self._scope_mismatch()

    def _watch_items(self, ctx: _Ctx) -> list[dict[str, Any]]:
        body = self._body(ctx)
        items = body.get("watch")
        if items is None:
            raise missing_param("watch")
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise CRMFault(400, "INVALID_DATA", "invalid data", {"expected_data_type": "jsonarray"})
        if len(items) > 100:
            raise CRMFault(400, "LIMIT_EXCEEDED", "too many watch items", {"limit": 100})
        return items

    @staticmethod
    def _item_error(index: int, code: str, api_name: str, message: str) -> dict[str, Any]:
        return {
            "code": code,
            "details": {"api_name": api_name, "json_path": f"$.watch[{index}].{api_name}"},
            "message": message,
            "status": "error",
        }

    def _parse_events(self, index: int, raw: Any) -> tuple[dict[str, set[str]], Any]:
        if not isinstance(raw, list) or not raw:
            return {}, self._item_error(
                index, "MANDATORY_NOT_FOUND", "events", "required field not found"
            )
        events: dict[str, set[str]] = {}
        for entry in raw:
            module, _, op = str(entry).rpartition(".")
            if module not in MODULES or op not in (*OPS, "all"):
                return {}, self._item_error(index, "INVALID_DATA", "events", "invalid data")
            events.setdefault(module, set()).update(OPS if op == "all" else (op,))
        return events, None

    def _expiry(self, ctx: _Ctx, raw: Any) -> int:
        now = self.now()
        if raw in (None, ""):
            return now + DEFAULT_LIFETIME
        try:
            wanted = int(parse_datetime(str(raw)) // 1)
        except (TypeError, ValueError):
            return now + DEFAULT_LIFETIME
        if wanted > now + max_lifetime(ctx.vnum) or wanted <= now:
            return now + DEFAULT_LIFETIME
        return wanted

    def _token(self, index: int, item: dict[str, Any]) -> tuple[str | None, Any]:
        token = item.get("token")
        if token is not None and (not isinstance(token, str) or not 1 <= len(token) <= TOKEN_MAX):
            return None, self._item_error(index, "INVALID_DATA", "token", "invalid data")
        return token, None

    def _entries(self, channel: Channel, modules: Any = None) -> list[dict[str, Any]]:
        return [
            {
                "channel_expiry": iso(channel.expires_at, self.tz),
                "resource_uri": f"https://www.zohoapis.com/crm/v2/{module}",
                "resource_id": MODULES[module].id,
                "resource_name": module,
                "channel_id": channel.channel_id,
            }
            for module in (modules if modules is not None else channel.events)
        ]

    def _answer(self, results: list[dict[str, Any]], success: int) -> FakeResponse:
        ok = sum(1 for r in results if r.get("status") == "success")
        status = success if ok == len(results) else (400 if ok == 0 else 207)
        return json_response(status, {"watch": results})

    @staticmethod
    def _success(message: str, details: dict[str, Any]) -> dict[str, Any]:
        return {"code": "SUCCESS", "status": "success", "message": message, "details": details}

    def _not_subscribed(self) -> dict[str, Any]:
        return {
            "code": "NOT_SUBSCRIBED",
            "details": {},
            "message": "Not subscribed for actions-watch of the given channel",
            "status": "error",
        }

    # -- handlers ----------------------------------------------------------------------------------

    def _h_watch_enable(self, ctx: _Ctx) -> FakeResponse:
        self._require_notifications(ctx, "CREATE")
        return self._subscribe(ctx, ENABLED, 201)

    def _h_watch_put(self, ctx: _Ctx) -> FakeResponse:
        self._require_notifications(ctx, "UPDATE")
        return self._subscribe(ctx, ENABLED, 200, replace=True)

    def _subscribe(
        self, ctx: _Ctx, message: str, success: int, *, replace: bool = False
    ) -> FakeResponse:
        items = self._watch_items(ctx)
        results: list[dict[str, Any]] = []
        with self._lock:
            self._drop_expired()
            for index, item in enumerate(items):
                missing = next(
                    (
                        k
                        for k in ("channel_id", "events", "notify_url")
                        if item.get(k) in (None, "")
                    ),
                    None,
                )
                if missing:
                    results.append(
                        self._item_error(
                            index, "MANDATORY_NOT_FOUND", missing, "required field not found"
                        )
                    )
                    continue
                events, error = self._parse_events(index, item["events"])
                token, token_error = self._token(index, item)
                if error or token_error:
                    results.append(error or token_error)
                    continue
                cid = str(item["channel_id"])
                if replace and cid not in self.watch_channels:
                    results.append(self._not_subscribed())
                    continue
                old = self.watch_channels.get(cid)
                if old is not None and not replace:
                    for module, ops in old.events.items():
                        events.setdefault(module, set()).update(ops)
                channel = Channel(
                    cid,
                    events,
                    str(item["notify_url"]),
                    token,
                    self._expiry(ctx, item.get("channel_expiry")),
                    bool(item.get("notify_on_related_action", True)),
                    bool(item.get("return_affected_field_values", False)),
                )
                self.watch_channels[cid] = channel
                results.append(self._success(message, {"events": self._entries(channel)}))
        return self._answer(results, success)

    def _h_watch_patch(self, ctx: _Ctx) -> FakeResponse:
        self._require_notifications(ctx, "UPDATE")
        items = self._watch_items(ctx)
        results: list[dict[str, Any]] = []
        with self._lock:
            self._drop_expired()
            for index, item in enumerate(items):
                if item.get("channel_id") in (None, ""):
                    results.append(
                        self._item_error(
                            index, "MANDATORY_NOT_FOUND", "channel_id", "required field not found"
                        )
                    )
                    continue
                channel = self.watch_channels.get(str(item["channel_id"]))
                if channel is None:
                    results.append(self._not_subscribed())
                    continue
                events, error = (
                    self._parse_events(index, item["events"]) if "events" in item else ({}, None)
                )
                token, token_error = self._token(index, item)
                if error or token_error:
                    results.append(error or token_error)
                    continue
                if item.get("_delete_events") is True:
                    for module, ops in events.items():
                        left = channel.events.get(module, set()) - ops
                        if left:
                            channel.events[module] = left
                        else:
                            channel.events.pop(module, None)
                    if not channel.events:
                        del self.watch_channels[channel.channel_id]
                    entries = [
                        {k: v for k, v in e.items() if k != "channel_expiry"}
                        for e in self._entries(channel, list(events))
                    ]
                    results.append(self._success(REMOVED, {"events": entries}))
                    continue
                for module, ops in events.items():
                    channel.events.setdefault(module, set()).update(ops)
                if "channel_expiry" in item:
                    channel.expires_at = self._expiry(ctx, item["channel_expiry"])
                # Observed in the field: a PATCH without ``token`` resets it (see the design note).
                channel.token = token
                if item.get("notify_url"):
                    channel.notify_url = str(item["notify_url"])
                results.append(self._success(UPDATED, {"events": self._entries(channel)}))
        return self._answer(results, 200)

    def _h_watch_get(self, ctx: _Ctx) -> FakeResponse:
        self._require_notifications(ctx, "READ")
        wanted_channel = ctx.param("channel_id")
        wanted_module = ctx.param("module")
        page = max(1, self._int_param(ctx, "page", 1))
        per_page = min(200, max(1, self._int_param(ctx, "per_page", 200)))
        entries: list[dict[str, Any]] = []
        with self._lock:
            self._drop_expired()
            for channel in self.watch_channels.values():
                if wanted_channel and channel.channel_id != wanted_channel:
                    continue
                for module, ops in channel.events.items():
                    if wanted_module and module != wanted_module:
                        continue
                    entry = self._entries(channel, [module])[0]
                    entry.update(
                        {
                            "notify_on_related_action": channel.notify_on_related_action,
                            "return_affected_field_values": channel.return_affected_field_values,
                            "notify_url": channel.notify_url,
                            "fields": None,
                            "notification_condition": None,
                            "events": [f"{module}.{op}" for op in sorted(ops)],
                            "token": channel.token,
                        }
                    )
                    entries.append(entry)
        if not entries:
            return empty_response(204)
        window = entries[(page - 1) * per_page : page * per_page]
        if not window:
            return empty_response(204)
        info = {
            "per_page": per_page,
            "count": len(window),
            "page": page,
            "more_records": page * per_page < len(entries),
        }
        return json_response(200, {"watch": window, "info": info})

    def _h_watch_delete(self, ctx: _Ctx) -> FakeResponse:
        self._require_notifications(ctx, "DELETE")
        raw = ctx.param("channel_ids")
        ids = [part.strip() for part in (raw or "").split(",") if part.strip()]
        if not ids:
            raise missing_param("channel_ids")
        results: list[dict[str, Any]] = []
        with self._lock:
            self._drop_expired()
            for cid in ids:
                channel = self.watch_channels.pop(cid, None)
                if channel is None:
                    results.append(self._not_subscribed())
                    continue
                for entry in self._entries(channel):
                    details = {k: entry[k] for k in ("resource_uri", "resource_id", "channel_id")}
                    results.append(self._success(UNSUBSCRIBED, details))
        return self._answer(results, 200)
