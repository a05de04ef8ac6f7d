"""What both HTTP clients (Zoho Accounts in ``oauth``, the CRM API in ``client``) share on the wire.

A leaf module: it imports nothing from the package, so either client can use it without a cycle.
"""

from __future__ import annotations

import json
from typing import Any

from . import __version__

#: The ``User-Agent`` of every request the library sends.
USER_AGENT = f"django-zcrm/{__version__}"


def json_or_none(content: bytes) -> Any:
    """The JSON value of a response body; None when the body is empty or not JSON."""
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return None
