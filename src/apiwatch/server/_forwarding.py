"""Forwarding as a server task: one pump thread per ``[[forward]]``, reading the store from a
durable cursor and handing batches to its sink (`apiwatch.forward`).

At least once, in order: a pump reads the next batch after its cursor (events by sequence
number; alerts and incidents by ``(last_seen, id)``, so a record updated later is delivered
again with its new state), delivers it, and only then saves the cursor in the store
(`Store.save_forward_cursor`, under ``<forwarder>/<kind>``). A crash between the two delivers
the batch again; receivers deduplicate on the record id. A sink that fails (`ForwardError`)
is retried with exponential backoff (1 s doubling to ``max_backoff``, jittered, at least the
receiver's ``Retry-After``); meanwhile events keep being stored, and the pump catches up from
its cursor when the receiver is back. A forwarder new to a store starts at its beginning.

Metrics (``apiwatch_forward_*``, labelled by forwarder): records delivered (by kind), refused
for good, failed attempts, whether the last attempt succeeded, and the backlog: events stored
and not yet delivered, computed from two sequence numbers (constant cost at any backlog).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge

from apiwatch.forward import (
    ForwardError,
    ForwardTarget,
    Record,
    Sink,
    build_sink,
    from_alert,
    from_event_line,
    from_incident,
)
from apiwatch.model import printable_text as safe
from apiwatch.store import Store

__all__ = ["ForwardMetrics", "ForwardPump", "Forwarding"]

logger = logging.getLogger("apiwatch.server.forward")

_IDLE_SECONDS = 1.0
_FIRST_BACKOFF = 1.0
_MAX_BACKOFF = 60.0


class ForwardMetrics:
    """The ``apiwatch_forward_*`` metrics, in the collector's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.sent = Counter(
            "apiwatch_forward_records",
            "Records delivered, by forwarder and kind.",
            ["forwarder", "kind"],
            registry=r,
        )
        self.refused = Counter(
            "apiwatch_forward_refused",
            "Records a receiver refused for good (bad content).",
            ["forwarder"],
            registry=r,
        )
        self.failures = Counter(
            "apiwatch_forward_failures", "Delivery attempts that failed.", ["forwarder"], registry=r
        )
        self.up = Gauge(
            "apiwatch_forward_up",
            "1 when the last delivery attempt succeeded.",
            ["forwarder"],
            registry=r,
        )
        self.backlog = Gauge(
            "apiwatch_forward_backlog_events",
            "Events stored and not yet delivered.",
            ["forwarder"],
            registry=r,
        )


class ForwardPump:
    """Moves one forwarder's cursor over the store (see the module docstring)."""

    def __init__(
        self, store: Store, target: ForwardTarget, sink: Sink, metrics: ForwardMetrics
    ) -> None:
        self.store, self.target, self.sink, self.metrics = store, target, sink, metrics
        self.name = target.name
        self._cursors: dict[str, str | None] = {}  # read from the store once, then kept here
        metrics.up.labels(self.name).set(1)

    def _cursor(self, kind: str) -> str | None:
        if kind not in self._cursors:
            self._cursors[kind] = self.store.forward_cursor(f"{self.name}/{kind}")
        return self._cursors[kind]

    def _save(self, kind: str, cursor: str) -> None:
        self.store.save_forward_cursor(f"{self.name}/{kind}", cursor)
        self._cursors[kind] = cursor

    def step(self) -> int:
        """Deliver one batch of each kind the forwarder takes; how many records went out.
        Raises `ForwardError` when a delivery failed (nothing after it was attempted)."""
        delivered = 0
        for kind in self.target.kinds:
            delivered += self._events() if kind == "events" else self._detections(kind)
        self.metrics.up.labels(self.name).set(1)
        self.update_backlog()
        return delivered

    def update_backlog(self) -> None:
        if "events" in self.target.kinds:
            behind = self.store.events.last_seq() - int(self._cursor("events") or 0)
            self.metrics.backlog.labels(self.name).set(max(0, behind))

    def _events(self) -> int:
        after = int(self._cursor("events") or 0)
        rows = self.store.events.after(after, self.target.batch)
        if not rows:
            return 0
        records = []
        for seq, line in rows:
            try:
                records.append(from_event_line(line))
            except msgspec.DecodeError:  # stored lines were checked at ingest: never expected
                logger.error(  # noqa: TRY400 - the line is not logged: it may hold secrets
                    "%s: stored event %d is not JSON; skipped", self.name, seq
                )
        self._deliver("events", records)
        self._save("events", str(rows[-1][0]))
        return len(records)

    def _detections(self, kind: str) -> int:
        records, cursor = self.store.detections.after(kind[:-1], self._cursor(kind),
                                                      self.target.batch)  # fmt: skip
        if not records or cursor is None:
            return 0
        convert: Callable[[Any], Record] = from_alert if kind == "alerts" else from_incident
        self._deliver(kind, [convert(record) for record in records])
        self._save(kind, cursor)
        return len(records)

    def _deliver(self, kind: str, records: Sequence[Record]) -> None:
        refused = self.sink.send(records) if records else 0
        self.metrics.sent.labels(self.name, kind).inc(len(records) - refused)
        if refused:
            self.metrics.refused.labels(self.name).inc(refused)


class Forwarding:
    """Every forwarder's pump on a thread of its own, from `start` to `stop`."""

    def __init__(
        self,
        store: Store,
        targets: Sequence[ForwardTarget],
        metrics: ForwardMetrics,
        *,
        sinks: Callable[[ForwardTarget], Sink] = build_sink,
        idle: float = _IDLE_SECONDS,
        max_backoff: float = _MAX_BACKOFF,
    ) -> None:
        self.pumps = [ForwardPump(store, t, sinks(t), metrics) for t in targets]
        self.metrics = metrics
        self.idle, self.max_backoff = idle, max_backoff
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for pump in self.pumps:
            name = f"apiwatch-forward-{pump.name}"
            thread = threading.Thread(target=self._run, args=(pump,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the batch in flight; the cursors stay where delivery got to."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        for pump in self.pumps:
            pump.sink.close()

    def _run(self, pump: ForwardPump) -> None:
        backoff = _FIRST_BACKOFF
        while not self._stop.is_set():
            try:
                delivered = pump.step()
            except ForwardError as exc:
                wait = max(backoff * random.uniform(0.5, 1.0), exc.retry_after or 0.0)  # noqa: S311
                self._failed(pump, f"{exc}; retrying in {wait:.1f}s")
                backoff = min(backoff * 2, self.max_backoff)
                self._stop.wait(min(wait, self.max_backoff))
                continue
            except Exception as exc:  # noqa: BLE001 - a store hiccup must not end the pump
                self._failed(pump, f"{type(exc).__name__}: {exc}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = _FIRST_BACKOFF
            if not delivered:
                self._stop.wait(self.idle)

    def _failed(self, pump: ForwardPump, why: str) -> None:
        self.metrics.failures.labels(pump.name).inc()
        self.metrics.up.labels(pump.name).set(0)
        logger.warning("forward %s: %s", pump.name, safe(why))
        with contextlib.suppress(Exception):  # the store may be the part that failed
            pump.update_backlog()
