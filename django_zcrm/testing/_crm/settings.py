"""Users, org and settings routes of the fake CRM.

Users come from the fake Accounts server (``fake.accounts.users``); the primary user is the org's
administrator. Metadata documents are built by :mod:`.meta` and :mod:`.schema`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from .._server.messages import FakeResponse, empty_response, json_response
from .meta import custom_views, layout, module_metadata, related_lists, user_document
from .request import CRMRequests
from .routes import Route
from .schema import MODULES, ModuleSpec, field_metadata
from .util import CRMContext as _Ctx
from .util import CRMFault, invalid_param

__all__ = ["SettingsRoutes"]


class SettingsRoutes(CRMRequests):
    """Handlers for ``/users``, ``/org`` and ``/settings/...``."""

    ROUTES: ClassVar[tuple[Route, ...]] = (
        Route("GET /crm/{version}/org", "_h_org"),
        Route("GET /crm/{version}/users", "_h_users"),
        Route("GET /crm/{version}/users/{id}", "_h_user"),
        Route("GET /crm/{version}/settings/modules", "_h_modules"),
        Route("GET /crm/{version}/settings/modules/{module}", "_h_module"),
        Route("GET /crm/{version}/settings/fields", "_h_fields"),
        Route("GET /crm/{version}/settings/fields/{id}", "_h_field"),
        Route("GET /crm/{version}/settings/layouts", "_h_layouts"),
        Route("GET /crm/{version}/settings/layouts/{id}", "_h_layout"),
        Route("GET /crm/{version}/settings/custom_views", "_h_custom_views"),
        Route("GET /crm/{version}/settings/related_lists", "_h_related_lists"),
    )

    def _user_docs(self) -> list[dict[str, Any]]:
        admin_email = self.default_user()["email"]
        creator = self.default_user()
        docs = []
        for email, user in self._account_users().items():
            docs.append(
                user_document(
                    user_id=self.user_id(email),
                    zuid=str(getattr(user, "zuid", "")),
                    email=email,
                    first_name=getattr(user, "first_name", "") or "",
                    last_name=getattr(user, "last_name", "") or "",
                    admin=email == admin_email,
                    creator=creator,
                    tz=self.tz,
                    time_zone=self.options.time_zone,
                )
            )
        return docs

    def _h_users(self, ctx: _Ctx) -> FakeResponse:
        self._require(ctx, "users")
        kind = ctx.param("type") or "AllUsers"
        docs = self._user_docs()
        filters: dict[str, Callable[[dict[str, Any]], bool]] = {
            "AllUsers": lambda d: True,
            "ActiveUsers": lambda d: True,
            "ConfirmedUsers": lambda d: True,
            "ActiveConfirmedUsers": lambda d: True,
            "DeactiveUsers": lambda d: False,
            "NotConfirmedUsers": lambda d: False,
            "DeletedUsers": lambda d: False,
            "AdminUsers": lambda d: d["profile"]["name"] == "Administrator",
            "ActiveConfirmedAdmins": lambda d: d["profile"]["name"] == "Administrator",
            "CurrentUser": lambda d: d["email"].lower() == ctx.user_email.lower(),
        }
        if kind not in filters:
            raise invalid_param("type")
        docs = [d for d in docs if filters[kind](d)]
        per_page, page, offset = self._page_window(ctx, None, cap=None)
        window = docs[offset : offset + per_page]
        if not window:
            return empty_response(204)
        info = self._info(
            ctx,
            per_page=per_page,
            count=len(window),
            page=page,
            more=len(docs) > offset + len(window),
        )
        return json_response(200, {"users": window, "info": info})

    def _h_user(self, ctx: _Ctx) -> FakeResponse:
        self._require(ctx, "users")
        wanted = ctx.request.path_params["id"]
        for doc in self._user_docs():
            if doc["id"] == wanted:
                return json_response(200, {"users": [doc]})
        return empty_response(204)

    def _h_org(self, ctx: _Ctx) -> FakeResponse:
        self._require(ctx, "org")
        with self._lock:
            return json_response(200, {"org": [dict(self.org)]})

    def _settings_spec(self, ctx: _Ctx, module: str) -> ModuleSpec:
        return self._store(ctx, module, records_only=False).spec

    def _h_modules(self, ctx: _Ctx) -> FakeResponse:
        self._require(ctx, "settings", "modules")
        docs = [
            module_metadata(spec, sequence=n, detailed=False, tz=self.tz)
            for n, spec in enumerate(MODULES.values(), start=1)
        ]
        return json_response(200, {"modules": docs})

    def _h_module(self, ctx: _Ctx) -> FakeResponse:
        self._require(ctx, "settings", "modules")
        spec = self._settings_spec(ctx, ctx.request.path_params["module"])
        sequence = list(MODULES).index(spec.api_name) + 1
        return json_response(
            200, {"modules": [module_metadata(spec, sequence=sequence, detailed=True, tz=self.tz)]}
        )

    def _h_fields(self, ctx: _Ctx) -> FakeResponse:
        self._require(ctx, "settings", "fields")
        spec = self._settings_spec(ctx, self._module_param(ctx))
        docs = [
            field_metadata(spec, f, modern=ctx.modern, sequence=n)
            for n, f in enumerate(spec.fields, start=1)
        ]
        return json_response(200, {"fields": docs})

    def _h_field(self, ctx: _Ctx) -> FakeResponse:
        self._require(ctx, "settings", "fields")
        spec = self._settings_spec(ctx, self._module_param(ctx))
        for n, f in enumerate(spec.fields, start=1):
            if f.id == ctx.request.path_params["id"]:
                return json_response(
                    200, {"fields": [field_metadata(spec, f, modern=ctx.modern, sequence=n)]}
                )
        raise CRMFault(
            400,
            "INVALID_DATA",
            "the id given seems to be invalid",
            {"id": ctx.request.path_params["id"]},
        )

    def _h_layouts(self, ctx: _Ctx) -> FakeResponse:
        return self._layouts(ctx, layout_id=None)

    def _h_layout(self, ctx: _Ctx) -> FakeResponse:
        return self._layouts(ctx, layout_id=ctx.request.path_params["id"])

    def _layouts(self, ctx: _Ctx, *, layout_id: str | None) -> FakeResponse:
        # Each fake module has one layout: the list and the single layout answer the same body.
        self._require(ctx, "settings", "layouts")
        spec = self._settings_spec(ctx, self._module_param(ctx))
        if layout_id is not None and layout_id != spec.layout_id:
            raise CRMFault(
                400, "INVALID_DATA", "the id given seems to be invalid", {"id": layout_id}
            )
        return json_response(
            200,
            {"layouts": [layout(spec, modern=ctx.modern, creator=self.default_user(), tz=self.tz)]},
        )

    def _h_custom_views(self, ctx: _Ctx) -> FakeResponse:
        self._require(ctx, "settings", "custom_views")
        spec = self._settings_spec(ctx, self._module_param(ctx))
        views = custom_views(spec)
        info = {
            "per_page": 200,
            "default": spec.custom_view_id,
            "count": len(views),
            "page": 1,
            "more_records": False,
            "translation": {
                "public_views": "Public Views",
                "other_users_views": "Other Users' Views",
                "shared_with_me": "Shared With Me",
                "created_by_me": "Created By Me",
            },
        }
        return json_response(200, {"custom_views": views, "info": info})

    def _h_related_lists(self, ctx: _Ctx) -> FakeResponse:
        self._require(ctx, "settings", "related_lists")
        spec = self._settings_spec(ctx, self._module_param(ctx))
        return json_response(200, {"related_lists": related_lists(spec, modern=ctx.modern)})
