"""The web-client flow: "Connect to Zoho" and the redirect URI Zoho sends the browser back to.

Include ``django_zcrm.urls`` in the project (e.g. under ``zoho/``) and register
``https://<your host>/zoho/callback/`` as the client's redirect URI in the Zoho API console (or
set ZCRM['REDIRECT_URI'] to the exact URI registered). Only active staff with the permission
``django_zcrm.add_oauthtoken`` may connect, since the tokens act for the whole site.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.sites import all_sites
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from . import token_admin, webflow
from .conf import get_settings
from .exceptions import ZCRMConfigurationError
from .models import OAuthToken

CONNECT_PERMISSION = "django_zcrm.add_oauthtoken"
#: Session key naming the admin site a "Connect to Zoho" was started from (absent: the plain page).
ADMIN_ORIGIN_KEY = "django_zcrm_connect_admin_site"


def can_connect(user: Any) -> bool:
    """True for active staff allowed to store Zoho tokens."""
    return bool(user.is_active and user.is_staff and user.has_perm(CONNECT_PERMISSION))


def _login_url() -> str:
    try:
        return reverse("admin:login")
    except NoReverseMatch:
        return str(settings.LOGIN_URL)


def _token_manager_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        # AnonymousUser and custom user models may lack is_staff: treat that as not staff.
        if not (user.is_authenticated and user.is_active and getattr(user, "is_staff", False)):
            return redirect_to_login(request.get_full_path(), _login_url())
        if not can_connect(user):
            raise PermissionDenied(f"Connecting Zoho needs the permission {CONNECT_PERMISSION}.")
        return view(request, *args, **kwargs)

    return never_cache(wrapped)


def callback_url(request: HttpRequest) -> str:
    """ZCRM['REDIRECT_URI'], else this site's ``zcrm:callback`` as an absolute URL."""
    configured = get_settings().REDIRECT_URI
    if configured:
        return configured
    try:
        path = reverse("zcrm:callback")
    except NoReverseMatch as exc:
        raise ZCRMConfigurationError(
            "The Zoho callback URL is unknown: include django_zcrm.urls in your URLconf, e.g. "
            "path('zoho/', include('django_zcrm.urls')), or set ZCRM['REDIRECT_URI']."
        ) from exc
    return request.build_absolute_uri(path)


def default_landing_url() -> str:
    """The token changelist in the admin, else the plain connect page."""
    try:
        return reverse("admin:django_zcrm_oauthtoken_changelist")
    except NoReverseMatch:
        return reverse("zcrm:connect")


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    """``candidate`` if it is a local URL, else the default landing page."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default_landing_url()


def begin_connect(
    request: HttpRequest, next_url: str, admin_site: str | None = None
) -> HttpResponse:
    """Send the browser to Zoho's consent page (shared by the admin and the plain view).

    ``admin_site`` (the admin site's name) is remembered so that a refused answer from Zoho is
    shown inside that admin, with its "Start again" leading back there.
    """
    if admin_site:
        request.session[ADMIN_ORIGIN_KEY] = admin_site
    else:
        request.session.pop(ADMIN_ORIGIN_KEY, None)
    try:
        url = webflow.start_authorization(
            request.session, redirect_uri=callback_url(request), next_url=next_url
        )
    except ZCRMConfigurationError as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(request.get_full_path())
    return HttpResponseRedirect(url)


@require_http_methods(["GET", "POST"])
@_token_manager_required
def connect(request: HttpRequest) -> HttpResponse:
    """GET: a page with the "Connect to Zoho" button; POST: redirect to Zoho's consent page."""
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method == "POST":
        return begin_connect(request, next_url)
    context = connect_page_context(request)
    context["next"] = next_url
    return render(request, "django_zcrm/connect.html", context)


def connect_page_context(request: HttpRequest) -> dict[str, Any]:
    """What the connect pages explain: the redirect URI to register, scopes, accounts server."""
    try:
        redirect_uri = callback_url(request)
        problem = ""
    except ZCRMConfigurationError as exc:
        redirect_uri, problem = "", str(exc)
    conf = get_settings()
    return {
        "title": "Connect to Zoho",
        "redirect_uri": redirect_uri,
        "problem": problem,
        "scopes": conf.scopes,
        "accounts_url": conf.accounts_url,
        "api_console_url": token_admin.api_console_url(),
    }


@require_GET
@never_cache
def callback(request: HttpRequest) -> HttpResponse:
    """Zoho's redirect back: check ``state``, exchange the code, store the tokens, land back."""
    if not can_connect(request.user):
        return render(
            request,
            "django_zcrm/callback_refused.html",
            {
                "title": "Zoho connection refused",
                "message": "Only staff allowed to connect Zoho can complete a connection: log in "
                'and start again with "Connect to Zoho". Nothing was stored.',
                "start_url": reverse("zcrm:connect"),
            },
            status=403,
        )
    outcome = webflow.finish_authorization(request.session, request.GET)
    if outcome.refused:
        token_admin = _origin_admin(request)
        if token_admin is not None:
            return token_admin.refused_callback(request, outcome.message, status=400)
        return render(
            request,
            "django_zcrm/callback_refused.html",
            {
                "title": "Zoho connection refused",
                "message": outcome.message,
                "start_url": reverse("zcrm:connect"),
            },
            status=400,
        )
    level = messages.SUCCESS if outcome.ok else messages.ERROR
    messages.add_message(request, level, outcome.message)
    return HttpResponseRedirect(safe_next(request, outcome.next_url))


def _origin_admin(request: HttpRequest) -> Any:
    """The token ModelAdmin of the admin site the flow was started from, or None."""
    name = request.session.get(ADMIN_ORIGIN_KEY)
    if not name:
        return None
    for site in all_sites:
        if site.name == name and site.is_registered(OAuthToken):
            model_admin = site.get_model_admin(OAuthToken)
            # A project's own ModelAdmin for the table may not render our page.
            return model_admin if hasattr(model_admin, "refused_callback") else None
    return None
