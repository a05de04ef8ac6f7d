"""A Django test client that keeps every response, so a test can prove no page shows a token."""

from __future__ import annotations

import html
from typing import Any

from django.test import Client

from django_zcrm.exceptions import ZCRMPersistenceError
from django_zcrm.models import OAuthToken
from django_zcrm.persistence.database import tokens_from_row
from django_zcrm.redaction import TOKEN_RE


class PageRecorder:
    """Every response body and Location header seen, and every token ever stored meanwhile."""

    def __init__(self) -> None:
        self.pages: list[tuple[str, str]] = []
        self.tokens: set[str] = set()

    def snapshot_tokens(self) -> None:
        """Remember the tokens stored right now (rows may be revoked or replaced later)."""
        for row in OAuthToken.objects.all():
            # Both the stored (encrypted) values and the plaintext tokens must never show.
            self.tokens.update(t for t in (row.accesstoken, row.refreshtoken) if t)
            try:
                plain = tokens_from_row(row)
            except ZCRMPersistenceError:
                continue
            self.tokens.update(t for t in (plain.access_token, plain.refresh_token) if t)

    def record(self, label: str, response: Any) -> None:
        """Keep the body (and redirect target) of ``response``."""
        body = b"" if getattr(response, "streaming", False) else response.content
        text = body.decode("utf-8", "replace") + "\n" + str(response.get("Location", ""))
        self.pages.append((label, text))
        self.snapshot_tokens()

    def assert_no_token_shown(self, extra_secrets: tuple[str, ...] = ()) -> None:
        """Fail if any recorded page holds a stored token, a token-shaped string or a secret."""
        self.snapshot_tokens()
        secrets = self.tokens | {s for s in extra_secrets if s}
        for label, text in self.pages:
            leaked = [s[-4:] for s in secrets if s in text]
            assert not leaked, f"{label} shows a secret ending in {leaked}"
            assert not TOKEN_RE.search(text), f"{label} shows a token-shaped string"


class RecordingClient(Client):
    """``django.test.Client`` that hands each response to a :class:`PageRecorder`."""

    def __init__(self, recorder: PageRecorder, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.recorder = recorder

    def request(self, **request: Any) -> Any:
        response = super().request(**request)
        label = f"{request.get('REQUEST_METHOD', 'GET')} {request.get('PATH_INFO', '')}"
        self.recorder.record(label, response)
        return response


def text(response: Any) -> str:
    """The page as a person reads it: entities decoded, non-breaking spaces as spaces."""
    return html.unescape(response.content.decode()).replace("\xa0", " ")
