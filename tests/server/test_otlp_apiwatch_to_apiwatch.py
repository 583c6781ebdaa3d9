"""apiwatch's OTLP forwarder into apiwatch's own OTLP receiver: one collector mirrors its events
to another over OTLP/HTTP protobuf, authenticated, and every event arrives once, whole."""

from __future__ import annotations

from pathlib import Path

from apiwatch.store import open_store
from tests._wait import wait_for
from tests.forward.helpers import drain, pump, store_events, target
from tests.server.conftest import StoreFactory
from tests.server.live_helpers import live_collector, stored_events


def test_a_collector_forwards_its_events_over_otlp_into_another(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """Events forwarded with the `otlp` forwarder are stored by the receiving collector's
    /v1/logs with their time, client, account, path and status; a second delivery of the
    same batch (a retry) stores nothing twice."""
    source = open_store(f"sqlite:///{tmp_path}/source.db", key_file=tmp_path / "source.keys")
    try:
        ids = store_events(source, 25, user="bob", ip="198.51.100.23")
        with live_collector(make_store, [], tmp_path / "state") as live:
            mirror = target(
                "mirror", "otlp", url=f"{live.url}/v1/logs", batch=10,
                secrets={"headers": f"Authorization=Bearer {live.keys['ingest']}"},
            )  # fmt: skip
            assert drain(pump(source, mirror)) == 25
            arrived = wait_for(lambda: len(stored_events(live.store)) >= 25 and
                                 stored_events(live.store), "25 forwarded events")  # fmt: skip
            again_mirror = target(
                "mirror-again", "otlp", url=f"{live.url}/v1/logs", batch=10,
                secrets={"headers": f"Authorization=Bearer {live.keys['ingest']}"},
            )  # fmt: skip
            assert drain(pump(source, again_mirror)) == 25  # no cursor of its own: all again
            again = stored_events(live.store)
    finally:
        source.close()
    assert len(arrived) == 25 and len(again) == 25
    paths = sorted(event["url"]["path"] for event in arrived)
    assert paths == sorted(f"/orders/{n}" for n in range(25))
    first = next(event for event in arrived if event["url"]["path"] == "/orders/0")
    assert first["source"]["ip"] == "198.51.100.23"
    assert first["user"]["name"] == "bob"
    assert first["http"]["response"]["status_code"] == 200
    assert {event["event"]["id"] for event in arrived} == set(ids)
