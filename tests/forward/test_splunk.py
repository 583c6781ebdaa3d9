"""Splunk HEC, against a real HTTP server answering as HEC's documented API does (no Splunk can
run here; see tests/forward/receivers.py)."""

from __future__ import annotations

import pytest

from apiwatch.forward import ForwardError, SplunkSink, from_event_line
from apiwatch.store import SqlStore

from .helpers import drain, pump, store_events, target
from .receivers import HecReplay, running

TOKEN = "4f0b2f3c-hec-token"


def test_events_arrive_as_hec_events_with_sourcetype_and_time(store: SqlStore) -> None:
    """Each record is one HEC event: ECS document as `event`, its time, an apiwatch sourcetype."""
    ids = store_events(store, 12)
    with running(HecReplay(TOKEN)) as hec:
        conf = target(
            "splunk",
            "splunk",
            url=hec.url,
            index="api",
            host="collector-1",
            secrets={"token": TOKEN},
            batch=5,
        )
        drain(pump(store, conf))
    assert [e["event"]["event"]["id"] for e in hec.events] == ids
    first = hec.events[0]
    assert first["sourcetype"] == "apiwatch:event"
    assert first["index"] == "api"
    assert first["host"] == "collector-1"
    assert first["time"] == pytest.approx(1740830400.0)


def test_busy_and_429_are_retried_and_a_bad_token_is_an_error(store: SqlStore) -> None:
    """503 "Server is busy" and 429 fail the batch (retried later); so does a refused token."""
    store_events(store, 3)
    with running(HecReplay(TOKEN, script=["busy", "429"])) as hec:
        forwarder = pump(store, target("splunk", "splunk", url=hec.url, secrets={"token": TOKEN}))
        with pytest.raises(ForwardError, match="HTTP 503"):
            forwarder.step()
        with pytest.raises(ForwardError, match="HTTP 429") as caught:
            forwarder.step()
        assert caught.value.retry_after == 1.0
        drain(forwarder)
        assert len(hec.events) == 3
        wrong = pump(store, target("other", "splunk", url=hec.url, secrets={"token": "nope"}))
        with pytest.raises(ForwardError, match="HTTP 403"):
            wrong.step()


def test_an_invalid_event_is_refused_and_the_rest_resent(store: SqlStore) -> None:
    """400 code 6 with invalid-event-number N: N is refused for good, the ones after it resent."""
    store_events(store, 4)
    records = [from_event_line(line) for _, line in store.events.after(0, 10)]
    records[2].document.clear()  # an empty event, which HEC refuses ("Invalid data format")
    with running(HecReplay(TOKEN)) as hec:
        sink = SplunkSink(target("splunk", "splunk", url=hec.url, secrets={"token": TOKEN}))
        assert sink.send(records) == 1
        sink.close()
    assert [e["event"]["event"]["id"] for e in hec.events] == [
        records[0].id,
        records[1].id,
        records[3].id,
    ]
