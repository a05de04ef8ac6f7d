"""The CRM REST API of the bundled fake Zoho server (``/crm/{version}/...``, v2, v2.1, v3 ... v8).

:func:`install` registers the routes on a :class:`~.server.FakeZoho` and returns the
:class:`FakeCRM` that holds the org's data; tests reach it as ``fake.crm``. Wire formats follow
``docs/design/wire-format.md`` (records, search and COQL, notes and attachments, metadata). Choices
where Zoho is silent or inconsistent (all configurable through :class:`CRMOptions` where it
matters):

- Authentication: ``Authorization: Zoho-oauthtoken <token>`` only; a token in the query string is
  ignored. Unknown, expired or missing token -> 401 ``INVALID_TOKEN`` (or ``AUTHENTICATION_FAILURE``
  with ``auth_failure_code``); missing scope -> 401 ``OAUTH_SCOPE_MISMATCH``.
- Ordering: no ``sort_by``/``sort_order`` -> id ascending. ``sort_by`` alone -> descending (Zoho's
  documented default); ``sort_order`` alone orders by id. Ties are broken by id.
- ``per_page`` above 200 is clamped to 200 (``per_page_over_max="error"`` -> 400 ``INVALID_DATA``).
- ``page * per_page`` beyond ``page_token_cap`` (2,000) -> 400 ``DISCRETE_PAGINATION_LIMIT_EXCEEDED``
  in every version; ``info.next_page_token`` is present whenever ``more_records`` is true (v2 too,
  unless ``page_token_in_v2=False``), so clients can switch to tokens.
- ``GET /{module}/{id}`` for an unknown id -> 204 in every version.
- Writes: all items succeed -> 201 (insert) / 200 (update, upsert, delete); every item fails -> 400
  with the ``{"data":[...]}`` body; a mix -> ``mixed_status`` (207).
- Unknown field names in written records are ignored, read-only fields are ignored, unknown picklist
  values are stored as given (as Zoho does).

The implementation lives in the private package :mod:`django_zcrm.testing._crm` (one module per
route family; its docstring says where to add routes and how to watch record changes). This module
is the public face: :class:`FakeCRM`, :class:`CRMOptions`, :data:`FAULT_KINDS` and :func:`install`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._crm.bulk import BulkReadRoutes
from ._crm.control import ControlAPI
from ._crm.core import SOURCE_API, SOURCE_CONTROL, RecordChange
from ._crm.dispatch import Router
from ._crm.faults import FAULT_KINDS
from ._crm.files import FilesRoutes
from ._crm.options import CRMOptions
from ._crm.records import RecordRoutes
from ._crm.related import RelatedRoutes
from ._crm.routes import VERSION_RE
from ._crm.search import SearchRoutes
from ._crm.settings import SettingsRoutes
from ._crm.watch import WatchRoutes

if TYPE_CHECKING:
    from .server import FakeZoho

__all__ = [
    "CRMOptions",
    "FakeCRM",
    "FAULT_KINDS",
    "RecordChange",
    "SOURCE_API",
    "SOURCE_CONTROL",
    "VERSION_RE",
    "install",
]


class FakeCRM(
    ControlAPI,
    WatchRoutes,
    SettingsRoutes,
    SearchRoutes,
    BulkReadRoutes,
    FilesRoutes,
    RelatedRoutes,
    RecordRoutes,
    Router,
):
    """The org behind the fake CRM API: records, notes, attachments, tags, users and options."""

    # Tried in this order: fixed paths first, the generic {module}[/{id}] record routes last.
    route_families = (
        WatchRoutes,
        SettingsRoutes,
        SearchRoutes,
        BulkReadRoutes,
        FilesRoutes,
        RelatedRoutes,
        RecordRoutes,
    )


def install(fake: FakeZoho, **options: Any) -> FakeCRM:
    """Create the org's :class:`FakeCRM` and register its routes on ``fake``; return it."""
    crm = FakeCRM(fake, **options)
    crm.install_routes()
    crm.install_watch_controls()
    return crm
