"""`SourceStats.count`: the newest event time a live source has read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from apiwatch.model import Event, EventMeta
from apiwatch.sources.live import SourceStats


def at(when: datetime) -> Event:
    return Event(timestamp=when, event=EventMeta(action="http_request"))


def test_the_newest_time_is_the_latest_instant_whatever_the_zones() -> None:
    """Times in different zones compare as instants; a batch older than what was seen does not
    move the newest time back."""
    stats = SourceStats("web", "file")
    utc = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)
    east = timezone(timedelta(hours=2))
    stats.count(2, [at(utc), at(datetime(2026, 10, 10, 13, 30, tzinfo=east))], 0)
    assert stats.newest_event == utc.timestamp()
    stats.count(1, [at(utc - timedelta(hours=1))], 0)
    assert stats.newest_event == utc.timestamp()


def test_times_without_a_zone_are_compared_as_epoch_seconds() -> None:
    """A batch mixing times with and without a zone is counted, not refused."""
    stats = SourceStats("web", "file")
    naive = datetime(2026, 10, 10, 12, 0)
    aware = datetime(2026, 1, 1, tzinfo=UTC)
    stats.count(2, [at(naive), at(aware)], 0)
    assert stats.newest_event == max(naive.timestamp(), aware.timestamp())
    assert stats.read == 2 and stats.parsed == 2
