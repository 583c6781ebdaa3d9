"""Sending sources (first/last seen, counts, recent rate) and the audit of reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apiwatch.store import ReadRecord, SqlStore
from apiwatch.store import _events as events_module
from apiwatch.store._rows import micros

from .helpers import batch, lines

NOW = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The store's commit time, settable by the test."""
    moments = [NOW]
    monkeypatch.setattr(events_module, "now_us", lambda: micros(moments[-1]))
    return moments


def test_sources_count_per_key_service_and_host(store: SqlStore, clock: list[datetime]) -> None:
    """Each (key, service, host) gets first/last commit time, its total and its last hour."""
    web_1, web_2 = lines(3, service="shop", host="web-1"), lines(2, service="shop", host="web-2")
    store.events.append([batch(web_1, key="edge-1"), batch(web_2, key="edge-1")])
    clock.append(NOW + timedelta(minutes=90))
    web_1, auth = lines(4, service="shop", host="web-1"), lines(1, service="auth", host="web-1")
    store.events.append([batch(web_1, key="edge-1"), batch(auth, key="edge-2")])
    found = {(s.key_name, s.service, s.host): s for s in store.events.sources(clock[-1])}
    assert sorted(found) == [
        ("edge-1", "shop", "web-1"),
        ("edge-1", "shop", "web-2"),
        ("edge-2", "auth", "web-1"),
    ]
    web1 = found[("edge-1", "shop", "web-1")]
    assert (web1.first_seen, web1.last_seen) == (NOW, NOW + timedelta(minutes=90))
    assert (web1.events, web1.events_last_hour) == (7, 4)
    web2 = found[("edge-1", "shop", "web-2")]
    assert (web2.first_seen, web2.last_seen) == (NOW, NOW)
    assert (web2.events, web2.events_last_hour) == (2, 0)
    assert found[("edge-2", "auth", "web-1")].events == 1


def test_sources_newest_first_and_quiet_after_an_hour(
    store: SqlStore, clock: list[datetime]
) -> None:
    """Sources are listed most recently seen first; an hour later their recent rate is 0."""
    store.events.append([batch(lines(2, host="old"))])
    clock.append(NOW + timedelta(minutes=5))
    store.events.append([batch(lines(2, host="new"))])
    listed = store.events.sources(NOW + timedelta(minutes=5))
    assert [s.host for s in listed] == ["new", "old"]
    assert [s.events_last_hour for s in store.events.sources(NOW + timedelta(hours=2))] == [0, 0]


def test_events_without_service_or_host_are_one_source(store: SqlStore) -> None:
    """Missing service/host names count under empty strings rather than failing."""
    from apiwatch.model import Event, encode_event
    from apiwatch.model.event import EventMeta
    from apiwatch.store import StoredLine

    bare = [Event(event=EventMeta(action="http_request")) for _ in range(3)]
    store.events.append([batch([StoredLine(e, encode_event(e)) for e in bare])])
    (source,) = store.events.sources(datetime.now(UTC))
    assert (source.service, source.host, source.events) == ("", "", 3)


def test_read_audit_round_trip(store: SqlStore) -> None:
    """Recorded reads come back newest first, limited, with every field intact."""
    records = [
        ReadRecord(NOW + timedelta(seconds=i), f"reader-{i}", "events", f"user.name=u{i}", i)
        for i in range(5)
    ]
    for record in records:
        store.audit.record(record)
    assert store.audit.reads(limit=3) == list(reversed(records))[:3]
    assert store.audit.reads() == list(reversed(records))
