"""An unknown sensor option is refused by name, counted in agreement."""

from __future__ import annotations

import pytest

from apiwatch.model import ConfigError
from apiwatch.sensor import SensorConfig


def test_an_unknown_sensor_option_is_named_in_agreement() -> None:
    """One unknown option is "option", two are "options"."""
    with pytest.raises(ConfigError, match=r"^unknown apiwatch option: colour$"):
        SensorConfig.from_options(service="shop", colour="red")
    with pytest.raises(ConfigError, match=r"^unknown apiwatch options: colour, size$"):
        SensorConfig.from_options(service="shop", colour="red", size=2)
