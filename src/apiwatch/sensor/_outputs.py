"""Where events go: the `Output` protocol, the stdlib-logging output and an in-memory one.

An output is any callable taking the event and its encoded ECS JSON line (encoded once, shared by
every output). Outputs must not block for long; the sensor counts, and never propagates, their
exceptions.

An output that needs only the line may also have a ``write_line(line)`` method (`LineOutput`), as
`FileOutput` and the shipper do: when every output of a sensor has one, the sensor writes each
request event's line without building the `Event` (`apiwatch.model.request_line`: the same bytes)
and calls ``write_line`` instead. Events of the audit API still come through ``__call__``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Protocol

from apiwatch.model import Event
from apiwatch.sensor.ecslog import EcsFormatter

__all__ = ["EVENTS_LOGGER", "LineOutput", "LoggingOutput", "MemoryOutput", "Output"]

EVENTS_LOGGER = "apiwatch.events"
_LOG_LEVELS = {20: logging.INFO, 30: logging.WARNING, 40: logging.ERROR, 50: logging.CRITICAL}


class Output(Protocol):
    """Receives each event once, with its ECS JSON line (no trailing newline)."""

    def __call__(self, event: Event, line: bytes) -> None: ...


class LineOutput(Output, Protocol):
    """An `Output` that needs only the line: the sensor may call ``write_line`` alone."""

    def write_line(self, line: bytes) -> None: ...


class LoggingOutput:
    """Writes each event as one ECS JSON line through a stdlib logger (``apiwatch.events``).

    When neither that logger nor the root logger has a handler yet, a stderr handler with
    `EcsFormatter` is installed, so that adding the middleware alone gives useful logs. An app that
    configures logging itself routes the events like any other record; the record's message is the
    JSON line and ``record.apiwatch_event`` is the `Event`.
    """

    def __init__(self, logger: str = EVENTS_LOGGER, *, install_handler: bool = True) -> None:
        self.logger = logging.getLogger(logger)
        if install_handler:
            _install_default_handler(self.logger)

    def __call__(self, event: Event, line: bytes) -> None:
        level = _LOG_LEVELS.get(event.event.severity or 20, logging.INFO)
        logger = self.logger
        if logger.isEnabledFor(level):
            # Logger.log without findCaller's stack walk (the caller would be the sensor itself,
            # which tells a reader nothing), and with the default record factory a record built
            # directly: one is made per request. An app's own factory is always honoured.
            if logging.getLogRecordFactory() is logging.LogRecord:
                record: logging.LogRecord = EventRecord(logger.name, level, line.decode(), event)
            else:
                record = logger.makeRecord(
                    logger.name, level, "apiwatch", 0, line.decode(), (), None,
                    extra={"apiwatch_event": event},
                )  # fmt: skip
            logger.handle(record)


class EventRecord(logging.LogRecord):
    """A `logging.LogRecord` for one event, with every standard attribute, built without the
    generic constructor's work (argument sniffing, path splitting, process-name lookup)."""

    def __init__(self, name: str, level: int, message: str, event: Event) -> None:
        now = time.time()
        self.name = name
        self.msg = message
        self.args = ()
        self.levelname = logging.getLevelName(level)
        self.levelno = level
        self.pathname = self.filename = self.module = "apiwatch"
        self.exc_info = None
        self.exc_text = None
        self.stack_info = None
        self.lineno = 0
        self.funcName = None  # type: ignore[assignment]  # as LogRecord sets it without func
        self.created = now
        self.msecs = int((now - int(now)) * 1000) + 0.0
        self.relativeCreated = (now - _START) * 1000
        self.thread = threading.get_ident()
        self.threadName = threading.current_thread().name
        self.processName = _process.name
        self.process = _process.pid
        self.apiwatch_event = event


class _Process:
    """This process's id and multiprocessing name, read again in forked children."""

    def __init__(self) -> None:
        self.read()

    def read(self) -> None:
        self.pid = os.getpid()
        mp = sys.modules.get("multiprocessing")
        self.name = mp.current_process().name if mp is not None else "MainProcess"


_process = _Process()
os.register_at_fork(after_in_child=_process.read)
# relativeCreated counts from logging's own start, as for every other record.
_START: float = getattr(logging, "_startTime", time.time())


_install_lock = threading.Lock()


def _install_default_handler(logger: logging.Logger) -> None:
    with _install_lock:
        if logger.handlers or logging.getLogger().handlers:
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.INFO)
            return
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(EcsFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


class MemoryOutput:
    """Keeps events and lines in lists: for tests of apps that use the sensor."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lines: list[bytes] = []

    def __call__(self, event: Event, line: bytes) -> None:
        self.events.append(event)
        self.lines.append(line)

    def clear(self) -> None:
        self.events.clear()
        self.lines.clear()
