"""The ``zcrm:notify`` view: check a Zoho callback against its channel and store it in the inbox.

Nothing else happens inside the request (no Zoho call, no write but the inbox row), so Zoho gets
its answer in milliseconds. Rules (``docs/design/notifications.md``): POST only, CSRF-exempt; a
body over ``NOTIFY_MAX_BODY_BYTES`` -> 413; not a JSON callback -> 400 and a log line; unknown
channel or wrong token -> 403, nothing stored, a warning without the token; a repeated delivery
(same channel, server time, module, operation and ids) is answered 200 and stored once.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..conf import get_settings
from ..redaction import get_logger
from .inline import ProcessAfterClose
from .models import NotificationChannel, NotificationEvent
from .secrets import token_matches

logger = get_logger(__name__)

#: Callback ``operation`` values (Zoho's words, not the subscription's create/edit/delete).
OPERATIONS = ("insert", "update", "delete")


class BadCallback(ValueError):
    """The body is not a notification callback (the message says what is wrong)."""


def parse_callback(body: bytes) -> dict[str, Any]:
    """The callback's fields, checked; raises :class:`BadCallback`."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadCallback("the body is not JSON") from None
    if not isinstance(data, dict):
        raise BadCallback("the body is not a JSON object")
    channel_id = data.get("channel_id")
    if not isinstance(channel_id, (str, int)) or isinstance(channel_id, bool) or not channel_id:
        raise BadCallback("channel_id is missing")
    module = data.get("module")
    if not isinstance(module, str) or not module or "/" in module:
        raise BadCallback("module is missing")
    operation = data.get("operation")
    if operation not in OPERATIONS:
        raise BadCallback(f"operation {operation!r} is not one of {', '.join(OPERATIONS)}")
    ids = data.get("ids")
    if (
        not isinstance(ids, list)
        or not ids
        or not all(isinstance(i, (str, int)) and not isinstance(i, bool) for i in ids)
    ):
        raise BadCallback("ids is not a list of record ids")
    server_time = data.get("server_time")
    if server_time is not None and (
        not isinstance(server_time, int) or isinstance(server_time, bool)
    ):
        raise BadCallback("server_time is not an integer")
    affected = data.get("affected_fields")
    return {
        "channel_id": str(channel_id),
        "module": module,
        "operation": operation,
        "ids": [str(i) for i in ids],
        "server_time": server_time,
        "affected_fields": affected if isinstance(affected, list) else [],
        "token": data.get("token"),
    }


def idempotency_key(callback: dict[str, Any], body: bytes) -> str:
    """SHA-256 of what identifies one delivery (without ``server_time``: the whole body)."""
    if callback["server_time"] is None:
        # Without Zoho's clock two real changes could look alike; only an identical body repeats.
        return hashlib.sha256(b"body:" + body).hexdigest()
    parts = [
        callback["channel_id"],
        str(callback["server_time"]),
        callback["module"],
        callback["operation"],
        ",".join(sorted(callback["ids"])),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _answer(status: int, message: str, *, inline: bool = False) -> JsonResponse:
    kind = ProcessAfterClose if inline else JsonResponse
    return kind({"status": "ok" if status == 200 else "error", "message": message}, status=status)


def _length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


@csrf_exempt
@require_POST
def notify(request: HttpRequest) -> HttpResponse:
    """Receive one Zoho notification callback (see the module docstring)."""
    conf = get_settings()
    limit = int(conf.NOTIFY_MAX_BODY_BYTES)
    length = _length(request)
    if length is None or length > limit:
        logger.warning("Refused a notification of %s bytes (limit %d).", length, limit)
        return _answer(413, "body too large")
    body = request.read(limit + 1)
    if len(body) > limit:
        logger.warning("Refused a notification body over %d bytes.", limit)
        return _answer(413, "body too large")
    try:
        callback = parse_callback(body)
    except BadCallback as exc:
        logger.warning("Refused a malformed notification: %s.", exc)
        return _answer(400, str(exc))
    # Only the columns the check needs, no model instance and no ordering: this runs per callback.
    row = (
        NotificationChannel.objects.filter(channel_id=callback["channel_id"])
        .exclude(state=NotificationChannel.DISABLED)
        .order_by()
        .values_list("pk", "token_hash", "previous_token_hash", "previous_valid_until")
        .first()
    )
    now = timezone.now()
    hashes: list[str] = []
    if row is not None:
        hashes.append(row[1])
        if row[3] is not None and row[3] > now:
            hashes.append(row[2])
    if row is None or not token_matches(callback["token"], *hashes):
        logger.warning(
            "Refused a notification for channel %s (%s): %s.",
            callback["channel_id"],
            callback["module"],
            "unknown channel" if row is None else "wrong token",
        )
        return _answer(403, "unknown channel or wrong token")
    event = NotificationEvent(
        channel_id=row[0],
        channel_ref=callback["channel_id"],
        module=callback["module"],
        operation=callback["operation"],
        ids=callback["ids"],
        affected_fields=callback["affected_fields"],
        server_time=callback["server_time"],
        idempotency_key=idempotency_key(callback, body),
        received_at=now,
        next_attempt_at=now,
    )
    try:
        with transaction.atomic(using=NotificationEvent.objects.db):
            event.save(force_insert=True)
    except IntegrityError:
        logger.info(
            "Notification for %s %s already in the inbox (a repeated delivery).",
            callback["module"],
            callback["operation"],
        )
        return _answer(200, "duplicate")
    return _answer(200, "stored", inline=bool(conf.NOTIFY_PROCESS_INLINE))
