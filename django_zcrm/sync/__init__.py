"""Sync Zoho CRM modules into Django models, and push local changes back.

    from django_zcrm.sync import sync_module, push_model

    result = sync_module("Leads")          # incremental; resumable; one run per module at a time
    print(result.summary())
    push_model("crm.Lead")                 # upsert rows changed locally, 100 per call

One job per module: :mod:`.engine` (the algorithm), :mod:`.targets` (writing rows),
:mod:`.mapping` (typed-model field mapping), :mod:`.inspect` (model code from metadata),
:mod:`.push` (local changes to Zoho), :mod:`.lease` (the per-module lease),
:mod:`.metering` (API call counts), :mod:`.checks` (validation of the sync settings).
"""

from __future__ import annotations

from ..models import CRMRecord, SyncState, ZohoSyncedModel
from . import mapping
from .engine import SyncProgress, SyncResult, sync_many, sync_module
from .inspect import generate_models, model_source
from .push import PushResult, pending, push_model

__all__ = [
    "CRMRecord",
    "PushResult",
    "SyncProgress",
    "SyncResult",
    "SyncState",
    "ZohoSyncedModel",
    "generate_models",
    "mapping",
    "model_source",
    "pending",
    "push_model",
    "sync_many",
    "sync_module",
]
