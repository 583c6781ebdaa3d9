"""`Reporter`: where a sensor's events go, and how the values in them are made safe.

The half of a `Sensor` that the request context and the audit API need: the outputs, the
counters, the service and host an event names, the keyed fingerprint, the cleaning of free text,
and the rate-limited report of the sensor's own failures. It knows nothing of requests, so the
context of a request can point at it without pointing back at the `Sensor` that made it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from types import FunctionType, MethodType
from typing import cast

import msgspec

from apiwatch.model import Event, Host, Service, encode_event
from apiwatch.model.throttle import Throttle
from apiwatch.sensor._config import SensorConfig
from apiwatch.sensor._outputs import LoggingOutput, Output
from apiwatch.sensor._sanitize import clean, sanitize

__all__ = ["Reporter", "SensorStats"]

_report = logging.getLogger("apiwatch.sensor")


class SensorStats:
    """Counters: events emitted, failures of the sensor itself (never raised to the app), and
    decision enforcement: requests blocked, successful and failed decision pulls."""

    __slots__ = (
        "blocked",
        "decision_sync_failures",
        "decision_syncs",
        "emitted",
        "errors",
        "output_errors",
    )

    def __init__(self) -> None:
        self.emitted = 0
        self.errors = 0
        self.output_errors = 0
        self.blocked = 0
        self.decision_syncs = 0
        self.decision_sync_failures = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in _STAT_NAMES}


_STAT_NAMES = (
    "emitted",
    "errors",
    "output_errors",
    "blocked",
    "decision_syncs",
    "decision_sync_failures",
)


class Reporter:
    """A sensor's outputs and counters, and the cleaning of what goes into its events."""

    def __init__(self, config: SensorConfig) -> None:
        self.config = config
        self.outputs: tuple[Output, ...] = _make_outputs(config)
        self._output_calls = tuple(map(_direct_call, self.outputs))
        # Every output's ``write_line`` when all have one (`LineOutput`), else None.
        self._line_calls = _line_writers(self.outputs)
        #: Whether request events may be written as lines alone, never built (`emit_line`).
        self.lines_only = self._line_calls is not None
        self.stats = SensorStats()
        self.service = Service(name=clean(config.service, 256))
        self.host = Host(name=clean(config.host_name, 256))
        self._keyed = hashlib.blake2b(key=config.token_key[:64], digest_size=16)
        self._reports = Throttle()

    def close(self) -> None:
        """Close the outputs that can be closed; never raises."""
        for output in self.outputs:
            close = getattr(output, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:  # noqa: BLE001
                    self.failed(exc)

    def emit(self, event: Event) -> None:
        """Encode the event once and hand it to every output; failures are counted, not raised."""
        try:
            # Straight from the struct; `encode_event` only adds the merge of ``extra`` fields.
            line = encode_event(event) if event.extra else _encode(event)
        except Exception as exc:  # noqa: BLE001
            self.failed(exc)
            return
        self.stats.emitted += 1
        for output in self._output_calls:
            try:
                output(event, line)
            except Exception as exc:  # noqa: BLE001
                self.stats.output_errors += 1
                self.failed(exc, count=False)

    def emit_line(self, line: bytes) -> None:
        """Hand an event's line, without the event, to every output; only when `lines_only`."""
        self.stats.emitted += 1
        for write in self._line_calls or ():
            try:
                write(line)
            except Exception as exc:  # noqa: BLE001
                self.stats.output_errors += 1
                self.failed(exc, count=False)

    def failed(self, exc: BaseException, *, count: bool = True) -> None:
        """Count a failure of the sensor itself and report it at most once a minute."""
        if count:
            self.stats.errors += 1
        if self._reports() is None:
            return
        _report.warning(
            "apiwatch sensor error (%s): %s; stats=%s",
            type(exc).__name__,
            sanitize(str(exc), 256),
            self.stats.as_dict(),
        )

    def fingerprint(self, secret: str) -> str:
        """A keyed hash of a token or session id: correlates uses without revealing it."""
        digest = self._keyed.copy()  # cheaper than setting the key up again for every request
        digest.update(secret.encode())
        return digest.hexdigest()

    def clean_value(self, value: str) -> str:
        """Redact, escape and truncate a free-text value the app or a request supplied."""
        return sanitize(value, self.config.max_field_length)

    def clean_user(self, found: tuple[str | None, str | None]) -> tuple[str | None, str | None]:
        """A user hook's ``(name, id)`` made safe for an event."""
        name, user_id = found
        return (
            self.clean_value(str(name)) if name else None,
            self.clean_value(str(user_id)) if user_id else None,
        )


def _make_outputs(config: SensorConfig) -> tuple[Output, ...]:
    # The default is one stderr line per event, unless the events go to a collector: a
    # shipping sensor writes to stderr only when asked (outputs=[LoggingOutput()]).
    if config.outputs is not None:
        outputs: list[Output] = list(config.outputs)
    else:
        outputs = [] if config.collector else [LoggingOutput()]
    if config.collector:
        from apiwatch.sensor.shipper import Shipper  # noqa: PLC0415 - only when shipping

        outputs.append(
            Shipper(
                config.collector,
                api_key=config.api_key or "",
                ca_file=config.ca_file,
                spool_dir=config.spool_dir,
            )
        )
    return tuple(outputs)


_encode = msgspec.json.Encoder().encode


def _line_writers(outputs: tuple[Output, ...]) -> tuple[Callable[[bytes], None], ...] | None:
    """Each output's ``write_line``, or None when one of them needs the event itself."""
    writers = tuple(getattr(output, "write_line", None) for output in outputs)
    if not all(callable(write) for write in writers):
        return None
    return cast("tuple[Callable[[bytes], None], ...]", writers)


def _direct_call(output: Output) -> Callable[[Event, bytes], None]:
    """The output's ``__call__`` as a bound method when it is a Python class's instance.

    CPython calls an instance through its type's slot, a slow generic path that costs more
    than a bound method call; outputs are called once per event.
    """
    # Looked up on the type, as a call is: an instance attribute named __call__ is not called.
    method = next(
        (k.__dict__["__call__"] for k in type(output).__mro__ if "__call__" in k.__dict__), None
    )
    if isinstance(method, FunctionType):
        return cast("Callable[[Event, bytes], None]", MethodType(method, output))
    return output
