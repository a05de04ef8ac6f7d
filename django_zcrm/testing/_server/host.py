"""What a part of the fake (Accounts, CRM) needs from the server it is installed on.

Typing the parts against this protocol instead of ``FakeZoho`` keeps ``server`` -> ``accounts``
a one-way import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .clock import FakeClock
from .messages import FakeRequest, FakeResponse


class FakeHost(Protocol):
    """The server side a fake part registers its routes on and reads the time from."""

    url: str
    clock: FakeClock

    def route(
        self, method: str, pattern: str, handler: Callable[[FakeRequest], FakeResponse], name: str
    ) -> None:
        """Register ``handler`` for ``method`` on paths full-matching the regex ``pattern``."""
        ...
