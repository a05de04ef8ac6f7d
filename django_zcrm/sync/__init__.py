"""Sync Zoho CRM modules into Django models, and push local changes back.

    from django_zcrm.sync import sync_module, push_model

    result = sync_module("Leads")          # incremental; resumable; one run per module at a time
    print(result.summary())
    push_model("crm.Lead")                 # upsert rows changed locally, 100 per call

One job per module: :mod:`.engine` (the algorithm: pages in, rows out), :mod:`.checkpoint`
(resume and checkpoint decisions), :mod:`.retry` (records that could not be stored),
:mod:`.targets` (writing rows), :mod:`.models` (sync state, record mirror, typed-model base),
:mod:`.mapping` (typed-model field mapping), :mod:`.options` (checks of run options),
:mod:`.results` (what runs report), :mod:`.inspect` (model code from metadata), :mod:`.push`
(local changes to Zoho), :mod:`.lease` (the per-module lease), :mod:`.checks` (validation of the
sync settings), :mod:`.metering` (API call counts).
"""

from __future__ import annotations

from . import mapping
from .engine import sync_many, sync_module
from .inspect import generate_models, model_source
from .models import CRMRecord, SyncState, ZohoSyncedModel
from .push import pending, push_model
from .results import PushResult, SyncProgress, SyncResult

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
