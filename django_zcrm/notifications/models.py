"""The notification channels django_zcrm subscribed and the durable inbox of their callbacks.

Both are concrete models of the ``django_zcrm`` app (``django_zcrm.models`` imports them so
Django registers them). The rules they serve are in ``docs/design/notifications.md``.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["NotificationChannel", "NotificationEvent"]


class NotificationChannel(models.Model):
    """One Zoho notification channel (``/actions/watch``) and the hash of its token.

    The verification token itself is never stored: ``token_hash`` is an HMAC of it. Renewal sends
    a new token; the previous one stays valid (``previous_token_hash``) until
    ``previous_valid_until``, so callbacks already on their way are not refused.
    """

    ACTIVE, DISABLED, LAPSED = "active", "disabled", "lapsed"
    STATES = ((ACTIVE, _("active")), (DISABLED, _("disabled")), (LAPSED, _("lapsed")))

    channel_id = models.CharField(_("channel id"), max_length=64, unique=True)
    modules = models.JSONField(_("modules"), default=list)
    events = models.JSONField(_("events"), default=list)
    notify_url = models.CharField(_("notify URL"), max_length=1024)
    user = models.CharField(_("Zoho user"), max_length=255, blank=True, default="")
    api_version = models.CharField(max_length=8, default="v2")
    token_hash = models.CharField(max_length=64)
    previous_token_hash = models.CharField(max_length=64, blank=True, default="")
    previous_valid_until = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=STATES, default=ACTIVE)
    expires_at = models.DateTimeField(_("expires at"))
    renewed_at = models.DateTimeField(_("subscribed or renewed at"))
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "django_zcrm"
        verbose_name = _("Zoho notification channel")
        verbose_name_plural = _("Zoho notification channels")
        ordering = ("expires_at",)

    def __str__(self) -> str:
        return f"channel {self.channel_id} ({', '.join(self.modules)})"

    @property
    def lifetime(self) -> timedelta:
        """How long the channel was granted at its last subscribe or renewal."""
        return max(self.expires_at - self.renewed_at, timedelta(seconds=1))

    def renew_due(self, now=None) -> bool:  # type: ignore[no-untyped-def]
        """True once the channel is in the last third of its life (or past it)."""
        now = now or timezone.now()
        return self.expires_at - now <= self.lifetime / 3

    def is_expired(self, now=None) -> bool:  # type: ignore[no-untyped-def]
        """True once ``expires_at`` has passed."""
        return self.expires_at <= (now or timezone.now())


class NotificationEvent(models.Model):
    """One callback Zoho POSTed, kept until the processor has applied it.

    ``idempotency_key`` (channel, server time, module, operation, ids) makes a repeated delivery
    a no-op at the receiver. ``processed_at`` is set in the transaction that writes the records;
    a failure leaves it empty, counts ``attempts`` and waits until ``next_attempt_at``.
    """

    channel = models.ForeignKey(
        NotificationChannel,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
    )
    channel_ref = models.CharField(_("channel id"), max_length=64)
    module = models.CharField(_("module"), max_length=100)
    operation = models.CharField(_("operation"), max_length=16)
    ids = models.JSONField(_("record ids"), default=list)
    affected_fields = models.JSONField(default=list, blank=True)
    server_time = models.BigIntegerField(_("Zoho server time (epoch ms)"), null=True, blank=True)
    idempotency_key = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        app_label = "django_zcrm"
        verbose_name = _("Zoho notification")
        verbose_name_plural = _("Zoho notifications (inbox)")
        ordering = ("id",)
        indexes = [models.Index(fields=["processed_at", "next_attempt_at"], name="zcrm_notify_due")]

    def __str__(self) -> str:
        return f"{self.module} {self.operation} {len(self.ids)} ids"

    @property
    def status(self) -> str:
        """``processed``, ``failed`` (waiting for a retry) or ``pending``."""
        if self.processed_at is not None:
            return "processed"
        return "failed" if self.attempts else "pending"
