"""Shared fixtures: the default scenario (generated once), its files, and a served app."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from apiwatch.simulate import Scenario, ScenarioPaths, generate, write_scenario
from tests.server.conftest import served as served_with_lifespan


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    """The default scenario (seed 1): about 60,000 events over four hours."""
    return generate()


@pytest.fixture(scope="session")
def written(scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> ScenarioPaths:
    """The default scenario's three files."""
    return write_scenario(scenario, tmp_path_factory.mktemp("default"))


def origin(scenario: Scenario, name: str) -> list[Any]:
    """The requests of one actor (``attack:scanner``, ``trap:office_nat``, ...)."""
    return [r for r in scenario.requests if r.origin == name]


@contextmanager
def served(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn (no lifespan) on a free loopback port; yields its base URL."""
    with served_with_lifespan(app, lifespan="off") as url:
        yield url
