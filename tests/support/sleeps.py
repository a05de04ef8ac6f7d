"""A stand-in for ``time.sleep`` that the CRM client accepts (``ZCRMClient(sleep=...)``)."""

from __future__ import annotations


class SleepRecorder:
    """Records the delays the client asks for instead of waiting them out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
