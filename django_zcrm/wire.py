"""Reading Zoho's answers, shared by both HTTP clients (Zoho Accounts in ``oauth``, the CRM API).

A leaf module: it imports nothing from the package, so either client can use it without a cycle.
"""

from __future__ import annotations

import json
from typing import Any


def json_or_none(content: bytes) -> Any:
    """The JSON value of a response body; None when the body is empty or not JSON."""
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return None
