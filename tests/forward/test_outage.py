"""The collector's forwarder through an outage: `apiwatch serve` (a real subprocess) forwards
to an Elasticsearch `_bulk` endpoint (tests/forward/receivers.py) that is down while events keep
arriving, comes back, and is later joined by a collector restart — nothing lost, nothing out
of order, nothing delivered again from the start."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from apiwatch.store import open_store
from tests.reliability.serving import database, free_port, serve

from .receivers import BulkReplay, running

pytestmark = pytest.mark.slow


def _events(start: int, count: int) -> bytes:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rows = [
        {
            "@timestamp": now,
            "event": {"id": f"{start + i:032x}", "action": "http_request"},
            "source": {"ip": "203.0.113.7"},
            "url": {"path": f"/orders/{start + i}"},
        }
        for i in range(count)
    ]
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def _send(port: int, key: str, start: int, count: int) -> None:
    response = httpx.post(
        f"http://127.0.0.1:{port}/v1/events",
        content=_events(start, count),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"},
        timeout=30,
    )
    assert response.status_code == 202, response.text


def _wait(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("not delivered in time")


def _metric(port: int, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    for row in text.splitlines():
        if row.startswith(name + "{") and 'forwarder="siem"' in row:
            return float(row.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


def test_outage_catch_up_and_restart(db: str, tmp_path: Path) -> None:
    """Receiver down: events are stored and the backlog shows them; receiver back: all of
    them arrive in order; collector restarted: delivery resumes at the saved cursor."""
    es_port, port = free_port(), free_port()
    config = tmp_path / "apiwatch.toml"
    config.write_text(
        f'[[forward]]\nname = "siem"\ntype = "elasticsearch"\n'
        f'url = "http://127.0.0.1:{es_port}"\nkinds = ["events"]\nbatch = 50\n'
    )
    store = open_store(db, key_file=tmp_path / "collector.keys")
    _, key = store.keys.create("sensor", ["ingest", "read"])
    store.close()
    collector = serve(db, port, tmp_path, "--config", str(config), "--no-detect")
    try:
        for start in range(0, 300, 100):  # the receiver is down
            _send(port, key, start, 100)
        _wait(lambda: _metric(port, "apiwatch_forward_backlog_events") == 300)
        assert _metric(port, "apiwatch_forward_up") == 0
        with running(BulkReplay(), es_port) as es:  # back
            _send(port, key, 300, 100)
            _wait(lambda: es.count() == 400)
            _wait(lambda: _metric(port, "apiwatch_forward_backlog_events") == 0)
        assert es.order == [f"{i:032x}" for i in range(400)]
    finally:
        collector.terminate()
        collector.wait(timeout=30)
    collector = serve(db, port, tmp_path, "--config", str(config), "--no-detect")
    try:
        with running(BulkReplay(), es_port) as again:
            _send(port, key, 400, 50)
            _wait(lambda: again.count() == 50)
            time.sleep(1.5)  # a pump that restarted from the beginning would send more
            assert again.order == [f"{i:032x}" for i in range(400, 450)]
    finally:
        collector.terminate()
        collector.wait(timeout=30)
