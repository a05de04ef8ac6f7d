"""Behaviour switches of the fake CRM (:class:`CRMOptions`, ``fake.crm.options``)."""

from __future__ import annotations

from dataclasses import dataclass

from .util import parse_offset, version_number


@dataclass
class CRMOptions:
    """Behaviour switches of the fake CRM (change them on ``fake.crm.options`` at any time)."""

    #: HTTP status of a write whose items partly failed (Zoho: 207; some observers saw 200).
    mixed_status: int = 207
    #: ``page * per_page`` may not exceed this without a page token (None: no cap).
    page_token_cap: int | None = 2000
    #: Records reachable through page tokens (None: unlimited) -> PAGINATION_LIMIT_EXCEEDED.
    page_token_max_records: int | None = 100_000
    #: Page-token lifetime in (fake-clock) seconds -> EXPIRED_VALUE.
    page_token_ttl: int = 86_400
    #: Put ``next_page_token`` into v2/v2.1 ``info`` too (v3+ always carry the page-token keys).
    page_token_in_v2: bool = True
    #: First version in which list calls must send ``fields`` (None: never).
    enforce_fields_param_from: str | None = "v7"
    #: Most API names ``fields`` may hold (only where ``fields`` is enforced).
    max_fields_param: int = 50
    #: Top-level code for bad tokens: "INVALID_TOKEN" or "AUTHENTICATION_FAILURE".
    auth_failure_code: str = "INVALID_TOKEN"
    #: Check OAuth scopes (False: any valid token may call anything).
    check_scopes: bool = True
    #: Search also needs ``ZohoSearch.securesearch.READ`` ("Scopes" in docs/design/wire-format.md).
    search_requires_securesearch: bool = True
    #: "clamp" (default) or "error" for ``per_page`` above 200.
    per_page_over_max: str = "clamp"
    #: Records reachable through search -> LIMIT_REACHED.
    search_max_records: int = 2000
    #: COQL limits: None follows the per-version table of ``django_zcrm.services.limits`` (the one
    #: the client plans with); a number overrides it (largest LIMIT, OFFSET + LIMIT reach, columns).
    coql_max_limit: int | None = None
    coql_max_reach: int | None = None
    coql_max_columns: int | None = None
    #: Fake-clock seconds a Bulk Read job takes to complete (ADDED, IN PROGRESS, COMPLETED).
    bulk_read_delay: float = 2.0
    #: Bulk Read result downloads allowed per minute (then 429).
    bulk_read_downloads_per_minute: int = 10
    #: Items per insert/update/upsert/delete call -> LIMIT_EXCEEDED.
    write_limit: int = 100
    #: The org's UTC offset and time-zone name (datetimes are written in this offset).
    utc_offset: str = "+05:30"
    time_zone: str = "Asia/Kolkata"
    #: Largest attachment upload -> 413 FILE_SIZE_MORE_THAN_ALLOWED_SIZE.
    attachment_max_bytes: int = 20 * 1024 * 1024
    #: Send ``X-Accesstoken-Reset`` (the token's expiry) on authenticated answers.
    access_token_reset_header: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError for settings the fake cannot honour."""
        if self.auth_failure_code not in ("INVALID_TOKEN", "AUTHENTICATION_FAILURE"):
            raise ValueError(
                "auth_failure_code must be 'INVALID_TOKEN' or 'AUTHENTICATION_FAILURE'"
            )
        if self.per_page_over_max not in ("clamp", "error"):
            raise ValueError("per_page_over_max must be 'clamp' or 'error'")
        if self.enforce_fields_param_from is not None:
            version_number(self.enforce_fields_param_from)
        parse_offset(self.utc_offset)
