"""Module and field metadata of the fake CRM, and validation of written values against it.

The modules (Leads, Contacts, Accounts, Deals, Tasks, Notes) carry realistic standard fields plus
a few custom ones, so clients meet every common ``data_type``. :func:`coerce` turns one written
value into its stored form (lookups as ``{"name","id"}``, multi-select as a list, datetimes in the
org's offset) or raises :class:`FieldProblem` with Zoho's per-record error.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any

from .util import iso, parse_date, parse_datetime

__all__ = [
    "FieldProblem",
    "FieldSpec",
    "MODULES",
    "ModuleSpec",
    "RelatedList",
    "coerce",
    "field_metadata",
    "is_empty",
]

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_INT_RE = re.compile(r"^[+-]?\d+$")
_ID_RE = re.compile(r"^\d{1,19}$")

TEXT_TYPES = frozenset({"text", "textarea", "email", "phone", "website", "picklist", "autonumber"})
INTEGER_TYPES = frozenset({"integer", "bigint"})
DECIMAL_TYPES = frozenset({"double", "currency", "percent", "decimal"})
NUMERIC_TYPES = INTEGER_TYPES | DECIMAL_TYPES
LOOKUP_TYPES = frozenset({"lookup", "ownerlookup"})

_JSON_TYPES = {
    **{t: "string" for t in TEXT_TYPES | {"date", "datetime"}},
    "integer": "integer",
    "bigint": "integer",
    **{t: "double" for t in DECIMAL_TYPES},
    "boolean": "boolean",
    "lookup": "jsonobject",
    "ownerlookup": "jsonobject",
    "multiselectpicklist": "jsonarray",
}

# Metadata ids are fixed so that two fakes (or two runs) describe the same org.
_meta_ids = itertools.count(4150868000000002001)


def _next_meta_id() -> str:
    return str(next(_meta_ids))


@dataclass(frozen=True)
class FieldSpec:
    """One field of a module."""

    api_name: str
    data_type: str
    label: str
    required: bool = False
    read_only: bool = False
    length: int | None = None
    picklist: tuple[str, ...] = ()
    lookup: str | None = None
    unique: bool = False
    custom: bool = False
    decimal_place: int | None = None
    id: str = field(default_factory=_next_meta_id)


@dataclass(frozen=True)
class RelatedList:
    """A related list of a module: records of ``module`` whose ``field`` points at the parent."""

    api_name: str
    label: str
    module: str
    field: str | None  # None: Notes and Attachments, which have their own stores
    # dataclasses.field: the attribute above shadows the name ``field`` in this class body.
    id: str = dataclasses.field(default_factory=_next_meta_id)


@dataclass
class ModuleSpec:
    """One module: labels, its fields and related lists, upsert defaults."""

    api_name: str
    singular: str
    plural: str
    display_field: str
    duplicate_check_fields: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    related: tuple[RelatedList, ...] = ()
    convertable: bool = False
    scoring_supported: bool = True
    records_module: bool = True
    id: str = field(default_factory=_next_meta_id)
    layout_id: str = field(default_factory=_next_meta_id)
    custom_view_id: str = field(default_factory=_next_meta_id)

    def __post_init__(self) -> None:
        self.field_map: dict[str, FieldSpec] = {f.api_name: f for f in self.fields}
        self._lower = {f.api_name.lower(): f for f in self.fields}

    def get_field(self, name: str, *, ignore_case: bool = False) -> FieldSpec | None:
        """The field called ``name`` (API name), or None."""
        found = self.field_map.get(name)
        if found is None and ignore_case:
            found = self._lower.get(name.lower())
        return found

    @property
    def mandatory(self) -> list[FieldSpec]:
        """Fields a new record must have."""
        return [f for f in self.fields if f.required]

    @property
    def unique_fields(self) -> list[FieldSpec]:
        """Fields whose (case-insensitive) values must be unique across live records."""
        return [f for f in self.fields if f.unique]


# --------------------------------------------------------------------------------------------------
# Field catalogue
# --------------------------------------------------------------------------------------------------

_SALUTATIONS = ("-None-", "Mr.", "Mrs.", "Ms.", "Dr.", "Prof.")
LEAD_SOURCES = (
    "-None-",
    "Advertisement",
    "Cold Call",
    "Employee Referral",
    "External Referral",
    "Online Store",
    "Partner",
    "Public Relations",
    "Sales Email Alias",
    "Seminar Partner",
    "Internal Seminar",
    "Trade Show",
    "Web Download",
    "Web Research",
    "Chat",
)
LEAD_STATUSES = (
    "-None-",
    "Attempted to Contact",
    "Contact in Future",
    "Contacted",
    "Junk Lead",
    "Lost Lead",
    "Not Contacted",
    "Pre-Qualified",
    "Not Qualified",
)
INDUSTRIES = (
    "-None-",
    "ASP (Application Service Provider)",
    "Data/Telecom OEM",
    "ERP (Enterprise Resource Planning)",
    "Government/Military",
    "Large Enterprise",
    "ManagementISV",
    "MSP (Management Service Provider)",
    "Network Equipment Enterprise",
    "Non-management ISV",
    "Optical Networking",
    "Service Provider",
    "Small/Medium Enterprise",
    "Storage Equipment",
    "Storage Service Provider",
    "Systems Integrator",
    "Wireless Industry",
)
RATINGS = ("-None-", "Acquired", "Active", "Market Failed", "Project Cancelled", "Shut Down")
CHANNELS = ("Email", "Phone", "SMS", "WhatsApp", "Postal Mail")
LANGUAGES = ("English", "German", "French", "Spanish", "Italian", "Japanese")
ACCOUNT_TYPES = (
    "-None-",
    "Analyst",
    "Competitor",
    "Customer",
    "Distributor",
    "Integrator",
    "Investor",
    "Other",
    "Partner",
    "Press",
    "Prospect",
    "Reseller",
    "Supplier",
    "Vendor",
)
OWNERSHIPS = (
    "-None-",
    "Other",
    "Private",
    "Public",
    "Subsidiary",
    "Partnership",
    "Government",
    "Privately Held",
    "Public Company",
)
DEAL_STAGES = (
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Identify Decision Makers",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
    "Closed Lost to Competition",
)
DEAL_TYPES = ("-None-", "Existing Business", "New Business")
TASK_STATUSES = ("Not Started", "Deferred", "In Progress", "Completed", "Waiting for input")
TASK_PRIORITIES = ("High", "Highest", "Low", "Lowest", "Normal")


def _system_fields() -> tuple[FieldSpec, ...]:
    return (
        FieldSpec("Created_By", "ownerlookup", "Created By", read_only=True),
        FieldSpec("Modified_By", "ownerlookup", "Modified By", read_only=True),
        FieldSpec("Created_Time", "datetime", "Created Time", read_only=True),
        FieldSpec("Modified_Time", "datetime", "Modified Time", read_only=True),
    )


def _owner() -> FieldSpec:
    return FieldSpec("Owner", "ownerlookup", "Lead Owner")


def _notes_related() -> tuple[RelatedList, ...]:
    return (
        RelatedList("Notes", "Notes", "Notes", None),
        RelatedList("Attachments", "Attachments", "Attachments", None),
    )


LEADS = ModuleSpec(
    "Leads",
    "Lead",
    "Leads",
    "Full_Name",
    ("Email",),
    (
        _owner(),
        FieldSpec("Salutation", "picklist", "Salutation", picklist=_SALUTATIONS),
        FieldSpec("First_Name", "text", "First Name", length=40),
        FieldSpec("Last_Name", "text", "Last Name", required=True, length=80),
        FieldSpec("Full_Name", "text", "Full Name", read_only=True, length=120),
        FieldSpec("Company", "text", "Company", required=True, length=200),
        FieldSpec("Designation", "text", "Title", length=100),
        FieldSpec("Email", "email", "Email", unique=True, length=100),
        FieldSpec("Secondary_Email", "email", "Secondary Email", length=100),
        FieldSpec("Phone", "phone", "Phone", length=30),
        FieldSpec("Mobile", "phone", "Mobile", length=30),
        FieldSpec("Fax", "phone", "Fax", length=30),
        FieldSpec("Website", "website", "Website", length=255),
        FieldSpec("Lead_Source", "picklist", "Lead Source", picklist=LEAD_SOURCES),
        FieldSpec("Lead_Status", "picklist", "Lead Status", picklist=LEAD_STATUSES),
        FieldSpec("Industry", "picklist", "Industry", picklist=INDUSTRIES),
        FieldSpec("No_of_Employees", "integer", "No. of Employees", length=9),
        FieldSpec("Annual_Revenue", "currency", "Annual Revenue", length=16, decimal_place=2),
        FieldSpec("Rating", "picklist", "Rating", picklist=RATINGS),
        FieldSpec("Email_Opt_Out", "boolean", "Email Opt Out"),
        FieldSpec("Skype_ID", "text", "Skype ID", length=50),
        FieldSpec("Street", "text", "Street", length=250),
        FieldSpec("City", "text", "City", length=100),
        FieldSpec("State", "text", "State", length=100),
        FieldSpec("Zip_Code", "text", "Zip Code", length=30),
        FieldSpec("Country", "text", "Country", length=100),
        FieldSpec("Description", "textarea", "Description", length=32000),
        FieldSpec(
            "Preferred_Channels",
            "multiselectpicklist",
            "Preferred Channels",
            picklist=CHANNELS,
            custom=True,
        ),
        FieldSpec("Follow_Up_Date", "date", "Follow Up Date", custom=True),
        FieldSpec(
            "Lead_Score_Ratio",
            "double",
            "Lead Score Ratio",
            custom=True,
            length=16,
            decimal_place=2,
        ),
        FieldSpec("Last_Activity_Time", "datetime", "Last Activity Time", read_only=True),
        *_system_fields(),
    ),
    related=_notes_related(),
    convertable=True,
)

CONTACTS = ModuleSpec(
    "Contacts",
    "Contact",
    "Contacts",
    "Full_Name",
    ("Email",),
    (
        FieldSpec("Owner", "ownerlookup", "Contact Owner"),
        FieldSpec("Salutation", "picklist", "Salutation", picklist=_SALUTATIONS),
        FieldSpec("First_Name", "text", "First Name", length=40),
        FieldSpec("Last_Name", "text", "Last Name", required=True, length=80),
        FieldSpec("Full_Name", "text", "Full Name", read_only=True, length=120),
        FieldSpec("Account_Name", "lookup", "Account Name", lookup="Accounts"),
        FieldSpec("Email", "email", "Email", unique=True, length=100),
        FieldSpec("Secondary_Email", "email", "Secondary Email", length=100),
        FieldSpec("Title", "text", "Title", length=100),
        FieldSpec("Department", "text", "Department", length=30),
        FieldSpec("Phone", "phone", "Phone", length=30),
        FieldSpec("Home_Phone", "phone", "Home Phone", length=30),
        FieldSpec("Mobile", "phone", "Mobile", length=30),
        FieldSpec("Fax", "phone", "Fax", length=30),
        FieldSpec("Date_of_Birth", "date", "Date of Birth"),
        FieldSpec("Lead_Source", "picklist", "Lead Source", picklist=LEAD_SOURCES),
        FieldSpec("Email_Opt_Out", "boolean", "Email Opt Out"),
        FieldSpec("Reporting_To", "lookup", "Reports To", lookup="Contacts"),
        FieldSpec("Mailing_Street", "text", "Mailing Street", length=250),
        FieldSpec("Mailing_City", "text", "Mailing City", length=100),
        FieldSpec("Mailing_State", "text", "Mailing State", length=100),
        FieldSpec("Mailing_Zip", "text", "Mailing Zip", length=30),
        FieldSpec("Mailing_Country", "text", "Mailing Country", length=100),
        FieldSpec("Description", "textarea", "Description", length=32000),
        FieldSpec("Languages", "multiselectpicklist", "Languages", picklist=LANGUAGES, custom=True),
        FieldSpec("Loyalty_Points", "integer", "Loyalty Points", custom=True, length=9),
        FieldSpec("Last_Activity_Time", "datetime", "Last Activity Time", read_only=True),
        *_system_fields(),
    ),
    related=(
        RelatedList("Deals", "Deals", "Deals", "Contact_Name"),
        RelatedList("Tasks", "Open Activities", "Tasks", "Who_Id"),
        *_notes_related(),
    ),
)

ACCOUNTS = ModuleSpec(
    "Accounts",
    "Account",
    "Accounts",
    "Account_Name",
    ("Account_Name",),
    (
        FieldSpec("Owner", "ownerlookup", "Account Owner"),
        FieldSpec("Account_Name", "text", "Account Name", required=True, length=200),
        FieldSpec("Account_Number", "bigint", "Account Number", length=18),
        FieldSpec("Account_Site", "text", "Account Site", length=80),
        FieldSpec("Parent_Account", "lookup", "Parent Account", lookup="Accounts"),
        FieldSpec("Account_Type", "picklist", "Account Type", picklist=ACCOUNT_TYPES),
        FieldSpec("Industry", "picklist", "Industry", picklist=INDUSTRIES),
        FieldSpec("Annual_Revenue", "currency", "Annual Revenue", length=16, decimal_place=2),
        FieldSpec("Employees", "integer", "Employees", length=9),
        FieldSpec("Ownership", "picklist", "Ownership", picklist=OWNERSHIPS),
        FieldSpec("Rating", "picklist", "Rating", picklist=RATINGS),
        FieldSpec("SIC_Code", "integer", "SIC Code", length=9),
        FieldSpec("Ticker_Symbol", "text", "Ticker Symbol", length=30),
        FieldSpec("Phone", "phone", "Phone", length=30),
        FieldSpec("Fax", "phone", "Fax", length=30),
        FieldSpec("Website", "website", "Website", length=255),
        FieldSpec("Billing_Street", "text", "Billing Street", length=250),
        FieldSpec("Billing_City", "text", "Billing City", length=100),
        FieldSpec("Billing_State", "text", "Billing State", length=100),
        FieldSpec("Billing_Code", "text", "Billing Code", length=30),
        FieldSpec("Billing_Country", "text", "Billing Country", length=100),
        FieldSpec("Shipping_Street", "text", "Shipping Street", length=250),
        FieldSpec("Shipping_City", "text", "Shipping City", length=100),
        FieldSpec("Shipping_State", "text", "Shipping State", length=100),
        FieldSpec("Shipping_Code", "text", "Shipping Code", length=30),
        FieldSpec("Shipping_Country", "text", "Shipping Country", length=100),
        FieldSpec("Description", "textarea", "Description", length=32000),
        FieldSpec("Customer_Since", "date", "Customer Since", custom=True),
        FieldSpec("Is_Key_Account", "boolean", "Key Account", custom=True),
        FieldSpec("Last_Activity_Time", "datetime", "Last Activity Time", read_only=True),
        *_system_fields(),
    ),
    related=(
        RelatedList("Contacts", "Contacts", "Contacts", "Account_Name"),
        RelatedList("Deals", "Deals", "Deals", "Account_Name"),
        RelatedList("Child_Accounts", "Member Accounts", "Accounts", "Parent_Account"),
        *_notes_related(),
    ),
)

DEALS = ModuleSpec(
    "Deals",
    "Deal",
    "Deals",
    "Deal_Name",
    ("Deal_Name",),
    (
        FieldSpec("Owner", "ownerlookup", "Deal Owner"),
        FieldSpec("Deal_Name", "text", "Deal Name", required=True, length=120),
        FieldSpec("Amount", "currency", "Amount", length=16, decimal_place=2),
        FieldSpec("Closing_Date", "date", "Closing Date"),
        FieldSpec("Stage", "picklist", "Stage", required=True, picklist=DEAL_STAGES),
        FieldSpec("Probability", "integer", "Probability (%)", length=3),
        FieldSpec("Expected_Revenue", "currency", "Expected Revenue", length=16, decimal_place=2),
        FieldSpec("Account_Name", "lookup", "Account Name", lookup="Accounts"),
        FieldSpec("Contact_Name", "lookup", "Contact Name", lookup="Contacts"),
        FieldSpec("Type", "picklist", "Type", picklist=DEAL_TYPES),
        FieldSpec("Lead_Source", "picklist", "Lead Source", picklist=LEAD_SOURCES),
        FieldSpec("Next_Step", "text", "Next Step", length=100),
        FieldSpec("Description", "textarea", "Description", length=32000),
        FieldSpec(
            "Discount_Rate", "double", "Discount Rate", custom=True, length=5, decimal_place=2
        ),
        FieldSpec(
            "Competitors",
            "multiselectpicklist",
            "Competitors",
            picklist=("Acme", "Globex", "Initech", "Umbrella"),
            custom=True,
        ),
        FieldSpec("Last_Activity_Time", "datetime", "Last Activity Time", read_only=True),
        *_system_fields(),
    ),
    related=(RelatedList("Tasks", "Open Activities", "Tasks", "What_Id"), *_notes_related()),
)

TASKS = ModuleSpec(
    "Tasks",
    "Task",
    "Tasks",
    "Subject",
    ("Subject",),
    (
        FieldSpec("Owner", "ownerlookup", "Task Owner"),
        FieldSpec("Subject", "text", "Subject", required=True, length=300),
        FieldSpec("Due_Date", "date", "Due Date"),
        FieldSpec("Status", "picklist", "Status", picklist=TASK_STATUSES),
        FieldSpec("Priority", "picklist", "Priority", picklist=TASK_PRIORITIES),
        FieldSpec("Who_Id", "lookup", "Contact Name", lookup="Contacts"),
        FieldSpec("What_Id", "lookup", "Related To", lookup="Deals"),
        FieldSpec("Send_Notification_Email", "boolean", "Send Notification Email"),
        FieldSpec("Closed_Time", "datetime", "Closed Time", read_only=True),
        FieldSpec("Description", "textarea", "Description", length=32000),
        *_system_fields(),
    ),
    related=_notes_related(),
    scoring_supported=False,
)

NOTES = ModuleSpec(
    "Notes",
    "Note",
    "Notes",
    "Note_Title",
    (),
    (
        FieldSpec("Owner", "ownerlookup", "Note Owner"),
        FieldSpec("Note_Title", "text", "Note Title", length=120),
        FieldSpec("Note_Content", "textarea", "Note Content", required=True, length=32000),
        FieldSpec("Parent_Id", "lookup", "Parent ID", read_only=True),
        *_system_fields(),
    ),
    scoring_supported=False,
    records_module=False,
)

MODULES: dict[str, ModuleSpec] = {
    m.api_name: m for m in (LEADS, CONTACTS, ACCOUNTS, DEALS, TASKS, NOTES)
}

# Owner's label is per module in Zoho ("Lead Owner", "Contact Owner", ...).
_OWNER_LABELS = {
    "Leads": "Lead Owner",
    "Contacts": "Contact Owner",
    "Accounts": "Account Owner",
    "Deals": "Deal Owner",
    "Tasks": "Task Owner",
    "Notes": "Note Owner",
}


# --------------------------------------------------------------------------------------------------
# Metadata rendering
# --------------------------------------------------------------------------------------------------


def field_metadata(
    module: ModuleSpec, spec: FieldSpec, *, modern: bool, sequence: int
) -> dict[str, Any]:
    """One entry of ``GET /settings/fields`` (``modern``: v3+ shapes for the lookup ``module``)."""
    lookup: dict[str, Any] = {}
    if spec.data_type == "lookup" and spec.lookup:
        target = MODULES[spec.lookup]
        lookup = {
            "display_label": target.singular if spec.lookup != module.api_name else spec.label,
            "api_name": spec.api_name,
            "module": {"api_name": target.api_name, "id": target.id} if modern else target.api_name,
            "id": spec.id,
        }
    picklist = []
    if spec.data_type in ("picklist", "multiselectpicklist"):
        picklist = [
            {
                "display_value": value,
                "actual_value": value,
                "sequence_number": n,
                "maps": [],
                "type": "used",
                "id": str(int(spec.id) * 100 + n)[-19:],
            }
            for n, value in enumerate(spec.picklist, start=1)
        ]
    label = (
        _OWNER_LABELS.get(module.api_name, spec.label) if spec.api_name == "Owner" else spec.label
    )
    editable = not spec.read_only
    return {
        "api_name": spec.api_name,
        "id": spec.id,
        "field_label": label,
        "display_label": label,
        "data_type": spec.data_type,
        "json_type": _JSON_TYPES.get(spec.data_type, "string"),
        "required": spec.required,
        "system_mandatory": spec.required,
        "read_only": spec.read_only,
        "field_read_only": spec.read_only,
        "custom_field": spec.custom,
        "visible": True,
        "length": spec.length
        if spec.length is not None
        else (0 if spec.data_type in LOOKUP_TYPES else 255),
        "decimal_place": spec.decimal_place,
        "sequence_number": sequence,
        "default_value": None,
        "created_source": "crm" if spec.custom else "default",
        "businesscard_supported": spec.data_type not in ("textarea", "multiselectpicklist"),
        "view_type": {"view": True, "edit": editable, "create": editable, "quick_create": editable},
        "pick_list_values": picklist,
        "lookup": lookup,
        "unique": {"casesensitive": False} if spec.unique else {},
        "currency": {"precision": 2, "rounding_option": "normal"}
        if spec.data_type == "currency"
        else {},
        "formula": {},
        "auto_number": {},
        "convert_mapping": {},
        "tooltip": None,
        "webhook": False,
        "crypt": None,
        "history_tracking": False,
        "association_details": None,
        "mass_update": editable,
        "column_name": spec.api_name.upper(),
    }


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


class FieldProblem(Exception):
    """A per-record error for one field (``details`` without ``json_path``; the caller adds it)."""

    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(f"{code}: {message} {details}")
        self.code = code
        self.message = message
        self.details = details


def is_empty(value: Any) -> bool:
    """Whether a written value counts as "not given" for a mandatory field."""
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _invalid(spec: FieldSpec, **extra: Any) -> FieldProblem:
    return FieldProblem(
        "INVALID_DATA",
        "invalid data",
        {"expected_data_type": spec.data_type, "api_name": spec.api_name, **extra},
    )


def _as_id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str) and _ID_RE.match(value.strip()):
        return value.strip()
    return None


LookupResolver = Callable[[str, str], "dict[str, Any] | None"]
UserResolver = Callable[[str], "dict[str, Any] | None"]


def coerce(
    spec: FieldSpec,
    value: Any,
    *,
    tz: timezone,
    resolve_lookup: LookupResolver,
    resolve_user: UserResolver,
) -> Any:
    """Return the stored form of ``value`` for ``spec``, or raise :class:`FieldProblem`.

    ``resolve_lookup(module, id)`` -> ``{"name","id"}`` or None; ``resolve_user(id)`` ->
    ``{"name","id","email"}`` or None. ``None`` always clears a field.
    """
    if value is None:
        return None
    kind = spec.data_type
    if kind in TEXT_TYPES:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _invalid(spec)
        text = value if isinstance(value, str) else str(value)
        if kind == "email" and text and not _EMAIL_RE.match(text):
            raise _invalid(spec)
        if spec.length is not None and len(text) > spec.length:
            raise _invalid(spec, maximum_length=spec.length)
        return text
    if kind == "multiselectpicklist":
        if isinstance(value, str):
            return [part for part in value.split(";") if part]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise _invalid(spec)
    if kind in INTEGER_TYPES:
        if isinstance(value, bool):
            raise _invalid(spec)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and _INT_RE.match(value.strip()):
            value = int(value.strip())
        if not isinstance(value, int):
            raise _invalid(spec)
        if spec.length is not None and len(str(abs(value))) > spec.length:
            raise _invalid(spec, maximum_length=spec.length)
        return value
    if kind in DECIMAL_TYPES:
        if isinstance(value, bool):
            raise _invalid(spec)
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise _invalid(spec) from None
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _invalid(spec)
        if spec.decimal_place is not None and isinstance(value, float):
            value = round(value, spec.decimal_place)
        return value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _invalid(spec)
    if kind == "date":
        if not isinstance(value, str):
            raise _invalid(spec)
        try:
            return parse_date(value.strip()).isoformat()
        except ValueError:
            raise _invalid(spec) from None
    if kind == "datetime":
        if not isinstance(value, str):
            raise _invalid(spec)
        try:
            return iso(parse_datetime(value), tz)
        except ValueError:
            raise _invalid(spec) from None
    if kind == "lookup":
        ref = _as_id(value)
        if ref is None:
            raise _invalid(spec)
        found = resolve_lookup(spec.lookup or "", ref)
        if found is None:
            raise FieldProblem(
                "INVALID_DATA",
                "the related id given seems to be invalid",
                {"api_name": spec.api_name, "id": ref},
            )
        return found
    if kind == "ownerlookup":
        ref = _as_id(value)
        if ref is None:
            raise _invalid(spec)
        user = resolve_user(ref)
        if user is None:
            raise FieldProblem(
                "INVALID_DATA",
                "invalid data",
                {"expected_data_type": kind, "api_name": spec.api_name, "id": ref},
            )
        return user
    raise _invalid(spec)  # pragma: no cover - every data_type in the catalogue is handled above
