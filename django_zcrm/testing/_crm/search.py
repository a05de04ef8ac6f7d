"""Search routes: ``/{module}/search`` (criteria, email, phone, word) and COQL (``POST /coql``)."""

from __future__ import annotations

from typing import Any, ClassVar

from ...services.limits import coql_limits
from .._server.messages import FakeResponse, empty_response, json_response
from .coql_index import candidates
from .query import compile_coql, compile_criteria
from .request import CRMRequests
from .routes import Route
from .schema import MODULES
from .util import CRMContext as _Ctx
from .util import CRMFault, invalid_param, missing_param

_SEARCH_WORD_FIELDS = ("text", "textarea", "email", "phone", "website", "picklist")


class SearchRoutes(CRMRequests):
    """Handlers of record search and COQL queries."""

    ROUTES: ClassVar[tuple[Route, ...]] = (
        Route("POST /crm/{version}/coql", "_h_coql"),
        Route("GET /crm/{version}/{module}/search", "_h_search"),
    )

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
                raise invalid_param("phone")
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
            raise missing_param("criteria|email|phone|word")
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
            raise missing_param("select_query")
        # The same per-version table the client plans its COQL windows with.
        limits = coql_limits(f"v{ctx.vnum[0]}" + (f".{ctx.vnum[1]}" if ctx.vnum[1] else ""))
        options = self.options
        compiled = compile_coql(
            query,
            {k: v for k, v in MODULES.items()},
            max_select=options.coql_max_columns or limits.max_columns,
            max_in_values=limits.max_in_values,
            max_limit=options.coql_max_limit or limits.max_limit,
            max_reach=options.coql_max_reach or limits.max_reach,
        )
        self._require_module(ctx, compiled.module, "READ")

        def fetch(module: str, record_id: str) -> dict[str, Any] | None:
            store = self.stores.get(module)
            return store.rows.get(record_id) if store is not None else None

        with self._lock:
            stored = self.stores[compiled.module].rows
            narrowed = candidates(query, stored)
            rows, more = compiled.run(
                narrowed if narrowed is not None else list(stored.values()), fetch
            )
        if not rows:
            return empty_response(204)
        return json_response(
            200, {"data": rows, "info": {"count": len(rows), "more_records": more}}
        )
