"""A Celery app on a private corner of Redis, for real-worker tests and the Celery benchmark.

Every run gets its own key prefix (``global_keyprefix``, for the broker's queues and unacked
messages as well as the results) and its own queue name, so parallel runs on one Redis never see
each other's messages. The parent builds the app with :func:`make_app` to send tasks; workers
build the same app from the environment (tests/celery_worker_app.py).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from celery import Celery


@dataclass(frozen=True)
class BrokerPlace:
    """Where one run's messages live: Redis URL, key prefix, queue, and the redelivery timing."""

    url: str
    prefix: str
    queue: str
    #: Seconds a delivered, unacknowledged message waits before Redis hands it out again.
    visibility_timeout: float = 3600.0

    @classmethod
    def new(cls, url: str, **kwargs: Any) -> BrokerPlace:
        """A fresh, unique place on ``url``."""
        tag = f"zcrm-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        return cls(url=url, prefix=f"{tag}:", queue=tag, **kwargs)

    def to_env(self) -> dict[str, str]:
        """Environment variables a worker reads it back from."""
        return {f"ZCRM_CELERY_{k.upper()}": str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_env(cls) -> BrokerPlace:
        """The place the parent process chose."""
        return cls(
            url=os.environ["ZCRM_CELERY_URL"],
            prefix=os.environ["ZCRM_CELERY_PREFIX"],
            queue=os.environ["ZCRM_CELERY_QUEUE"],
            visibility_timeout=float(os.environ["ZCRM_CELERY_VISIBILITY_TIMEOUT"]),
        )

    def forget(self) -> None:
        """Delete every Redis key of this place."""
        import redis

        client = redis.Redis.from_url(self.url)
        keys = list(client.scan_iter(match=f"{self.prefix}*", count=1000))
        if keys:
            client.delete(*keys)


def make_app(place: BrokerPlace, name: str = "zcrm-tests") -> Celery:
    """The Celery app for ``place``: JSON, acks_late-friendly prefetch, fast unacked sweeps."""
    app = Celery(name, set_as_current=False)
    app.conf.update(
        broker_url=place.url,
        result_backend=place.url,
        broker_transport_options={
            "global_keyprefix": place.prefix,
            "visibility_timeout": place.visibility_timeout,
            # Look for messages past their visibility timeout every second (default: ~100 s),
            # so a lost worker's task comes back within the test's patience.
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        },
        result_backend_transport_options={"global_keyprefix": place.prefix},
        task_default_queue=place.queue,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        result_expires=3600,
    )
    return app
