"""The CRM REST API of the bundled fake Zoho server (``/crm/{version}/...``, v2, v2.1, v3 ... v8).

:func:`install` registers the routes on a :class:`~.server.FakeZoho` and returns the
:class:`FakeCRM` that holds the org's data; tests reach it as ``fake.crm``. Wire formats follow
``zoho-api.md`` sections 2 to 5. Choices where Zoho is silent or inconsistent (all configurable
through :class:`CRMOptions` where it matters):

- Authentication: ``Authorization: Zoho-oauthtoken <token>`` only; a token in the query string is
  ignored. Unknown, expired or missing token -> 401 ``INVALID_TOKEN`` (or ``AUTHENTICATION_FAILURE``
  with ``auth_failure_code``); missing scope -> 401 ``OAUTH_SCOPE_MISMATCH``.
- Ordering: no ``sort_by``/``sort_order`` -> id ascending. ``sort_by`` alone -> descending (Zoho's
  documented default); ``sort_order`` alone orders by id. Ties are broken by id.
- ``per_page`` above 200 is clamped to 200 (``per_page_over_max="error"`` -> 400 ``INVALID_DATA``).
- ``page * per_page`` beyond ``page_token_cap`` (2,000) -> 400 ``DISCRETE_PAGINATION_LIMIT_EXCEEDED``
  in every version; ``info.next_page_token`` is present whenever ``more_records`` is true (v2 too,
  unless ``page_token_in_v2=False``), so clients can switch to tokens.
- ``GET /{module}/{id}`` for an unknown id -> 204 in every version.
- Writes: all items succeed -> 201 (insert) / 200 (update, upsert, delete); every item fails -> 400
  with the ``{"data":[...]}`` body; a mix -> ``mixed_status`` (207).
- Unknown field names in written records are ignored, read-only fields are ignored, unknown picklist
  values are stored as given (as Zoho does).
"""

from __future__ import annotations

import gc
import itertools
import json
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import UTC, date, datetime, timezone
from typing import TYPE_CHECKING, Any

from .crm_files import NotesFilesTagsMixin
from .crm_meta import org_document
from .crm_query import compile_coql, compile_criteria
from .crm_schema import (
    MODULES,
    FieldProblem,
    FieldSpec,
    ModuleSpec,
    RelatedList,
    coerce,
    field_metadata,
    is_empty,
)
from .crm_seed import GENERATORS, Lookups
from .crm_settings import SettingsMixin
from .crm_store import ModuleStore, copy_record
from .crm_util import CRMContext as _Ctx
from .crm_util import (
    CRMFault,
    iso,
    json_path,
    parse_datetime,
    parse_http_or_iso,
    parse_offset,
    version_number,
)
from .crm_util import error_item as _error_item
from .server import (
    JSON_CONTENT_TYPE,
    FakeRequest,
    FakeResponse,
    empty_response,
    json_response,
    zoho_error,
)

if TYPE_CHECKING:
    from .server import FakeZoho

__all__ = ["CRMOptions", "FakeCRM", "FAULT_KINDS", "install"]

VERSION_RE = r"(?P<version>v2|v2\.1|v[3-8])"
_BASE = r"/crm/" + VERSION_RE
_MODULE = r"(?P<module>[A-Za-z][A-Za-z0-9_]*)"
_ID = r"(?P<id>[0-9]+)"

FAULT_KINDS = ("429", "500", "invalid_token", "authentication_failure", "scope_mismatch")

_DEFAULT_FAKE_USER_EMAIL = "admin@example.com"
_FIRST_RECORD_ID = 4150868000000400001
_FIRST_USER_ID = 4150868000000031001
_SEARCH_WORD_FIELDS = ("text", "textarea", "email", "phone", "website", "picklist")
_RELATED_RESERVED = {"Notes", "Attachments", "actions", "photo"}


@dataclass
class CRMOptions:
    """Behaviour switches of the fake CRM (change them on ``fake.crm.options`` at any time)."""

    #: HTTP status of a write whose items partly failed (Zoho: 207; some observers saw 200).
    mixed_status: int = 207
    #: ``page * per_page`` may not exceed this without a page token (None: no cap).
    page_token_cap: int | None = 2000
    #: Records reachable through page tokens (None: unlimited) -> PAGINATION_LIMIT_EXCEEDED.
    page_token_max_records: int | None = 100_000
    #: Page-token lifetime in (fake-clock) seconds -> EXPIRED_VALUE.
    page_token_ttl: int = 86_400
    #: Put ``next_page_token`` into v2/v2.1 ``info`` too (v3+ always carry the page-token keys).
    page_token_in_v2: bool = True
    #: First version in which list calls must send ``fields`` (None: never).
    enforce_fields_param_from: str | None = "v7"
    #: Most API names ``fields`` may hold (only where ``fields`` is enforced).
    max_fields_param: int = 50
    #: Top-level code for bad tokens: "INVALID_TOKEN" or "AUTHENTICATION_FAILURE".
    auth_failure_code: str = "INVALID_TOKEN"
    #: Check OAuth scopes (False: any valid token may call anything).
    check_scopes: bool = True
    #: Search also needs ``ZohoSearch.securesearch.READ`` (zoho-api.md 1.7).
    search_requires_securesearch: bool = True
    #: "clamp" (default) or "error" for ``per_page`` above 200.
    per_page_over_max: str = "clamp"
    #: Records reachable through search -> LIMIT_REACHED.
    search_max_records: int = 2000
    #: Largest COQL LIMIT, and how far OFFSET + LIMIT may reach.
    coql_max_limit: int = 2000
    coql_max_reach: int = 10_000
    #: Items per insert/update/upsert/delete call -> LIMIT_EXCEEDED.
    write_limit: int = 100
    #: The org's UTC offset and time-zone name (datetimes are written in this offset).
    utc_offset: str = "+05:30"
    time_zone: str = "Asia/Kolkata"
    #: Largest attachment upload -> 413 FILE_SIZE_MORE_THAN_ALLOWED_SIZE.
    attachment_max_bytes: int = 20 * 1024 * 1024
    #: Send ``X-Accesstoken-Reset`` (the token's expiry) on authenticated answers.
    access_token_reset_header: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError for settings the fake cannot honour."""
        if self.auth_failure_code not in ("INVALID_TOKEN", "AUTHENTICATION_FAILURE"):
            raise ValueError(
                "auth_failure_code must be 'INVALID_TOKEN' or 'AUTHENTICATION_FAILURE'"
            )
        if self.per_page_over_max not in ("clamp", "error"):
            raise ValueError("per_page_over_max must be 'clamp' or 'error'")
        if self.enforce_fields_param_from is not None:
            version_number(self.enforce_fields_param_from)
        parse_offset(self.utc_offset)


@dataclass
class _FaultPlan:
    kind: str
    remaining: int
    endpoint: str | None
    module: str | None
    retry_after: int | float | None
    after_write: bool


@dataclass
class _PageToken:
    binding: tuple[Any, ...]
    offset: int
    expires_at: float


def _bool_param(value: str | None, name: str, default: str) -> str:
    value = (value or default).lower()
    if value not in ("true", "false", "both"):
        raise CRMFault(400, "INVALID_DATA", "invalid data", {"param_name": name})
    return value


class FakeCRM(NotesFilesTagsMixin, SettingsMixin):
    """The org behind the fake CRM API: records, notes, attachments, tags, users and options."""

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
        self._page_tokens: dict[str, _PageToken] = {}
        self._faults: list[_FaultPlan] = []
        self._user_ids: dict[str, str] = {}
        self._next_user_id = _FIRST_USER_ID
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

    # ==============================================================================================
    # Public API for tests
    # ==============================================================================================

    @property
    def tz(self) -> timezone:
        """The org's fixed UTC offset."""
        return parse_offset(self.options.utc_offset)

    def now(self) -> int:
        """The fake clock, in whole seconds (Zoho datetimes have no fractions)."""
        return int(self.fake.clock.now() // 1)

    def fields(self, module: str) -> list[dict[str, Any]]:
        """The module's field metadata, as ``GET /crm/v2/settings/fields?module=`` lists it."""
        spec = self._spec(module)
        return [
            field_metadata(spec, f, modern=False, sequence=n)
            for n, f in enumerate(spec.fields, start=1)
        ]

    def seed(
        self,
        module: str,
        count: int,
        *,
        start: datetime | None = None,
        step_seconds: int = 1,
        factory: Callable[[int], dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Create ``count`` realistic records; return copies of them in creation (= id) order.

        Created_Time = Modified_Time = ``start + i * step_seconds`` (default ``start``: that many
        steps before the fake clock's now). Lookups (Contacts.Account_Name, Deals.Account_Name and
        Contact_Name, Tasks.Who_Id/What_Id) point at existing records, round robin. ``factory(i)``
        returns values that override the generated ones (validated like an API write; it may also
        give Created_Time/Modified_Time/Owner). Notes need existing Leads/Contacts/Accounts/Deals.
        """
        spec = self._spec(module)
        if count < 0:
            raise ValueError("count must be >= 0")
        start_epoch = self._epoch(start) if start is not None else self.now() - count * step_seconds
        created: list[dict[str, Any]] = []
        # Creating 100,000 dicts triggers many full GC passes that find nothing to free.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._seed_into(spec, count, start_epoch, step_seconds, factory, created)
        finally:
            if gc_was_enabled:
                gc.enable()
        # Shallow copies: nested lookups are shared with the store, which never changes them in place.
        return [dict(r) for r in created]

    def _seed_into(
        self,
        spec: ModuleSpec,
        count: int,
        start_epoch: int,
        step_seconds: int,
        factory: Callable[[int], dict[str, Any]] | None,
        created: list[dict[str, Any]],
    ) -> None:
        generator = GENERATORS[spec.api_name]
        with self._lock:
            lookups = Lookups(
                {
                    name: [self._lookup_ref(name, rid) for rid in store.rows]
                    for name, store in self.stores.items()
                    if name != "Notes" and store.rows
                }
            )
            parents = [
                (name, rid)
                for name in ("Leads", "Contacts", "Accounts", "Deals")
                for rid in self.stores[name].rows
            ]
            if spec.api_name == "Notes" and count and not parents:
                raise ValueError(
                    "seed('Notes') needs existing Leads, Contacts, Accounts or Deals to attach to"
                )
            owner = self.default_user()
            store = self.stores[spec.api_name]
            day = datetime.fromtimestamp(start_epoch, self.tz).date()
            for i in range(count):
                seq = next(self._seed_seq)
                at = start_epoch + i * step_seconds
                values = {k: v for k, v in generator(i, seq, day, lookups).items() if v is not None}
                overrides = dict(factory(i)) if factory is not None else {}
                ctime = self._pop_time(overrides, "Created_Time", at)
                mtime = self._pop_time(overrides, "Modified_Time", max(at, ctime))
                extra: dict[str, Any] = {}
                if spec.api_name == "Notes":
                    parent_module, parent_id = parents[i % len(parents)]
                    extra = self._note_parent_fields(parent_module, parent_id)
                record = self._new_record(spec, owner, ctime, mtime, values, extra)
                if overrides:
                    record.update(self._coerce_for_setup(spec, overrides, i, existing_id=None))
                    self._finish_record(spec, record)
                store.put(record, ctime=ctime, mtime=mtime)
                created.append(record)

    def add_records(self, module: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert records as given (validated like an API insert; raises ValueError); return copies.

        Records may carry ``id``, ``Created_Time``/``Modified_Time`` (ISO string or aware datetime)
        and ``Owner``; missing ones are generated (times: the fake clock's now).
        """
        spec = self._spec(module)
        out = []
        with self._lock:
            store = self.stores[spec.api_name]
            now = self.now()
            for index, raw in enumerate(records):
                raw = dict(raw)
                record_id = raw.pop("id", None)
                if record_id is not None:
                    record_id = str(record_id)
                    if not record_id.isdigit():
                        raise ValueError(f"record {index}: id must be digits, got {record_id!r}")
                    if record_id in store.rows:
                        raise ValueError(
                            f"record {index}: id {record_id} already exists in {spec.api_name}"
                        )
                ctime = self._pop_time(raw, "Created_Time", now)
                mtime = self._pop_time(raw, "Modified_Time", max(now, ctime))
                missing = [f.api_name for f in spec.mandatory if is_empty(raw.get(f.api_name))]
                if spec.api_name == "Notes":
                    missing = [m for m in missing if m != "Parent_Id"]
                if missing:
                    raise ValueError(
                        f"record {index}: mandatory field(s) missing: {', '.join(missing)}"
                    )
                extra: dict[str, Any] = {}
                if spec.api_name == "Notes":
                    extra = self._setup_note_parent(raw, index)
                values = self._coerce_for_setup(spec, raw, index, existing_id=None)
                record = self._new_record(
                    spec, self.default_user(), ctime, mtime, {}, extra, record_id=record_id
                )
                record.update(values)
                self._finish_record(spec, record)
                store.put(record, ctime=ctime, mtime=mtime)
                out.append(copy_record(record))
        return out

    def get_record(self, module: str, record_id: str | int) -> dict[str, Any] | None:
        """A copy of a live record, or None (also for deleted records)."""
        spec = self._spec(module)
        with self._lock:
            found = self.stores[spec.api_name].rows.get(str(record_id))
            return copy_record(found) if found is not None else None

    def records(self, module: str) -> list[dict[str, Any]]:
        """Copies of the module's live records, by id."""
        spec = self._spec(module)
        with self._lock:
            store = self.stores[spec.api_name]
            return [copy_record(store.rows[i]) for i in store.ordered("id", False)]

    def deleted_records(self, module: str) -> list[dict[str, Any]]:
        """The module's recycle-bin/permanent entries as ``GET /{module}/deleted`` shows them, oldest first."""
        spec = self._spec(module)
        with self._lock:
            return [
                {k: v for k, v in e.items() if not k.startswith("_")}
                for e in self.stores[spec.api_name].deleted
            ]

    def modify(
        self,
        module: str,
        ids: str | int | Iterable[str | int],
        changes: dict[str, Any] | None = None,
    ) -> None:
        """Apply ``changes`` (validated; ValueError) and bump Modified_Time to the fake clock's now.

        Raises KeyError for an id that is not a live record.
        """
        spec = self._spec(module)
        with self._lock:
            store = self.stores[spec.api_name]
            now = self.now()
            for record_id in self._id_list(ids):
                old = store.rows.get(record_id)
                if old is None:
                    raise KeyError(f"no live {spec.api_name} record with id {record_id}")
                record = copy_record(old)
                if changes:
                    record.update(
                        self._coerce_for_setup(spec, dict(changes), 0, existing_id=record_id)
                    )
                    for mandatory in spec.mandatory:
                        if (
                            is_empty(record.get(mandatory.api_name))
                            and mandatory.api_name != "Parent_Id"
                        ):
                            raise ValueError(
                                f"{mandatory.api_name} is mandatory and cannot be emptied"
                            )
                record["Modified_Time"] = iso(now, self.tz)
                record["Modified_By"] = self._short_user(self.default_user())
                self._finish_record(spec, record)
                store.put(record, ctime=store.ctime[record_id], mtime=now)

    def delete(
        self, module: str, ids: str | int | Iterable[str | int], *, permanent: bool = False
    ) -> None:
        """Delete live records (recycle bin, or ``permanent``); KeyError for an unknown id."""
        spec = self._spec(module)
        with self._lock:
            store = self.stores[spec.api_name]
            for record_id in self._id_list(ids):
                if record_id not in store.rows:
                    raise KeyError(f"no live {spec.api_name} record with id {record_id}")
                self._delete_record(store, record_id, self.default_user(), permanent=permanent)

    def empty_recycle_bin(self, module: str) -> int:
        """Turn the module's recycle-bin entries into ``permanent`` ones; return how many."""
        spec = self._spec(module)
        with self._lock:
            store = self.stores[spec.api_name]
            changed = 0
            for entry in store.deleted:
                if entry["type"] == "recycle":
                    entry["type"] = "permanent"
                    changed += 1
            return changed

    def add_note(
        self, module: str, record_id: str | int, content: str, *, title: str | None = None
    ) -> dict[str, Any]:
        """Attach a note to a live record; return a copy of the note."""
        return self.add_records(
            "Notes",
            [
                {
                    "Note_Content": content,
                    "Note_Title": title,
                    "Parent_Id": {"module": {"api_name": module}, "id": str(record_id)},
                }
            ],
        )[0]

    def add_attachment(
        self, module: str, record_id: str | int, file_name: str, content: bytes
    ) -> dict[str, Any]:
        """Attach a file to a live record; return a copy of the attachment's metadata."""
        spec = self._spec(module)
        with self._lock:
            if str(record_id) not in self.stores[spec.api_name].rows:
                raise KeyError(f"no live {spec.api_name} record with id {record_id}")
            return dict(
                self._store_attachment(
                    spec,
                    str(record_id),
                    self.default_user(),
                    file_name=file_name,
                    content=content,
                    link=None,
                )
            )

    def attachments(self, module: str, record_id: str | int) -> list[dict[str, Any]]:
        """Copies of a record's attachment metadata, by id."""
        with self._lock:
            return [
                dict(a)
                for a_id, a in sorted(self._attachments.items(), key=lambda kv: int(kv[0]))
                if self._attachment_parent[a_id] == (module, str(record_id))
            ]

    def attachment_content(self, attachment_id: str | int) -> bytes | None:
        """The bytes of an uploaded attachment (None for links and unknown ids)."""
        with self._lock:
            return self._blobs.get(str(attachment_id))

    def fail_next(
        self,
        kind: str,
        *,
        times: int = 1,
        endpoint: str | None = None,
        module: str | None = None,
        retry_after: int | float | None = None,
        after_write: bool = False,
    ) -> None:
        """Make the next ``times`` matching CRM calls fail with a CRM-style error.

        ``kind``: "429" (TOO_MANY_REQUESTS, ``Retry-After: retry_after`` when given), "500"
        (INTERNAL_ERROR), "invalid_token" (401 INVALID_TOKEN even for a valid token),
        "authentication_failure" (401 AUTHENTICATION_FAILURE), "scope_mismatch" (401
        OAUTH_SCOPE_MISMATCH). ``endpoint``: a route name such as ``"POST /crm/{version}/{module}"``
        (None: any CRM route); ``module``: only calls on that module. ``after_write``: the call is
        handled first (a write happens) and its answer is then replaced by the fault; otherwise
        the fault answers before anything is read or written.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose one of {FAULT_KINDS}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.append(_FaultPlan(kind, times, endpoint, module, retry_after, after_write))

    def clear_faults(self) -> None:
        """Discard CRM faults that have not fired."""
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> int:
        """How many CRM fault answers are still waiting."""
        with self._lock:
            return sum(f.remaining for f in self._faults)

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
    # Internals: users, ids, values
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
        record = store.rows.get(record_id) if store is not None else None
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

    def _write_details(self, ctx: _Ctx, record: dict[str, Any]) -> dict[str, Any]:
        details = {
            "Modified_Time": record["Modified_Time"],
            "Modified_By": self._short_user(record["Modified_By"]),
            "Created_Time": record["Created_Time"],
            "id": record["id"],
            "Created_By": self._short_user(record["Created_By"]),
        }
        if ctx.vnum >= (6, 0):
            details["$approval_state"] = "approved"
        return details

    def _delete_record(
        self, store: ModuleStore, record_id: str, by: dict[str, Any], *, permanent: bool
    ) -> None:
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
                self._delete_record(notes, note_id, by, permanent=permanent)
            for attachment_id, parent in list(self._attachment_parent.items()):
                if parent == (store.spec.api_name, record_id):
                    self._drop_attachment(attachment_id)

    # ==============================================================================================
    # Routing, auth, faults
    # ==============================================================================================

    def install_routes(self) -> None:
        """Register every CRM route on the fake server (specific paths before generic ones)."""
        b, m, i = _BASE, _MODULE, _ID
        routes: list[tuple[str, str, Callable[[_Ctx], FakeResponse], str]] = [
            ("GET", b + r"/org", self._h_org, "GET /crm/{version}/org"),
            ("GET", b + r"/users", self._h_users, "GET /crm/{version}/users"),
            ("GET", b + r"/users/" + i, self._h_user, "GET /crm/{version}/users/{id}"),
            (
                "GET",
                b + r"/settings/modules",
                self._h_modules,
                "GET /crm/{version}/settings/modules",
            ),
            (
                "GET",
                b + r"/settings/modules/" + m,
                self._h_module,
                "GET /crm/{version}/settings/modules/{module}",
            ),
            ("GET", b + r"/settings/fields", self._h_fields, "GET /crm/{version}/settings/fields"),
            (
                "GET",
                b + r"/settings/fields/" + i,
                self._h_field,
                "GET /crm/{version}/settings/fields/{id}",
            ),
            (
                "GET",
                b + r"/settings/layouts",
                self._h_layouts,
                "GET /crm/{version}/settings/layouts",
            ),
            (
                "GET",
                b + r"/settings/layouts/" + i,
                self._h_layout,
                "GET /crm/{version}/settings/layouts/{id}",
            ),
            (
                "GET",
                b + r"/settings/custom_views",
                self._h_custom_views,
                "GET /crm/{version}/settings/custom_views",
            ),
            (
                "GET",
                b + r"/settings/related_lists",
                self._h_related_lists,
                "GET /crm/{version}/settings/related_lists",
            ),
            ("GET", b + r"/settings/tags", self._h_tags, "GET /crm/{version}/settings/tags"),
            ("POST", b + r"/coql", self._h_coql, "POST /crm/{version}/coql"),
            # Notes as a top-level module
            ("GET", b + r"/Notes", self._h_notes_list, "GET /crm/{version}/Notes"),
            ("POST", b + r"/Notes", self._h_notes_create, "POST /crm/{version}/Notes"),
            ("DELETE", b + r"/Notes", self._h_notes_delete, "DELETE /crm/{version}/Notes"),
            ("GET", b + r"/Notes/" + i, self._h_note_get, "GET /crm/{version}/Notes/{id}"),
            ("PUT", b + r"/Notes/" + i, self._h_note_update, "PUT /crm/{version}/Notes/{id}"),
            ("DELETE", b + r"/Notes/" + i, self._h_note_delete, "DELETE /crm/{version}/Notes/{id}"),
            # Module-level actions
            ("GET", b + "/" + m + r"/search", self._h_search, "GET /crm/{version}/{module}/search"),
            (
                "GET",
                b + "/" + m + r"/deleted",
                self._h_deleted,
                "GET /crm/{version}/{module}/deleted",
            ),
            (
                "POST",
                b + "/" + m + r"/upsert",
                self._h_upsert,
                "POST /crm/{version}/{module}/upsert",
            ),
            (
                "POST",
                b + "/" + m + r"/actions/add_tags",
                self._h_add_tags,
                "POST /crm/{version}/{module}/actions/add_tags",
            ),
            (
                "POST",
                b + "/" + m + r"/actions/remove_tags",
                self._h_remove_tags,
                "POST /crm/{version}/{module}/actions/remove_tags",
            ),
            (
                "POST",
                b + "/" + m + "/" + i + r"/actions/add_tags",
                self._h_add_tags,
                "POST /crm/{version}/{module}/{id}/actions/add_tags",
            ),
            (
                "POST",
                b + "/" + m + "/" + i + r"/actions/remove_tags",
                self._h_remove_tags,
                "POST /crm/{version}/{module}/{id}/actions/remove_tags",
            ),
            # Notes and attachments of a record
            (
                "GET",
                b + "/" + m + "/" + i + r"/Notes",
                self._h_record_notes,
                "GET /crm/{version}/{module}/{id}/Notes",
            ),
            (
                "POST",
                b + "/" + m + "/" + i + r"/Notes",
                self._h_record_notes_create,
                "POST /crm/{version}/{module}/{id}/Notes",
            ),
            (
                "PUT",
                b + "/" + m + "/" + i + r"/Notes/(?P<note_id>[0-9]+)",
                self._h_record_note_update,
                "PUT /crm/{version}/{module}/{id}/Notes/{note_id}",
            ),
            (
                "DELETE",
                b + "/" + m + "/" + i + r"/Notes/(?P<note_id>[0-9]+)",
                self._h_record_note_delete,
                "DELETE /crm/{version}/{module}/{id}/Notes/{note_id}",
            ),
            (
                "GET",
                b + "/" + m + "/" + i + r"/Attachments",
                self._h_attachments,
                "GET /crm/{version}/{module}/{id}/Attachments",
            ),
            (
                "POST",
                b + "/" + m + "/" + i + r"/Attachments",
                self._h_attachment_upload,
                "POST /crm/{version}/{module}/{id}/Attachments",
            ),
            (
                "GET",
                b + "/" + m + "/" + i + r"/Attachments/(?P<attachment_id>[0-9]+)",
                self._h_attachment_download,
                "GET /crm/{version}/{module}/{id}/Attachments/{attachment_id}",
            ),
            (
                "DELETE",
                b + "/" + m + "/" + i + r"/Attachments/(?P<attachment_id>[0-9]+)",
                self._h_attachment_delete,
                "DELETE /crm/{version}/{module}/{id}/Attachments/{attachment_id}",
            ),
            # Related lists
            (
                "GET",
                b + "/" + m + "/" + i + r"/(?P<related>[A-Za-z][A-Za-z0-9_]*)",
                self._h_related,
                "GET /crm/{version}/{module}/{id}/{related_list}",
            ),
            (
                "PUT",
                b
                + "/"
                + m
                + "/"
                + i
                + r"/(?P<related>[A-Za-z][A-Za-z0-9_]*)/(?P<related_id>[0-9]+)",
                self._h_relate,
                "PUT /crm/{version}/{module}/{id}/{related_list}/{related_id}",
            ),
            (
                "DELETE",
                b
                + "/"
                + m
                + "/"
                + i
                + r"/(?P<related>[A-Za-z][A-Za-z0-9_]*)/(?P<related_id>[0-9]+)",
                self._h_delink,
                "DELETE /crm/{version}/{module}/{id}/{related_list}/{related_id}",
            ),
            # Records
            ("GET", b + "/" + m + "/" + i, self._h_get_record, "GET /crm/{version}/{module}/{id}"),
            ("PUT", b + "/" + m + "/" + i, self._h_update_one, "PUT /crm/{version}/{module}/{id}"),
            (
                "DELETE",
                b + "/" + m + "/" + i,
                self._h_delete_one,
                "DELETE /crm/{version}/{module}/{id}",
            ),
            ("GET", b + "/" + m, self._h_list, "GET /crm/{version}/{module}"),
            ("POST", b + "/" + m, self._h_insert, "POST /crm/{version}/{module}"),
            ("PUT", b + "/" + m, self._h_update, "PUT /crm/{version}/{module}"),
            ("DELETE", b + "/" + m, self._h_delete, "DELETE /crm/{version}/{module}"),
        ]
        for method, pattern, handler, name in routes:
            self.fake.route(method, pattern, self._endpoint(name, handler), name)

    def _endpoint(
        self, name: str, handler: Callable[[_Ctx], FakeResponse]
    ) -> Callable[[FakeRequest], FakeResponse]:
        def run(request: FakeRequest) -> FakeResponse:
            plan = self._take_fault(name, request.path_params.get("module"))
            if plan is not None and not plan.after_write:
                return self._fault_response(plan)
            ctx: _Ctx | None = None
            try:
                ctx = self._authenticate(request, name)
                response = handler(ctx)
            except CRMFault as fault:
                response = zoho_error(
                    fault.status, fault.code, fault.message, fault.details, fault.headers
                )
            if plan is not None:
                response = self._fault_response(plan)
            if (
                ctx is not None
                and ctx.token_expires_at is not None
                and self.options.access_token_reset_header
            ):
                response.headers.setdefault(
                    "X-Accesstoken-Reset", iso(ctx.token_expires_at, self.tz)
                )
            return response

        run.__name__ = f"crm_{handler.__name__.lstrip('_')}"
        return run

    def _take_fault(self, endpoint: str, module: str | None) -> _FaultPlan | None:
        with self._lock:
            for plan in self._faults:
                if plan.endpoint not in (None, endpoint):
                    continue
                if plan.module is not None and plan.module != module:
                    continue
                plan.remaining -= 1
                if plan.remaining <= 0:
                    self._faults.remove(plan)
                return plan
        return None

    @staticmethod
    def _fault_response(plan: _FaultPlan) -> FakeResponse:
        if plan.kind == "429":
            headers = (
                {"Retry-After": str(plan.retry_after)} if plan.retry_after is not None else None
            )
            return zoho_error(
                429, "TOO_MANY_REQUESTS", "The API request limit has been exceeded", {}, headers
            )
        if plan.kind == "500":
            return zoho_error(500, "INTERNAL_ERROR", "Internal Server Error")
        if plan.kind == "invalid_token":
            return zoho_error(401, "INVALID_TOKEN", "invalid oauth token")
        if plan.kind == "authentication_failure":
            return zoho_error(401, "AUTHENTICATION_FAILURE", "Authentication failed")
        return zoho_error(401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")

    def _auth_failure(self) -> CRMFault:
        if self.options.auth_failure_code == "AUTHENTICATION_FAILURE":
            return CRMFault(401, "AUTHENTICATION_FAILURE", "Authentication failed")
        return CRMFault(401, "INVALID_TOKEN", "invalid oauth token")

    def _authenticate(self, request: FakeRequest, endpoint: str) -> _Ctx:
        version = request.path_params["version"]
        token = request.bearer()
        info = self.fake.accounts.lookup_access_token(token) if token else None
        if info is None:
            raise self._auth_failure()
        expires_at = getattr(info, "expires_at", None)
        if expires_at is not None and expires_at <= self.fake.clock.now():
            raise self._auth_failure()
        email = info.user_email
        return _Ctx(
            request=request,
            version=version,
            vnum=version_number(version),
            user=self._user_ref(email),
            user_email=email,
            scopes=frozenset(s.lower() for s in (info.scopes or ())),
            token_expires_at=expires_at,
            endpoint=endpoint,
        )

    # -- scopes ------------------------------------------------------------------------------------

    def _has(self, ctx: _Ctx, *scopes: str) -> bool:
        return any(s.lower() in ctx.scopes for s in scopes)

    def _scope_mismatch(self) -> CRMFault:
        return CRMFault(401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")

    def _require_module(self, ctx: _Ctx, modules: str | Iterable[str], operation: str) -> None:
        """Require ``ZohoCRM.modules.{ALL|op|<module>.ALL|<module>.<op>}`` for one of ``modules``."""
        if not self.options.check_scopes:
            return
        names = [modules] if isinstance(modules, str) else list(modules)
        ops = {operation.lower(), "all"}
        if operation.upper() in ("CREATE", "UPDATE", "DELETE"):
            ops.add("write")
        candidates = {f"zohocrm.modules.{op}" for op in ops}
        candidates |= {f"zohocrm.modules.{name.lower()}.{op}" for name in names for op in ops}
        if not candidates & ctx.scopes:
            raise self._scope_mismatch()

    def _require(self, ctx: _Ctx, group: str, sub: str | None = None) -> None:
        """Require a read scope of ``ZohoCRM.{group}`` (settings, users, org, coql)."""
        if not self.options.check_scopes:
            return
        wanted = [f"zohocrm.{group}.all", f"zohocrm.{group}.read"]
        if sub:
            wanted += [f"zohocrm.{group}.{sub}.read", f"zohocrm.{group}.{sub}.all"]
        if not self._has(ctx, *wanted):
            raise self._scope_mismatch()

    # -- request parsing ---------------------------------------------------------------------------

    def _store(
        self, ctx: _Ctx, module: str | None = None, *, records_only: bool = True
    ) -> ModuleStore:
        name = module if module is not None else ctx.request.path_params.get("module", "")
        store = self.stores.get(name)
        if store is None or (records_only and not store.spec.records_module):
            details = {"resource_path_index": 0} if ctx.modern else {}
            raise CRMFault(
                400, "INVALID_MODULE", "the module name given seems to be invalid", details
            )
        return store

    def _fields_param(self, ctx: _Ctx, spec: ModuleSpec, *, enforce: bool) -> set[str] | None:
        raw = ctx.param("fields")
        if raw is None or not raw.strip():
            if enforce:
                raise CRMFault(
                    400,
                    "REQUIRED_PARAM_MISSING",
                    "One of the expected parameter is missing",
                    {"param_name": "fields"},
                )
            return None
        names = [n.strip() for n in raw.split(",") if n.strip()]
        if enforce and len(names) > self.options.max_fields_param:
            raise CRMFault(
                400,
                "LIMIT_EXCEEDED",
                f"at most {self.options.max_fields_param} fields can be requested",
                {"param_name": "fields", "limit": self.options.max_fields_param},
            )
        return set(names)

    def _fields_enforced(self, ctx: _Ctx) -> bool:
        start = self.options.enforce_fields_param_from
        return start is not None and ctx.vnum >= version_number(start)

    def _sort_params(self, ctx: _Ctx, spec: ModuleSpec) -> tuple[str, bool]:
        sort_by = ctx.param("sort_by")
        sort_order = ctx.param("sort_order")
        if sort_order is not None and sort_order.lower() not in ("asc", "desc"):
            raise CRMFault(400, "INVALID_DATA", "invalid data", {"param_name": "sort_order"})
        if sort_by:
            if sort_by != "id" and spec.get_field(sort_by) is None:
                raise CRMFault(400, "INVALID_DATA", "invalid data", {"param_name": "sort_by"})
            descending = (sort_order or "desc").lower() == "desc"
            return sort_by, descending
        return "id", (sort_order or "asc").lower() == "desc"

    def _int_param(self, ctx: _Ctx, name: str, default: int) -> int:
        raw = ctx.param(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise CRMFault(400, "INVALID_DATA", "invalid data", {"param_name": name}) from None
        if value < 1:
            raise CRMFault(400, "INVALID_DATA", "invalid data", {"param_name": name})
        return value

    def _per_page(self, ctx: _Ctx) -> int:
        per_page = self._int_param(ctx, "per_page", 200)
        if per_page > 200:
            if self.options.per_page_over_max == "error":
                raise CRMFault(
                    400, "INVALID_DATA", "invalid data", {"param_name": "per_page", "maximum": 200}
                )
            per_page = 200
        return per_page

    def _if_modified_since(self, ctx: _Ctx) -> float | None:
        raw = ctx.request.headers.get("If-Modified-Since")
        if raw is None or not raw.strip():
            return None
        try:
            return parse_http_or_iso(raw.strip())
        except (TypeError, ValueError):
            raise CRMFault(
                400, "INVALID_DATA", "invalid data", {"header_name": "If-Modified-Since"}
            ) from None

    def _body(self, ctx: _Ctx) -> dict[str, Any]:
        try:
            body = ctx.request.json()
        except (ValueError, UnicodeDecodeError):
            raise CRMFault(400, "INVALID_DATA", "the request body is not valid JSON", {}) from None
        if not isinstance(body, dict):
            raise CRMFault(400, "INVALID_DATA", "the request body must be a JSON object", {})
        return body

    def _data_items(self, ctx: _Ctx, body: dict[str, Any], *, key: str = "data") -> list[Any]:
        if key not in body:
            raise CRMFault(
                400,
                "REQUIRED_PARAM_MISSING",
                "One of the expected parameter is missing",
                {"param_name": key},
            )
        items = body[key]
        if not isinstance(items, list):
            raise CRMFault(
                400,
                "INVALID_DATA",
                "invalid data",
                {"expected_data_type": "jsonarray", "api_name": key},
            )
        if not items:
            raise CRMFault(
                400, "INVALID_DATA", "invalid data", {"api_name": key, "reason": "empty"}
            )
        if len(items) > self.options.write_limit:
            raise CRMFault(
                400,
                "LIMIT_EXCEEDED",
                f"the number of records exceeds the limit of {self.options.write_limit} per call",
                {"limit": self.options.write_limit},
            )
        return items

    def _ids_param(self, ctx: _Ctx, *, limit: int | None = None) -> list[str]:
        raw = ctx.param("ids")
        ids = [part.strip() for part in (raw or "").split(",") if part.strip()]
        if not ids:
            raise CRMFault(
                400,
                "REQUIRED_PARAM_MISSING",
                "One of the expected parameter is missing",
                {"param_name": "ids"},
            )
        limit = self.options.write_limit if limit is None else limit
        if len(ids) > limit:
            raise CRMFault(
                400,
                "LIMIT_EXCEEDED",
                f"the number of ids exceeds the limit of {limit} per call",
                {"limit": limit},
            )
        return ids

    def _batch_status(self, results: list[dict[str, Any]], success_status: int) -> int:
        ok = sum(1 for r in results if r.get("status") == "success")
        if ok == len(results):
            return success_status
        if ok == 0:
            return 400
        return self.options.mixed_status

    # -- paging ------------------------------------------------------------------------------------

    def _page_window(
        self, ctx: _Ctx, binding: tuple[Any, ...] | None, *, cap: int | None
    ) -> tuple[int, int, int]:
        """Return ``(per_page, page, offset)`` from page/per_page or page_token."""
        per_page = self._per_page(ctx)
        token = ctx.param("page_token")
        page_raw = ctx.param("page")
        if token is not None and binding is not None:
            if page_raw is not None:
                raise CRMFault(
                    400,
                    "AMBIGUITY_DURING_PROCESSING",
                    "page and page_token cannot be given together",
                    {"ambiguity_due_to": ["page", "page_token"]},
                )
            with self._lock:
                stored = self._page_tokens.get(token)
            if stored is None:
                raise CRMFault(
                    400,
                    "INVALID_DATA",
                    "the page_token given seems to be invalid",
                    {"param_name": "page_token"},
                )
            if stored.expires_at <= self.fake.clock.now():
                raise CRMFault(
                    400, "EXPIRED_VALUE", "the page_token has expired", {"param_name": "page_token"}
                )
            if stored.binding != binding:
                raise CRMFault(
                    400,
                    "TOKEN_BOUND_DATA_MISMATCH",
                    "the page_token was issued for other parameters",
                    {"param_name": "page_token"},
                )
            limit = self.options.page_token_max_records
            if limit is not None and stored.offset >= limit:
                raise CRMFault(
                    400,
                    "PAGINATION_LIMIT_EXCEEDED",
                    f"only {limit} records can be reached through page tokens",
                    {"limit": limit},
                )
            return per_page, stored.offset // per_page + 1, stored.offset
        page = self._int_param(ctx, "page", 1)
        if cap is not None and page * per_page > cap:
            raise CRMFault(
                400,
                "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                f"page and per_page can reach only the first {cap} records; use page_token",
                {"limit": cap},
            )
        return per_page, page, (page - 1) * per_page

    def _issue_token(self, binding: tuple[Any, ...], offset: int) -> tuple[str, float]:
        now = self.fake.clock.now()
        expires = now + self.options.page_token_ttl
        token = secrets.token_hex(24)
        with self._lock:
            if len(self._page_tokens) > 20_000:
                self._page_tokens = {
                    k: v for k, v in self._page_tokens.items() if v.expires_at > now
                }
            self._page_tokens[token] = _PageToken(binding, offset, expires)
        return token, expires

    def _info(
        self,
        ctx: _Ctx,
        *,
        per_page: int,
        count: int,
        page: int,
        more: bool,
        sort_by: str | None = None,
        descending: bool = False,
        next_token: tuple[str, float] | None = None,
        token_keys: bool = False,
    ) -> dict[str, Any]:
        info: dict[str, Any] = {
            "per_page": per_page,
            "count": count,
            "page": page,
            "more_records": more,
        }
        if token_keys and ctx.modern:
            info = {
                "per_page": per_page,
                "next_page_token": next_token[0] if next_token else None,
                "count": count,
                "sort_by": sort_by or "id",
                "page": page,
                "previous_page_token": None,
                "page_token_expiry": iso(next_token[1], self.tz) if next_token else None,
                "sort_order": "desc" if descending else "asc",
                "email": False,
                "call": False,
                "more_records": more,
            }
        elif token_keys and next_token and self.options.page_token_in_v2:
            info["next_page_token"] = next_token[0]
        return info

    # -- rendering ---------------------------------------------------------------------------------

    def _render(
        self, ctx: _Ctx, spec: ModuleSpec, record: dict[str, Any], wanted: set[str] | None
    ) -> dict[str, Any]:
        if wanted is None:
            out = dict(record)
        else:
            out = {"id": record["id"]}
            for name in wanted:
                if name in record:
                    out[name] = record[name]
        # Lookup names are resolved at read time, so renaming an account shows on its contacts.
        for f in _lookup_fields(spec):
            ref = out.get(f.api_name)
            if isinstance(ref, dict):
                fresh = self._lookup_ref(f.lookup or "", str(ref.get("id")))
                if fresh is not None and fresh["name"] != ref.get("name"):
                    out[f.api_name] = {**ref, "name": fresh["name"]}
        if (
            spec.api_name == "Notes"
            and isinstance(out.get("Parent_Id"), dict)
            and ctx.vnum < (6, 0)
        ):
            out["Parent_Id"] = {k: v for k, v in out["Parent_Id"].items() if k != "module"}
        return out

    def _list_response(
        self,
        ctx: _Ctx,
        spec: ModuleSpec,
        ordered: list[str],
        rows: dict[str, dict[str, Any]],
        *,
        wanted: set[str] | None,
        binding: tuple[Any, ...] | None,
        cap: int | None,
        sort_by: str = "id",
        descending: bool = False,
        not_modified: bool = False,
        token_keys: bool = False,
    ) -> FakeResponse:
        per_page, page, offset = self._page_window(ctx, binding, cap=cap)
        window = ordered[offset : offset + per_page]  # ordered lists are never changed once built
        with self._lock:
            data = [self._render(ctx, spec, rows[i], wanted) for i in window if i in rows]
        more = len(ordered) > offset + len(window)
        if not data:
            return empty_response(304 if not_modified else 204)
        next_token = (
            self._issue_token(binding, offset + len(window))
            if (more and binding is not None)
            else None
        )
        info = self._info(
            ctx,
            per_page=per_page,
            count=len(data),
            page=page,
            more=more,
            sort_by=sort_by,
            descending=descending,
            next_token=next_token,
            token_keys=token_keys,
        )
        return _json(200, {"data": data, "info": info})

    # ==============================================================================================
    # Record handlers
    # ==============================================================================================

    def _h_list(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        spec = store.spec
        self._require_module(ctx, spec.api_name, "READ")
        wanted = self._fields_param(ctx, spec, enforce=self._fields_enforced(ctx))
        sort_by, descending = self._sort_params(ctx, spec)
        since = self._if_modified_since(ctx)
        converted = _bool_param(ctx.param("converted"), "converted", "false")
        approved = _bool_param(ctx.param("approved"), "approved", "true")
        raw_ids = ctx.param("ids")
        ids = tuple(p.strip() for p in raw_ids.split(",") if p.strip()) if raw_ids else ()
        binding = (
            ctx.user_email,
            "list",
            spec.api_name,
            sort_by,
            descending,
            since,
            ids,
            ctx.param("cvid"),
            converted,
            approved,
        )
        with self._lock:
            ordered = store.ordered(sort_by, descending, modified_after=since)
            if ids:
                wanted_ids = set(ids)
                ordered = [i for i in ordered if i in wanted_ids]
            if converted == "true" or approved == "false":
                ordered = []  # the fake holds no converted or unapproved records
        return self._list_response(
            ctx,
            spec,
            ordered,
            store.rows,
            wanted=wanted,
            binding=binding,
            cap=self.options.page_token_cap,
            sort_by=sort_by,
            descending=descending,
            not_modified=since is not None and not ordered,
            token_keys=True,
        )

    def _h_get_record(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        self._require_module(ctx, store.spec.api_name, "READ")
        wanted = self._fields_param(ctx, store.spec, enforce=False)
        with self._lock:
            record = store.rows.get(ctx.request.path_params["id"])
            if record is None:
                return empty_response(204)
            return json_response(200, {"data": [self._render(ctx, store.spec, record, wanted)]})

    def _write_one(
        self,
        ctx: _Ctx,
        store: ModuleStore,
        raw: Any,
        index: int,
        *,
        existing_id: str | None,
        extra: dict[str, Any] | None = None,
        skip_mandatory: Iterable[str] = (),
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Validate and apply one written record; return ``(result element, stored record or None)``."""
        spec = store.spec

        def path(name: str) -> dict[str, Any]:
            return {"json_path": json_path(index, name)} if ctx.modern else {}

        if not isinstance(raw, dict):
            return _error_item(
                "INVALID_DATA",
                "invalid data",
                {"expected_data_type": "jsonobject", "api_name": "data", **path("")},
            ), None
        existing = store.rows.get(existing_id) if existing_id is not None else None
        skip = set(skip_mandatory)
        for mandatory in spec.mandatory:
            name = mandatory.api_name
            if name in skip:
                continue
            missing = (
                (name in raw and is_empty(raw[name]))
                if existing is not None
                else is_empty(raw.get(name))
            )
            if missing:
                return _error_item(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    {"api_name": name, **path(name)},
                ), None
        values: dict[str, Any] = {}
        for name, value in raw.items():
            if name == "id" or name.startswith("$"):
                continue
            field_spec = spec.get_field(name)
            if field_spec is None or field_spec.read_only:
                continue
            try:
                values[name] = self._coerce(field_spec, value)
            except FieldProblem as problem:
                return _error_item(
                    problem.code, problem.message, {**problem.details, **path(name)}
                ), None
        for unique in spec.unique_fields:
            if unique.api_name not in values:
                continue
            other = store.find_unique(unique.api_name, values[unique.api_name])
            if other is not None and other != existing_id:
                if ctx.vnum >= (6, 0):
                    details: dict[str, Any] = {
                        "api_name": unique.api_name,
                        **path(unique.api_name),
                        "duplicate_record": {
                            "id": other,
                            "module": {"api_name": spec.api_name, "id": spec.id},
                            "Owner": self._short_user(store.rows[other]["Owner"]),
                        },
                    }
                else:
                    details = {"api_name": unique.api_name, "id": other, **path(unique.api_name)}
                return _error_item("DUPLICATE_DATA", "duplicate data", details), None
        now = self.now()
        if existing is None:
            owner = values.pop("Owner", None) or ctx.user
            record = self._new_record(spec, owner, now, now, {}, extra or {})
            record["Created_By"] = dict(ctx.user)
            record["Modified_By"] = dict(ctx.user)
            record.update(values)
            self._finish_record(spec, record)
            store.put(record, ctime=now, mtime=now)
            message = "record added"
        else:
            record = copy_record(existing)
            record.update(values)
            record["Modified_Time"] = iso(now, self.tz)
            record["Modified_By"] = dict(ctx.user)
            self._finish_record(spec, record)
            store.put(record, ctime=store.ctime[existing["id"]], mtime=now)
            message = "record updated"
        return {
            "code": "SUCCESS",
            "details": self._write_details(ctx, record),
            "message": message,
            "status": "success",
        }, record

    def _h_insert(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        self._require_module(ctx, store.spec.api_name, "CREATE")
        items = self._data_items(ctx, self._body(ctx))
        with self._lock:
            results = [
                self._write_one(ctx, store, raw, n, existing_id=None)[0]
                for n, raw in enumerate(items)
            ]
        return json_response(self._batch_status(results, 201), {"data": results})

    def _update_items(
        self, ctx: _Ctx, store: ModuleStore, items: list[Any], forced_id: str | None = None
    ) -> list[dict[str, Any]]:
        results = []
        for n, raw in enumerate(items):
            record_id = forced_id
            if record_id is None:
                raw_id = raw.get("id") if isinstance(raw, dict) else None
                if raw_id is None or raw_id == "":
                    details = {
                        "api_name": "id",
                        **({"json_path": json_path(n, "id")} if ctx.modern else {}),
                    }
                    results.append(
                        _error_item("MANDATORY_NOT_FOUND", "required field not found", details)
                    )
                    continue
                record_id = str(raw_id)
            if record_id not in store.rows:
                results.append(
                    _error_item(
                        "INVALID_DATA", "the id given seems to be invalid", {"id": record_id}
                    )
                )
                continue
            results.append(self._write_one(ctx, store, raw, n, existing_id=record_id)[0])
        return results

    def _h_update(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        self._require_module(ctx, store.spec.api_name, "UPDATE")
        items = self._data_items(ctx, self._body(ctx))
        with self._lock:
            results = self._update_items(ctx, store, items)
        return json_response(self._batch_status(results, 200), {"data": results})

    def _h_update_one(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        self._require_module(ctx, store.spec.api_name, "UPDATE")
        items = self._data_items(ctx, self._body(ctx))
        with self._lock:
            # Only the first element is applied: the id in the URL names one record.
            results = self._update_items(
                ctx, store, items[:1], forced_id=ctx.request.path_params["id"]
            )
        return json_response(self._batch_status(results, 200), {"data": results})

    def _h_upsert(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        spec = store.spec
        self._require_module(ctx, spec.api_name, "CREATE")
        self._require_module(ctx, spec.api_name, "UPDATE")
        body = self._body(ctx)
        items = self._data_items(ctx, body)
        check = body.get("duplicate_check_fields")
        if isinstance(check, str):
            check = [c.strip() for c in check.split(",") if c.strip()]
        if check is None:
            check = list(spec.duplicate_check_fields) + [
                f.api_name
                for f in spec.unique_fields
                if f.api_name not in spec.duplicate_check_fields
            ]
        if not isinstance(check, list) or not all(isinstance(c, str) for c in check):
            raise CRMFault(
                400,
                "INVALID_DATA",
                "invalid data",
                {"expected_data_type": "jsonarray", "api_name": "duplicate_check_fields"},
            )
        for name in check:
            if spec.get_field(name) is None:
                raise CRMFault(
                    400,
                    "INVALID_DATA",
                    "invalid data",
                    {"api_name": name, "param_name": "duplicate_check_fields"},
                )
        results = []
        with self._lock:
            indexes: dict[str, dict[str, str]] = {}

            def find(name: str, value: Any) -> str | None:
                field_spec = spec.field_map[name]
                try:
                    stored = self._coerce(field_spec, value)
                except FieldProblem:
                    return None
                if field_spec.unique:
                    return store.find_unique(name, stored)
                if name not in indexes:
                    index: dict[str, str] = {}
                    for rid in store.ordered("id", False):
                        key = _match_key(store.rows[rid].get(name))
                        if key is not None:
                            index.setdefault(key, rid)
                    indexes[name] = index
                key = _match_key(stored)
                return indexes[name].get(key) if key is not None else None

            for n, raw in enumerate(items):
                target = None
                matched_field = None
                if isinstance(raw, dict):
                    raw_id = raw.get("id")
                    if raw_id not in (None, ""):
                        if str(raw_id) not in store.rows:
                            results.append(
                                _error_item(
                                    "INVALID_DATA",
                                    "the id given seems to be invalid",
                                    {"id": str(raw_id)},
                                )
                            )
                            continue
                        target = str(raw_id)
                    else:
                        for name in check:
                            if not is_empty(raw.get(name)):
                                target = find(name, raw[name])
                                if target is not None:
                                    matched_field = name
                                    break
                element, record = self._write_one(ctx, store, raw, n, existing_id=target)
                if record is not None:
                    element = {
                        "code": element["code"],
                        "duplicate_field": matched_field,
                        "action": "update" if target is not None else "insert",
                        "details": element["details"],
                        "message": element["message"],
                        "status": element["status"],
                    }
                    if target is None:
                        for name, index in indexes.items():
                            key = _match_key(record.get(name))
                            if key is not None:
                                index.setdefault(key, record["id"])
                results.append(element)
        return json_response(self._batch_status(results, 200), {"data": results})

    def _delete_ids(self, ctx: _Ctx, store: ModuleStore, ids: list[str]) -> list[dict[str, Any]]:
        results = []
        for record_id in ids:
            if record_id in store.rows:
                self._delete_record(store, record_id, ctx.user, permanent=False)
                results.append(
                    {
                        "code": "SUCCESS",
                        "details": {"id": record_id},
                        "message": "record deleted",
                        "status": "success",
                    }
                )
            else:
                results.append(_error_item("INVALID_DATA", "record not deleted", {"id": record_id}))
        return results

    def _h_delete(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        self._require_module(ctx, store.spec.api_name, "DELETE")
        ids = self._ids_param(ctx)
        with self._lock:
            results = self._delete_ids(ctx, store, ids)
        return json_response(self._batch_status(results, 200), {"data": results})

    def _h_delete_one(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        self._require_module(ctx, store.spec.api_name, "DELETE")
        with self._lock:
            results = self._delete_ids(ctx, store, [ctx.request.path_params["id"]])
        return json_response(self._batch_status(results, 200), {"data": results})

    def _h_deleted(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        self._require_module(ctx, store.spec.api_name, "READ")
        kind = (ctx.param("type") or "all").lower()
        if kind not in ("all", "recycle", "permanent"):
            raise CRMFault(
                400,
                "PATTERN_NOT_MATCHED",
                "Please check whether the input values are correct",
                {"param_name": "type"},
            )
        since = self._if_modified_since(ctx)
        with self._lock:
            entries = [
                e
                for e in reversed(store.deleted)
                if (kind == "all" or e["type"] == kind) and (since is None or e["_epoch"] > since)
            ]
            rows = {e["id"] + ":" + str(n): e for n, e in enumerate(entries)}
            keys = list(rows)
            per_page, page, offset = self._page_window(ctx, None, cap=None)
            window = [rows[k] for k in keys[offset : offset + per_page]]
            data = [{k: v for k, v in e.items() if not k.startswith("_")} for e in window]
        if not data:
            return empty_response(304 if since is not None and not entries else 204)
        more = len(keys) > offset + len(window)
        return json_response(
            200,
            {
                "data": data,
                "info": self._info(ctx, per_page=per_page, count=len(data), page=page, more=more),
            },
        )

    # -- search and COQL ---------------------------------------------------------------------------

    def _h_search(self, ctx: _Ctx) -> FakeResponse:
        store = self._store(ctx)
        spec = store.spec
        self._require_module(ctx, spec.api_name, "READ")
        if (
            self.options.check_scopes
            and self.options.search_requires_securesearch
            and not self._has(ctx, "ZohoSearch.securesearch.READ", "ZohoSearch.securesearch.ALL")
        ):
            raise self._scope_mismatch()
        criteria, email, phone, word = (
            ctx.param(n) for n in ("criteria", "email", "phone", "word")
        )
        if criteria:
            predicate = compile_criteria(criteria, spec)
            key: tuple[Any, ...] = ("criteria", criteria)
        elif email:
            fields = [f.api_name for f in spec.fields if f.data_type == "email"]
            wanted = email.strip().casefold()
            predicate = lambda r: any(str(r.get(f) or "").casefold() == wanted for f in fields)  # noqa: E731
            key = ("email", wanted)
        elif phone:
            fields = [f.api_name for f in spec.fields if f.data_type == "phone"]
            digits = "".join(ch for ch in phone if ch.isdigit())
            if not digits:
                raise CRMFault(400, "INVALID_DATA", "invalid data", {"param_name": "phone"})
            predicate = lambda r: any(  # noqa: E731
                digits in "".join(ch for ch in str(r.get(f) or "") if ch.isdigit()) for f in fields
            )
            key = ("phone", digits)
        elif word is not None:
            text = word.strip().casefold()
            if len(text) < 2:
                raise CRMFault(
                    400,
                    "INVALID_DATA",
                    "the word must have at least 2 characters",
                    {"param_name": "word"},
                )
            fields = [f.api_name for f in spec.fields if f.data_type in _SEARCH_WORD_FIELDS]
            predicate = lambda r: any(text in str(r.get(f) or "").casefold() for f in fields)  # noqa: E731
            key = ("word", text)
        else:
            raise CRMFault(
                400,
                "REQUIRED_PARAM_MISSING",
                "One of the expected parameter is missing",
                {"param_name": "criteria|email|phone|word"},
            )
        wanted_fields = self._fields_param(ctx, spec, enforce=False)
        sort_by, descending = self._sort_params(ctx, spec)
        per_page = self._per_page(ctx)
        page = self._int_param(ctx, "page", 1)
        if page * per_page > self.options.search_max_records:
            raise CRMFault(
                400,
                "LIMIT_REACHED",
                "Maximum response iteration limit reached",
                {"limit": self.options.search_max_records},
            )
        with self._lock:
            ordered_all = store.ordered(sort_by, descending)
            rows = store.rows
            matched = store._cached(
                ("search", key, sort_by, descending),
                lambda: [i for i in ordered_all if predicate(rows[i])],
            )
        return self._list_response(
            ctx, spec, matched, rows, wanted=wanted_fields, binding=None, cap=None
        )

    def _h_coql(self, ctx: _Ctx) -> FakeResponse:
        if self.options.check_scopes and not self._has(
            ctx, "ZohoCRM.coql.READ", "ZohoCRM.coql.ALL"
        ):
            raise self._scope_mismatch()
        body = self._body(ctx)
        query = body.get("select_query")
        if not isinstance(query, str) or not query.strip():
            raise CRMFault(
                400,
                "REQUIRED_PARAM_MISSING",
                "One of the expected parameter is missing",
                {"param_name": "select_query"},
            )
        modern_limits = ctx.vnum >= (7, 0)
        compiled = compile_coql(
            query,
            {k: v for k, v in MODULES.items()},
            max_select=500 if modern_limits else 50,
            max_in_values=100 if modern_limits else 50,
            max_limit=self.options.coql_max_limit,
            max_reach=self.options.coql_max_reach,
        )
        self._require_module(ctx, compiled.module, "READ")

        def fetch(module: str, record_id: str) -> dict[str, Any] | None:
            store = self.stores.get(module)
            return store.rows.get(record_id) if store is not None else None

        with self._lock:
            rows, more = compiled.run(list(self.stores[compiled.module].rows.values()), fetch)
        if not rows:
            return empty_response(204)
        return json_response(
            200, {"data": rows, "info": {"count": len(rows), "more_records": more}}
        )

    # -- related lists -----------------------------------------------------------------------------

    def _parent(self, ctx: _Ctx) -> tuple[ModuleStore, dict[str, Any]]:
        store = self._store(ctx)
        record = store.rows.get(ctx.request.path_params["id"])
        if record is None:
            raise CRMFault(
                400,
                "INVALID_DATA",
                "the id given seems to be invalid",
                {"id": ctx.request.path_params["id"]},
            )
        return store, record

    def _relation(self, ctx: _Ctx, spec: ModuleSpec) -> RelatedList:
        name = ctx.request.path_params["related"]
        for rel in spec.related:
            if rel.api_name == name and rel.field is not None:
                return rel
        raise CRMFault(
            400,
            "INVALID_DATA",
            "the related list name given seems to be invalid",
            {"api_name": name},
        )

    def _h_related(self, ctx: _Ctx) -> FakeResponse:
        with self._lock:
            store, parent = self._parent(ctx)
        rel = self._relation(ctx, store.spec)
        self._require_module(ctx, store.spec.api_name, "READ")
        child = self.stores[rel.module]
        self._require_module(ctx, rel.module, "READ")
        wanted = self._fields_param(ctx, child.spec, enforce=False)
        sort_by, descending = self._sort_params(ctx, child.spec)
        with self._lock:
            ordered = child.ordered(sort_by, descending, match=(rel.field or "", parent["id"]))
        return self._list_response(
            ctx, child.spec, ordered, child.rows, wanted=wanted, binding=None, cap=None
        )

    def _relation_change(self, ctx: _Ctx, link: bool) -> FakeResponse:
        with self._lock:
            store, parent = self._parent(ctx)
            rel = self._relation(ctx, store.spec)
            self._require_module(ctx, rel.module, "UPDATE")
            child = self.stores[rel.module]
            related_id = ctx.request.path_params["related_id"]
            record = child.rows.get(related_id)
            if record is None:
                result = _error_item(
                    "INVALID_DATA", "the related id given seems to be invalid", {"id": related_id}
                )
                return json_response(400, {"data": [result]})
            current = record.get(rel.field or "")
            points_here = isinstance(current, dict) and current.get("id") == parent["id"]
            if link or points_here:
                updated = copy_record(record)
                updated[rel.field or ""] = (
                    self._lookup_ref(store.spec.api_name, parent["id"]) if link else None
                )
                now = self.now()
                updated["Modified_Time"] = iso(now, self.tz)
                updated["Modified_By"] = dict(ctx.user)
                child.put(updated, ctime=child.ctime[related_id], mtime=now)
            message = "relation added" if link else "relation removed"
            return json_response(
                200,
                {
                    "data": [
                        {
                            "code": "SUCCESS",
                            "details": {"id": related_id},
                            "message": message,
                            "status": "success",
                        }
                    ]
                },
            )

    def _h_relate(self, ctx: _Ctx) -> FakeResponse:
        return self._relation_change(ctx, link=True)

    def _h_delink(self, ctx: _Ctx) -> FakeResponse:
        return self._relation_change(ctx, link=False)


_ENCODER = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":"))


def _json(status: int, payload: Any) -> FakeResponse:
    """Like :func:`json_response`, a little faster for big pages (no circularity check)."""
    return FakeResponse(
        status, _ENCODER.encode(payload).encode("utf-8"), {"Content-Type": JSON_CONTENT_TYPE}
    )


_TEMPLATES: dict[str, dict[str, Any]] = {}
_LOOKUPS: dict[str, list[FieldSpec]] = {}


def _lookup_fields(spec: ModuleSpec) -> list[FieldSpec]:
    """The module's record lookups (not owner lookups), cached."""
    found = _LOOKUPS.get(spec.api_name)
    if found is None:
        found = _LOOKUPS[spec.api_name] = [
            f for f in spec.fields if f.data_type == "lookup" and f.lookup
        ]
    return found


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


def _match_key(value: Any) -> str | None:
    """Case-insensitive key used to find upsert duplicates on non-unique fields."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, dict):
        value = value.get("id")
    elif isinstance(value, list):
        value = ";".join(str(v) for v in value)
    elif isinstance(value, (date, datetime)):
        value = value.isoformat()
    return str(value).strip().casefold()


def _fake_user_email() -> str:
    try:
        from .accounts import FAKE_USER_EMAIL
    except ImportError:  # accounts is optional for unit use of the CRM part alone
        return _DEFAULT_FAKE_USER_EMAIL
    return str(FAKE_USER_EMAIL)


def install(fake: FakeZoho, **options: Any) -> FakeCRM:
    """Create the org's :class:`FakeCRM` and register its routes on ``fake``; return it."""
    crm = FakeCRM(fake, **options)
    crm.install_routes()
    return crm
