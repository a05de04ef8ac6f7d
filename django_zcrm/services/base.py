"""What every service shares: the client, the API version, lazy paging and answer-shape checks.

Every service reads Zoho's answers through the helpers here, so an answer of the wrong shape (a
record that is not an object, ``info`` that is not an object, a list that is not a list) becomes a
:class:`~django_zcrm.exceptions.ZCRMMalformedResponseError` that names the call and what was
wrong, never a ``KeyError``/``TypeError`` from inside the library. Paging stops with the same
error when Zoho repeats a page token or a page brings nothing new while ``more_records`` stays
true (see ``docs/design/wire-format.md``, "Answers we do not trust").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..client import APIResponse, ZCRMClient, get_client
from ..exceptions import ZCRMMalformedResponseError, ZCRMNotFoundError, ZCRMValidationError
from .records import Record

#: Zoho's maximum (and default) page size for list calls.
MAX_PER_PAGE = 200
#: Records per insert/update/upsert/delete call.
MAX_PER_WRITE = 100
#: Page-number paging reaches only this many records; beyond it ``page_token`` is needed.
DISCRETE_PAGING_LIMIT = 2000

_VERSION_RE = re.compile(r"^v(\d+)(?:\.(\d+))?$")


def version_tuple(version: str) -> tuple[int, int]:
    """``"v2.1"`` -> ``(2, 1)``; ``"v8"`` -> ``(8, 0)``."""
    match = _VERSION_RE.match(str(version).strip().lower())
    if not match:
        raise ValueError(f"not a Zoho CRM API version: {version!r} (expected v2 ... v8)")
    return int(match.group(1)), int(match.group(2) or 0)


@dataclass
class Page:
    """One page of a list answer: its records and Zoho's ``info`` block."""

    records: list[Record]
    info: dict[str, Any] = field(default_factory=dict)
    number: int = 1
    page_token: str | None = None
    response: APIResponse | None = field(default=None, repr=False)

    @property
    def more_records(self) -> bool:
        """Zoho's ``info.more_records`` (only a JSON ``true`` counts)."""
        return self.info.get("more_records") is True

    @property
    def next_page_token(self) -> str | None:
        """Zoho's ``info.next_page_token`` (v3+ and past the 2,000-record cap), if any."""
        token = self.info.get("next_page_token")
        return token if isinstance(token, str) and token else None

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)


class Service:
    """Base class: holds the client and knows the configured API version."""

    def __init__(
        self, user_identifier: str | None = None, client: ZCRMClient | None = None
    ) -> None:
        self.client = client if client is not None else get_client(user_identifier)

    @property
    def api_version(self) -> str:
        """The configured API version (``ZCRM['API_VERSION']``)."""
        return self.client.api_version

    @property
    def version(self) -> tuple[int, int]:
        """The configured API version as a tuple, for comparisons: ``(2, 0)``, ``(8, 0)``."""
        return version_tuple(self.api_version)

    def _iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        key: str = "data",
        module: str | None = None,
        headers: Mapping[str, str] | None = None,
        per_page: int = MAX_PER_PAGE,
        record_class: Callable[..., Any] = Record,
        paged: bool = True,
    ) -> Iterator[Page]:
        """Yield pages lazily, following ``more_records`` and switching to ``page_token``."""
        base = {k: v for k, v in (params or {}).items() if v is not None}
        if paged:
            base["per_page"] = max(1, min(int(per_page), MAX_PER_PAGE))
        page, token, number = 1, None, 0
        seen_tokens: set[str] = set()
        seen_pages: set[int] = set()
        while True:
            query = dict(base)
            if paged:
                if token:
                    query["page_token"] = token
                else:
                    query["page"] = page
            response = self.client.get(path, params=query, headers=headers)
            if response.is_empty:
                return
            data = answer_object(response)
            items = data.get(key)
            if items is None and not data.get("info"):
                return
            items = object_list(response, key)
            info = info_of(response)
            number += 1
            records = [record_class(item, module) for item in items]
            yield Page(records, info, number, token, response)
            more = info.get("more_records") is True
            if not paged or not more:
                return
            # Zoho said "more" but the answer cannot be paged on: stop with an error rather than
            # loop for ever (a repeated token, an empty page, a page seen before).
            fingerprint = hash(tuple(_identity(item) for item in items))
            if not items or fingerprint in seen_pages:
                raise malformed(
                    response,
                    "Zoho says more_records is true but this page brought no new record; "
                    "paging stopped here",
                )
            seen_pages.add(fingerprint)
            # Page numbers reach only the first 2,000 records; Zoho hands out a token for the
            # rest (and newer versions on every page): follow it whenever there is one.
            next_token = info.get("next_page_token")
            token = next_token if isinstance(next_token, str) and next_token else None
            if token is not None:
                if token in seen_tokens:
                    raise malformed(
                        response,
                        "Zoho repeated a next_page_token it had already given; paging stopped here",
                    )
                seen_tokens.add(token)
            page += 1


def _identity(item: dict[str, Any]) -> str:
    record_id = item.get("id")
    return str(record_id) if isinstance(record_id, (str, int)) else repr(sorted(item.items()))[:500]


def malformed(response: APIResponse, problem: str) -> ZCRMMalformedResponseError:
    """The error for an answer of the wrong shape: the call, what was wrong, what to do."""
    return ZCRMMalformedResponseError(
        f"{response.method} {response.path}: {problem}. The answer is not what Zoho's API "
        "promises (a proxy, a broken data centre or a misbehaving server); nothing was done "
        "with it. Retry later; if it persists, send the request id to Zoho support.",
        status=response.status,
        request_id=response.request_id,
    )


def answer_object(response: APIResponse) -> dict[str, Any]:
    """The answer's top-level JSON object ({} for an empty answer)."""
    if response.is_empty:
        return {}
    if not isinstance(response.data, dict):
        raise malformed(response, f"expected a JSON object, got {type(response.data).__name__}")
    return response.data


def object_list(response: APIResponse, key: str) -> list[dict[str, Any]]:
    """The list of JSON objects under ``key`` ([] when the key is absent or null)."""
    items = answer_object(response).get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise malformed(response, f"expected a list under {key!r}, got {type(items).__name__}")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise malformed(
                response,
                f"item {index} under {key!r} is a {type(item).__name__}, not a JSON object",
            )
    return items


def info_of(response: APIResponse) -> dict[str, Any]:
    """The answer's ``info`` object ({} when absent)."""
    info = answer_object(response).get("info")
    if info is None:
        return {}
    if not isinstance(info, dict):
        raise malformed(response, f"expected an object under 'info', got {type(info).__name__}")
    return info


def first_object(response: APIResponse, key: str, not_found: str) -> dict[str, Any]:
    """The first object under ``key``; :class:`ZCRMNotFoundError` (``not_found``) when none."""
    items = object_list(response, key)
    if not items:
        raise ZCRMNotFoundError(not_found, status=response.status, request_id=response.request_id)
    return items[0]


def iter_chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Yield lists of at most ``size`` items from any iterable, lazily."""
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def check_id(value: Any, argument: str) -> str:
    """``value`` as a Zoho record id (a string of digits), else :class:`ZCRMValidationError`.

    Checked before the id goes into a URL or an ``ids`` list: Zoho answers a missing or malformed
    id with 404 INVALID_URL_PATTERN or INVALID_DATA, which does not say which argument was wrong.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        problem = "None" if value is None else f"a {type(value).__name__}"
    else:
        text = str(value).strip()
        if text.isascii() and text.isdigit():
            return text
        problem = "empty" if not text else f"{str(value)!r}, not a number"
    raise ZCRMValidationError(
        f"{argument} is {problem}: a Zoho record id is a string of digits such as "
        "'4876876000000624001' (did an earlier call return no id?). Nothing was sent to Zoho.",
        code="INVALID_ID",
    )


def check_ids(ids: Iterable[Any], argument: str) -> list[str]:
    """Every id of ``ids`` checked with :func:`check_id` (the error names ``argument[i]``)."""
    return [check_id(value, f"{argument}[{i}]") for i, value in enumerate(ids)]
