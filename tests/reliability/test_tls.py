"""TLS in transit: `apiwatch serve --tls-cert/--tls-key`, and a shipper that verifies it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from apiwatch.model import Event, EventMeta, encode_event
from apiwatch.sensor.shipper import Shipper
from apiwatch.store import open_store
from tests.tls_helpers import write_self_signed

from .serving import free_port, serve


def _ship(url: str, key: str, spool: Path, ca: Path | None, count: int) -> dict[str, int]:
    shipper = Shipper(
        url,
        api_key=key,
        ca_file=str(ca) if ca else None,
        spool_dir=str(spool),
        flush_interval=0.05,
        backoff_base=0.05,
        backoff_cap=0.2,
        timeout=5.0,
    )
    try:
        for _ in range(count):
            event = Event(event=EventMeta(action="authn_login_fail"))
            shipper(event, encode_event(event))
        shipper.flush(timeout=3 if ca is None else 30)
        return shipper.stats()
    finally:
        shipper.close(timeout=2)


def test_shipper_delivers_over_tls_only_to_the_certificate_it_trusts(tmp_path: Path) -> None:
    """A collector with a certificate made in the test: a shipper given that CA delivers every
    event; one without it refuses the unknown certificate and keeps its events spooled."""
    cert, key_file = write_self_signed(tmp_path)
    db = f"sqlite:///{tmp_path / 'collector.db'}"
    store = open_store(db, key_file=tmp_path / "collector.keys")
    _, key = store.keys.create("sensor", ["ingest"])
    store.close()
    port = free_port()
    server = serve(db, port, tmp_path, "--tls-cert", str(cert), "--tls-key", str(key_file), ca=cert)
    url = f"https://127.0.0.1:{port}"
    try:
        untrusting = _ship(url, key, tmp_path / "spool-a", None, 5)
        trusting = _ship(url, key, tmp_path / "spool-b", cert, 50)
        with pytest.raises((httpx.ConnectError, httpx.RemoteProtocolError)):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)  # no plain HTTP beside TLS
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert untrusting["shipped"] == 0
    assert untrusting["queued"] == 5  # kept in the journal, unsent
    assert trusting["shipped"] == 50
    store = open_store(db, key_file=tmp_path / "collector.keys")
    try:
        assert store.events.count() == 50
    finally:
        store.close()
