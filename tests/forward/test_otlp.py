"""OTLP logs over HTTP/protobuf, decoded by a real HTTP server with opentelemetry-proto as an
OpenTelemetry Collector decodes them (apiwatch into apiwatch's own receiver:
tests/server/test_otlp_apiwatch_to_apiwatch.py)."""

from __future__ import annotations

import json

import pytest

from apiwatch.forward import ForwardError
from apiwatch.store import SqlStore

from .helpers import alert, drain, pump, store_events, target
from .receivers import OtlpReceiver, running


def _attributes(record: object) -> dict[str, object]:
    found: dict[str, object] = {}
    for item in record.attributes:  # type: ignore[attr-defined]
        kind = item.value.WhichOneof("value")
        found[item.key] = getattr(item.value, kind)
    return found


def test_events_become_log_records_with_semantic_convention_attributes(store: SqlStore) -> None:
    """Each event is a LogRecord: time, ECS JSON body, client.address, user.name, uid ..."""
    ids = store_events(store, 7)
    with running(OtlpReceiver()) as otlp:
        drain(pump(store, target("otel", "otlp", url=otlp.url, batch=3)))
    assert len(otlp.records) == 7
    first = otlp.records[0]
    attributes = _attributes(first)
    assert attributes["log.record.uid"] == ids[0]
    assert attributes["client.address"] == "203.0.113.7"
    assert attributes["user.name"] == "alice"
    assert attributes["url.path"] == "/orders/0"
    assert attributes["http.response.status_code"] == 200
    assert attributes["event.name"] == "http_request"
    assert first.time_unix_nano == 1740830400 * 10**9
    assert json.loads(first.body.string_value)["event"]["id"] == ids[0]
    assert otlp.resources[0] == {"service.name": "shop", "host.name": "web-1"}
    assert [_attributes(r)["log.record.uid"] for r in otlp.records] == ids


def test_alerts_carry_their_severity(store: SqlStore) -> None:
    """A high alert is severity ERROR (17) with apiwatch.kind alert."""
    store.detections.save([alert(1)], [])
    with running(OtlpReceiver()) as otlp:
        drain(pump(store, target("otel", "otlp", url=otlp.url, kinds=["alerts"])))
    (record,) = otlp.records
    assert (record.severity_number, record.severity_text) == (17, "ERROR")
    assert _attributes(record)["apiwatch.kind"] == "alert"


def test_503_is_retried_and_partial_success_counted(store: SqlStore) -> None:
    """503 fails the batch; a partial_success rejection is counted as refused for good."""
    store_events(store, 3)
    with running(OtlpReceiver(script=["503", "reject-first"])) as otlp:
        forwarder = pump(store, target("otel", "otlp", url=otlp.url))
        with pytest.raises(ForwardError, match="HTTP 503"):
            forwarder.step()
        drain(forwarder)
    assert len(otlp.records) == 2
    assert forwarder.metrics.refused.labels("otel")._value.get() == 1
