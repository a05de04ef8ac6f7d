"""Metadata documents of the fake CRM: org, users, modules, layouts, custom views, related lists.

Every key the old Python SDK (zcrmsdk 2.x) indexes unconditionally is present (see "Metadata
documents" in ``docs/design/wire-format.md``), null where the fake has nothing to say.
"""

from __future__ import annotations

from datetime import timezone
from typing import Any

from .schema import MODULES, ModuleSpec, field_metadata
from .util import iso

__all__ = [
    "ADMIN_PROFILE",
    "STANDARD_PROFILE",
    "custom_views",
    "layout",
    "module_metadata",
    "org_document",
    "related_lists",
    "user_document",
]

ADMIN_PROFILE = {"name": "Administrator", "id": "4150868000000026011"}
STANDARD_PROFILE = {"name": "Standard", "id": "4150868000000026014"}
CEO_ROLE = {"name": "CEO", "id": "4150868000000026005"}
MANAGER_ROLE = {"name": "Manager", "id": "4150868000000026008"}
# Metadata was "last modified" at a fixed instant: 2023-03-01T09:30:00Z.
META_EPOCH = 1677663000


def org_document(
    *,
    org_id: str,
    zgid: str,
    primary_email: str,
    primary_zuid: str | None,
    tz: timezone,
    time_zone: str,
) -> dict[str, Any]:
    """The single element of ``GET /org``'s ``org`` array (editable afterwards through ``FakeCRM.org``)."""
    return {
        "id": org_id,
        "company_name": "Example Corp",
        "alias": None,
        "primary_email": primary_email,
        "primary_zuid": primary_zuid,
        "zgid": zgid,
        "domain_name": f"org{zgid}",
        "type": "production",
        "street": "100 Example Street",
        "city": "Austin",
        "state": "TX",
        "country": "United States",
        "country_code": "US",
        "zip": "73301",
        "phone": "+1 555 010 0000",
        "mobile": None,
        "fax": None,
        "website": "https://www.example.com",
        "description": None,
        "employee_count": "50",
        "currency": "US Dollar - USD",
        "currency_symbol": "$",
        "currency_locale": "en_US",
        "iso_code": "USD",
        "mc_status": False,
        "gapps_enabled": False,
        "time_zone": time_zone,
        "photo_id": None,
        "created_time": iso(META_EPOCH - 86400 * 400, tz),
        "hierarchy_preferences": {"type": "Role_Hierarchy", "strict_scope": False},
        "privacy_settings": False,
        "zia_portal_id": None,
        "hipaa_compliance_enabled": False,
        "translation_enabled": True,
        "lite_users_enabled": False,
        "deletable_org_account": False,
        "license_details": {
            "paid": True,
            "paid_type": "enterprise",
            "paid_expiry": iso(META_EPOCH + 86400 * 3650, tz),
            "trial_type": None,
            "trial_expiry": None,
            "trial_action": None,
            "users_license_purchased": 10,
            "portal_users_license_purchased": 0,
        },
    }


def user_document(
    *,
    user_id: str,
    zuid: str,
    email: str,
    first_name: str,
    last_name: str,
    admin: bool,
    creator: dict[str, Any],
    tz: timezone,
    time_zone: str,
) -> dict[str, Any]:
    """One element of ``GET /users``' ``users`` array."""
    full_name = " ".join(part for part in (first_name, last_name) if part) or email
    stamp = iso(META_EPOCH - 86400 * 300, tz)
    return {
        "id": user_id,
        "zuid": zuid,
        "full_name": full_name,
        "first_name": first_name or None,
        "last_name": last_name or None,
        "email": email,
        "status": "active",
        "confirm": True,
        "role": dict(CEO_ROLE if admin else MANAGER_ROLE),
        "profile": dict(ADMIN_PROFILE if admin else STANDARD_PROFILE),
        "created_by": {"name": creator["name"], "id": creator["id"]},
        "Modified_By": {"name": creator["name"], "id": creator["id"]},
        "created_time": stamp,
        "Modified_Time": stamp,
        "Isonline": False,
        "language": "en_US",
        "locale": "en_US",
        "country_locale": "en_US",
        "time_zone": time_zone,
        "time_format": "hh:mm a",
        "date_format": "MM/dd/yyyy",
        "decimal_separator": "Period",
        "name_format": "Salutation,First Name,Last Name",
        "sort_order_preference": "First Name,Last Name",
        "personal_account": False,
        "default_tab_group": "0",
        "theme": {
            "normal_tab": {"font_color": "#FFFFFF", "background": "#222222"},
            "selected_tab": {"font_color": "#FFFFFF", "background": "#222222"},
            "new_background": None,
            "background": "#F3F0EB",
            "screen": "fixed",
            "type": "default",
        },
        "customize_info": {
            "notes_desc": None,
            "show_right_panel": None,
            "bc_view": None,
            "show_home": False,
            "show_detail_view": True,
            "unpin_recent_item": None,
        },
        "street": None,
        "city": None,
        "state": None,
        "country": "US",
        "zip": None,
        "phone": None,
        "mobile": None,
        "fax": None,
        "website": None,
        "dob": None,
        "signature": None,
        "alias": None,
        "territories": [],
        "reporting_to": None,
        "Currency": "USD",
        "status_reason__s": None,
        "microsoft": False,
        "offset": int(tz.utcoffset(None).total_seconds() * 1000),
    }


def module_metadata(
    spec: ModuleSpec, *, sequence: int, detailed: bool, tz: timezone
) -> dict[str, Any]:
    """One element of ``GET /settings/modules`` (``detailed``: the single-module form)."""
    doc: dict[str, Any] = {
        "api_name": spec.api_name,
        "module_name": spec.api_name,
        "singular_label": spec.singular,
        "plural_label": spec.plural,
        "id": spec.id,
        "modified_time": iso(META_EPOCH, tz),
        "modified_by": None,
        "viewable": True,
        "creatable": True,
        "convertable": spec.convertable,
        "editable": True,
        "deletable": True,
        "api_supported": True,
        "scoring_supported": spec.scoring_supported,
        "global_search_supported": spec.records_module,
        "generated_type": "default",
        "sequence_number": sequence,
        "visible": True,
        "visibility": 1,
        "show_as_tab": spec.records_module,
        "presence_sub_menu": spec.api_name in ("Leads", "Contacts", "Accounts", "Deals"),
        "quick_create": spec.records_module,
        "feeds_required": False,
        "triggers_supported": spec.records_module,
        "webform_supported": spec.api_name in ("Leads", "Contacts"),
        "emailTemplate_support": spec.records_module,
        "inventory_template_supported": False,
        "filter_supported": True,
        "kanban_view": False,
        "kanban_view_supported": spec.records_module,
        "isBlueprintSupported": spec.records_module,
        "web_link": None,
        "business_card_field_limit": 5,
        "arguments": [],
        "parent_module": {},
        "status": "visible",
        "profiles": [dict(ADMIN_PROFILE), dict(STANDARD_PROFILE)],
        "$properties": [],
    }
    if detailed:
        display = spec.get_field(spec.display_field)
        doc.update(
            {
                "display_field": {
                    "api_name": spec.display_field,
                    "id": display.id if display else None,
                },
                "per_page": 200,
                "search_layout_fields": [f.api_name for f in spec.fields[:5]],
                "related_lists": related_lists(spec, modern=False),
                "layouts": [{"name": "Standard", "id": spec.layout_id}],
                "business_card_fields": [f.api_name for f in spec.fields[1:4]],
                "custom_view": custom_views(spec)[0],
                "fields": [{"api_name": f.api_name, "id": f.id} for f in spec.fields],
                "territory": None,
                "related_list_properties": {
                    "sort_by": None,
                    "fields": ["Owner", spec.display_field],
                    "sort_order": None,
                },
            }
        )
    return doc


def related_lists(spec: ModuleSpec, *, modern: bool) -> list[dict[str, Any]]:
    """``GET /settings/related_lists?module=``."""
    lists = []
    for n, rel in enumerate(spec.related, start=1):
        target = MODULES.get(rel.module)
        module: Any = rel.module
        if modern:
            module = {"api_name": rel.module, "id": target.id if target else None}
        lists.append(
            {
                "id": rel.id,
                "sequence_number": str(n),
                "display_label": rel.label,
                "api_name": rel.api_name,
                "name": rel.api_name,
                "module": module,
                "action": None,
                "href": f"{spec.api_name}/{{ENTITYID}}/{rel.api_name}",
                "type": "default",
                "connectedmodule": None,
                "linkingmodule": None,
                "visible": True,
            }
        )
    return lists


def custom_views(spec: ModuleSpec) -> list[dict[str, Any]]:
    """``GET /settings/custom_views?module=``: one "All" view."""
    name = f"All {spec.plural}"
    return [
        {
            "id": spec.custom_view_id,
            "name": name,
            "display_value": name,
            "system_name": "ALLVIEWS",
            "default": True,
            "system_defined": True,
            "category": "public_views",
            "favorite": None,
            "offline": True,
            "sort_by": None,
            "sort_order": None,
            "criteria": None,
            "shared_type": None,
            "fields": [{"api_name": f.api_name, "id": f.id} for f in spec.fields[:6]],
        }
    ]


def layout(
    spec: ModuleSpec, *, modern: bool, creator: dict[str, Any], tz: timezone
) -> dict[str, Any]:
    """The module's single "Standard" layout, its fields grouped into sections."""
    main, address, description = [], [], []
    for n, field in enumerate(spec.fields, start=1):
        meta = field_metadata(spec, field, modern=modern, sequence=n)
        name = field.api_name
        if name == "Description":
            description.append(meta)
        elif any(part in name for part in ("Street", "City", "State", "Zip", "Code", "Country")):
            address.append(meta)
        else:
            main.append(meta)

    def section(
        label: str, api_name: str, fields: list[dict[str, Any]], sequence: int
    ) -> dict[str, Any]:
        return {
            "display_label": label,
            "sequence_number": sequence,
            "issubformsection": False,
            "tab_traversal": 1,
            "api_name": api_name,
            "column_count": 2,
            "name": label,
            "generated_type": "default",
            "type": "used",
            "fields": fields,
            "properties": None,
        }

    sections = [section(f"{spec.singular} Information", f"{spec.singular}_Information", main, 1)]
    if address:
        sections.append(section("Address Information", "Address_Information", address, 2))
    if description:
        sections.append(
            section("Description Information", "Description_Information", description, 3)
        )
    who = {"id": creator["id"], "name": creator["name"]}
    return {
        "id": spec.layout_id,
        "name": "Standard",
        "display_label": "Standard",
        "api_name": "Standard",
        "created_time": iso(META_EPOCH - 86400 * 30, tz),
        "modified_time": iso(META_EPOCH, tz),
        "created_by": who,
        "modified_by": who,
        "visible": True,
        "status": 0,
        "source": "crm",
        "generated_type": "default",
        "profiles": [{**ADMIN_PROFILE, "default": True}, {**STANDARD_PROFILE, "default": True}],
        "convert_mapping": {"Contacts": None, "Deals": None, "Accounts": None}
        if spec.convertable
        else {},
        "sections": sections,
    }
