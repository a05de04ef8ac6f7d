"""The sample CRM app."""

from __future__ import annotations

from django.apps import AppConfig


class CrmConfig(AppConfig):
    """Typed copies of Zoho CRM modules (see models.py)."""

    name = "sample_project.crm"
    label = "crm"
    default_auto_field = "django.db.models.BigAutoField"
