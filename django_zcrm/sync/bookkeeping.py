"""Names of the columns ``ZohoSyncedModel`` keeps for the sync itself (not the project's data).

Its own module so that both the model (``save()`` ignores them) and the mapping (refuses to map
a Zoho field onto them) read one list without importing each other.
"""

from __future__ import annotations

__all__ = ["SYNC_BOOKKEEPING_FIELDS"]

#: Saving only these never marks a row as changed locally.
SYNC_BOOKKEEPING_FIELDS = frozenset(
    {
        "zoho_id",
        "zoho_modified_time",
        "zoho_deleted",
        "synced_at",
        "zoho_dirty",
        "zoho_pending_fields",
        "local_modified_at",
        "zoho_push_error",
        "zoho_pushed_at",
    }
)
