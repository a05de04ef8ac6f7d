"""List pages ahead of the reader: ``Module.iter_records(..., concurrency=N)``.

Zoho's list call pages two ways (``docs/design/wire-format.md``): page numbers, which reach only
the first 2,000 records (``DISCRETE_PAGING_LIMIT``), and ``page_token``, which each page hands
to the next. Only numbered pages can be asked for before the previous one has answered, so:

* page 1 is read alone, from the calling thread (it proves the tokens and says whether there
  is more);
* pages 2 up to the 2,000th record are then read up to N at a time from a small thread pool
  (never more than ``ZCRM["MAX_CONCURRENT_REQUESTS"]``), and yielded in order; the page that says
  ``more_records: false`` ends the listing, and the few pages asked for beyond it (at most
  N - 1 calls, answered empty) are dropped;
* past the 2,000th record the listing follows ``next_page_token`` from the last numbered page,
  one call after another, as ``concurrency=1`` does (tokens Zoho hands out on earlier pages are
  not needed: numbers reach those records).

At most N pages are held in memory at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.db import connections

from ..client import APIResponse
from ..exceptions import ZCRMMalformedResponseError
from .base import DISCRETE_PAGING_LIMIT, MAX_PER_PAGE, Page
from .batches import workers_for
from .records import Record

Fetch = Callable[[dict[str, Any]], APIResponse]


def _page(
    response: APIResponse, path: str, number: int, token: str | None, module: str | None
) -> Page | None:
    """The page in ``response``; None when it holds nothing (204/304, or no data and no info)."""
    if response.is_empty:
        return None
    items = response.data.get("data")
    if items is None and not response.data.get("info"):
        return None
    if not isinstance(items, list):
        raise ZCRMMalformedResponseError(
            f"GET {path}: expected a list under 'data', got {type(items).__name__}.",
            status=response.status,
            request_id=response.request_id,
        )
    info = response.data.get("info") or {}
    return Page([Record(item, module) for item in items], info, number, token, response)


def _goes_on(page: Page) -> bool:
    return bool(page.info.get("more_records")) and bool(page.records)


def iter_pages_ahead(
    get: Callable[..., APIResponse],
    path: str,
    params: Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None,
    per_page: int,
    module: str | None,
    concurrency: int,
) -> Iterator[Page]:
    """The pages of one listing, numbered ones read ``concurrency`` at a time (module docstring)."""
    base = {k: v for k, v in params.items() if v is not None}
    base["per_page"] = max(1, min(int(per_page), MAX_PER_PAGE))
    last_numbered = max(1, DISCRETE_PAGING_LIMIT // base["per_page"])
    workers = workers_for(concurrency)

    def numbered(number: int) -> APIResponse:
        return get(path, params={**base, "page": number}, headers=headers)

    page = _page(numbered(1), path, 1, None, module)
    if page is None:
        return
    yield page
    number = 1
    if _goes_on(page) and workers > 1 and last_numbered > 1:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zcrm-pages")
        ahead: dict[int, Future[APIResponse]] = {}
        try:
            asked = 1
            while True:
                while asked < last_numbered and len(ahead) < workers:
                    asked += 1
                    ahead[asked] = pool.submit(_in_worker, numbered, asked)
                number += 1
                page = _page(ahead.pop(number).result(), path, number, None, module)
                if page is None:
                    return
                yield page
                if not _goes_on(page) or number >= last_numbered:
                    break
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    # Sequential from here: tokens (or numbers, where Zoho gives no token).
    while _goes_on(page):
        token = page.next_page_token
        number += 1
        query = {**base, "page_token": token} if token else {**base, "page": number}
        page = _page(get(path, params=query, headers=headers), path, number, token, module)
        if page is None:
            return
        yield page


def _in_worker(fetch: Callable[[int], APIResponse], number: int) -> APIResponse:
    """``fetch`` in a pool thread, closing any database connection it opened (a token read)."""
    try:
        return fetch(number)
    finally:
        for connection in connections.all(initialized_only=True):
            connection.close()
