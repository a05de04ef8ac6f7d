"""The sample project; its Celery app is loaded with it when Celery is installed."""

from __future__ import annotations

try:
    from .celery import app as celery_app
except ImportError as exc:  # Celery is an extra: the project runs without it
    if exc.name is None or exc.name.split(".")[0] != "celery":
        raise
    celery_app = None

__all__ = ["celery_app"]
