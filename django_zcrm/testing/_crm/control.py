"""The Python control API tests use to set up and steer the fake CRM (``fake.crm.seed(...)`` etc.).

Changes made here go through the same record lifecycle as API writes (:meth:`CRMCore._insert`,
:meth:`CRMCore._replace`, :meth:`CRMCore._delete_record`) with ``source=SOURCE_CONTROL``.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from .core import SOURCE_CONTROL, CRMCore
from .faults import FAULT_KINDS, FaultPlan
from .schema import ModuleSpec, field_metadata, is_empty
from .seed import GENERATORS, Lookups
from .store import copy_record
from .util import iso


class ControlAPI(CRMCore):
    """Seeding, direct record changes, notes and attachments, CRM faults, field metadata."""

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
                    name: [ref for rid in store.rows if (ref := self._lookup_ref(name, rid))]
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
                self._insert(store, record, ctime=ctime, mtime=mtime, source=SOURCE_CONTROL)
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
                self._insert(store, record, ctime=ctime, mtime=mtime, source=SOURCE_CONTROL)
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
                self._replace(store, record, mtime=now, source=SOURCE_CONTROL)

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
                self._delete_record(
                    store,
                    record_id,
                    self.default_user(),
                    permanent=permanent,
                    source=SOURCE_CONTROL,
                )

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
        self._faults.add(FaultPlan(kind, times, endpoint, module, retry_after, after_write))

    def clear_faults(self) -> None:
        """Discard CRM faults that have not fired."""
        self._faults.clear()

    def pending_faults(self) -> int:
        """How many CRM fault answers are still waiting."""
        return self._faults.pending()
