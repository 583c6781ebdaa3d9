"""The public API of `apiwatch.sources` is its ``__all__``, pinned here."""

from __future__ import annotations

import types

import apiwatch.sources

SOURCES_API = [
    "DEFAULT_LOGINS",
    "FORMATS",
    "LogFile",
    "LoginPatterns",
    "OnError",
    "detect_format",
    "open_log",
    "parse_access_line",
    "parse_ecs_line",
    "read_events",
]


def test_sources_all_is_the_pinned_api() -> None:
    """`apiwatch.sources.__all__` names exactly the pinned API, each name once."""
    assert sorted(apiwatch.sources.__all__) == sorted(SOURCES_API)
    assert len(set(apiwatch.sources.__all__)) == len(apiwatch.sources.__all__)


def test_sources_exports_every_public_name() -> None:
    """Every public non-module name of the package is in `__all__` and importable."""
    public = {
        name
        for name, value in vars(apiwatch.sources).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(apiwatch.sources.__all__)
