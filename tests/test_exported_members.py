"""The public API of each package is its ``__all__``, pinned here (as httpx pins its own)."""

from __future__ import annotations

import types

import pytest

import apiwatch
import apiwatch.audit
import apiwatch.detect
import apiwatch.model
import apiwatch.sensor
import apiwatch.simulate
import apiwatch.sources
from apiwatch.model import Action

MODEL_API = [
    "ATTACK_TAG",
    "DECISION_SCOPES",
    "DECISION_TYPES",
    "SEVERITIES",
    "Action",
    "ActionSpec",
    "Alert",
    "AllowEntry",
    "ApiwatchError",
    "ConfigError",
    "Decision",
    "Event",
    "EventDecodeError",
    "EventMeta",
    "ExposedObject",
    "Host",
    "Http",
    "HttpBody",
    "HttpRequest",
    "HttpResponse",
    "Incident",
    "Level",
    "Log",
    "Service",
    "Source",
    "Trace",
    "Url",
    "User",
    "UserAgent",
    "attack_tag",
    "canonical_address",
    "canonical_network",
    "decode_event",
    "decode_ndjson",
    "embedded_ipv4",
    "encode_event",
    "event_to_dict",
    "go_duration",
    "new_event_id",
    "normalise_value",
    "parse_address",
    "parse_network",
    "plural",
    "plural_noun",
    "printable_json",
    "printable_text",
    "scope_name",
    "severity_rank",
    "unmapped",
    "unmapped_network",
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
TOP_API = ["Action", "ApiwatchError", "ConfigError", "Event", "EventDecodeError", "__version__"]
DETECT_API = [
    "SIGMA_TAXONOMY",
    "Engine",
    "EngineStats",
    "Problem",
    "RuleSet",
    "SyntheticTraffic",
    "builtin_dir",
    "canonical_field",
    "infer_route",
    "load_rules",
    "parse_duration",
    "placeholder_values",
    "sigmahq_dir",
    "to_record",
]
SOURCES_API = [
    "DEFAULT_LOGINS",
    "FORMATS",
    "FormatUnknownError",
    "LogFile",
    "LoginPatterns",
    "OnError",
    "detect_format",
    "open_log",
    "parse_access_line",
    "parse_ecs_line",
    "read_events",
]
SIMULATE_API = [
    "ACCEPTED",
    "ATTACK_TYPES",
    "DEFAULT_START",
    "TOKEN_KEY",
    "TRAP_KINDS",
    "AttackTruth",
    "GroundTruth",
    "ReplayError",
    "ReplayResult",
    "Request",
    "Scenario",
    "ScenarioConfig",
    "ScenarioPaths",
    "Score",
    "TrapTruth",
    "action_of",
    "generate",
    "nginx_line",
    "replay",
    "score",
    "to_event",
    "token_fingerprint",
    "write_scenario",
]
PINNED = [
    (apiwatch.sensor, SENSOR_API),
    (apiwatch, TOP_API),
    (apiwatch.detect, DETECT_API),
    (apiwatch.sources, SOURCES_API),
    (apiwatch.simulate, SIMULATE_API),
]


@pytest.mark.parametrize(("module", "expected"), PINNED, ids=[m.__name__ for m, _ in PINNED])
def test_package_all_is_the_pinned_api(module: types.ModuleType, expected: list[str]) -> None:
    """`__all__` of apiwatch, sensor, detect, sources and simulate names exactly the pinned API,
    each name once and importable."""
    assert sorted(module.__all__) == sorted(expected)
    assert len(module.__all__) == len(set(module.__all__))
    for name in module.__all__:
        assert hasattr(module, name), name


@pytest.mark.parametrize(
    "module",
    [apiwatch.detect, apiwatch.sources, apiwatch.simulate],
    ids=lambda module: module.__name__,
)
def test_package_exports_every_public_name(module: types.ModuleType) -> None:
    """Every public non-module name detect, sources and simulate define is in `__all__`."""
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(module.__all__)


def test_model_record_types_are_the_ones_detection_uses() -> None:
    """`apiwatch.model` exports the very Alert and Incident classes the engine returns, and
    SEVERITIES are Sigma's levels, lowest first."""
    from apiwatch.detect import engine

    assert engine.Alert is apiwatch.model.Alert
    assert engine.Incident is apiwatch.model.Incident
    assert apiwatch.model.SEVERITIES == ("informational", "low", "medium", "high", "critical")
    ranks = [apiwatch.model.severity_rank(level) for level in apiwatch.model.SEVERITIES]
    assert ranks == sorted(ranks) == list(range(5))


def test_audit_api_has_one_function_per_vocabulary_event_plus_helpers() -> None:
    """`apiwatch.audit.__all__` is a shortcut per OWASP event (login_succeeded covers both
    success actions) plus configure, emit and identify."""
    helpers = {"configure", "emit", "identify"}
    shortcuts = set(apiwatch.audit.__all__) - helpers
    assert helpers <= set(apiwatch.audit.__all__)
    assert len(shortcuts) == len(Action) - 2  # minus http_request and the successafterfail twin
    assert all(callable(getattr(apiwatch.audit, name)) for name in apiwatch.audit.__all__)
