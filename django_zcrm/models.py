"""Database models: the SDK's ``oauthtokens`` table; the sync's models are re-exported.

``NotificationChannel`` and ``NotificationEvent`` live in
:mod:`django_zcrm.notifications.models`; ``SyncState``, ``CRMRecord`` and the abstract ``ZohoSyncedModel`` live in
:mod:`django_zcrm.sync.models`; importing them here registers them with the app (as Django
only imports ``django_zcrm.models``) and keeps the import paths older code uses.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from .notifications.models import NotificationChannel, NotificationEvent
from .redaction import mask
from .sync.models import SYNC_BOOKKEEPING_FIELDS, CRMRecord, SyncState, ZohoSyncedModel

__all__ = [
    "SYNC_BOOKKEEPING_FIELDS",
    "CRMRecord",
    "NotificationChannel",
    "NotificationEvent",
    "OAuthToken",
    "SyncState",
    "ZohoSyncedModel",
]


class OAuthToken(models.Model):
    """One Zoho user's tokens, in the table and columns the Zoho SDKs document.

    ``useridentifier``, ``accesstoken``, ``refreshtoken`` and ``expirytime`` (epoch ms) are the
    SDK's columns, widened beyond its varchar(100) so that encrypted values (``zcrm1:`` + a
    Fernet token, see :mod:`django_zcrm.crypto`) fit. The other columns are extras used by the
    refresh protocol and the admin; each is nullable or has a database default, so an SDK that
    INSERTs only its four columns into a shared table still works.
    """

    useridentifier = models.CharField(
        _("user identifier"), max_length=255, unique=True, db_column="useridentifier"
    )
    accesstoken = models.CharField(_("access token"), max_length=2048, db_column="accesstoken")
    refreshtoken = models.CharField(_("refresh token"), max_length=2048, db_column="refreshtoken")
    expirytime = models.BigIntegerField(_("expiry time (epoch ms)"), db_column="expirytime")

    api_domain = models.CharField(max_length=255, null=True, blank=True)
    accounts_server = models.CharField(max_length=255, null=True, blank=True)
    refresh_lease_until = models.BigIntegerField(null=True, blank=True)
    refresh_lease_owner = models.CharField(max_length=64, null=True, blank=True)
    throttled_until = models.BigIntegerField(null=True, blank=True)
    needs_reauth = models.BooleanField(default=False, db_default=False)
    last_error = models.TextField(blank=True, default="", db_default="")
    last_refreshed_at = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, null=True, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True, null=True, db_default=Now())

    class Meta:
        db_table = "oauthtokens"
        verbose_name = _("Zoho OAuth token")
        verbose_name_plural = _("Zoho OAuth tokens")
        ordering = ("useridentifier",)

    def __str__(self) -> str:
        return self.useridentifier

    def __repr__(self) -> str:
        return (
            f"<OAuthToken {self.useridentifier!r} access={mask(self.accesstoken)!r} "
            f"refresh={mask(self.refreshtoken)!r} expirytime={self.expirytime}>"
        )
