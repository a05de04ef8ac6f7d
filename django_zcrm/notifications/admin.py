"""Admin for notification channels (expiry, state, "renew now") and the inbox ("retry").

Both lists are read-only: rows change only through Zoho's callbacks, ``zcrm_watch`` and the
processor. ``django_zcrm.admin`` imports this module so the registrations happen.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext_lazy as _

from ..exceptions import ZCRMConfigurationError, ZCRMError
from . import channels as channel_service
from .models import NotificationChannel, NotificationEvent
from .processor import retry_now


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(NotificationChannel)
class NotificationChannelAdmin(_ReadOnly):
    """Channels: modules, expiry in words, state; a channel about to lapse is flagged."""

    list_display = ("channel_id", "module_list", "expiry", "state", "health", "last_error")
    list_filter = ("state",)
    readonly_fields = (
        "channel_id",
        "modules",
        "events",
        "notify_url",
        "user",
        "api_version",
        "state",
        "expires_at",
        "renewed_at",
        "last_error",
        "created_at",
        "updated_at",
    )
    exclude = ("token_hash", "previous_token_hash", "previous_valid_until")
    actions = ("renew_now",)

    @admin.display(description=_("modules"))
    def module_list(self, obj: NotificationChannel) -> str:
        return ", ".join(obj.modules)

    @admin.display(description=_("expiry"), ordering="expires_at")
    def expiry(self, obj: NotificationChannel) -> str:
        now = timezone.now()
        if obj.is_expired(now):
            return f"expired {timesince(obj.expires_at, now)} ago"
        return f"in {timeuntil(obj.expires_at, now)}"

    @admin.display(description=_("health"))
    def health(self, obj: NotificationChannel) -> str:
        now = timezone.now()
        if obj.state != NotificationChannel.ACTIVE:
            return obj.get_state_display()
        if obj.is_expired(now):
            return format_html('<strong style="color:#ba2121">{}</strong>', "lapsed: renew")
        if obj.expires_at - now <= obj.lifetime / 6:
            return format_html('<strong style="color:#ba2121">{}</strong>', "about to lapse")
        if obj.renew_due(now):
            return "renewal due"
        return "ok"

    @admin.action(description=_("Renew now"))
    def renew_now(self, request: HttpRequest, queryset: QuerySet[NotificationChannel]) -> None:
        try:
            result = channel_service.renew(force=True)
        except (ZCRMError, ZCRMConfigurationError) as exc:
            self.message_user(request, f"Renewal failed: {exc}", messages.ERROR)
            return
        done = len(result.renewed) + len(result.resubscribed)
        level = messages.ERROR if result.errors else messages.SUCCESS
        text = f"{done} channels renewed"
        if result.errors:
            text += "; " + "; ".join(result.errors)
        self.message_user(request, text, level)


class EventStatusFilter(admin.SimpleListFilter):
    """Pending, failed (waiting for a retry) or processed."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("pending", "pending"), ("failed", "failed"), ("processed", "processed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "processed":
            return queryset.filter(processed_at__isnull=False)
        if value == "failed":
            return queryset.filter(processed_at__isnull=True, attempts__gt=0)
        if value == "pending":
            return queryset.filter(processed_at__isnull=True, attempts=0)
        return queryset


@admin.register(NotificationEvent)
class NotificationEventAdmin(_ReadOnly):
    """The inbox: what arrived, when it was processed, and the error of a failed one."""

    list_display = (
        "id",
        "module",
        "operation",
        "id_count",
        "received_at",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
    )
    list_filter = (EventStatusFilter, "module", "operation")
    search_fields = ("module", "channel_ref")
    readonly_fields = [f.name for f in NotificationEvent._meta.fields]
    actions = ("retry",)

    @admin.display(description=_("records"))
    def id_count(self, obj: NotificationEvent) -> int:
        return len(obj.ids or [])

    @admin.action(description=_("Retry now"))
    def retry(self, request: HttpRequest, queryset: QuerySet[NotificationEvent]) -> None:
        count = retry_now(queryset.values_list("id", flat=True))
        self.message_user(request, f"{count} notifications will be processed again.")
