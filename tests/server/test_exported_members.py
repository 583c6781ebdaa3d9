"""The public API of `apiwatch.server` is its ``__all__``, pinned here."""

from __future__ import annotations

import types

import apiwatch.server

SERVER_API = ["ServerSettings", "create_app", "load_ruleset"]


def test_server_all_is_the_pinned_api() -> None:
    """`apiwatch.server.__all__` names exactly `create_app`, `ServerSettings` and
    `load_ruleset`."""
    assert sorted(apiwatch.server.__all__) == SERVER_API


def test_server_exports_every_public_name() -> None:
    """Every public non-module name the package defines is in `__all__`."""
    public = {
        name
        for name, value in vars(apiwatch.server).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(SERVER_API)


def test_settings_refuse_limits_below_one() -> None:
    """A zero or negative limit is a configuration error naming the setting."""
    import pytest

    from apiwatch.model import ConfigError

    with pytest.raises(ConfigError, match="max_body_bytes"):
        apiwatch.server.ServerSettings(max_body_bytes=0)
