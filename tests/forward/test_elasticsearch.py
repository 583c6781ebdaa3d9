"""Elasticsearch/OpenSearch `_bulk`, against a real HTTP server answering as Elasticsearch's
documented API does (no Elasticsearch can run here; see tests/forward/receivers.py)."""

from __future__ import annotations

import logging

import pytest

from apiwatch.forward import ElasticsearchSink, ForwardError, from_event_line
from apiwatch.store import SqlStore

from .helpers import alert, drain, incident, pump, store_events, target
from .receivers import BulkReplay, running


def test_events_land_in_a_data_stream_with_the_event_id_as_id(store: SqlStore) -> None:
    """Events are `create`d into the data stream under their id, after the index template."""
    ids = store_events(store, 30)
    with running(BulkReplay()) as es:
        drain(pump(store, target("es", "elasticsearch", url=es.url)))
    assert list(es.indexes["logs-apiwatch-default"]) == ids
    template = es.templates["apiwatch-es-events"]
    assert template["index_patterns"] == ["logs-apiwatch-default*"]
    assert template["data_stream"] == {}
    mapped = template["template"]["mappings"]["properties"]
    assert mapped["source"]["properties"]["ip"] == {"type": "ip"}
    assert "data_stream" not in es.templates["apiwatch-es-alerts"]


def test_a_batch_sent_twice_is_stored_once(store: SqlStore) -> None:
    """409 version conflicts on create count as delivered: duplicates are harmless."""
    store_events(store, 10)
    with running(BulkReplay()) as es:
        first = pump(store, target("es", "elasticsearch", url=es.url))
        drain(first)
        store.save_forward_cursor("es/events", "0")  # as if the cursor save had been lost
        again = pump(store, target("es", "elasticsearch", url=es.url))  # and then a restart
        assert drain(again) == 10
        assert es.count() == 10
    assert again.metrics.refused.labels("es")._value.get() == 0


def test_items_refused_with_429_are_retried_until_stored(store: SqlStore) -> None:
    """A partial failure (one item 429) fails the batch; the retry stores every event once."""
    ids = store_events(store, 5)
    with running(BulkReplay(script=["item429"])) as es:
        forwarder = pump(store, target("es", "elasticsearch", url=es.url))
        with pytest.raises(ForwardError, match="1 of 5 documents refused for now"):
            forwarder.step()
        assert store.forward_cursor("es/events") is None
        drain(forwarder)
    assert es.order == ids[1:] + ids[:1]  # the refused one arrives with the retry
    assert sorted(es.indexes["logs-apiwatch-default"]) == sorted(ids)


def test_a_whole_429_carries_retry_after(store: SqlStore) -> None:
    """A bulk answered 429 is retried no sooner than the receiver's Retry-After."""
    store_events(store, 3)
    with running(BulkReplay(script=["429"])) as es:
        forwarder = pump(store, target("es", "elasticsearch", url=es.url, template=False))
        with pytest.raises(ForwardError, match="HTTP 429") as caught:
            forwarder.step()
        assert caught.value.retry_after == 1.0
        assert drain(forwarder) == 3


def test_a_document_refused_for_its_content_is_counted_not_retried(
    store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A per-item 400 is counted as refused and logged without the document; the rest land."""
    store_events(store, 4)
    records = [from_event_line(line) for _, line in store.events.after(0, 100)]
    # The collector refuses such a source.ip at ingest; a receiver's own mapping may refuse
    # other fields the same way (document_parsing_exception).
    records[1].document["source"]["ip"] = "not-an-address secret-token"
    with running(BulkReplay()) as es:
        sink = ElasticsearchSink(target("es", "elasticsearch", url=es.url))
        with caplog.at_level(logging.WARNING, logger="apiwatch.forward"):
            assert sink.send(records) == 1
        sink.close()
    assert es.count() == 3
    assert "document_parsing_exception" in caplog.text
    assert "secret-token" not in caplog.text


def test_alerts_and_incidents_are_indexed_and_updated_in_place(store: SqlStore) -> None:
    """Alerts and incidents use `index` into their own indexes: an update overwrites."""
    store.detections.save([alert(1)], [incident(1)])
    with running(BulkReplay()) as es:
        conf = target("es", "elasticsearch", url=es.url, kinds=["alerts", "incidents"])
        forwarder = pump(store, conf)
        drain(forwarder)
        store.detections.save([], [incident(1, last=30)])
        drain(forwarder)
    assert list(es.indexes["apiwatch-alerts"]) == ["alert-1"]
    stored = es.indexes["apiwatch-incidents"]["incident-1"]
    assert stored["apiwatch"]["incident"]["requests"] == 40


def test_credentials_are_sent_as_an_api_key_header(store: SqlStore) -> None:
    """api_key_env's value goes out as `Authorization: ApiKey ...` and nowhere else."""
    sink = ElasticsearchSink(
        target("es", "elasticsearch", url="http://127.0.0.1:9", secrets={"api_key": "c2VjcmV0"})
    )
    assert sink.client.headers["authorization"] == "ApiKey c2VjcmV0"
    sink.close()
    assert "c2VjcmV0" not in repr(target("es", "elasticsearch", secrets={"api_key": "c2VjcmV0"}))


def test_a_bulk_over_the_content_length_limit_is_sent_in_halves(store: SqlStore) -> None:
    """413 (http.max_content_length) splits the batch until each part fits, order kept."""
    ids = store_events(store, 40)
    with running(BulkReplay(max_content_length=6000)) as es:
        drain(pump(store, target("es", "elasticsearch", url=es.url, batch=40, template=False)))
    assert es.order == ids
