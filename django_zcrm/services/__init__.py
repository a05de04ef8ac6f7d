"""CRM services: records of a module, users, the organisation and module metadata.

from django_zcrm.services import Module

leads = Module("Leads")
for lead in leads.iter_records(fields=["Last_Name", "Email"]):
    ...
result = leads.create([{"Last_Name": "Smith", "Company": "ACME"}])
"""

from __future__ import annotations

from .base import DISCRETE_PAGING_LIMIT, MAX_PER_PAGE, MAX_PER_WRITE, Page, Service, version_tuple
from .bulk import BulkRead, ZCRMBulkReadError, iter_csv, iter_csv_rows
from .metadata import Modules, Org
from .module import Attachment, Module, build_criteria, coql
from .records import DeletedRecord, Record, format_datetime, parse_datetime
from .results import (
    FAILED,
    NOT_ATTEMPTED,
    SUCCEEDED,
    UNKNOWN,
    BatchResult,
    RecordResult,
)
from .users import Users

__all__ = [
    "BulkRead",
    "DISCRETE_PAGING_LIMIT",
    "FAILED",
    "MAX_PER_PAGE",
    "MAX_PER_WRITE",
    "NOT_ATTEMPTED",
    "SUCCEEDED",
    "UNKNOWN",
    "Attachment",
    "BatchResult",
    "DeletedRecord",
    "Module",
    "Modules",
    "Org",
    "Page",
    "Record",
    "RecordResult",
    "Service",
    "Users",
    "ZCRMBulkReadError",
    "iter_csv",
    "iter_csv_rows",
    "build_criteria",
    "coql",
    "format_datetime",
    "parse_datetime",
    "version_tuple",
]
