"""Connect a Django project to Zoho CRM."""

__version__ = "0.1.0"
