"""The pump: in order, at least once, from a durable cursor, on both store back ends."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from apiwatch.forward import ForwardError, Record
from apiwatch.server._forwarding import Forwarding, ForwardMetrics
from apiwatch.store import SqlStore
from tests.store.helpers import Backend

from .helpers import alert, drain, incident, pump, store_events, target


class FlakySink:
    """A sink that fails its first ``failures`` batches, then keeps what it is given."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.records: list[Record] = []

    def send(self, records: Sequence[Record]) -> int:
        if self.failures:
            self.failures -= 1
            raise ForwardError("receiver down")
        self.records.extend(records)
        return 0

    def close(self) -> None:
        return None


def _ids(path: Path) -> list[str]:
    return [json.loads(row)["event"]["id"] for row in path.read_text().splitlines()]


def test_events_go_out_in_store_order_in_batches(store: SqlStore, tmp_path: Path) -> None:
    """Every stored event reaches the file once, in sequence order, batch after batch."""
    ids = store_events(store, 250)
    out = tmp_path / "out.ndjson"
    assert drain(pump(store, target("siem", "file", batch=40, path=str(out)))) == 250
    assert _ids(out) == ids
    assert store.forward_cursor("siem/events") == str(store.events.last_seq())


def test_a_new_pump_resumes_at_the_saved_cursor(
    backend: Backend, keyring: object, tmp_path: Path
) -> None:
    """Reopening the store (a collector restart) resumes after the last delivered event."""
    out = tmp_path / "out.ndjson"
    conf = target("siem", "file", batch=50, path=str(out))
    first = backend.open(keyring)  # type: ignore[arg-type]
    ids = store_events(first, 120)
    drain(pump(first, conf))
    first.close()
    again = backend.open(keyring)  # type: ignore[arg-type]
    ids += store_events(again, 30, start=120)
    assert drain(pump(again, conf)) == 30
    again.close()
    assert _ids(out) == ids


def test_a_failed_batch_keeps_the_cursor_and_is_sent_again(store: SqlStore) -> None:
    """A failure leaves the cursor where it was; the next attempt delivers the same events."""
    ids = store_events(store, 10)
    sink = FlakySink(failures=2)
    forwarder = pump(store, target("flaky", "file", path="unused"), sink)
    for _ in range(2):
        with pytest.raises(ForwardError):
            forwarder.step()
        assert store.forward_cursor("flaky/events") is None
    drain(forwarder)
    assert [r.id for r in sink.records] == ids


def test_backlog_counts_events_not_yet_delivered(store: SqlStore) -> None:
    """apiwatch_forward_backlog_events is what is stored beyond the cursor."""
    store_events(store, 30)
    forwarder = pump(store, target("flaky", "file", path="unused"), FlakySink(failures=1))
    with pytest.raises(ForwardError):
        forwarder.step()
    forwarder.update_backlog()
    gauge = forwarder.metrics.backlog.labels("flaky")
    assert gauge._value.get() == 30
    drain(forwarder)
    assert gauge._value.get() == 0


def test_alerts_and_incidents_are_forwarded_and_updates_again(store: SqlStore) -> None:
    """Alerts and incidents go out as ECS alerts; an incident that grows goes out again."""
    store.detections.save([alert(1), alert(2)], [incident(1)])
    sink = FlakySink(failures=0)
    forwarder = pump(store, target("det", "file", kinds=["alerts", "incidents"], path="x"), sink)
    assert drain(forwarder) == 3
    store.detections.save([], [incident(1, last=60)])
    assert drain(forwarder) == 1
    kinds = [(r.kind, r.id) for r in sink.records]
    assert kinds == [
        ("alerts", "alert-1"),
        ("alerts", "alert-2"),
        ("incidents", "incident-1"),
        ("incidents", "incident-1"),
    ]
    last = sink.records[-1].document
    assert last["event"]["kind"] == "alert"
    assert last["event"]["dataset"] == "apiwatch.incident"
    assert last["apiwatch"]["incident"]["requests"] == 70
    assert last["source"]["ip"] == "198.51.100.7"


def test_kinds_not_selected_are_not_forwarded(store: SqlStore) -> None:
    """A forwarder of incidents only never reads events or alerts."""
    store_events(store, 5)
    store.detections.save([alert(1)], [incident(1)])
    sink = FlakySink(failures=0)
    drain(pump(store, target("inc", "file", kinds=["incidents"], path="x"), sink))
    assert [r.kind for r in sink.records] == ["incidents"]


def test_an_alert_saved_late_for_an_earlier_window_is_still_forwarded(store: SqlStore) -> None:
    """Write order, not last_seen: an alert saved after others, though older, goes out."""
    store.detections.save([alert(5)], [])
    sink = FlakySink(failures=0)
    forwarder = pump(store, target("det", "file", kinds=["alerts"], path="x"), sink)
    drain(forwarder)
    store.detections.save([alert(1)], [])  # last_seen 4 seconds before alert-5's
    assert drain(forwarder) == 1
    assert [r.id for r in sink.records] == ["alert-5", "alert-1"]


def test_records_saved_before_the_write_order_existed_are_forwarded(
    store: SqlStore, backend: Backend
) -> None:
    """Alerts of an older store (no write-order number) go out first, by id, all of them."""
    store.detections.save([alert(n) for n in range(5)], [])
    backend.sql("UPDATE alerts SET saved = NULL")  # as an older apiwatch left them
    store.detections.save([alert(9)], [])
    sink = FlakySink(failures=0)
    drain(pump(store, target("det", "file", kinds=["alerts"], batch=2, path="x"), sink))
    assert [r.id for r in sink.records] == [f"alert-{n}" for n in (0, 1, 2, 3, 4, 9)]


def test_the_forwarding_thread_backs_off_and_catches_up(store: SqlStore) -> None:
    """Run as the collector runs it: failures are counted and retried after a backoff, and
    once the receiver takes batches again everything stored arrives, in order."""
    ids = store_events(store, 25)
    sink = FlakySink(failures=3)
    metrics = ForwardMetrics(CollectorRegistry())
    conf = target("flaky", "file", batch=10, path="x")
    forwarding = Forwarding(
        store, [conf], metrics, sinks=lambda _: sink, idle=0.05, max_backoff=0.2
    )
    forwarding.start()
    try:
        deadline = time.monotonic() + 20
        while len(sink.records) < 25 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        forwarding.stop()
    assert [r.id for r in sink.records] == ids
    assert metrics.failures.labels("flaky")._value.get() == 3
    assert metrics.up.labels("flaky")._value.get() == 1
    assert store.forward_cursor("flaky/events") == str(store.events.last_seq())
