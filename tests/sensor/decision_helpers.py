"""Shared pieces of the enforcement tests: the decision server fixture and waiting for pulls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apiwatch.sensor import Sensor
from tests._wait import wait_until

from .decision_server import DecisionServer

KEY = "bouncer-key"
INTERVAL = 0.05


@pytest.fixture(name="server")
def server_fixture() -> Iterator[DecisionServer]:
    """A decision server on a free port, empty."""
    with DecisionServer(api_key=KEY) as running:
        yield running


def enforcing(server: DecisionServer, **options: Any) -> dict[str, Any]:
    """The middleware options that pull from ``server`` quickly."""
    return {
        "decisions_url": server.url,
        "decisions_key": KEY,
        "decisions_interval": INTERVAL,
        **options,
    }


def caught_up(sensor: Sensor) -> None:
    """Wait for a pull that started after now to complete: the server's changes are in."""
    target = sensor.stats.decision_syncs + 2
    assert wait_until(lambda: sensor.stats.decision_syncs >= target), sensor.stats.as_dict()
