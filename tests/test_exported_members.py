"""The public API of each package is its ``__all__``, pinned here (as httpx pins its own)."""

from __future__ import annotations

import types

import apiwatch.model

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
