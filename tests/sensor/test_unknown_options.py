"""An unknown sensor option is refused by name, counted in agreement."""

from __future__ import annotations

import pytest

from apiwatch.model import ConfigError
from apiwatch.sensor import ApiwatchMiddleware, SensorConfig, WSGIMiddleware


def test_an_unknown_sensor_option_is_named_in_agreement() -> None:
    """One unknown option is "option", two are "options"."""
    with pytest.raises(ConfigError, match=r"^unknown apiwatch option: colour$"):
        SensorConfig.from_options(service="shop", colour="red")
    with pytest.raises(ConfigError, match=r"^unknown apiwatch options: colour, size$"):
        SensorConfig.from_options(service="shop", colour="red", size=2)


def test_the_middleware_takes_the_options_of_sensor_config() -> None:
    """The ASGI and WSGI middleware check their keywords through SensorConfig, errors and all."""
    for middleware in (ApiwatchMiddleware, WSGIMiddleware):
        with pytest.raises(ConfigError, match=r"^unknown apiwatch option: colour$"):
            middleware(object(), service="shop", colour="red")
        with pytest.raises(ConfigError, match=r"^service: "):
            middleware(object())
        sensor = middleware(object(), service="shop", max_field_length=64, outputs=[]).sensor
        assert sensor.config == SensorConfig.from_options(
            service="shop", max_field_length=64, outputs=[], token_key=sensor.config.token_key
        )
