"""Write Django model code for CRM modules from Zoho's field metadata (like ``inspectdb``).

:func:`model_source` is pure (metadata in, code out); :func:`generate_models` fetches the
metadata (``/settings/fields`` and ``/settings/modules/{module}``) and joins the classes.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..client import ZCRMClient
from ..exceptions import ZCRMError
from ..services import Module, Modules

__all__ = ["generate_models", "model_source"]

#: Kept by ZohoSyncedModel itself, never generated.
SKIPPED_API_NAMES = frozenset({"id", "Modified_Time"})
#: Data types with no single-column form (subforms, files, multi-lookups): left out, with a note.
UNSUPPORTED_TYPES = frozenset(
    {
        "subform",
        "multiselectlookup",
        "multiuserlookup",
        "fileupload",
        "imageupload",
        "profileimage",
        "territories",
    }
)
#: Names a model field must not take (Django, Python or ZohoSyncedModel already use them).
RESERVED = frozenset(
    {
        "id",
        "pk",
        "objects",
        "save",
        "delete",
        "clean",
        "check",
        "full_clean",
        "refresh_from_db",
        "validate_unique",
        "from_db",
        "get_deferred_fields",
        "serializable_value",
        "Meta",
        "ZohoMeta",
        "zoho_id",
        "zoho_modified_time",
        "zoho_deleted",
        "synced_at",
        "zoho_dirty",
        "local_modified_at",
        "zoho_push_error",
        "zoho_pushed_at",
        "zoho_pending_fields",
        "zoho_unsaved_changes",
    }
)
ID_LENGTH = 32
NAME_LENGTH = 255
PICKLIST_MIN_LENGTH = 120
#: Zoho's text data types: (model field class, whether it takes the field's ``max_length``).
TEXT_TYPES = {
    "text": ("CharField", True),
    "autonumber": ("CharField", True),
    "phone": ("CharField", True),
    "email": ("EmailField", True),
    "website": ("URLField", True),
    "textarea": ("TextField", False),
    "string": ("TextField", False),
}
#: Zoho data types held in one nullable column: (model field class, converter).
NULLABLE_TYPES = {
    "integer": ("IntegerField", "Integer"),
    "bigint": ("BigIntegerField", "Integer"),
    "long": ("BigIntegerField", "Integer"),
    "double": ("FloatField", "Float"),
    "percent": ("FloatField", "Float"),
    "date": ("DateField", "Date"),
    "datetime": ("DateTimeField", "DateTime"),
    "jsonobject": ("JSONField", "Raw"),
    "jsonarray": ("JSONField", "Raw"),
}
MAX_LINE = 99


@dataclass
class _Field:
    name: str
    code: _Call
    comment: str = ""
    api_name: str = ""


#: Fields that name a record, most telling first: the generated ``__str__`` returns the first one
#: the module has (then the Zoho id).
NAME_FIELDS = (
    "Full_Name",
    "Deal_Name",
    "Account_Name",
    "Subject",
    "Product_Name",
    "Campaign_Name",
    "Name",
    "Last_Name",
)


@dataclass
class _Names:
    used: set[str] = field(default_factory=set)

    def take(self, wanted: str) -> str:
        base = (
            wanted
            if wanted not in RESERVED and not keyword.iskeyword(wanted)
            else f"{wanted}_field"
        )
        name, counter = base, 2
        while name in self.used or name in RESERVED:
            name, counter = f"{base}_{counter}", counter + 1
        self.used.add(name)
        return name


def snake(api_name: str) -> str:
    """``Lead_Status`` -> ``lead_status``; ``Locked__s`` -> ``locked_s``; valid identifier."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", api_name.strip())
    text = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower()
    text = re.sub(r"_+", "_", text)
    if not text:
        text = "field"
    if text[0].isdigit():
        text = "f_" + text
    return text


def class_name(label: str, fallback: str) -> str:
    """``Sales Order`` -> ``SalesOrder`` (an identifier; ``fallback`` when the label has none)."""
    words = re.findall(r"[A-Za-z0-9]+", label or "")
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name or not name[0].isalpha():
        words = re.findall(r"[A-Za-z0-9]+", fallback)
        name = "".join(w[:1].upper() + w[1:] for w in words) or "ZohoRecord"
        if name[0].isdigit():
            name = "Module" + name
    return name


def _literal(value: Any) -> str:
    """A Python literal, strings in double quotes (the style of most Django projects)."""
    text = repr(value)
    if isinstance(value, str) and text.startswith("'") and '"' not in value:
        text = '"' + text[1:-1].replace("\\'", "'") + '"'
    return text


@dataclass
class _Call:
    kind: str
    args: list[str]
    choices: list[tuple[str, str]] = field(default_factory=list)

    def render(self, name: str) -> list[str]:
        """Source lines for ``name = models.Kind(...)`` (wrapped when long or with choices)."""
        one_line = f"    {name} = models.{self.kind}({', '.join(self.args)})"
        if not self.choices and len(one_line) <= MAX_LINE:
            return [one_line]
        lines = [f"    {name} = models.{self.kind}("]
        current = "       "
        for arg in self.args:
            piece = f" {arg},"
            if len(current) + len(piece) > MAX_LINE and current.strip():
                lines.append(current)
                current = "       "
            current += piece
        if current.strip():
            lines.append(current)
        if self.choices:
            lines.append("        choices=[")
            lines += [f"            ({_literal(v)}, {_literal(d)})," for v, d in self.choices]
            lines.append("        ],")
        lines.append("    )")
        return lines


def _call(kind: str, /, *args: Any, **kwargs: Any) -> _Call:
    return _Call(kind, [_literal(a) for a in args] + [f"{k}={v}" for k, v in kwargs.items()])


def _choices(meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    values = []
    for item in meta.get("pick_list_values") or []:
        if not isinstance(item, Mapping):
            continue
        actual = item.get("actual_value", item.get("display_value"))
        if actual in (None, "", "-None-"):
            continue
        values.append((str(actual), str(item.get("display_value") or actual)))
    return values


def _length(meta: Mapping[str, Any], default: int) -> int:
    try:
        value = int(meta.get("length") or 0)
    except (TypeError, ValueError):
        value = 0
    return value if value > 0 else default


def _converter(kind: str, field_name: str, /, **kwargs: Any) -> str:
    parts = [_literal(field_name)] + [
        f"{k}={_literal(v)}" for k, v in kwargs.items() if v not in (None, False)
    ]
    return f"zoho.{kind}({', '.join(parts)})"


def _lookup_module(meta: Mapping[str, Any]) -> str | None:
    lookup = meta.get("lookup")
    if not isinstance(lookup, Mapping):
        return None
    target = lookup.get("module")
    if isinstance(target, Mapping):
        target = target.get("api_name")
    return str(target) if target else None


def _scalar(
    data_type: str, meta: Mapping[str, Any], label: str, name: str, required: bool, read_only: bool
) -> tuple[_Call, str] | None:
    """``(model field code, converter code)`` for a one-column data type, or None."""
    blank = "True" if (not required or read_only) else "False"
    if data_type in TEXT_TYPES:
        field_class, sized = TEXT_TYPES[data_type]
        size = {"max_length": _length(meta, NAME_LENGTH)} if sized else {}
        return (
            _call(field_class, label, **size, blank=blank, default='""'),
            _converter("Text", name, read_only=read_only),
        )
    if data_type in NULLABLE_TYPES:
        field_class, converter = NULLABLE_TYPES[data_type]
        return (
            _call(field_class, label, null="True", blank="True"),
            _converter(converter, name, read_only=read_only),
        )
    if data_type == "picklist":
        choices = _choices(meta)
        longest = max((len(v) for v, _ in choices), default=0)
        length = max(PICKLIST_MIN_LENGTH, longest, min(_length(meta, 0), NAME_LENGTH))
        code = _call("CharField", label, max_length=length, blank=blank, default='""')
        code.choices = choices
        return code, _converter("Picklist", name, read_only=read_only)
    if data_type == "multiselectpicklist":
        return (
            _call("JSONField", label, default="list", blank="True"),
            _converter("MultiSelect", name, read_only=read_only),
        )
    if data_type in ("currency", "decimal"):
        currency = meta.get("currency") if isinstance(meta.get("currency"), Mapping) else {}
        places = currency.get("precision") if currency else None
        if places is None:
            places = meta.get("decimal_place")
        try:
            places = int(places if places is not None else 2)
        except (TypeError, ValueError):
            places = 2
        digits = min(_length(meta, 16) + places, 38)
        return (
            _call(
                "DecimalField",
                label,
                max_digits=digits,
                decimal_places=places,
                null="True",
                blank="True",
            ),
            _converter("Decimal", name, read_only=read_only),
        )
    if data_type == "boolean":
        return (
            _call("BooleanField", label, default="False"),
            _converter("Boolean", name, read_only=read_only),
        )
    return None


def _formula_type(meta: Mapping[str, Any]) -> str:
    formula = meta.get("formula") if isinstance(meta.get("formula"), Mapping) else {}
    kind = str((formula or {}).get("return_type") or meta.get("json_type") or "string").lower()
    return {
        "double": "double",
        "currency": "currency",
        "decimal": "decimal",
        "boolean": "boolean",
        "date": "date",
        "datetime": "datetime",
        "integer": "bigint",
        "long": "bigint",
    }.get(kind, "textarea")


def _fields_of(fields: Sequence[Mapping[str, Any]]) -> tuple[list[_Field], list[str], list[str]]:
    """Model fields, ZohoMeta.fields entries and notes for skipped fields."""
    names = _Names()
    model_fields: list[_Field] = []
    entries: list[str] = []
    notes: list[str] = []
    ordered = sorted(enumerate(fields), key=lambda p: (_sequence(p[1]), p[0]))
    for _, meta in ordered:
        api_name = str(meta.get("api_name") or "")
        if not api_name or api_name in SKIPPED_API_NAMES:
            continue
        data_type = str(meta.get("data_type") or "").lower()
        label = str(meta.get("field_label") or meta.get("display_label") or api_name)
        required = bool(meta.get("required") or meta.get("system_mandatory"))
        read_only = bool(meta.get("read_only") or meta.get("field_read_only"))
        if data_type in UNSUPPORTED_TYPES:
            notes.append(
                f"{api_name} ({data_type}) has no single-column form; sync it through "
                "CRMRecord or a model of your own."
            )
            continue
        if data_type in ("lookup", "ownerlookup", "userlookup", "layout"):
            base = re.sub(r"_(name|id)$", "", snake(api_name)) or snake(api_name)
            id_name = names.take(f"{base}_id")
            name_name = names.take(f"{base}_name")
            model_fields.append(
                _Field(
                    id_name,
                    _call(
                        "CharField",
                        f"{label} (id)",
                        max_length=ID_LENGTH,
                        blank="True",
                        default='""',
                        db_index="True",
                    ),
                )
            )
            model_fields.append(
                _Field(
                    name_name,
                    _call("CharField", label, max_length=NAME_LENGTH, blank="True", default='""'),
                )
            )
            if data_type == "lookup":
                entries.append(
                    f"{_literal(api_name)}: "
                    + _converter(
                        "Lookup",
                        id_name,
                        name=name_name,
                        module=_lookup_module(meta),
                        read_only=read_only,
                    )
                )
            else:
                entries.append(
                    f"{_literal(api_name)}: "
                    + _converter(
                        "Owner",
                        id_name,
                        name=name_name,
                        read_only=read_only or data_type == "layout",
                    )
                )
            continue
        if data_type == "formula":
            data_type, read_only = _formula_type(meta), True
        name = names.take(snake(api_name))
        rendered = _scalar(data_type, meta, label, name, required, read_only)
        if rendered is None:
            json_type = str(meta.get("json_type") or "string").lower()
            fallback = {
                "string": "textarea",
                "integer": "bigint",
                "double": "double",
                "boolean": "boolean",
                "jsonobject": "jsonobject",
                "jsonarray": "jsonarray",
            }.get(json_type)
            rendered = _scalar(fallback, meta, label, name, False, True) if fallback else None
            if rendered is None:
                names.used.discard(name)
                notes.append(f"{api_name} (data type {data_type!r}) is not supported.")
                continue
            model_fields.append(
                _Field(
                    name,
                    rendered[0],
                    f"Zoho data type {data_type!r}: stored as read-only",
                    api_name,
                )
            )
        else:
            model_fields.append(_Field(name, rendered[0], api_name=api_name))
        entries.append(f"{_literal(api_name)}: {rendered[1]}")
    return model_fields, entries, notes


def _sequence(meta: Mapping[str, Any]) -> int:
    try:
        return int(meta.get("sequence_number") or 0)
    except (TypeError, ValueError):
        return 0


def model_source(
    module: str,
    fields: Sequence[Mapping[str, Any]],
    *,
    name: str | None = None,
    singular: str | None = None,
    plural: str | None = None,
) -> str:
    """The code of one model class for ``module`` from its ``/settings/fields`` metadata."""
    cls = name or class_name(singular or "", module[:-1] if module.endswith("s") else module)
    model_fields, entries, notes = _fields_of(fields)
    unique = [
        str(m.get("api_name"))
        for m in fields
        if isinstance(m.get("unique"), Mapping) and m.get("unique") and m.get("api_name")
    ]
    lines = [
        f"class {cls}(ZohoSyncedModel):",
        f'    """Zoho CRM module {module} (written by zcrm_inspect)."""',
        "",
    ]
    for note in notes:
        lines.append(f"    # Left out: {note}")
    for item in model_fields:
        if item.comment:
            lines.append(f"    # {item.comment}")
        lines += item.code.render(item.name)
    lines += [
        "",
        "    class ZohoMeta:",
        f"        module = {_literal(module)}",
        "        fields = {",
    ]
    lines += [f"            {entry}," for entry in entries]
    lines.append("        }")
    if unique:
        lines.append(f"        duplicate_check_fields = [{', '.join(_literal(u) for u in unique)}]")
    lines += [
        "",
        "    class Meta:",
        f"        verbose_name = {_literal(singular or cls)}",
        f"        verbose_name_plural = {_literal(plural or module)}",
        "",
        *_str_method(model_fields),
    ]
    return "\n".join(lines)


def _str_method(model_fields: Sequence[_Field]) -> list[str]:
    """``__str__`` returning the record's name field (see NAME_FIELDS), else its Zoho id."""
    by_api_name = {f.api_name: f.name for f in model_fields if f.api_name}
    name = next((by_api_name[n] for n in NAME_FIELDS if n in by_api_name), None)
    shown = f"self.{name} or self.zoho_id" if name else "self.zoho_id"
    return [
        "    def __str__(self) -> str:",
        f"        return {shown} or super().__str__()",
        "",
    ]


def header(modules: Sequence[str], classes: Sequence[str]) -> str:
    """The comment and imports that start a generated models module."""
    mapping = ", ".join(f'"{m}": "yourapp.{c}"' for m, c in zip(modules, classes, strict=False))
    return "\n".join(
        [
            f"# Django models for the Zoho CRM modules {', '.join(modules)}, written by",
            "# `manage.py zcrm_inspect` from Zoho's field metadata. Review them (rename or drop",
            "# fields), put them in an app's models.py, set",
            f'#     ZCRM["SYNC_MODELS"] = {{{mapping}}}',
            "# and run makemigrations, then zcrm_sync.",
            "from django.db import models",
            "",
            "from django_zcrm.sync import ZohoSyncedModel",
            "from django_zcrm.sync import mapping as zoho",
            "",
        ]
    )


def generate_models(
    modules: Sequence[str], *, user: str | None = None, client: ZCRMClient | None = None
) -> str:
    """Model code for ``modules`` from their metadata in Zoho (2 API calls per module)."""
    blocks: list[str] = []
    classes: list[str] = []
    used: set[str] = set()
    meta_service = Modules(user, client)
    for module in modules:
        fields = Module(module, user, client=client).fields()
        singular = plural = None
        try:
            info = meta_service.get(module)
            singular, plural = info.get("singular_label"), info.get("plural_label")
        except ZCRMError:
            pass  # labels are cosmetic: fall back to the API name
        cls = class_name(singular or "", module[:-1] if module.endswith("s") else module)
        while cls in used:
            cls += "Record"
        used.add(cls)
        classes.append(cls)
        blocks.append(model_source(module, fields, name=cls, singular=singular, plural=plural))
    return header(modules, classes) + "\n\n" + "\n\n".join(blocks)
