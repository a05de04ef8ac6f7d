"""Bytes on the wire: JSON request bodies, re-sendable file uploads, and URLs."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from django.utils import timezone


def dumps(payload: Any) -> bytes:
    """``payload`` as compact UTF-8 JSON, with the ORM's values encoded the way Zoho reads them."""
    return json.dumps(
        payload, separators=(",", ":"), ensure_ascii=False, default=_json_default
    ).encode("utf-8")


def _json_default(value: Any) -> Any:
    """Encode what the ORM hands out: datetimes (with an offset, as Zoho needs), dates, Decimals."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = timezone.make_aware(value, timezone.get_default_timezone())
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} cannot be sent to Zoho as JSON")


def rewindable_files(files: Mapping[str, Any]) -> dict[str, Any]:
    """``files`` for ``requests`` with every file object read into bytes."""
    # A file object is read once so that a retry (after a refresh or a connect error) sends it all.
    result: dict[str, Any] = {}
    for name, value in files.items():
        if isinstance(value, tuple) and len(value) >= 2 and hasattr(value[1], "read"):
            value = (value[0], value[1].read(), *value[2:])
        elif hasattr(value, "read"):
            value = (os.path.basename(getattr(value, "name", "") or "file"), value.read())
        result[name] = value
    return result


def join_url(domain: str, version: str, path: str) -> str:
    """The URL of ``path``: under ``/crm/{version}/``, from the root if it starts with ``/``."""
    # A whole URL (e.g. a download link Zoho handed out) is used as it is.
    if path.startswith(("http://", "https://")):
        return path
    if path.startswith("/"):
        return domain + path
    return f"{domain}/crm/{version}/{path}"


def quote_segment(value: Any) -> str:
    """Quote one URL path segment (record ids, related-list names)."""
    return quote(str(value), safe="")
