"""URLs of the web-client flow; include them, e.g. ``path("zoho/", include("django_zcrm.urls"))``.

``zcrm:connect`` shows the "Connect to Zoho" button, ``zcrm:callback`` is the redirect URI to
register in the Zoho API console (``https://<host>/zoho/callback/`` with the prefix above).
``zcrm:notify`` receives Zoho's notification callbacks (``ZCRM["NOTIFY_URL"]`` points at it).
"""

from __future__ import annotations

from django.urls import path

from . import views
from .notifications import receiver

app_name = "zcrm"

urlpatterns = [
    path("connect/", views.connect, name="connect"),
    path("callback/", views.callback, name="callback"),
    path("notify/", receiver.notify, name="notify"),
]
