"""Shared fixtures: small real apps for each framework, with the sensor writing to memory."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apiwatch.sensor import ApiwatchMiddleware, MemoryOutput, Sensor


@pytest.fixture
def memory() -> MemoryOutput:
    return MemoryOutput()


def decoded(memory: MemoryOutput) -> list[dict[str, Any]]:
    """Every line the sensor emitted, parsed back from JSON (so the wire form is what's checked)."""
    return [json.loads(line) for line in memory.lines]


@pytest.fixture(autouse=True)
def _no_env_token_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APIWATCH_TOKEN_KEY", raising=False)


def sensor_of(app: Any) -> Sensor:
    """The sensor inside a built Starlette/FastAPI app (after its first request)."""
    layer = app.middleware_stack
    while not isinstance(layer, ApiwatchMiddleware):
        layer = layer.app
    return layer.sensor
