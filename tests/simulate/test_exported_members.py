"""The public API of `apiwatch.simulate` is its ``__all__``, pinned here."""

from __future__ import annotations

import types

import apiwatch.simulate

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


def test_simulate_all_is_the_pinned_api() -> None:
    """`apiwatch.simulate.__all__` names exactly the pinned API, each name once and importable."""
    assert sorted(apiwatch.simulate.__all__) == sorted(SIMULATE_API)
    assert len(set(apiwatch.simulate.__all__)) == len(apiwatch.simulate.__all__)
    for name in SIMULATE_API:
        assert getattr(apiwatch.simulate, name, None) is not None, name


def test_simulate_exports_every_public_name() -> None:
    """Every public non-module name the package defines is in `__all__`."""
    public = {
        name
        for name, value in vars(apiwatch.simulate).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(apiwatch.simulate.__all__)
