"""One redaction helper for logs and error text alike.

Zoho tokens have a recognisable shape (``1000.`` + 32 hex + ``.`` + 32 hex); anything of that shape
is masked. Values the library handles that may not have that shape (the client secret, grant codes,
tokens minted by other servers) are registered with :func:`register_secret` and masked too.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict

TOKEN_RE = re.compile(r"\b1000\.[0-9a-fA-F]{16,}\.[0-9a-fA-F]{16,}\b")
_MIN_SECRET_LENGTH = 8
_MAX_REGISTERED = 2000

_lock = threading.Lock()
_secrets: OrderedDict[str, None] = OrderedDict()
_secret_re: re.Pattern[str] | None = None


def mask(value: str | None) -> str:
    """Return a masked form of a secret that shows at most its last four characters."""
    if not value:
        return ""
    value = str(value)
    if len(value) < 12:
        return "****"
    return "****" + value[-4:]


def register_secret(value: str | None) -> None:
    """Remember a secret so :func:`redact` masks it wherever it appears."""
    global _secret_re
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            _secrets.move_to_end(value)
            return
        _secrets[value] = None
        while len(_secrets) > _MAX_REGISTERED:
            _secrets.popitem(last=False)
        # Longest first, so a secret containing another is masked whole.
        alternatives = sorted(_secrets, key=len, reverse=True)
        _secret_re = re.compile("|".join(re.escape(s) for s in alternatives))


def redact(text: object) -> str:
    """Mask token-shaped strings and registered secrets in ``text``."""
    result = str(text)
    pattern = _secret_re
    if pattern is not None:
        result = pattern.sub(lambda m: mask(m.group(0)), result)
    return TOKEN_RE.sub(lambda m: mask(m.group(0)), result)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the formatted message (a backstop, not the plan)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # A bad format string: leave it for the handler to report as it normally would.
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True


_FILTER = RedactingFilter()


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with the redacting filter attached."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
