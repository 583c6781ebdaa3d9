"""The in-app sensor: middleware, outputs, shipping of security events, decision enforcement.

``from apiwatch.sensor import ApiwatchMiddleware`` (ASGI) or ``WSGIMiddleware`` (WSGI); Flask and
Django glue live in `apiwatch.sensor.flask` and `apiwatch.sensor.django`.
"""

from apiwatch.sensor._config import SensorConfig
from apiwatch.sensor._outputs import EVENTS_LOGGER, LoggingOutput, MemoryOutput, Output
from apiwatch.sensor._sensor import Sensor, SensorStats
from apiwatch.sensor.asgi import ApiwatchMiddleware
from apiwatch.sensor.ecslog import EcsFormatter
from apiwatch.sensor.wsgi import WSGIMiddleware

__all__ = [
    "EVENTS_LOGGER",
    "ApiwatchMiddleware",
    "EcsFormatter",
    "LoggingOutput",
    "MemoryOutput",
    "Output",
    "Sensor",
    "SensorConfig",
    "SensorStats",
    "WSGIMiddleware",
]
