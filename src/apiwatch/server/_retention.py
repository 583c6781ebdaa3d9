"""Retention: events older than ``retention_days`` are expired at startup and every hour after.

`Retention` is one of the collector's background workers: `apiwatch.server.create_app` starts it
with the app's lifespan (the embedded collector), and the scale-out writer role, the single process
writing events, runs it as long as it runs. The ingest role expires nothing (the writer does).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Expiring", "Retention"]

#: Seconds between two expiries.
EVERY = 3600.0

logger = logging.getLogger("apiwatch.server")


class Expiring(Protocol):
    """What retention needs of a store: its events (`EventStore.expire`)."""

    def expire(self, before: datetime) -> int:
        """Delete the events older than ``before``; how many were deleted."""
        ...


class Retention:
    """Expire ``store``'s events older than ``days`` days, every ``every`` seconds, on a thread
    of its own from `start` to `stop`; a failure is logged and retried at the next round."""

    def __init__(
        self,
        store: Expiring,
        days: int,
        *,
        every: float = EVERY,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store, self.days, self.every, self.clock = store, days, every, clock
        self._stop = threading.Event()

    def start(self) -> None:
        thread = threading.Thread(target=self._run, name="apiwatch-retention", daemon=True)
        thread.start()

    def stop(self) -> None:
        """No further round starts (a round in progress ends on its own)."""
        self._stop.set()

    def expire_once(self) -> None:
        """One round: expire what is older than the retention period; log a failure."""
        try:
            self.store.expire(self.clock() - timedelta(days=self.days))
        except Exception as exc:  # noqa: BLE001 - retention retries next round
            logger.error("retention failed: %s", exc)  # noqa: TRY400 - one line, as before

    def _run(self) -> None:
        while not self._stop.is_set():
            self.expire_once()
            self._stop.wait(self.every)
