"""Field mapping between Zoho records and a project's typed models.

A typed model subclasses :class:`~django_zcrm.sync.ZohoSyncedModel` and declares, in an inner
``ZohoMeta``, which Zoho field fills which model field::

    from django_zcrm.sync import ZohoSyncedModel, mapping as zoho

    class Deal(ZohoSyncedModel):
        name = models.CharField(max_length=120)
        stage = models.CharField(max_length=120, blank=True, default="")
        closing_date = models.DateField(null=True, blank=True)
        amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
        account_id = models.CharField(max_length=32, blank=True, default="")
        account_name = models.CharField(max_length=255, blank=True, default="")

        class ZohoMeta:
            module = "Deals"
            fields = {
                "Deal_Name": "name",                      # converter picked from the model field
                "Stage": zoho.Picklist("stage"),
                "Closing_Date": zoho.Date("closing_date"),
                "Amount": zoho.Decimal("amount"),
                "Account_Name": zoho.Lookup("account_id", name="account_name"),
                "Created_Time": zoho.DateTime("created_time", read_only=True),
            }
            duplicate_check_fields = ["Deal_Name"]        # for zcrm_push of new rows (optional)

Each converter turns Zoho's JSON value into model values (``from_zoho``) and back (``to_zoho``,
used by the push). Read-only fields (``read_only=True``) are synced but never pushed.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, ClassVar

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from ..exceptions import ZCRMConfigurationError
from ..services import format_datetime
from .bookkeeping import SYNC_BOOKKEEPING_FIELDS
from .timeutil import aware, parse_zoho_datetime, to_db

__all__ = [
    "Boolean",
    "Converter",
    "Date",
    "DateTime",
    "Decimal",
    "Float",
    "Integer",
    "Lookup",
    "MappingError",
    "ModelMapping",
    "MultiSelect",
    "Owner",
    "Picklist",
    "Raw",
    "Text",
    "get_mapping",
]


class MappingError(ValueError):
    """A Zoho value could not be converted for the model (names the field and the reason)."""

    def __init__(self, api_name: str, message: str) -> None:
        super().__init__(f"{api_name}: {message}")
        self.api_name = api_name


_UNSET: Any = object()


class Converter:
    """Base converter: one Zoho field <-> one model field (subclasses may fill several)."""

    #: The types :meth:`convert` returns for a non-empty value, declared by the class that
    #: defines ``convert`` (None: not declared). See :meth:`output_types`.
    yields: ClassVar[frozenset[type] | None] = None

    def __init__(self, field: str, *, read_only: bool = False) -> None:
        self.field = field
        self.read_only = read_only
        self.api_name = ""
        self.model_field: models.Field | None = None
        self.single = False

    def __repr__(self) -> str:
        extra = ", read_only=True" if self.read_only else ""
        return f"{type(self).__name__}({self.field!r}{extra})"

    # -- binding --------------------------------------------------------------------------------

    def bind(self, model: type[models.Model], api_name: str) -> Converter:
        """Check the model fields exist; return self (a converter belongs to one model)."""
        self.api_name = api_name
        self.model_field = _model_field(model, self.field, api_name)
        #: Whether :meth:`convert` alone gives this converter's one model value.
        self.single = type(self).from_zoho is Converter.from_zoho
        self._empty = _UNSET
        return self

    @property
    def model_fields(self) -> tuple[str, ...]:
        """The model fields this converter writes."""
        return (self.field,)

    @property
    def nullable(self) -> bool:
        """Whether the main model field accepts NULL."""
        return bool(self.model_field is not None and self.model_field.null)

    # -- conversion -----------------------------------------------------------------------------

    def from_zoho(self, value: Any) -> dict[str, Any]:
        """Model values for Zoho's ``value`` (None: the field was empty in Zoho)."""
        return {self.field: self.convert(value)}

    def convert(self, value: Any) -> Any:
        """Zoho's value -> the main model field's value."""
        return value

    def to_zoho(self, instance: models.Model) -> Any:
        """The value to send to Zoho for ``instance``."""
        return getattr(instance, self.field)

    def output_types(self) -> frozenset[type] | None:
        """Every type :meth:`convert` can return, empty value included; None when not known.

        Known only when the class that defines ``convert`` also declares ``yields``, so a
        subclass overriding ``convert`` without declaring it is never trusted (the write path
        skips re-checking the values of trusted columns: ``docs/design/sync.md``).
        """
        if not self.single:
            return None
        for klass in type(self).__mro__:
            if "convert" in vars(klass):
                declared = vars(klass).get("yields")
                break
        else:
            return None
        if declared is None:
            return None
        return frozenset(declared) | {type(self.empty())}

    def empty(self) -> Any:
        """What an empty Zoho value becomes: NULL where allowed, else the field's empty value."""
        cached = getattr(self, "_empty", _UNSET)
        if cached is not _UNSET:
            return cached
        value = self._empty_value()
        if value is None or type(value) in (str, bool, int):
            self._empty = value  # immutable: one value serves every row
        return value

    def _empty_value(self) -> Any:
        if self.model_field is None or self.model_field.null:
            return None
        if self.model_field.has_default():
            return self.model_field.get_default()
        if isinstance(self.model_field, models.BooleanField):
            return False
        if isinstance(self.model_field, (models.CharField, models.TextField)):
            return ""
        return None


class Raw(Converter):
    """The JSON value as Zoho sent it (for a ``JSONField``)."""

    def convert(self, value: Any) -> Any:
        return value if value is not None else self.empty()


class Text(Converter):
    """Text, e-mail, phone, website, auto-number: a string (lookups give their id)."""

    yields = frozenset({str})

    def convert(self, value: Any) -> Any:
        if type(value) is str and value:
            return value
        if value is None or value == "" or value == []:
            return self.empty()
        if isinstance(value, Mapping):
            value = value.get("id")
            return self.empty() if value is None else str(value)
        if isinstance(value, list):
            return ";".join(str(v) for v in value)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def to_zoho(self, instance: models.Model) -> Any:
        value = getattr(instance, self.field)
        return None if value in (None, "") else value


class Picklist(Text):
    """A picklist value (a string; ``-None-`` and null become empty)."""

    yields = frozenset({str})

    def convert(self, value: Any) -> Any:
        if type(value) is str and value and value != "-None-":
            return value
        if value == "-None-":
            return self.empty()
        return super().convert(value)


class MultiSelect(Converter):
    """A multi-select picklist: a list in a ``JSONField``, or ``a;b`` in a text field."""

    def _is_text(self) -> bool:
        return isinstance(self.model_field, (models.CharField, models.TextField))

    def convert(self, value: Any) -> Any:
        if value is None or value == "":
            items: list[str] = []
        elif isinstance(value, str):
            items = [v for v in value.split(";") if v]
        elif isinstance(value, list):
            items = [str(v) for v in value]
        else:
            raise MappingError(self.api_name, f"expected a list, got {type(value).__name__}")
        if self._is_text():
            return ";".join(items)
        return items

    def to_zoho(self, instance: models.Model) -> Any:
        value = getattr(instance, self.field)
        if value in (None, ""):
            return []
        if isinstance(value, str):
            return [v for v in value.split(";") if v]
        return list(value)


class _Number(Converter):
    """A Zoho number: empty -> the model field's empty value, booleans refused."""

    #: Turns the JSON value into the model's number type.
    cast: Any = float
    #: How an error names what was expected.
    expected = "a number"

    def convert(self, value: Any) -> Any:
        if value is None or value == "":
            return self.empty()
        if isinstance(value, bool):
            raise MappingError(self.api_name, "expected a number, got a boolean")
        try:
            return self.cast(value)
        except (TypeError, ValueError, decimal.InvalidOperation):
            raise MappingError(self.api_name, f"not {self.expected}: {value!r}") from None


class Integer(_Number):
    """Integer and big integer."""

    cast = int
    expected = "an integer"


class Float(_Number):
    """Double and percent as floats."""

    yields = frozenset({float})

    def convert(self, value: Any) -> Any:
        number = super().convert(value)
        if isinstance(number, float) and not math.isfinite(number):
            raise MappingError(self.api_name, f"not a finite number: {value!r}")
        return number


class Decimal(_Number):
    """Currency (and exact decimals): JSON numbers as ``Decimal`` with the field's places."""

    @staticmethod
    def cast(value: Any) -> decimal.Decimal:
        # str() first: Decimal(0.1) would carry the float's binary noise.
        return decimal.Decimal(str(value))

    def convert(self, value: Any) -> Any:
        number = super().convert(value)
        if not isinstance(number, decimal.Decimal):
            return number  # the field's empty value
        if not number.is_finite():
            raise MappingError(self.api_name, f"not a finite number: {value!r}")
        places = getattr(self.model_field, "decimal_places", None)
        digits = getattr(self.model_field, "max_digits", None)
        if places is not None:
            number = number.quantize(
                decimal.Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_UP
            )
        if digits is not None and places is not None and number.adjusted() >= digits - places:
            # Databases differ here (SQLite stores it, the others refuse): refuse it everywhere.
            raise MappingError(
                self.api_name, f"{value!r} has more than {digits - places} digits before the point"
            )
        return number

    def to_zoho(self, instance: models.Model) -> Any:
        value = getattr(instance, self.field)
        if value is None:
            return None
        number = decimal.Decimal(value)
        # Zoho wants JSON numbers; integral values go as ints so nothing is rounded twice.
        return int(number) if number == number.to_integral_value() else float(number)


class Boolean(Converter):
    """A checkbox."""

    yields = frozenset({bool})

    def convert(self, value: Any) -> Any:
        if value is None:
            return self.empty()
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes")
        return bool(value)


class Date(Converter):
    """A date (``yyyy-MM-dd``)."""

    yields = frozenset({date})

    def convert(self, value: Any) -> Any:
        if value is None or value == "":
            return self.empty()
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        try:
            return date.fromisoformat(str(value)[:10])
        except ValueError:
            raise MappingError(self.api_name, f"not a date: {value!r}") from None

    def to_zoho(self, instance: models.Model) -> Any:
        value = getattr(instance, self.field)
        return value.isoformat() if value is not None else None


class DateTime(Converter):
    """A datetime (ISO 8601 with offset) as an aware datetime."""

    yields = frozenset({datetime})

    def convert(self, value: Any) -> Any:
        if value is None or value == "":
            return self.empty()
        parsed = parse_zoho_datetime(value)
        if parsed is None:
            raise MappingError(self.api_name, f"not a datetime: {value!r}")
        return to_db(parsed)

    def to_zoho(self, instance: models.Model) -> Any:
        value = getattr(instance, self.field)
        return format_datetime(aware(value)) if value is not None else None


class Lookup(Converter):
    """A lookup ``{"name", "id"}``: its id in ``field``, optionally its name in ``name``.

    ``module`` (the module it points at) is documentation for readers and for ``zcrm_inspect``.
    """

    def __init__(
        self,
        field: str,
        *,
        name: str | None = None,
        module: str | None = None,
        read_only: bool = False,
    ) -> None:
        super().__init__(field, read_only=read_only)
        self.name = name
        self.module = module
        self.name_field: models.Field | None = None

    def __repr__(self) -> str:
        parts = [repr(self.field)]
        if self.name:
            parts.append(f"name={self.name!r}")
        if self.module:
            parts.append(f"module={self.module!r}")
        if self.read_only:
            parts.append("read_only=True")
        return f"{type(self).__name__}({', '.join(parts)})"

    def bind(self, model: type[models.Model], api_name: str) -> Converter:
        super().bind(model, api_name)
        if self.name:
            self.name_field = _model_field(model, self.name, api_name)
        return self

    @property
    def model_fields(self) -> tuple[str, ...]:
        return (self.field, self.name) if self.name else (self.field,)

    def _empty_of(self, field: models.Field | None) -> Any:
        if field is None or field.null:
            return None
        return field.get_default() if field.has_default() else ""

    def from_zoho(self, value: Any) -> dict[str, Any]:
        if value is None or value == "":
            ref_id, ref_name = None, None
        elif isinstance(value, Mapping):
            ref_id, ref_name = value.get("id"), value.get("name")
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            ref_id, ref_name = value, None
        else:
            raise MappingError(
                self.api_name, f"expected a lookup object, got {type(value).__name__}"
            )
        result = {
            self.field: str(ref_id) if ref_id is not None else self._empty_of(self.model_field)
        }
        if self.name:
            result[self.name] = (
                str(ref_name) if ref_name is not None else self._empty_of(self.name_field)
            )
        return result

    def to_zoho(self, instance: models.Model) -> Any:
        value = getattr(instance, self.field)
        return {"id": str(value)} if value not in (None, "") else None


class Owner(Lookup):
    """A user lookup (``Owner``, ``Created_By``...): id, optionally name and e-mail."""

    def __init__(
        self,
        field: str,
        *,
        name: str | None = None,
        email: str | None = None,
        read_only: bool = False,
    ) -> None:
        super().__init__(field, name=name, read_only=read_only)
        self.email = email
        self.email_field: models.Field | None = None

    def __repr__(self) -> str:
        text = super().__repr__()
        if self.email:
            text = text[:-1] + f", email={self.email!r})"
        return text

    def bind(self, model: type[models.Model], api_name: str) -> Converter:
        super().bind(model, api_name)
        if self.email:
            self.email_field = _model_field(model, self.email, api_name)
        return self

    @property
    def model_fields(self) -> tuple[str, ...]:
        return super().model_fields + ((self.email,) if self.email else ())

    def from_zoho(self, value: Any) -> dict[str, Any]:
        result = super().from_zoho(value)
        if self.email:
            email = value.get("email") if isinstance(value, Mapping) else None
            result[self.email] = str(email) if email else self._empty_of(self.email_field)
        return result

    def to_zoho(self, instance: models.Model) -> Any:
        value = getattr(instance, self.field)
        # An owner cannot be cleared in Zoho; an empty one is simply not sent (see ModelMapping).
        return {"id": str(value)} if value not in (None, "") else None


def auto_converter(field: models.Field, name: str) -> Converter:
    """The converter a plain ``"api_name": "model_field"`` entry gets, from the field's type."""
    if isinstance(field, models.JSONField):
        return Raw(name)
    if isinstance(field, models.BooleanField):
        return Boolean(name)
    if isinstance(field, models.DecimalField):
        return Decimal(name)
    if isinstance(field, models.FloatField):
        return Float(name)
    if isinstance(field, (models.IntegerField, models.BigIntegerField, models.SmallIntegerField)):
        return Integer(name)
    if isinstance(field, models.DateTimeField):
        return DateTime(name)
    if isinstance(field, models.DateField):
        return Date(name)
    return Text(name)


def _model_field(model: type[models.Model], name: str, api_name: str) -> models.Field:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        raise ZCRMConfigurationError(
            f"{model._meta.label}.ZohoMeta.fields maps {api_name!r} to {name!r}, which is not a "
            f"field of {model.__name__}. Add the field or fix the mapping."
        ) from None
    if not isinstance(field, models.Field) or not field.concrete or field.many_to_many:
        raise ZCRMConfigurationError(
            f"{model._meta.label}.ZohoMeta.fields maps {api_name!r} to {name!r}, which is not a "
            "plain column (many-to-many and reverse relations cannot hold a Zoho value)."
        )
    return field


class ModelMapping:
    """The resolved ``ZohoMeta`` of one typed model."""

    def __init__(self, model: type[models.Model]) -> None:
        meta = getattr(model, "ZohoMeta", None)
        label = model._meta.label
        if meta is None or not isinstance(getattr(meta, "fields", None), Mapping):
            raise ZCRMConfigurationError(
                f'{label} has no ZohoMeta.fields: declare `class ZohoMeta: module = "..."; '
                'fields = {"Zoho_Api_Name": "model_field", ...}` (zcrm_inspect writes one).'
            )
        self.model = model
        self.module: str | None = getattr(meta, "module", None)
        self.duplicate_check_fields: list[str] | None = (
            list(meta.duplicate_check_fields)
            if getattr(meta, "duplicate_check_fields", None)
            else None
        )
        self.converters: dict[str, Converter] = {}
        seen: dict[str, str] = {}
        for api_name, entry in meta.fields.items():
            if api_name in ("id", "Modified_Time"):
                raise ZCRMConfigurationError(
                    f"{label}.ZohoMeta.fields maps {api_name!r}: the record id and Modified_Time "
                    "are kept by ZohoSyncedModel itself (zoho_id, zoho_modified_time); remove it."
                )
            if isinstance(entry, str):
                converter = auto_converter(_model_field(model, entry, api_name), entry)
            elif isinstance(entry, Converter):
                # A fresh copy per model: the same declared object may be shared by subclasses.
                converter = _copy(entry)
            else:
                raise ZCRMConfigurationError(
                    f"{label}.ZohoMeta.fields[{api_name!r}] must be a field name or a converter "
                    f"from django_zcrm.sync.mapping, not {type(entry).__name__}."
                )
            converter.bind(model, api_name)
            for name in converter.model_fields:
                if name in SYNC_BOOKKEEPING_FIELDS:
                    raise ZCRMConfigurationError(
                        f"{label}.ZohoMeta.fields maps {api_name!r} to {name!r}, a bookkeeping "
                        "field of ZohoSyncedModel; map it to a field of your own."
                    )
                if name in seen:
                    raise ZCRMConfigurationError(
                        f"{label}.ZohoMeta.fields maps both {seen[name]!r} and {api_name!r} to "
                        f"{name!r}; each model field can hold one Zoho field."
                    )
                seen[name] = api_name
            self.converters[api_name] = converter
        self.model_fields: list[str] = list(seen)
        self.writable_model_fields: list[str] = [
            name for c in self.converters.values() if not c.read_only for name in c.model_fields[:1]
        ]
        #: Main model field -> Zoho API name, for sending only the fields changed locally.
        self.api_name_of: dict[str, str] = {
            c.model_fields[0]: api for api, c in self.converters.items()
        }

    def __repr__(self) -> str:
        return f"<ModelMapping {self.model._meta.label} <- {self.module or '?'}>"

    @property
    def zoho_fields(self) -> list[str]:
        """The Zoho API names to ask for when listing (mapped fields plus Modified_Time)."""
        return [*self.converters, "Modified_Time"]

    def output_types(self) -> dict[str, frozenset[type]]:
        """Model field -> every type :meth:`row_values` can give it, where the converter says."""
        found: dict[str, frozenset[type]] = {}
        for converter in self.converters.values():
            types = converter.output_types()
            if types is not None:
                found[converter.field] = types
        return found

    def values_from_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Model field values for one Zoho record; :class:`MappingError` names a bad field."""
        values: dict[str, Any] = {}
        for api_name, converter in self.converters.items():
            try:
                values.update(converter.from_zoho(record.get(api_name)))
            except MappingError:
                raise
            except (TypeError, ValueError, ArithmeticError) as exc:
                raise MappingError(api_name, str(exc)) from exc
        return values

    def row_values(self, record: Mapping[str, Any]) -> list[Any]:
        """Values of ``model_fields``, in that order, for one Zoho record (no model instance).

        The same values as :meth:`values_from_record`; one-column converters skip the dict.
        """
        out: list[Any] = []
        append = out.append
        get = record.get
        api_name = ""
        try:
            for api_name, converter in self.converters.items():
                if converter.single:
                    append(converter.convert(get(api_name)))
                else:
                    values = converter.from_zoho(get(api_name))
                    out.extend(values[name] for name in converter.model_fields)
        except MappingError:
            raise
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise MappingError(api_name, str(exc)) from exc
        return out

    def record_from_instance(
        self, instance: models.Model, fields: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """The Zoho record to upsert for ``instance`` (writable fields; ``id`` when known).

        ``fields`` limits it to these model fields (the ones changed locally); None sends all.
        """
        wanted = (
            {self.api_name_of[f] for f in fields if f in self.api_name_of}
            if fields is not None
            else None
        )
        record: dict[str, Any] = {}
        zoho_id = getattr(instance, "zoho_id", None)
        if zoho_id:
            record["id"] = str(zoho_id)
        for api_name, converter in self.converters.items():
            if converter.read_only or (wanted is not None and api_name not in wanted):
                continue
            value = converter.to_zoho(instance)
            if value is None and isinstance(converter, Owner):
                continue
            record[api_name] = value
        return record


def _copy(converter: Converter) -> Converter:
    clone = object.__new__(type(converter))
    clone.__dict__.update(converter.__dict__)
    return clone


_cache: dict[type[models.Model], ModelMapping] = {}


def get_mapping(model: type[models.Model], *, required: bool = True) -> ModelMapping | None:
    """The model's resolved mapping (cached); None when it has none and ``required`` is False."""
    found = _cache.get(model)
    if found is not None:
        return found
    if not required and not isinstance(
        getattr(getattr(model, "ZohoMeta", None), "fields", None), Mapping
    ):
        return None
    found = ModelMapping(model)
    _cache[model] = found
    return found
