"""The sync's models: its state per module, the generic record mirror, the typed-model base.

``SyncState`` and ``CRMRecord`` are concrete models of the ``django_zcrm`` app (its ``models.py``
imports them from here, so Django registers them and their migrations are unchanged);
``ZohoSyncedModel`` is the abstract base a project's typed models derive from.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Self

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .bookkeeping import SYNC_BOOKKEEPING_FIELDS
from .mapping import get_mapping

__all__ = ["SYNC_BOOKKEEPING_FIELDS", "CRMRecord", "SyncState", "ZohoSyncedModel"]


class SyncState(models.Model):
    """The checkpoint and lease of one module's sync into one local model (``docs/design/sync.md``).

    ``cursor`` is the last ``Modified_Time`` fully synced (the next run asks Zoho for records
    modified after it, minus ``SYNC_LOOKBACK_SECONDS``); ``deleted_cursor`` does the same for the
    deleted-records endpoint. While a run is in progress ``run_*`` describe it, so a run killed at
    any moment is resumed from ``run_cursor`` by the next one. The lease (``lease_owner`` until
    ``lease_until``) keeps two runs of the same module and model apart. ``failed_ids`` holds the
    records the local model could not store (``{zoho_id: ISO time of the last failure}``, at most
    ``retry.MAX_PENDING_FAILURES``), which every run reads again by id.
    """

    PULL = "pull"
    PUSH = "push"
    DIRECTIONS = ((PULL, _("Zoho to local")), (PUSH, _("local to Zoho")))
    IDLE, RUNNING, DONE, FAILED = "idle", "running", "done", "failed"
    STATUSES = (
        (IDLE, _("idle")),
        (RUNNING, _("running")),
        (DONE, _("done")),
        (FAILED, _("failed")),
    )

    module = models.CharField(_("module"), max_length=100)
    target = models.CharField(
        _("local model"), max_length=200, help_text=_("app_label.model_name of the local model.")
    )
    direction = models.CharField(max_length=8, choices=DIRECTIONS, default=PULL)
    cursor = models.DateTimeField(
        _("synced up to"), null=True, blank=True, help_text=_("Last Modified_Time fully synced.")
    )
    deleted_cursor = models.DateTimeField(_("deletions synced up to"), null=True, blank=True)
    status = models.CharField(max_length=16, choices=STATUSES, default=IDLE)
    run_id = models.CharField(max_length=32, blank=True, default="")
    run_kind = models.CharField(max_length=16, blank=True, default="")
    run_started_at = models.DateTimeField(null=True, blank=True)
    run_since = models.DateTimeField(null=True, blank=True)
    run_cursor = models.DateTimeField(null=True, blank=True)
    rewind_to = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_(
            "Records changed in Zoho while this run was paging: the checkpoint goes "
            "back here at the end of the run."
        ),
    )
    # NULL, not "": a free lease is matched with ``lease_owner__isnull``.
    lease_owner = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    lease_until = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_full_sync_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_result = models.JSONField(default=dict, blank=True)
    failed_ids = models.JSONField(
        _("records to retry"),
        default=dict,
        blank=True,
        help_text=_(
            "Zoho ids of records that could not be stored locally, each with the time "
            "it last failed. Every run reads them again until they store or Zoho no "
            "longer has them."
        ),
    )
    failed_overflow_at = models.DateTimeField(
        _("retry list overflowed at"),
        null=True,
        blank=True,
        help_text=_(
            "Last time a record that could not be stored was not kept for retry "
            "because the list was full: run zcrm_sync --full once the model is fixed."
        ),
    )
    strategy = models.CharField(
        _("read strategy"),
        max_length=16,
        blank=True,
        default="",
        help_text=_(
            "How the current (or last) run reads Zoho: rest (pages of 200) or coql (COQL windows "
            "by id range); chosen by the read planner."
        ),
    )
    run_position = models.CharField(
        _("run position"),
        max_length=64,
        blank=True,
        default="",
        help_text=_(
            "How far a windowed run got: every record up to this Zoho id is stored (a resumed "
            "run continues after it)."
        ),
    )
    module_size = models.PositiveIntegerField(
        _("records in the module"),
        null=True,
        blank=True,
        help_text=_("Records the last run that read the whole module saw (the planner's size)."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("Zoho sync state")
        verbose_name_plural = _("Zoho sync states")
        ordering = ("module", "target", "direction")
        constraints = [
            models.UniqueConstraint(
                fields=("module", "target", "direction"), name="django_zcrm_syncstate_unique"
            ),
        ]

    def __str__(self) -> str:
        arrow = "->" if self.direction == self.PULL else "<-"
        return f"{self.module} {arrow} {self.target}"


class CRMRecord(models.Model):
    """A local copy of any CRM record, as Zoho sent it (zero-code mirror of any module)."""

    module = models.CharField(_("module"), max_length=100)
    zoho_id = models.CharField(_("Zoho id"), max_length=32)
    data = models.JSONField(_("record"), default=dict)
    modified_time = models.DateTimeField(_("modified in Zoho"), null=True, blank=True)
    deleted = models.BooleanField(_("deleted in Zoho"), default=False)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)
    synced_at = models.DateTimeField(_("synced at"), null=True, blank=True)

    class Meta:
        verbose_name = _("Zoho CRM record")
        verbose_name_plural = _("Zoho CRM records")
        ordering = ("module", "zoho_id")
        constraints = [
            models.UniqueConstraint(
                fields=("module", "zoho_id"), name="django_zcrm_crmrecord_unique"
            ),
        ]
        indexes = [
            models.Index(fields=("module", "modified_time"), name="django_zcrm_record_mtime")
        ]

    def __str__(self) -> str:
        return f"{self.module} {self.zoho_id}"


class ZohoSyncedModel(models.Model):
    """Abstract base for a project's own typed model of a CRM module.

    Declare the mapping in an inner ``ZohoMeta`` (``module`` and ``fields``: Zoho API name ->
    model field or a converter from :mod:`django_zcrm.sync.mapping`); ``zcrm_inspect`` writes
    such models. ``save()`` marks the row for ``zcrm_push`` when a mapped, writable field changed
    (or when a row without a Zoho id is created) and remembers which fields, so the push sends
    only those and leaves what others changed in Zoho alone; the sync never overwrites a marked
    row until it has been pushed.
    """

    # NULL, not "": many local rows without a Zoho id yet must not collide on the unique key.
    zoho_id = models.CharField(  # noqa: DJ001
        _("Zoho id"), max_length=32, unique=True, null=True, blank=True, editable=False
    )
    zoho_modified_time = models.DateTimeField(
        _("modified in Zoho"), null=True, blank=True, editable=False
    )
    zoho_deleted = models.BooleanField(_("deleted in Zoho"), default=False, editable=False)
    synced_at = models.DateTimeField(_("synced at"), null=True, blank=True, editable=False)
    zoho_dirty = models.BooleanField(
        _("local changes to push"), default=False, db_index=True, editable=False
    )
    zoho_pending_fields = models.JSONField(
        _("fields changed locally"),
        default=list,
        blank=True,
        editable=False,
        help_text=_("Model fields to push; empty on a marked row means all of them."),
    )
    local_modified_at = models.DateTimeField(
        _("changed locally at"), null=True, blank=True, editable=False
    )
    zoho_push_error = models.TextField(_("last push error"), blank=True, default="", editable=False)
    zoho_pushed_at = models.DateTimeField(_("pushed at"), null=True, blank=True, editable=False)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, marking the row for push when a mapped field changed (see class docstring)."""
        update_fields = kwargs.get("update_fields")
        touches_data = update_fields is None or not set(update_fields) <= SYNC_BOOKKEEPING_FIELDS
        if touches_data:
            new_row = self._state.adding and self.zoho_id is None
            changed = self.zoho_unsaved_changes()
            if new_row or changed:
                if new_row:
                    pending: list[str] = []  # a record Zoho has not seen: send every field
                elif self.zoho_dirty and not self.zoho_pending_fields:
                    pending = []  # already marked "everything"
                else:
                    pending = sorted(set(self.zoho_pending_fields or []) | set(changed))
                self.zoho_dirty = True
                self.zoho_pending_fields = pending
                # A newer stamp also tells a push in flight not to clear the mark.
                self.local_modified_at = timezone.now()
                if update_fields is not None:
                    kwargs["update_fields"] = {
                        *update_fields,
                        "zoho_dirty",
                        "zoho_pending_fields",
                        "local_modified_at",
                    }
        super().save(*args, **kwargs)
        self._zoho_loaded = self._zoho_snapshot()

    @classmethod
    def from_db(
        cls, db: str | None, field_names: Collection[str], values: Collection[Any], **kwargs: Any
    ) -> Self:
        """Load a row and remember its mapped values, to tell later which ones changed."""
        # Django 6.1 passes fetch_mode; earlier versions pass nothing more.
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._zoho_loaded = instance._zoho_snapshot()
        return instance

    def _zoho_snapshot(self) -> dict[str, Any] | None:
        mapping = get_mapping(type(self), required=False)
        if mapping is None:
            return None
        loaded = self.get_deferred_fields()
        return {
            name: getattr(self, name)
            for name in mapping.writable_model_fields
            if name not in loaded
        }

    def zoho_unsaved_changes(self) -> list[str]:
        """Mapped, writable fields whose value differs from what was loaded from the database."""
        before = getattr(self, "_zoho_loaded", None)
        if before is None:
            return []
        return [name for name, value in before.items() if getattr(self, name) != value]
