"""``apiwatch scan --follow``: the engine over files as they grow, incidents printed as they open.

The files (glob patterns too) are tailed as the collector tails them (`FileTailer`: rotation,
truncation, new files), without saved positions: each run reads the files from their start and
then follows them. Event time moves on with the clock between reads, so windows close and
"logging stopped" can fire while the files are quiet. Each incident is printed when it opens,
and again when its severity rises (one JSON object per line with ``--json``). Ctrl-C or SIGTERM
ends the run; the incidents found are then listed as a plain ``scan`` lists them.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import FrameType

from apiwatch.detect import Engine
from apiwatch.model import Event, EventMeta
from apiwatch.model.alert import Incident, severity_rank
from apiwatch.sources import LoginPatterns
from apiwatch.sources.live import SourceStats
from apiwatch.sources.tail import FileTailer

__all__ = ["follow", "follow_stream", "report_new"]

POLL_SECONDS = 0.25
_QUIET = Event(event=EventMeta(action="none"))  # a quiet pipe: nothing arrived in time


def follow(
    patterns: list[str],
    engine: Engine,
    *,
    format: str | None,
    logins: LoginPatterns | None,
    report: Callable[[Incident, bool], None],
    stop: threading.Event | None = None,
) -> SourceStats:
    """Tail ``patterns`` into ``engine`` until ``stop`` is set (or SIGINT/SIGTERM); each
    incident opened or escalated goes to ``report(incident, escalated)``. Returns the counts."""
    stop = stop or threading.Event()
    stats = SourceStats("scan", "file")
    tailer = FileTailer(patterns, stats=stats, format=format, logins=logins)
    seen: dict[str, int] = {}
    restore = _stop_on_signals(stop)
    try:
        while not stop.is_set():
            delivery = tailer.poll()
            engine.feed_all(delivery.events)
            engine.advance(datetime.now(UTC))
            report_new(engine.take_incidents(), seen, report)
            if delivery.lines < tailer.max_lines:
                stop.wait(POLL_SECONDS)
        engine.flush()
        report_new(engine.take_incidents(), seen, report)
    finally:
        restore()
        tailer.close()
    return stats


def follow_stream(
    events: Iterator[Event], engine: Engine, report: Callable[[Incident, bool], None]
) -> None:
    """Feed ``events`` (a pipe's, read on a thread of its own) into ``engine`` with event time
    moving on with the clock while the pipe is quiet, reporting incidents as they open."""
    arrived: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
    failure: list[BaseException] = []

    def read() -> None:
        try:
            for event in events:
                arrived.put(event)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(exc)
        finally:
            arrived.put(None)

    threading.Thread(target=read, name="apiwatch-scan-stdin", daemon=True).start()
    seen: dict[str, int] = {}
    while True:
        try:
            event = arrived.get(timeout=POLL_SECONDS)
        except queue.Empty:
            event = _QUIET
        if event is None:
            break
        if event is not _QUIET:
            engine.feed(event)
            if not arrived.empty():
                continue
        engine.advance(datetime.now(UTC))
        report_new(engine.take_incidents(), seen, report)
    if failure:
        raise failure[0]
    engine.flush()
    report_new(engine.take_incidents(), seen, report)


def report_new(
    incidents: list[Incident], seen: dict[str, int], report: Callable[[Incident, bool], None]
) -> None:
    """Report each of ``incidents`` that is new, or more severe than when last reported."""
    for incident in incidents:
        rank = severity_rank(incident.severity)
        before = seen.get(incident.id)
        if before is not None and rank <= before:
            continue
        seen[incident.id] = rank
        report(incident, before is not None)


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGINT and SIGTERM set ``stop`` (in the main thread only); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
