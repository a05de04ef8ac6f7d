"""Requests and responses as route handlers see them, and helpers for Zoho-style answers."""

from __future__ import annotations

import email.message
import email.utils
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

JSON_CONTENT_TYPE = "application/json;charset=utf-8"
HTML_CONTENT_TYPE = "text/html;charset=utf-8"

NOT_FOUND_BODY = {
    "code": "INVALID_URL_PATTERN",
    "details": {},
    "message": "Please check if the URL trying to access is a correct one",
    "status": "error",
}
INTERNAL_ERROR_BODY = {
    "code": "INTERNAL_ERROR",
    "details": {},
    "message": "Internal Server Error",
    "status": "error",
}


class Headers(Mapping[str, str]):
    """A read-only, case-insensitive header mapping (repeated headers are joined with ``, ``)."""

    def __init__(self, items: Mapping[str, str] | list[tuple[str, str]] | None = None) -> None:
        self._data: dict[str, tuple[str, str]] = {}
        pairs = items.items() if isinstance(items, Mapping) else (items or [])
        for name, value in pairs:
            key = name.lower()
            if key in self._data:
                value = f"{self._data[key][1]}, {value}"
            self._data[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._data[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._data

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._data.values())

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


def _content_type(headers: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """Split a Content-Type header into its lower-cased media type and its parameters."""
    raw = headers.get("Content-Type", "")
    if not raw:
        return "", {}
    msg = email.message.Message()
    msg["Content-Type"] = raw
    params = {k.lower(): v for k, v in msg.get_params(failobj=[])[1:]}
    return msg.get_content_type().lower(), params


def _parse_multipart(body: bytes, boundary: str) -> list[tuple[str, str | None, bytes]]:
    """Split a multipart/form-data body into ``(name, filename, content)`` parts."""
    delimiter = b"--" + boundary.encode("latin-1")
    parts: list[tuple[str, str | None, bytes]] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        if content.endswith(b"\r\n"):
            content = content[:-2]
        msg = email.message.Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                msg[name.strip()] = value.strip()
        field_name = msg.get_param("name", header="content-disposition")
        if not isinstance(field_name, str):
            continue
        filename = msg.get_param("filename", header="content-disposition")
        parts.append((field_name, filename if isinstance(filename, str) else None, content))
    return parts


@dataclass
class FakeRequest:
    """One HTTP request as handlers see it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes
    path_params: dict[str, str] = field(default_factory=dict)
    endpoint: str = ""
    connection_id: int = 0

    def param(self, name: str, default: str | None = None) -> str | None:
        """Return a parameter from the query string, else from an urlencoded or multipart body."""
        if name in self.query:
            return self.query[name][0]
        values = self.form().get(name)
        if values:
            return values[0]
        return default

    def json(self) -> Any:
        """Parse the body as JSON whatever the Content-Type; raise ValueError if it is not JSON."""
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, list[str]]:
        """Return urlencoded or multipart/form-data fields of the body (a body of ``null`` is empty)."""
        cached = self.__dict__.get("_form")
        if cached is not None:
            return cached
        result: dict[str, list[str]] = {}
        media_type, params = _content_type(self.headers)
        stripped = self.body.strip()
        if media_type == "multipart/form-data" and params.get("boundary"):
            for name, filename, content in _parse_multipart(self.body, params["boundary"]):
                if filename is None:
                    result.setdefault(name, []).append(content.decode("utf-8", "replace"))
        elif (
            stripped
            and stripped != b"null"
            and (
                media_type == "application/x-www-form-urlencoded"
                # No Content-Type: old SDKs send form fields or JSON bare; only the former is a form.
                or (not media_type and stripped[:1] not in (b"{", b"["))
            )
        ):
            result = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        self.__dict__["_form"] = result
        return result

    def files(self) -> dict[str, tuple[str, bytes]]:
        """Return multipart file parts as ``name -> (filename, content)``."""
        media_type, params = _content_type(self.headers)
        if media_type != "multipart/form-data" or not params.get("boundary"):
            return {}
        return {
            name: (filename, content)
            for name, filename, content in _parse_multipart(self.body, params["boundary"])
            if filename is not None
        }

    def bearer(self) -> str | None:
        """Return the token of an ``Authorization: Zoho-oauthtoken <token>`` header, if any."""
        raw = self.headers.get("Authorization", "")
        scheme, _, token = raw.strip().partition(" ")
        if scheme.lower() != "zoho-oauthtoken" or not token.strip():
            return None
        return token.strip()


@dataclass
class FakeResponse:
    """What a handler answers; the server adds Content-Length, Date and Connection."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop_connection: bool = False


def merge_headers(base: dict[str, str], extra: Mapping[str, str] | None) -> dict[str, str]:
    merged = dict(base)
    for name, value in (extra or {}).items():
        for existing in [k for k in merged if k.lower() == name.lower()]:
            del merged[existing]
        merged[name] = value
    return merged


def json_response(
    status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> FakeResponse:
    """Return a JSON response (``Content-Type: application/json;charset=utf-8``)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return FakeResponse(status, body, merge_headers({"Content-Type": JSON_CONTENT_TYPE}, headers))


def empty_response(status: int, headers: Mapping[str, str] | None = None) -> FakeResponse:
    """Return a body-less response (204/304) that still says ``Content-Type: application/json``."""
    return FakeResponse(status, b"", merge_headers({"Content-Type": JSON_CONTENT_TYPE}, headers))


def redirect_response(location: str) -> FakeResponse:
    """Return a 302 redirect to ``location``."""
    return FakeResponse(302, b"", {"Location": location, "Content-Type": HTML_CONTENT_TYPE})


def html_response(status: int, html: str) -> FakeResponse:
    """Return an HTML page."""
    return FakeResponse(status, html.encode("utf-8"), {"Content-Type": HTML_CONTENT_TYPE})


def zoho_error(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> FakeResponse:
    """Return a CRM-style error: ``{"code","details","message","status":"error"}``."""
    payload = {"code": code, "details": details or {}, "message": message, "status": "error"}
    return json_response(status, payload, headers)
