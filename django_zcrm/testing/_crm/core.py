"""The org behind the fake CRM: state, users, ids, value coercion, record lifecycle, change hook.

:class:`CRMCore` is the base of every part of :class:`~django_zcrm.testing.crm.FakeCRM`. Every
stored record change, whether an API handler or the test control API made it, goes through
:meth:`CRMCore._insert`, :meth:`CRMCore._replace` or :meth:`CRMCore._delete_record`, which
report it to ``CRMCore.change_listeners`` (see the package docstring).
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime, timezone
from typing import TYPE_CHECKING, Any

from .._server.faults import FaultQueue
from .faults import FaultPlan
from .meta import org_document
from .options import CRMOptions
from .schema import MODULES, FieldProblem, FieldSpec, ModuleSpec, coerce
from .store import ModuleStore
from .util import iso, parse_datetime, parse_offset

if TYPE_CHECKING:
    from ..server import FakeZoho

_DEFAULT_FAKE_USER_EMAIL = "admin@example.com"
_FIRST_RECORD_ID = 4150868000000400001
_FIRST_USER_ID = 4150868000000031001


#: Where a record change came from: an HTTP call of the CRM API, or the Python control API of tests.
SOURCE_API = "api"
SOURCE_CONTROL = "control"


@dataclass(frozen=True)
class RecordChange:
    """One stored record inserted, updated or deleted (reported to ``change_listeners``)."""

    module: str
    record_id: str
    #: "insert", "update" or "delete".
    operation: str
    #: SOURCE_API or SOURCE_CONTROL.
    source: str


@dataclass
class PageToken:
    """What a ``page_token`` stands for: the list call it was issued for and where it continues."""

    binding: tuple[Any, ...]
    offset: int
    expires_at: float


class CRMCore:
    """State of the fake org and the record lifecycle shared by the control API and the handlers."""

    def __init__(self, fake: FakeZoho, **options: Any) -> None:
        known = {f.name for f in dataclass_fields(CRMOptions)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown FakeCRM option(s) {unknown}; known options: {sorted(known)}")
        self.fake = fake
        self.options = CRMOptions(**options)
        self._lock = threading.RLock()
        self.stores: dict[str, ModuleStore] = {
            name: ModuleStore(spec) for name, spec in MODULES.items()
        }
        self.module_names: list[str] = list(MODULES)
        self._ids = itertools.count(_FIRST_RECORD_ID)
        self._last_id = _FIRST_RECORD_ID - 1
        self._seed_seq = itertools.count(1)
        self._attachments: dict[str, dict[str, Any]] = {}
        self._blobs: dict[str, bytes] = {}
        self._attachment_parent: dict[str, tuple[str, str]] = {}
        self._tags: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in MODULES}
        self._page_tokens: dict[str, PageToken] = {}
        self._faults: FaultQueue[FaultPlan] = FaultQueue()
        self._user_ids: dict[str, str] = {}
        self._next_user_id = _FIRST_USER_ID
        #: Called (under the CRM lock) with a RecordChange after each stored change; empty by default.
        self.change_listeners: list[Callable[[RecordChange], None]] = []
        admin = self.default_user()
        self.org: dict[str, Any] = org_document(
            org_id="4150868000000016001",
            zgid="651234567",
            primary_email=admin["email"],
            primary_zuid=self._zuid_of(admin["email"]),
            tz=self.tz,
            time_zone=self.options.time_zone,
        )

    def __repr__(self) -> str:
        counts = ", ".join(
            f"{name}={len(store.rows)}" for name, store in self.stores.items() if store.rows
        )
        return f"<FakeCRM {counts or 'empty'}>"

    @property
    def tz(self) -> timezone:
        """The org's fixed UTC offset."""
        return parse_offset(self.options.utc_offset)

    def now(self) -> int:
        """The fake clock, in whole seconds (Zoho datetimes have no fractions)."""
        return int(self.fake.clock.now() // 1)

    def default_user(self) -> dict[str, Any]:
        """``{"name","id","email"}`` of the org's primary user (FAKE_USER_EMAIL when it exists)."""
        users = self._account_users()
        email = _fake_user_email()
        if email not in users and users:
            email = next(iter(users))
        return self._user_ref(email)

    def user_id(self, email: str) -> str:
        """The CRM user id of the Accounts user ``email`` (stable for this fake)."""
        with self._lock:
            return self._crm_user_id(email)

    # ==============================================================================================
    # Users, ids, values
    # ==============================================================================================

    def _account_users(self) -> dict[str, Any]:
        accounts = getattr(self.fake, "accounts", None)
        users = getattr(accounts, "users", None)
        return dict(users) if users else {}

    def _crm_user_id(self, email: str) -> str:
        key = email.lower()
        found = self._user_ids.get(key)
        if found is None:
            # Assign ids in the Accounts' user order first, so they do not depend on call order.
            for other in self._account_users():
                if other.lower() not in self._user_ids:
                    self._user_ids[other.lower()] = str(self._next_user_id)
                    self._next_user_id += 1
            if key not in self._user_ids:
                self._user_ids[key] = str(self._next_user_id)
                self._next_user_id += 1
            found = self._user_ids[key]
        return found

    def _zuid_of(self, email: str) -> str | None:
        user = self._account_users().get(email)
        zuid = getattr(user, "zuid", None)
        return str(zuid) if zuid is not None else None

    def _user_ref(self, email: str) -> dict[str, Any]:
        user = self._account_users().get(email)
        first = getattr(user, "first_name", "") or ""
        last = getattr(user, "last_name", "") or ""
        name = " ".join(p for p in (first, last) if p) or email.split("@")[0]
        with self._lock:
            return {"name": name, "id": self._crm_user_id(email), "email": email}

    def _user_by_id(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            for email in self._account_users():
                if self._crm_user_id(email) == user_id:
                    return self._user_ref(email)
        return None

    @staticmethod
    def _short_user(user: dict[str, Any]) -> dict[str, Any]:
        return {"name": user["name"], "id": user["id"]}

    def _new_id(self) -> str:
        with self._lock:
            value = next(self._ids)
            while value <= self._last_id:
                value = next(self._ids)
            self._last_id = value
            return str(value)

    def _reserve_id(self, record_id: str) -> None:
        # Explicit ids from add_records push the generator past them: ids stay unique and increasing.
        value = int(record_id)
        if value > self._last_id:
            self._last_id = value

    def _spec(self, module: str) -> ModuleSpec:
        spec = MODULES.get(module)
        if spec is None:
            raise ValueError(f"unknown module {module!r}; the fake CRM has {', '.join(MODULES)}")
        return spec

    @staticmethod
    def _id_list(ids: str | int | Iterable[str | int]) -> list[str]:
        if isinstance(ids, (str, int)):
            return [str(ids)]
        return [str(i) for i in ids]

    def _epoch(self, value: Any) -> int:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return int(value.timestamp() // 1)
        if isinstance(value, (int, float)):
            return int(value)
        if isinstance(value, str):
            return int(parse_datetime(value) // 1)
        raise ValueError(f"expected an aware datetime or ISO string, got {value!r}")

    def _pop_time(self, values: dict[str, Any], name: str, default: int) -> int:
        raw = values.pop(name, None)
        return default if raw is None else self._epoch(raw)

    def _lookup_ref(self, module: str, record_id: str) -> dict[str, Any] | None:
        store = self.stores.get(module)
        if store is None:
            return None
        record = store.rows.get(record_id)
        if record is None:
            return None
        return {"name": self._display_name(store.spec, record), "id": record_id}

    @staticmethod
    def _display_name(spec: ModuleSpec, record: dict[str, Any]) -> str | None:
        value = record.get(spec.display_field)
        return value if isinstance(value, str) else None

    def _coerce(self, spec: FieldSpec, value: Any) -> Any:
        return coerce(
            spec, value, tz=self.tz, resolve_lookup=self._lookup_ref, resolve_user=self._user_by_id
        )

    def _coerce_for_setup(
        self, spec: ModuleSpec, raw: dict[str, Any], index: int, existing_id: str | None
    ) -> dict[str, Any]:
        """Validate test-supplied values like an API write, raising ValueError instead of answering."""
        values: dict[str, Any] = {}
        store = self.stores[spec.api_name]
        for name, value in raw.items():
            field_spec = spec.get_field(name)
            if field_spec is None:
                raise ValueError(f"record {index}: {spec.api_name} has no field {name!r}")
            if field_spec.read_only and name not in ("Last_Activity_Time", "Closed_Time"):
                if name in ("Created_By", "Modified_By"):
                    values[name] = self._short_user(self._coerce(field_spec, value))
                continue
            try:
                values[name] = (
                    self._coerce(field_spec, value) if not field_spec.read_only else value
                )
            except FieldProblem as problem:
                raise ValueError(
                    f"record {index}: {problem.code} {problem.message} {problem.details}"
                ) from None
            if field_spec.unique:
                other = store.find_unique(name, values[name])
                if other is not None and other != existing_id:
                    raise ValueError(
                        f"record {index}: DUPLICATE_DATA {name}={values[name]!r} already used by {other}"
                    )
        return values

    def _new_record(
        self,
        spec: ModuleSpec,
        owner: dict[str, Any],
        ctime: int,
        mtime: int,
        values: dict[str, Any],
        extra: dict[str, Any],
        *,
        record_id: str | None = None,
    ) -> dict[str, Any]:
        if record_id is None:
            record_id = self._new_id()
        else:
            self._reserve_id(record_id)
        record = dict(_record_template(spec))
        created = iso(ctime, self.tz)
        user = dict(owner)
        record.update(
            {
                "id": record_id,
                "Owner": user,
                "Created_By": user,
                "Modified_By": user,
                "Created_Time": created,
                "Modified_Time": created if mtime == ctime else iso(mtime, self.tz),
            }
        )
        record.update(values)
        record.update(extra)
        self._finish_record(spec, record)
        return record

    @staticmethod
    def _finish_record(spec: ModuleSpec, record: dict[str, Any]) -> None:
        if "Full_Name" in spec.field_map:
            record["Full_Name"] = (
                " ".join(str(record[k]) for k in ("First_Name", "Last_Name") if record.get(k))
                or None
            )
        if "Last_Activity_Time" in spec.field_map and record.get("Last_Activity_Time") is None:
            record["Last_Activity_Time"] = record.get("Modified_Time")

    # ==============================================================================================
    # Record lifecycle: the single place where stored records change
    # ==============================================================================================

    def _insert(
        self, store: ModuleStore, record: dict[str, Any], *, ctime: int, mtime: int, source: str
    ) -> None:
        """Store a new record and report the insert."""
        self._save(store, record, ctime, mtime, "insert", source)

    def _replace(
        self, store: ModuleStore, record: dict[str, Any], *, mtime: int, source: str
    ) -> None:
        """Store a changed copy of a live record (its Created_Time kept) and report the update."""
        self._save(store, record, store.ctime[record["id"]], mtime, "update", source)

    def _save(
        self,
        store: ModuleStore,
        record: dict[str, Any],
        ctime: int,
        mtime: int,
        operation: str,
        source: str,
    ) -> None:
        # The record is a new dict, never one already stored: readers may hold the old one.
        store.put(record, ctime=ctime, mtime=mtime)
        if self.change_listeners:
            self._record_changed(RecordChange(store.spec.api_name, record["id"], operation, source))

    def _record_changed(self, change: RecordChange) -> None:
        for listener in list(self.change_listeners):
            listener(change)

    def _delete_record(
        self,
        store: ModuleStore,
        record_id: str,
        by: dict[str, Any],
        *,
        permanent: bool,
        source: str,
    ) -> None:
        """Move a record to the recycle bin (or delete it for good) with its notes and attachments."""
        record = store.remove(record_id)
        if record is None:
            return
        now = self.now()
        creator = record.get("Created_By") or {}
        store.deleted.append(
            {
                "deleted_by": self._short_user(by),
                "id": record_id,
                "display_name": self._display_name(store.spec, record),
                "type": "permanent" if permanent else "recycle",
                "created_by": {"name": creator.get("name"), "id": creator.get("id")}
                if creator
                else None,
                "deleted_time": iso(now, self.tz),
                "_epoch": now,
            }
        )
        store.deleted_ids.add(record_id)
        # Notes and attachments go with their record, as in Zoho.
        if store.spec.api_name != "Notes":
            notes = self.stores["Notes"]
            for note_id in notes.ordered("id", False, match=("Parent_Id", record_id)):
                self._delete_record(notes, note_id, by, permanent=permanent, source=source)
            for attachment_id, parent in list(self._attachment_parent.items()):
                if parent == (store.spec.api_name, record_id):
                    self._drop_attachment(attachment_id)
        if self.change_listeners:
            self._record_changed(RecordChange(store.spec.api_name, record_id, "delete", source))

    # ==============================================================================================
    # Notes' parents and attachments (data, shared by the control API and the handlers)
    # ==============================================================================================

    def _note_parent_fields(self, module: str, record_id: str) -> dict[str, Any]:
        spec = MODULES[module]
        ref = self._lookup_ref(module, record_id) or {"name": None, "id": record_id}
        return {
            "Parent_Id": {**ref, "module": {"api_name": module, "id": spec.id}},
            "$se_module": module,
            "$attachments": None,
            "$editable": True,
            "$is_shared_to_client": False,
            "$size": None,
            "$state": "save",
            "$voice_note": False,
        }

    def _setup_note_parent(self, raw: dict[str, Any], index: int) -> dict[str, Any]:
        parent = raw.pop("Parent_Id", None)
        module = raw.pop("se_module", None) or raw.pop("$se_module", None)
        if isinstance(parent, dict):
            module = module or (parent.get("module") or {}).get("api_name")
            parent = parent.get("id")
        if parent is None or module not in MODULES or str(parent) not in self.stores[module].rows:
            raise ValueError(
                f"record {index}: a note needs Parent_Id naming a live record "
                "(and its module via se_module or Parent_Id.module.api_name)"
            )
        return self._note_parent_fields(module, str(parent))

    def _store_attachment(
        self,
        spec: ModuleSpec,
        record_id: str,
        by: dict[str, Any],
        *,
        file_name: str,
        content: bytes | None,
        link: str | None,
    ) -> dict[str, Any]:
        attachment_id = self._new_id()
        now = iso(self.now(), self.tz)
        parent = self._lookup_ref(spec.api_name, record_id) or {"name": None, "id": record_id}
        short = self._short_user(by)
        doc = {
            "id": attachment_id,
            "File_Name": file_name,
            "Size": str(len(content)) if content is not None else "0",
            "Owner": dict(by),
            "Created_By": {**short, "email": by["email"]},
            "Modified_By": {**short, "email": by["email"]},
            "Created_Time": now,
            "Modified_Time": now,
            "Parent_Id": {"name": parent["name"], "id": record_id},
            "$se_module": spec.api_name,
            "$type": "Link URL" if link else "Attachment",
            "$link_url": link,
            "$file_id": None if link else secrets.token_hex(16),
            "$editable": True,
            "$sharing_permission": "full_access",
            "$state": "save",
        }
        self._attachments[attachment_id] = doc
        self._attachment_parent[attachment_id] = (spec.api_name, record_id)
        if content is not None and not link:
            self._blobs[attachment_id] = content
        return doc

    def _drop_attachment(self, attachment_id: str) -> None:
        self._attachments.pop(attachment_id, None)
        self._attachment_parent.pop(attachment_id, None)
        self._blobs.pop(attachment_id, None)


_TEMPLATES: dict[str, dict[str, Any]] = {}


def _record_template(spec: ModuleSpec) -> dict[str, Any]:
    """Every field of a new record at its empty value, plus the system ``$`` keys.

    Nested values are shared between records: stored records are never changed in place (an update
    stores a new dict), so sharing is safe and keeps seeding 100,000 records quick.
    """
    cached = _TEMPLATES.get(spec.api_name)
    if cached is not None:
        return cached
    record: dict[str, Any] = {}
    for f in spec.fields:
        record[f.api_name] = (
            []
            if f.data_type == "multiselectpicklist"
            else (False if f.data_type == "boolean" else None)
        )
    if spec.records_module:
        record.update(
            {
                "Tag": [],
                "$approved": True,
                "$approval": {
                    "delegate": False,
                    "approve": False,
                    "reject": False,
                    "resubmit": False,
                },
                "$approval_state": "approved",
                "$editable": True,
                "$process_flow": False,
                "$review_process": {"approve": False, "reject": False, "resubmit": False},
                "$review": None,
                "$in_merge": False,
                "$state": "save",
                "$currency_symbol": "$",
                "$converted": False,
            }
        )
    _TEMPLATES[spec.api_name] = record
    return record


def _fake_user_email() -> str:
    try:
        from ..accounts import FAKE_USER_EMAIL
    except ImportError:  # accounts is optional for unit use of the CRM part alone
        return _DEFAULT_FAKE_USER_EMAIL
    return str(FAKE_USER_EMAIL)
