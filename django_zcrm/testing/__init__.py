"""A loopback fake of Zoho Accounts and Zoho CRM for tests and demos (standard library only).

    from django_zcrm.testing import FakeZoho, FAKE_CLIENT_ID, FAKE_CLIENT_SECRET

    with FakeZoho() as fake:
        code = fake.accounts.issue_grant_token()
        ...  # point ZCRM ACCOUNTS_URL / API_BASE_URL at fake.url

Run it standalone with ``python -m django_zcrm.testing --port 8765``.
"""

from __future__ import annotations

from .accounts import (
    DEFAULT_SCOPES,
    FAKE_CLIENT_ID,
    FAKE_CLIENT_SECRET,
    FAKE_USER_EMAIL,
    FakeAccounts,
    FakeUser,
    GrantLimitExceeded,
    TokenInfo,
)
from .server import (
    FakeClock,
    FakeRequest,
    FakeResponse,
    FakeZoho,
    HandlerError,
    Headers,
    RequestRecord,
    empty_response,
    html_response,
    json_response,
    redirect_response,
    zoho_error,
)

__all__ = [
    "DEFAULT_SCOPES",
    "FAKE_CLIENT_ID",
    "FAKE_CLIENT_SECRET",
    "FAKE_USER_EMAIL",
    "FakeAccounts",
    "FakeClock",
    "FakeRequest",
    "FakeResponse",
    "FakeUser",
    "FakeZoho",
    "GrantLimitExceeded",
    "HandlerError",
    "Headers",
    "RequestRecord",
    "TokenInfo",
    "empty_response",
    "html_response",
    "json_response",
    "redirect_response",
    "zoho_error",
]
