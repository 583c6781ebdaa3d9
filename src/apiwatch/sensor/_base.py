"""The constructor ASGI and WSGI middleware share: the sensor's options as keywords.

The keywords are `SensorConfig`'s fields, checked and normalised in one place,
`SensorConfig.from_options` (an unknown or impossible one raises `ConfigError` naming it), as for
Flask's ``init_app``, Django's ``APIWATCH`` setting and ``audit.configure``. The app is
positional, as Starlette passes it, so ``app.add_middleware(ApiwatchMiddleware, service=...)``
type-checks under mypy --strict.
"""

from __future__ import annotations

from typing import Any

from apiwatch.sensor._sensor import Sensor

__all__ = ["SensorMiddleware"]


class SensorMiddleware:
    """Holds the wrapped app and its `Sensor`; see `SensorConfig` for each option.

    The ``decisions_*``, ``enforce``, ``block_status`` and ``fail_closed`` options turn on
    decision enforcement: requests from banned addresses and logins naming flagged accounts are
    refused before the app runs (see `SensorConfig` for each, and the trade-off of fail_closed).
    """

    def __init__(self, app: Any, /, **options: Any) -> None:
        self.app = app
        self.sensor = Sensor.from_options(**options)
        self._setup()

    def _setup(self) -> None:
        """Framework-specific preparation once the sensor exists (a hook for subclasses)."""
