"""Sealing a row: the rollups' tally worked out with it matches the console's own tally."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from apiwatch.model import decode_event, encode_event
from apiwatch.simulate import ScenarioConfig, generate
from apiwatch.store import Keyring, line_tally
from apiwatch.store._rows import event_tally, micros, minute_of, minute_of_micros, seal_lines

from .helpers import T0, line

_TIMES = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)
)


@given(_TIMES)
def test_minute_from_stored_micros_is_the_rollup_minute(moment: datetime) -> None:
    """The minute read off a row's stored microseconds is `minute_of` its time, before 1970,
    after it, and on minute boundaries."""
    assert minute_of_micros(micros(moment), line(at=moment).event) == minute_of(moment)


def test_sealing_carries_the_console_tally(tmp_path: Path) -> None:
    """Each sealed line carries exactly the tally the console would count for its event."""
    keyring = Keyring.load_or_create(tmp_path / "keys")
    stored = [
        line(at=T0, action="authn_login_fail", status=401, ip="203.0.113.9"),
        line(at=T0 + timedelta(seconds=59, microseconds=999_999), status=503),
        line(at=datetime(1969, 12, 31, 23, 59, 30, tzinfo=UTC), status=200),
    ]
    sealed = seal_lines(stored, "ingest-1", keyring)
    assert [s.sealed.tally if s.sealed else None for s in sealed] == [
        event_tally(s.event) for s in stored
    ]


def test_lines_sharing_a_time_seal_as_each_alone(tmp_path: Path) -> None:
    """Lines sharing one datetime, then another, get the clear columns and tally each gets when
    sealed alone (the time is worked out once per run of lines sharing it)."""
    keyring = Keyring.load_or_create(tmp_path / "keys")
    later = T0 + timedelta(minutes=1, microseconds=7)
    stored = [line(at=T0), line(at=T0, status=404), line(at=later), line(at=T0, status=500)]
    together = seal_lines(stored, "ingest-1", keyring)
    alone = [seal_lines([one], "ingest-1", keyring)[0] for one in stored]
    for both, single in zip(together, alone, strict=True):
        assert both.sealed is not None and single.sealed is not None
        assert both.sealed.columns == single.sealed.columns
        assert both.sealed.digest == single.sealed.digest
        assert both.sealed.tally == single.sealed.tally
    assert [s.sealed.columns[1] for s in together if s.sealed] == [
        micros(s.event.timestamp) for s in stored
    ]


def test_a_stored_lines_tally_is_its_events() -> None:
    """The writer's tally of a decrypted line (`line_tally`, which decodes only the four fields
    it counts, the minute from the row's stored time when given) is the tally of the event the
    line encodes: simulated traffic of every kind, and lines with no time or no action."""
    events = list(generate(ScenarioConfig(seed=3, lines=15_000)).events())
    assert len({event_tally(event)[2:] for event in events}) > 3  # failures, statuses vary
    for event in events:
        line = encode_event(event)
        assert line_tally(line) == event_tally(event)
        assert line_tally(line, micros(event.timestamp)) == event_tally(event)  # minute from ts
    no_time = b'{"event": {"action": "authn_login_fail"}, "source": {"ip": "198.51.100.7"}}'
    no_action = b'{"@timestamp": "2026-12-05T10:00:00Z", "event": {}, "http": {"response": {}}}'
    got = line_tally(no_time)
    assert got is not None and got[1:] == event_tally(decode_event(no_time))[1:]  # minute: now
    assert line_tally(no_action) == event_tally(decode_event(no_action))  # action "unknown"
    # Only the counted fields are read: ingest checked the rest before the row was sealed.
    odd = b'{"@timestamp": "2026-12-05T10:00:00Z", "event": {"action": "x"}, "user": 7}'
    assert line_tally(odd) == (minute_of(datetime(2026, 12, 5, 10, tzinfo=UTC)), "", False, None)
