"""CRM faults planned with ``fake.crm.fail_next``, and their Zoho-style answers."""

from __future__ import annotations

from dataclasses import dataclass

from .._server.messages import FakeResponse, zoho_error

FAULT_KINDS = ("429", "500", "invalid_token", "authentication_failure", "scope_mismatch")


@dataclass
class FaultPlan:
    """One ``fail_next`` call: which calls it hits, how many more times, and how it answers."""

    kind: str
    remaining: int
    endpoint: str | None
    module: str | None
    retry_after: int | float | None
    after_write: bool


def fault_response(plan: FaultPlan) -> FakeResponse:
    """The error answer a fault plan gives instead of (or after) the real handling."""
    if plan.kind == "429":
        headers = {"Retry-After": str(plan.retry_after)} if plan.retry_after is not None else None
        return zoho_error(
            429, "TOO_MANY_REQUESTS", "The API request limit has been exceeded", {}, headers
        )
    if plan.kind == "500":
        return zoho_error(500, "INTERNAL_ERROR", "Internal Server Error")
    if plan.kind == "invalid_token":
        return zoho_error(401, "INVALID_TOKEN", "invalid oauth token")
    if plan.kind == "authentication_failure":
        return zoho_error(401, "AUTHENTICATION_FAILURE", "Authentication failed")
    return zoho_error(401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")
