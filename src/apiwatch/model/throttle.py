"""`Throttle`: when a report that repeats may be made again, so a failing loop logs once a minute.

The sensor (its own failures, the file output, the shipper, the decision sync) and the collector's
detection thread each report a problem that can repeat thousands of times a second. They keep
their own words and loggers; the rule of when to speak is this one: the first report of a kind
goes out, then at most one per ``interval`` seconds, and each says how many were held back since
the one before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Throttle"]


class Throttle:
    """``throttle(kind)``: None while a report of ``kind`` is held back, else how many were held
    back since the last one let through (0 for the first). One per ``interval`` seconds per kind,
    on ``clock`` (monotonic seconds by default); safe to call from any thread."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, kind: str = "") -> int | None:
        with self._lock:
            now = self.clock()
            last = self._last.get(kind)
            if last is not None and now - last < self.interval:
                self._held[kind] = self._held.get(kind, 0) + 1
                return None
            self._last[kind] = now
            return self._held.pop(kind, 0)
