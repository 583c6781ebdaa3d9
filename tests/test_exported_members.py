"""The public API of each package is its ``__all__``, pinned here (as httpx pins its own)."""

from __future__ import annotations

import types

import pytest

import apiwatch
import apiwatch.audit
import apiwatch.model
import apiwatch.sensor
from apiwatch.model import Action

MODEL_API = [
    "Action",
    "ActionSpec",
    "ApiwatchError",
    "ConfigError",
    "Event",
    "EventDecodeError",
    "EventMeta",
    "Host",
    "Http",
    "HttpRequest",
    "HttpResponse",
    "Level",
    "Log",
    "Service",
    "Source",
    "Trace",
    "Url",
    "User",
    "UserAgent",
    "decode_event",
    "decode_ndjson",
    "encode_event",
    "event_to_dict",
    "new_event_id",
]


def test_model_all_is_the_pinned_api() -> None:
    """`apiwatch.model.__all__` names exactly the public API written here, each once."""
    assert sorted(apiwatch.model.__all__) == sorted(MODEL_API)
    assert len(apiwatch.model.__all__) == len(set(apiwatch.model.__all__))


def test_model_all_names_exist() -> None:
    """Every name in `apiwatch.model.__all__` is importable from the package."""
    for name in apiwatch.model.__all__:
        assert getattr(apiwatch.model, name, None) is not None, name


def test_model_exports_every_public_name() -> None:
    """Every public non-module name the package defines is in `__all__` (nothing leaks unlisted)."""
    public = {
        name
        for name, value in vars(apiwatch.model).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(apiwatch.model.__all__)


SENSOR_API = [
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
TOP_API = ["Action", "ApiwatchError", "ConfigError", "Event", "EventDecodeError", "__version__"]


@pytest.mark.parametrize(
    ("module", "expected"), [(apiwatch.sensor, SENSOR_API), (apiwatch, TOP_API)]
)
def test_package_all_is_the_pinned_api(module: types.ModuleType, expected: list[str]) -> None:
    """`apiwatch.__all__` and `apiwatch.sensor.__all__` name exactly the pinned API."""
    assert sorted(module.__all__) == sorted(expected)
    for name in module.__all__:
        assert hasattr(module, name), name


def test_audit_api_has_one_function_per_vocabulary_event_plus_helpers() -> None:
    """`apiwatch.audit.__all__` is a shortcut per OWASP event (login_succeeded covers both
    success actions) plus configure, emit and identify."""
    helpers = {"configure", "emit", "identify"}
    shortcuts = set(apiwatch.audit.__all__) - helpers
    assert helpers <= set(apiwatch.audit.__all__)
    assert len(shortcuts) == len(Action) - 2  # minus http_request and the successafterfail twin
    assert all(callable(getattr(apiwatch.audit, name)) for name in apiwatch.audit.__all__)
