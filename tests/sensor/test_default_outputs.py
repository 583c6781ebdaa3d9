"""Where a sensor's events go when no outputs are given: stderr through logging, or only the
collector when one is configured."""

from __future__ import annotations

from pathlib import Path

from apiwatch.model import Event, EventMeta
from apiwatch.sensor import LoggingOutput, MemoryOutput, Sensor
from apiwatch.sensor.shipper import Shipper


def test_a_sensor_without_a_collector_logs_its_events() -> None:
    """With nothing but a service, the events go to the logging output (stderr by default)."""
    sensor = Sensor.from_options(service="shop")
    try:
        assert [type(output) for output in sensor.outputs] == [LoggingOutput]
    finally:
        sensor.close()


def test_a_sensor_with_a_collector_only_ships_its_events(tmp_path: Path) -> None:
    """With a collector, the events are shipped and not also written to stderr."""
    sensor = Sensor.from_options(service="shop", collector="http://127.0.0.1:9", api_key="k",
                                 spool_dir=str(tmp_path / "spool"))  # fmt: skip
    try:
        assert [type(output) for output in sensor.outputs] == [Shipper]
    finally:
        sensor.close()


def test_a_sensor_with_a_collector_logs_too_when_asked(tmp_path: Path) -> None:
    """outputs=[LoggingOutput()] beside a collector writes the events to logging as well."""
    sensor = Sensor.from_options(service="shop", collector="http://127.0.0.1:9", api_key="k",
                                 spool_dir=str(tmp_path / "spool"),
                                 outputs=[LoggingOutput()])  # fmt: skip
    try:
        assert [type(output) for output in sensor.outputs] == [LoggingOutput, Shipper]
    finally:
        sensor.close()


def test_outputs_of_every_kind_get_each_event_once() -> None:
    """A function, an instance, and an instance of a subclass overriding __call__: each called."""
    seen: list[str] = []

    def function_output(_event: Event, _line: bytes) -> None:
        seen.append("function")

    class Tagging(MemoryOutput):
        def __call__(self, event: Event, line: bytes) -> None:
            seen.append("subclass")
            super().__call__(event, line)

    memory, tagging = MemoryOutput(), Tagging()
    sensor = Sensor.from_options(service="shop", outputs=[function_output, memory, tagging])
    sensor.emit(Event(event=EventMeta(action="http_request")))
    assert seen == ["function", "subclass"]
    assert len(memory.lines) == len(tagging.lines) == 1
