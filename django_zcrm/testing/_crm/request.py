"""What CRM handlers share: authentication, scopes, parameters, paging and rendering."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from .._server.messages import JSON_CONTENT_TYPE, FakeRequest, FakeResponse, empty_response
from .core import CRMCore, PageToken
from .routes import Route
from .schema import FieldSpec, ModuleSpec
from .store import ModuleStore
from .util import CRMContext as _Ctx
from .util import CRMFault, invalid_param, iso, missing_param, parse_http_or_iso, version_number


@dataclass
class _PageToken:
    binding: tuple[Any, ...]
    offset: int
    expires_at: float


class CRMRequests(CRMCore):
    """Request-side helpers shared by the route families."""

    #: The family's routes, tried in order (see :mod:`.routes`); the base class has none.
    ROUTES: ClassVar[tuple[Route, ...]] = ()

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
                raise missing_param("fields")
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

    def _module_param(self, ctx: _Ctx) -> str:
        module = ctx.param("module")
        if not module:
            raise missing_param("module")
        return module

    def _sort_params(self, ctx: _Ctx, spec: ModuleSpec) -> tuple[str, bool]:
        sort_by = ctx.param("sort_by")
        sort_order = ctx.param("sort_order")
        if sort_order is not None and sort_order.lower() not in ("asc", "desc"):
            raise invalid_param("sort_order")
        if sort_by:
            if sort_by != "id" and spec.get_field(sort_by) is None:
                raise invalid_param("sort_by")
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
            raise invalid_param(name) from None
        if value < 1:
            raise invalid_param(name)
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
            raise missing_param(key)
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
            raise missing_param("ids")
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
            self._page_tokens[token] = PageToken(binding, offset, expires)
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


_ENCODER = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":"))


def _json(status: int, payload: Any) -> FakeResponse:
    """Like :func:`json_response`, a little faster for big pages (no circularity check)."""
    return FakeResponse(
        status, _ENCODER.encode(payload).encode("utf-8"), {"Content-Type": JSON_CONTENT_TYPE}
    )


_LOOKUPS: dict[str, list[FieldSpec]] = {}


def _lookup_fields(spec: ModuleSpec) -> list[FieldSpec]:
    """The module's record lookups (not owner lookups), cached."""
    found = _LOOKUPS.get(spec.api_name)
    if found is None:
        found = _LOOKUPS[spec.api_name] = [
            f for f in spec.fields if f.data_type == "lookup" and f.lookup
        ]
    return found
