"""The in-app sensor: middleware, outputs, shipping of security events, decision enforcement.

``from apiwatch.sensor import ApiwatchMiddleware`` (ASGI) or ``WSGIMiddleware`` (WSGI); Flask and
Django glue live in `apiwatch.sensor.flask` and `apiwatch.sensor.django` (both hear the
frameworks' authentication signals by themselves); the one-line hooks for FastAPI-Users and
Starlette's ``AuthenticationMiddleware`` in `apiwatch.sensor.fastapi_users` and
`apiwatch.sensor.starlette` (see docs/logins.md).
"""

from apiwatch.sensor._config import SensorConfig
from apiwatch.sensor._fileoutput import FileOutput, FileOutputStats
from apiwatch.sensor._outputs import (
    EVENTS_LOGGER,
    LineOutput,
    LoggingOutput,
    MemoryOutput,
    Output,
)
from apiwatch.sensor._reporter import SensorStats
from apiwatch.sensor._sensor import Sensor
from apiwatch.sensor.asgi import ApiwatchMiddleware
from apiwatch.sensor.ecslog import EcsFormatter
from apiwatch.sensor.wsgi import WSGIMiddleware

__all__ = [
    "EVENTS_LOGGER",
    "ApiwatchMiddleware",
    "EcsFormatter",
    "FileOutput",
    "FileOutputStats",
    "LineOutput",
    "LoggingOutput",
    "MemoryOutput",
    "Output",
    "Sensor",
    "SensorConfig",
    "SensorStats",
    "WSGIMiddleware",
]
