"""Subscribe, renew, list and disable notification channels (``/actions/watch``).

The service functions behind ``zcrm_watch`` return dataclasses; the command only prints them.
Rules (``docs/design/notifications.md``): one channel watches ``{module}.all`` for every module
of ``NOTIFY_MODULES``; its verification token is random, at most 50 characters, sent to Zoho and
kept here only as a hash; a renewal PATCHes a new ``channel_expiry`` and a new token once the
channel is in the last third of its life, and subscribes again (POST) when Zoho answers
``NOT_SUBSCRIBED`` or no longer lists the channel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.urls import NoReverseMatch, reverse

from ..client import ZCRMClient, get_client
from ..conf import get_settings, notify_max_hours
from ..exceptions import ZCRMConfigurationError, ZCRMError, ZCRMValidationError
from ..redaction import get_logger, redact
from ..sync.models import CRMRecord, SyncState
from ..sync.timeutil import aware, parse_zoho_datetime, to_db
from ..sync.timeutil import now as current_time
from .models import NotificationChannel
from .secrets import new_channel_id, new_token, token_hash

logger = get_logger(__name__)

WATCH_PATH = "actions/watch"
#: Callbacks signed with the token a renewal replaced are accepted this long after it.
PREVIOUS_TOKEN_GRACE = timedelta(minutes=10)


@dataclass
class ChannelInfo:
    """One channel as ``--status`` shows it."""

    channel_id: str
    modules: list[str]
    state: str
    expires_at: datetime
    renew_due: bool
    expired: bool
    last_error: str = ""

    @classmethod
    def of(cls, channel: NotificationChannel, now: datetime) -> ChannelInfo:
        """The info of a stored channel at ``now``."""
        return cls(
            channel.channel_id,
            list(channel.modules),
            channel.state,
            aware(channel.expires_at),
            channel.renew_due(now),
            channel.is_expired(now),
            channel.last_error,
        )


@dataclass
class WatchResult:
    """What one ``zcrm_watch`` action did."""

    action: str
    enabled: list[ChannelInfo] = field(default_factory=list)
    renewed: list[ChannelInfo] = field(default_factory=list)
    resubscribed: list[ChannelInfo] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    unchanged: list[ChannelInfo] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def notify_url() -> str:
    """``ZCRM["NOTIFY_URL"]``; a clear error when it is not set."""
    url = str(get_settings().NOTIFY_URL or "")
    if not url:
        try:
            example = reverse("zcrm:notify")
        except NoReverseMatch:
            example = "/zoho/notify/"
        raise ZCRMConfigurationError(
            "ZCRM['NOTIFY_URL'] is not set: set it to the public https URL of the zcrm:notify "
            f"view (e.g. 'https://example.com{example}')."
        )
    return url


def notify_modules() -> list[str]:
    """``NOTIFY_MODULES``, else the modules of ``SYNC_MODELS``, else every module synced so far."""
    conf = get_settings()
    configured = conf.NOTIFY_MODULES
    if configured:
        return [str(m) for m in configured]
    modules = list((conf.SYNC_MODELS or {}).keys())
    if not modules:
        modules = sorted(
            set(SyncState.objects.values_list("module", flat=True))
            | set(CRMRecord.objects.values_list("module", flat=True).distinct())
        )
    if not modules:
        raise ZCRMConfigurationError(
            "No module to watch: set ZCRM['NOTIFY_MODULES'] (e.g. ['Leads']) or "
            "ZCRM['SYNC_MODELS'], or run zcrm_sync once."
        )
    return modules


def channel_hours() -> float:
    """The lifetime to request: ``NOTIFY_CHANNEL_HOURS`` capped by the API version's maximum."""
    conf = get_settings()
    return min(float(conf.NOTIFY_CHANNEL_HOURS), float(notify_max_hours(str(conf.API_VERSION))))


def _expiry_text(when: datetime) -> str:
    # Zoho's safe form: whole seconds with an offset (docs/design/wire-format.md).
    return aware(when).replace(microsecond=0).isoformat()


def _items(response_data: Any) -> list[dict[str, Any]]:
    items = (response_data or {}).get("watch") if isinstance(response_data, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _granted_expiry(items: list[dict[str, Any]], fallback: datetime) -> datetime:
    """The ``channel_expiry`` Zoho granted (it may differ from what was asked)."""
    for item in items:
        for entry in (item.get("details") or {}).get("events") or []:
            granted = parse_zoho_datetime(entry.get("channel_expiry"))
            if granted is not None:
                return granted
    return fallback


def _item_error(items: list[dict[str, Any]]) -> str | None:
    for item in items:
        if item.get("status") == "error" or item.get("code") not in (None, "SUCCESS"):
            return str(item.get("code") or "error")
    return None


def enable(
    modules: Iterable[str] | None = None,
    *,
    user: str | None = None,
    client: ZCRMClient | None = None,
) -> WatchResult:
    """Subscribe one new channel for ``modules`` (default: :func:`notify_modules`)."""
    result = WatchResult("enable")
    names = list(modules) if modules is not None else notify_modules()
    channel = _subscribe(names, user=user, client=client)
    result.enabled.append(ChannelInfo.of(channel, current_time()))
    return result


def _subscribe(
    modules: list[str],
    *,
    user: str | None,
    client: ZCRMClient | None,
    channel: NotificationChannel | None = None,
) -> NotificationChannel:
    url = notify_url()
    client = client or get_client(user)
    token = new_token()
    channel_id = new_channel_id()
    now = current_time()
    wanted = now + timedelta(hours=channel_hours())
    events = [f"{m}.all" for m in modules]
    response = client.post(
        WATCH_PATH,
        json={
            "watch": [
                {
                    "channel_id": channel_id,
                    "events": events,
                    "channel_expiry": _expiry_text(wanted),
                    "token": token,
                    "notify_url": url,
                }
            ]
        },
    )
    items = _items(response.data)
    error = _item_error(items)
    if error:
        raise ZCRMValidationError(f"Zoho refused the notification channel: {error}", code=error)
    expires = _granted_expiry(items, wanted)
    fields = {
        "channel_id": channel_id,
        "modules": modules,
        "events": events,
        "notify_url": url,
        "user": user or "",
        "api_version": str(get_settings().API_VERSION),
        "token_hash": token_hash(token),
        "state": NotificationChannel.ACTIVE,
        "expires_at": to_db(expires),
        "renewed_at": to_db(now),
        "last_error": "",
    }
    with transaction.atomic():
        if channel is not None:
            # The old channel is gone at Zoho: keep its row's history, point it at the new id.
            fields["previous_token_hash"] = channel.token_hash
            fields["previous_valid_until"] = to_db(now + PREVIOUS_TOKEN_GRACE)
            NotificationChannel.objects.filter(pk=channel.pk).update(**fields)
            channel.refresh_from_db()
            return channel
        return NotificationChannel.objects.create(**fields)


def renew(
    *,
    force: bool = False,
    client: ZCRMClient | None = None,
    now: datetime | None = None,
) -> WatchResult:
    """Renew every active channel in the last third of its life (all of them with ``force``)."""
    result = WatchResult("renew")
    now = now or current_time()
    for channel in NotificationChannel.objects.filter(state__in=["active", "lapsed"]):
        if not force and not channel.renew_due(now) and channel.state == "active":
            result.unchanged.append(ChannelInfo.of(channel, now))
            continue
        try:
            _renew_one(channel, client, now, result)
        except ZCRMError as exc:
            message = redact(f"{type(exc).__name__}: {exc}")[:2000]
            NotificationChannel.objects.filter(pk=channel.pk).update(last_error=message)
            result.errors.append(f"channel {channel.channel_id}: {message}")
            logger.warning(
                "Renewing notification channel %s failed: %s", channel.channel_id, message
            )
    warn_lapsing(now)
    return result


def _renew_one(
    channel: NotificationChannel, client: ZCRMClient | None, now: datetime, result: WatchResult
) -> None:
    client = client or get_client(channel.user or None)
    token = new_token()
    wanted = now + timedelta(hours=channel_hours())
    try:
        response = client.request(
            "PATCH",
            WATCH_PATH,
            json={
                "watch": [
                    {
                        "channel_id": channel.channel_id,
                        "events": list(channel.events),
                        "channel_expiry": _expiry_text(wanted),
                        "token": token,
                        "notify_url": channel.notify_url,
                    }
                ]
            },
            idempotent=True,
        )
        items = _items(response.data)
        error = _item_error(items)
    except ZCRMValidationError as exc:
        error = exc.code or "NOT_SUBSCRIBED"
        items = []
    if error == "NOT_SUBSCRIBED" or (error is None and not _listed(client, channel.channel_id)):
        logger.warning(
            "Notification channel %s is no longer subscribed at Zoho (expired?); subscribing "
            "again.",
            channel.channel_id,
        )
        fresh = _subscribe(
            list(channel.modules), user=channel.user or None, client=client, channel=channel
        )
        result.resubscribed.append(ChannelInfo.of(fresh, now))
        return
    if error:
        raise ZCRMValidationError(f"Zoho refused to renew the channel: {error}", code=error)
    NotificationChannel.objects.filter(pk=channel.pk).update(
        previous_token_hash=channel.token_hash,
        previous_valid_until=to_db(now + PREVIOUS_TOKEN_GRACE),
        token_hash=token_hash(token),
        expires_at=to_db(_granted_expiry(items, wanted)),
        renewed_at=to_db(now),
        state=NotificationChannel.ACTIVE,
        last_error="",
    )
    channel.refresh_from_db()
    result.renewed.append(ChannelInfo.of(channel, now))


def _listed(client: ZCRMClient, channel_id: str) -> bool:
    """Whether Zoho lists the channel (a renewal that "succeeded" on a vanished one is redone)."""
    response = client.get(WATCH_PATH, params={"channel_id": channel_id})
    return any(str(i.get("channel_id")) == channel_id for i in _items(response.data))


def status(now: datetime | None = None) -> WatchResult:
    """Every stored channel with its expiry (``--status``)."""
    now = now or current_time()
    result = WatchResult("status")
    result.unchanged = [ChannelInfo.of(c, now) for c in NotificationChannel.objects.all()]
    return result


def disable(*, client: ZCRMClient | None = None) -> WatchResult:
    """Unsubscribe every active channel (``DELETE ?channel_ids=``) and mark them disabled."""
    result = WatchResult("disable")
    channels = list(NotificationChannel.objects.exclude(state=NotificationChannel.DISABLED))
    by_user: dict[str, list[NotificationChannel]] = {}
    for channel in channels:
        by_user.setdefault(channel.user, []).append(channel)
    for user, group in by_user.items():
        api = client or get_client(user or None)
        ids = [c.channel_id for c in group]
        try:
            api.delete(WATCH_PATH, params={"channel_ids": ",".join(ids)})
        except ZCRMValidationError as exc:
            # NOT_SUBSCRIBED: the channels already lapsed at Zoho; disabling them here is right.
            logger.info("Zoho no longer had channels %s (%s).", ", ".join(ids), exc.code)
        NotificationChannel.objects.filter(channel_id__in=ids).update(
            state=NotificationChannel.DISABLED
        )
        result.disabled.extend(ids)
    return result


def lapsing(now: datetime | None = None) -> list[NotificationChannel]:
    """Active channels past the renewal point (or expired): nothing renewed them in time."""
    now = now or current_time()
    return [
        c
        for c in NotificationChannel.objects.filter(state=NotificationChannel.ACTIVE)
        if c.renew_due(now) and c.expires_at - now <= c.lifetime / 6
    ]


def warn_lapsing(now: datetime | None = None) -> list[NotificationChannel]:
    """Log a warning for each channel about to lapse (or lapsed) without a renewal."""
    now = now or current_time()
    found = lapsing(now)
    for channel in found:
        expired = channel.is_expired(now)
        if expired:
            NotificationChannel.objects.filter(pk=channel.pk).update(
                state=NotificationChannel.LAPSED
            )
        logger.warning(
            "Notification channel %s (%s) %s at %s and was not renewed: run "
            "`manage.py zcrm_watch --renew` (from cron, every hour).",
            channel.channel_id,
            ", ".join(channel.modules),
            "expired" if expired else "expires",
            channel.expires_at.isoformat(),
        )
    return found
