"""Filling a store, and running a forwarder's pump over it until it has nothing left."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from apiwatch.forward import ForwardTarget, Sink, build_sink
from apiwatch.model.alert import Alert, Incident
from apiwatch.server._forwarding import ForwardMetrics, ForwardPump
from apiwatch.store import SqlStore
from tests.store.helpers import T0, batch, line


def store_events(store: SqlStore, count: int, *, start: int = 0, **fields: Any) -> list[str]:
    """Append ``count`` events (numbered from ``start`` in their path); their ids, in order."""
    stored = [
        line(at=T0 + timedelta(seconds=start + i), path=f"/orders/{start + i}", **fields)
        for i in range(count)
    ]
    store.events.append([batch(stored)])
    return [item.event.event.id or "" for item in stored]


def alert(number: int, *, last: int = 0) -> Alert:
    moment = T0 + timedelta(seconds=number + last)
    return Alert(
        id=f"alert-{number}",
        rule="credential-stuffing",
        title="Credential stuffing",
        severity="high",
        timestamp=moment,
        first_seen=T0,
        last_seen=moment,
        attackers=["198.51.100.7"],
        count=50 + last,
    )


def incident(number: int, *, last: int = 0) -> Incident:
    moment = T0 + timedelta(seconds=number + last)
    return Incident(
        id=f"incident-{number}",
        title="Credential stuffing",
        severity="high",
        first_seen=T0,
        last_seen=moment,
        rules=["credential-stuffing"],
        attackers=["198.51.100.7"],
        requests=10 + last,
    )


OPENED: list[Sink] = []
"""Sinks the helpers made, closed after each test (tests/forward/conftest.py)."""


def pump(store: SqlStore, target: ForwardTarget, sink: Sink | None = None) -> ForwardPump:
    metrics = ForwardMetrics(CollectorRegistry())
    sink = sink or build_sink(target)
    OPENED.append(sink)
    return ForwardPump(store, target, sink, metrics)


def close_sinks() -> None:
    while OPENED:
        OPENED.pop().close()


def drain(forwarder: ForwardPump, *, limit: int = 1000) -> int:
    """Run ``forwarder`` until a step delivers nothing; how many records went out in all."""
    total = 0
    for _ in range(limit):
        delivered = forwarder.step()
        if not delivered:
            return total
        total += delivered
    raise AssertionError("the pump never ran dry")


def target(
    name: str,
    kind: str,
    *,
    kinds: Sequence[str] = ("events",),
    batch: int = 100,
    secrets: dict[str, str] | None = None,
    **options: Any,
) -> ForwardTarget:
    return ForwardTarget(name, kind, tuple(kinds), batch, options, secrets or {})
