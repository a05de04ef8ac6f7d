"""URLs of the sample project."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # The web-client flow; its callback is the default REDIRECT_URI, /zoho/callback/.
    path("zoho/", include("django_zcrm.urls")),
]
