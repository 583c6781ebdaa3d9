"""Killing the collector mid-stream loses nothing it acknowledged (issue: the collector)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from apiwatch.model import Event, EventMeta, Host, Service, Source, User, encode_event
from apiwatch.sensor.shipper import Shipper
from apiwatch.store import open_store
from tests._wait import wait_for

from .serving import database, free_port, serve

TOTAL = 100_000


def _event(i: int) -> tuple[Event, bytes]:
    event = Event(
        event=EventMeta(action="authn_login_fail", outcome="failure"),
        source=Source(ip=f"198.51.100.{i % 250}"),
        user=User(name=f"user{i % 5000}"),
        service=Service(name="shop"),
        host=Host(name="web-1"),
    )
    return event, encode_event(event)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_sigkill_during_ingest_loses_no_acknowledged_event(kind: str, tmp_path: Path) -> None:
    """SIGKILL the collector while 100,000 events stream in; after a restart every event is
    stored exactly once, the shipper's spool delivers the rest, and the chain verifies."""
    with database(kind, tmp_path) as db:
        _kill_and_restart(db, tmp_path)


def _kill_and_restart(db: str, tmp_path: Path) -> None:
    keys = tmp_path / "collector.keys"
    store = open_store(db, key_file=keys)
    _, key = store.keys.create("sensor", ["ingest"])
    store.close()
    port = free_port()
    server = serve(db, port, tmp_path)
    shipper = Shipper(
        f"http://127.0.0.1:{port}",
        api_key=key,
        spool_dir=str(tmp_path / "spool"),
        batch_size=1000,
        flush_interval=0.02,
        backoff_base=0.05,
        backoff_cap=0.5,
        timeout=5.0,
    )
    try:
        acknowledged_at_kill = 0
        for i in range(TOTAL):
            shipper(*_event(i))
            if i == TOTAL // 3:
                wait_for(lambda: shipper.stats()["shipped"] >= 10_000, "10,000 shipped", 60, 0.01)
                server.send_signal(signal.SIGKILL)
                server.wait(timeout=10)
                acknowledged_at_kill = shipper.stats()["shipped"]
        server = serve(db, port, tmp_path)
        assert shipper.flush(timeout=120), shipper.stats()
        stats = shipper.stats()
    finally:
        shipper.close(timeout=10)
        server.terminate()
        server.wait(timeout=30)
    assert acknowledged_at_kill >= 10_000
    assert stats["dropped"] == 0
    assert stats["shipped"] >= TOTAL  # retried batches may be counted again; the store dedups
    store = open_store(db, key_file=keys)
    try:
        assert store.events.count() == TOTAL
        report = store.verify()
    finally:
        store.close()
    assert report.ok, report.problem
    assert report.records == TOTAL
