"""Admin for Zoho tokens (state at a glance, paste a grant token, connect, refresh, revoke) and
read-only views of the sync checkpoints and the generic CRM record mirror.

Tokens never appear on any page: the admin shows state, expiry, data centre and at most a
masked tail. Rows are read-only and cannot be added by hand; tokens enter through the "Paste
grant token" page or the "Connect to Zoho" flow, which need ``django_zcrm.add_oauthtoken``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters

from . import token_admin, views
from .conf import get_settings
from .exceptions import ZCRMConfigurationError, ZCRMError
from .forms import GRANT_TOKEN_LIFETIME, GrantTokenForm
from .models import CRMRecord, OAuthToken, SyncState
from .notifications import admin as notification_admin  # noqa: F401  (registers its admins)
from .sync.superseded import superseded_by
from .tokens import now_ms

#: Layout of the lists and token pages at laptop and phone widths (no sideways scrolling).
ADMIN_CSS = "django_zcrm/admin.css"
#: Characters of an error kept in a cell's tooltip (the change page shows it whole).
TOOLTIP_LIMIT = 1000


class TokenStateFilter(admin.SimpleListFilter):
    """Filter rows by what a person cares about: valid, expired or needing a reconnect."""

    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> tuple:
        """The three states a row can be filtered by."""
        return (
            ("valid", _("valid")),
            ("expired", _("expired")),
            ("needs_reauth", _("needs reconnect")),
        )

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """Rows in the chosen state."""
        now = now_ms()
        if self.value() == "needs_reauth":
            return queryset.filter(needs_reauth=True)
        if self.value() == "valid":
            return queryset.filter(needs_reauth=False, expirytime__gt=now)
        if self.value() == "expired":
            return queryset.filter(needs_reauth=False, expirytime__lte=now)
        return queryset


#: Columns holding (encrypted) tokens: no lookup, search or ordering may ever touch them, or
#: row counts would reveal a token a character at a time.
TOKEN_COLUMNS = frozenset({"accesstoken", "refreshtoken"})
#: The only columns the changelist's query string may filter on.
FILTERABLE_COLUMNS = frozenset({"useridentifier", "needs_reauth", "expirytime"})


def touches_token_column(expression: object) -> bool:
    """True when a lookup, ordering or expression names a token column anywhere."""
    text = str(expression).lower()
    return any(column in text for column in TOKEN_COLUMNS)


class TokenChangeList(ChangeList):
    """The changelist, with any ordering on a token column dropped (defence in depth)."""

    def get_ordering(self, request: HttpRequest, queryset: QuerySet) -> list:
        """The usual ordering minus anything that names a token column."""
        return [o for o in super().get_ordering(request, queryset) if not touches_token_column(o)]


@admin.register(OAuthToken)
class OAuthTokenAdmin(admin.ModelAdmin):
    """The ``oauthtokens`` table, read-only, with token actions.

    The query string may filter on a few non-secret columns only: Django's default lets a viewer
    filter on any column (``?refreshtoken__startswith=1000.a``), which leaks a token through row
    counts. A disallowed lookup is a 400 with nothing counted.
    """

    change_list_template = "django_zcrm/admin/oauthtoken/change_list.html"
    list_display = (
        "zoho_user",
        "state",
        "expiry",
        "last_refresh",
        "data_centre",
        "last_error_words",
        "access_token_tail",
    )
    list_display_links = ("zoho_user",)
    list_filter = (TokenStateFilter,)
    search_fields = ("useridentifier",)
    sortable_by = ("zoho_user", "expiry", "last_refresh")
    actions = ("refresh_now", "revoke_and_delete", "delete_without_revoking")
    fields = (
        "useridentifier",
        "state",
        "expiry",
        "expires_at",
        "last_refresh",
        "data_centre",
        "api_domain_shown",
        "accounts_server",
        "last_error_words",
        "access_token_tail",
        "refresh_token_tail",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    class Media:
        css = {"all": (ADMIN_CSS,)}

    # -- permissions: read-only rows, no hand-made rows, deletion only through the actions ----

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Tokens enter only through the paste page or the web flow."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Rows are never edited; the model permission still gates the refresh action."""
        if obj is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """No plain delete page: deleting goes through an action that says whether it revokes."""
        if obj is not None:
            return False
        return super().has_delete_permission(request, obj)

    def can_connect(self, request: HttpRequest) -> bool:
        """May this person store new tokens (paste page, Connect to Zoho)?"""
        return views.can_connect(request.user)

    # -- no query may touch a token column -------------------------------------------------------

    def lookup_allowed(self, lookup: str, value: Any, request: Any = None) -> bool:
        """Only the list filters' parameters and lookups on FILTERABLE_COLUMNS (never a token)."""
        if touches_token_column(lookup):
            return False
        filters = {
            f.parameter_name
            for f in self.get_list_filter(request)
            if isinstance(f, type) and issubclass(f, admin.SimpleListFilter)
        }
        return lookup in filters or lookup.split("__", 1)[0] in FILTERABLE_COLUMNS

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Search the user identifier only, whatever ``search_fields`` says."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(useridentifier__icontains=term), False

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        """The model's ordering, never a token column."""
        return [o for o in super().get_ordering(request) if not touches_token_column(o)]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        """A changelist that drops any ordering on a token column."""
        return TokenChangeList

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Rows from ZCRM['TOKEN_DATABASE'], where the database store keeps them."""
        return super().get_queryset(request).using(token_admin.token_database())

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        """Our actions only: the stock "delete selected" would leave live tokens at Zoho."""
        # Django 6.1 passes action_location and warns about overrides that cannot take it;
        # Django 5.2 and 6.0 know no such argument.
        if action_location is None:
            actions = super().get_actions(request)
        else:
            actions = super().get_actions(request, action_location=action_location)  # type: ignore[call-arg]
        actions.pop("delete_selected", None)
        return actions

    # -- columns -------------------------------------------------------------------------------

    @staticmethod
    def _view(obj: OAuthToken) -> token_admin.TokenRowView:
        cached = getattr(obj, "_zcrm_view", None)
        if cached is None:
            cached = token_admin.describe_row(obj)
            obj._zcrm_view = cached  # type: ignore[attr-defined]
        return cached

    @admin.display(description=_("Zoho user"), ordering="useridentifier")
    def zoho_user(self, obj: OAuthToken) -> str:
        """The e-mail the tokens are stored under."""
        return obj.useridentifier

    @admin.display(description=_("data centre"))
    def data_centre(self, obj: OAuthToken) -> str:
        """The data centre code (or accounts host) the tokens belong to."""
        return self._view(obj).data_centre

    @admin.display(description=_("expires"), ordering="expirytime")
    def expiry(self, obj: OAuthToken) -> str:
        """ "in 42 minutes" or "expired"."""
        return self._view(obj).expiry

    @admin.display(description=_("expires at"))
    def expires_at(self, obj: OAuthToken) -> str:
        """The access token's expiry in the admin's date format (as created/updated are shown)."""
        return human_datetime(self._view(obj).expires_at)

    @admin.display(description=_("API domain"))
    def api_domain_shown(self, obj: OAuthToken) -> str:
        """The CRM API host Zoho named for these tokens."""
        # A display method, not a verbose_name on the field: that would need a migration.
        return obj.api_domain or "-"

    @admin.display(description=_("state"))
    def state(self, obj: OAuthToken) -> str:
        """valid, expired, throttled or needs reconnect."""
        return self._view(obj).state_label

    @admin.display(description=_("last refresh"), ordering="last_refreshed_at")
    def last_refresh(self, obj: OAuthToken) -> str:
        """How long ago an access token was last minted."""
        return self._view(obj).last_refresh

    @admin.display(description=_("last error"))
    def last_error_words(self, obj: OAuthToken) -> str:
        """The last token error in words (clipped in the list, whole in its tooltip), or a dash."""
        return clipped(self._view(obj).last_error)

    @admin.display(description=_("access token"))
    def access_token_tail(self, obj: OAuthToken) -> str:
        """At most the last four characters."""
        return self._view(obj).access_token_tail

    @admin.display(description=_("refresh token"))
    def refresh_token_tail(self, obj: OAuthToken) -> str:
        """At most the last four characters."""
        return self._view(obj).refresh_token_tail

    # -- actions -------------------------------------------------------------------------------

    def _report(self, request: HttpRequest, outcomes: list[token_admin.Outcome]) -> None:
        for outcome in outcomes:
            self.message_user(
                request, outcome.message, messages.SUCCESS if outcome.ok else messages.ERROR
            )

    @staticmethod
    def _users(queryset: QuerySet) -> list[str]:
        return list(queryset.values_list("useridentifier", flat=True))

    @admin.action(description=_("Refresh the access token now"), permissions=["change"])
    def refresh_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Mint a new access token for each selected user."""
        self._report(request, token_admin.refresh_users(self._users(queryset)))

    @admin.action(description=_("Revoke at Zoho and delete"), permissions=["delete"])
    def revoke_and_delete(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """Revoke each selected refresh token at Zoho, then delete the row (after confirming)."""
        if request.POST.get("post") != "yes":
            return self._confirm(
                request,
                queryset,
                "revoke_and_delete",
                _(
                    "Each refresh token is revoked at Zoho (which also ends its access tokens) and "
                    "the row is deleted. A user whose token Zoho cannot revoke now is kept."
                ),
            )
        self._report(request, token_admin.revoke_users(self._users(queryset)))
        return None

    @admin.action(description=_("Delete here without revoking at Zoho"), permissions=["delete"])
    def delete_without_revoking(
        self, request: HttpRequest, queryset: QuerySet
    ) -> HttpResponse | None:
        """Delete the selected rows only (for tokens Zoho already forgot), after confirming."""
        if request.POST.get("post") != "yes":
            return self._confirm(
                request,
                queryset,
                "delete_without_revoking",
                _(
                    "The rows are deleted here only. Zoho keeps the refresh tokens valid until they "
                    "are revoked in Zoho (Accounts > Connected Apps): use this only for tokens Zoho "
                    "no longer knows."
                ),
            )
        self._report(request, token_admin.forget_users(self._users(queryset)))
        return None

    def _confirm(
        self, request: HttpRequest, queryset: QuerySet, action: str, explanation: Any
    ) -> TemplateResponse:
        """Django's delete-confirmation page (layout, summary, red button), for one of our actions."""
        rows = list(queryset)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Are you sure?"),
            "subtitle": None,
            "opts": self.opts,
            "media": self.media,
            "users": [row.useridentifier for row in rows],
            "objects": [(row.useridentifier, self._change_url(row)) for row in rows],
            "model_count": [(self.opts.verbose_name_plural, len(rows))],
            "action": action,
            "action_label": _action_description(self.get_actions(request)[action]),
            "explanation": explanation,
            "selected": [row.pk for row in rows],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": self._changelist_url(),
        }
        return TemplateResponse(request, "django_zcrm/admin/confirm_action.html", context)

    def _change_url(self, row: OAuthToken) -> str:
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
            args=[row.pk],
            current_app=self.admin_site.name,
        )

    # -- custom pages ----------------------------------------------------------------------------

    def get_urls(self) -> list:
        """The paste and connect pages, before the model's default URLs."""
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        custom = [
            # sensitive_post_parameters: Django's error reports never show the pasted code.
            path(
                "paste/",
                self.admin_site.admin_view(
                    sensitive_post_parameters("grant_token")(self.paste_view)
                ),
                name=f"{prefix}_paste",
            ),
            path(
                "connect/", self.admin_site.admin_view(self.connect_view), name=f"{prefix}_connect"
            ),
        ]
        return custom + super().get_urls()

    def _changelist_url(self) -> str:
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist",
            current_app=self.admin_site.name,
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        """The list, plus the paste/connect buttons and a note when tokens live elsewhere."""
        extra = {
            "title": capfirst(self.opts.verbose_name_plural),
            "zcrm_can_connect": self.can_connect(request),
            "zcrm_store_note": token_admin.store_description(),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    def _page(
        self, request: HttpRequest, template: str, *, status: int = 200, **context: Any
    ) -> TemplateResponse:
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                # Every variable the admin templates read is set: Django logs a missing one
                # with the request, whose query string holds Zoho's code on the callback.
                "subtitle": None,
                "opts": self.opts,
                "media": self.media,
                "changelist_url": self._changelist_url(),
                **context,
            },
            status=status,
        )

    def connect_url(self) -> str:
        """The admin's "Connect to Zoho" page."""
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_connect",
            current_app=self.admin_site.name,
        )

    def refused_callback(self, request: HttpRequest, message: str, status: int) -> HttpResponse:
        """A refused answer from Zoho, shown in the admin when the flow was started there."""
        return self._page(
            request,
            "django_zcrm/admin/callback_refused.html",
            status=status,
            title=_("Zoho connection refused"),
            message=message,
            start_url=self.connect_url(),
        )

    def paste_view(self, request: HttpRequest) -> HttpResponse:
        """Exchange a pasted grant token; on success go back to the list with a message."""
        if not self.can_connect(request):
            raise PermissionDenied
        form = GrantTokenForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                tokens = token_admin.store_grant_token(
                    form.cleaned_data["grant_token"], form.cleaned_data["user_email"]
                )
            except (ZCRMError, ZCRMConfigurationError) as exc:
                form.add_error(None, token_admin.grant_error_message(exc))
            else:
                row = token_admin.describe_tokens(tokens)
                self.message_user(
                    request,
                    _(
                        "Stored Zoho tokens for %(user)s: the access token expires %(expiry)s and "
                        "refreshes itself."
                    )
                    % {"user": tokens.user_identifier, "expiry": row.expiry},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(self._changelist_url())
        return self._page(
            request,
            "django_zcrm/admin/paste_grant_token.html",
            title=_("Paste a Zoho grant token"),
            form=form,
            scopes=",".join(get_settings().scopes),
            scope_list=list(get_settings().scopes),
            grant_lifetime=GRANT_TOKEN_LIFETIME,
            api_console_url=token_admin.api_console_url(),
            accounts_url=get_settings().accounts_url,
        )

    def connect_view(self, request: HttpRequest) -> HttpResponse:
        """GET: explain and show the button; POST: go to Zoho's consent page."""
        if not self.can_connect(request):
            raise PermissionDenied
        if request.method == "POST":
            return views.begin_connect(
                request, self._changelist_url(), admin_site=self.admin_site.name
            )
        return self._page(
            request, "django_zcrm/admin/connect.html", **views.connect_page_context(request)
        )


# -- sync visibility: checkpoints and the generic record mirror, read-only -------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the sync engine: people look, never add, edit or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Rows come from the sync engine only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Editing a checkpoint or a mirrored record by hand would desynchronise it."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Deleting is left to the sync engine and its commands."""
        return False


@admin.register(SyncState)
class SyncStateAdmin(ReadOnlyAdmin):
    """Where each module's sync stands: checkpoint, last success, last error, running lease."""

    list_display = (
        "module",
        "target",
        "direction",
        "status",
        "cursor",
        "last_success_at",
        "running",
        "pending_retry",
        "last_error_words",
        "superseded",
    )
    list_filter = ("module", "direction", "status")
    search_fields = ("module", "target")

    class Media:
        css = {"all": (ADMIN_CSS,)}

    @admin.display(description=_("to retry"))
    def pending_retry(self, obj: SyncState) -> str:
        """Records that could not be stored and wait to be read again (and any not kept)."""
        count = len(obj.failed_ids or ())
        if obj.failed_overflow_at:
            return f"{count} (list full: run zcrm_sync --full)"
        return str(count) if count else "-"

    @admin.display(description=_("running"))
    def running(self, obj: SyncState) -> str:
        """Who holds the lease and until when, or a dash."""
        if obj.lease_owner and obj.lease_until:
            return f"until {human_datetime(obj.lease_until)} ({obj.lease_owner})"
        return "-"

    @admin.display(description=_("last error"))
    def last_error_words(self, obj: SyncState) -> str:
        """The last error, clipped in the list (whole in its tooltip and on the change page)."""
        return clipped(obj.last_error)

    @admin.display(description=_("superseded"))
    def superseded(self, obj: SyncState) -> str:
        """For a CRMRecord mirror whose module now syncs into a typed model: that model."""
        label = superseded_by(obj)
        return _("by %(model)s: no longer updated") % {"model": label} if label else "-"


class CRMModuleFilter(admin.SimpleListFilter):
    """Filter mirrored records by CRM module (the modules present in the table)."""

    title = _("module")
    parameter_name = "module"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        """Every module with at least one mirrored record."""
        modules = (
            model_admin.get_queryset(request)
            .order_by("module")
            .values_list("module", flat=True)
            .distinct()
        )
        return [(m, m) for m in modules]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """Records of the chosen module."""
        return queryset.filter(module=self.value()) if self.value() else queryset


@admin.register(CRMRecord)
class CRMRecordAdmin(ReadOnlyAdmin):
    """The generic mirror of CRM records; search by Zoho id or by any text in the record."""

    list_display = ("zoho_id", "module", "summary", "modified_time", "deleted", "synced_at")
    list_filter = (CRMModuleFilter, "deleted")
    search_fields = ("zoho_id", "data")
    search_help_text = _("A Zoho record id, or any text in the record.")

    class Media:
        css = {"all": (ADMIN_CSS,)}

    def _columns(self) -> list[str]:
        names = [f.name for f in self.model._meta.fields if f.name not in ("id", "data")]
        return names + ["record_json"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str | list[str]]:  # type: ignore[override]
        """Every column, with the record shown as indented JSON instead of one line."""
        return list(self._columns())

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        """All of them."""
        return self._columns()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Exact Zoho id, or the text anywhere in the record's JSON (as typed or JSON-escaped)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(zoho_id=term) | Q(data__icontains=term)
        escaped = json.dumps(term)[1:-1]
        if escaped != term:
            # Non-ASCII text is stored \u-escaped by some backends.
            condition |= Q(data__icontains=escaped)
        return queryset.filter(condition), False

    @admin.display(description=_("record"))
    def summary(self, obj: CRMRecord) -> str:
        """The record's name-like field (Full_Name, Account_Name, Deal_Name, Subject, ...)."""
        return _record_summary(obj.data)

    @admin.display(description=_("record"))
    def record_json(self, obj: CRMRecord) -> str:
        """The whole record as Zoho sent it, indented."""
        return format_html(
            "<pre>{}</pre>",
            json.dumps(obj.data, indent=2, ensure_ascii=False, sort_keys=True, default=str),
        )


SUMMARY_FIELDS = (
    "Full_Name",
    "Account_Name",
    "Deal_Name",
    "Subject",
    "Name",
    "Product_Name",
    "Vendor_Name",
    "Campaign_Name",
    "Solution_Title",
    "Case_Number",
    "Last_Name",
    "Email",
)


def _record_summary(data: Any) -> str:
    """A name for a mirrored CRM record: its first name-like field, else a dash."""
    if not isinstance(data, dict):
        return "-"
    for name in SUMMARY_FIELDS:
        value = data.get(name)
        if isinstance(value, dict):  # lookups arrive as {"name": ..., "id": ...}
            value = value.get("name")
        if value not in (None, ""):
            return _shorten(str(value))
    return "-"


def human_datetime(value: Any) -> str:
    """A date and time as the admin shows model fields: local time zone, DATETIME_FORMAT."""
    if value is None:
        return "-"
    if isinstance(value, datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return formats.localize(value)


def clipped(text: str | None) -> str:
    """``text`` on one line for a list cell that clips it, whole (up to a limit) in its tooltip."""
    flat = _shorten(text, TOOLTIP_LIMIT)
    if not flat:
        return "-"
    return format_html('<span class="zcrm-clip" title="{}">{}</span>', flat, flat)


def _shorten(text: str | None, limit: int = 120) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _action_description(entry: Any) -> str:
    """An admin action's label: an Action object on Django 6.1+, a (func, name, label) tuple before."""
    return entry.description if hasattr(entry, "description") else entry[2]
