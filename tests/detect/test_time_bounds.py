"""Every time-driven part of the engine is bounded by its rules and limits, never by how far
event time jumps: a far-future or far-past event costs what any other event costs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from apiwatch.detect import Engine, builtin_dir, load_rules
from apiwatch.detect.extensions import BaselineState
from apiwatch.model import Event
from tests.detect.helpers import detection, event, load, login, rules

FAIL = detection("fail", "sel: {apiwatch.login: fail}\ncondition: sel")
SURGE = """
title: Surge of failed logins
name: surge
apiwatch:
  type: baseline
  rules: [fail]
  measure: value_count
  field: user.name
  timespan: 10m
  baseline: 1h
  condition: {minimum: 5, factor: 3}
"""
QUIET = """
title: Logging stopped
name: quiet
apiwatch: {type: silence, group-by: service.name, interval: 5m, min-events: 1}
"""
ANY = detection("any", "sel: {event.action: http_request}\ncondition: sel")
BASELINE = rules(FAIL, SURGE)


def _far(seconds: float, year: int | None = None) -> Event:
    """A failed login ``seconds`` after T0, or on 1 January of ``year``."""
    ev = login(seconds, "203.0.113.9", "alice", ok=False)
    if year is not None:
        ev.timestamp = datetime(year, 1, 1, tzinfo=UTC)
    return ev


def _capacity(state: BaselineState) -> int:
    """The samples one tick may take at most: those of one window plus one baseline period."""
    return int((state.rule.timespan + state.rule.baseline) / state.step) + 2


def test_a_jump_in_event_time_takes_no_more_baseline_samples_than_the_history_keeps(
    tmp_path: Path,
) -> None:
    """Sixty days between two events take at most one history's worth of baseline samples."""
    engine = Engine(load(tmp_path, BASELINE), lateness=0)
    engine.feed(_far(0))
    engine.feed(_far(60 * 86400))
    (state,) = engine.baselines.values()
    assert state.samples <= _capacity(state)
    assert len(state.history) <= _capacity(state)


def test_an_event_in_year_9999_leaves_the_builtin_engine_bounded() -> None:
    """The built-in rules fed one event now and one in 9999: every baseline took a bounded
    number of samples, and the state holds no more than the baselines' histories and a few keys."""
    engine = Engine(load_rules([builtin_dir()]), lateness=2)
    engine.feed(_far(0))
    engine.feed(_far(0, year=9999))
    engine.flush()
    assert engine.stats.events == 2
    for state in engine.baselines.values():
        assert state.samples <= _capacity(state)
    histories = sum(_capacity(state) for state in engine.baselines.values())
    assert engine.state_keys() < histories + 100


def test_an_event_from_1970_after_one_from_now_leaves_the_engine_bounded() -> None:
    """A 1970 event fed after a current one costs no time-driven work: the jump from 1970 to
    now takes a bounded number of baseline samples."""
    engine = Engine(load_rules([builtin_dir()]), lateness=2)
    engine.feed(_far(0))
    engine.feed(_far(0, year=1970))
    engine.flush()
    assert engine.stats.events == 2
    for state in engine.baselines.values():
        assert state.samples <= _capacity(state)


def test_events_older_than_max_lag_are_not_processed_and_are_counted(tmp_path: Path) -> None:
    """With ``max_lag``, an event that far behind the watermark is skipped and counted."""
    engine = Engine(load(tmp_path, BASELINE), lateness=0, max_lag=3600)
    engine.feed(_far(7200))
    engine.feed(_far(7200 - 3599))
    engine.feed(_far(0, year=1970))
    engine.feed(_far(0))
    assert engine.stats.events == 2
    assert engine.stats.too_old == 2


def test_the_reorder_buffer_releases_a_stream_that_only_goes_backwards(tmp_path: Path) -> None:
    """Events arriving newest first are released once they are ``lateness`` behind the newest
    seen: the buffer holds one lateness' worth, not the whole stream."""
    engine = Engine(load(tmp_path, BASELINE), lateness=2)
    for t in range(1000, 0, -1):
        engine.feed(login(t, "203.0.113.9", f"u{t}", ok=False))
    assert len(engine.buffer) <= 3


def test_the_reorder_buffer_is_capped(tmp_path: Path) -> None:
    """Past ``max_buffered`` events the oldest are processed, whatever their times."""
    engine = Engine(load(tmp_path, BASELINE), lateness=3600, max_buffered=50)
    for t in range(200):
        engine.feed(login(t / 100, "203.0.113.9", f"u{t}", ok=False))
    assert len(engine.buffer) <= 50
    assert engine.stats.events >= 150


def test_silence_after_a_jump_of_years_reports_each_silent_source_once(tmp_path: Path) -> None:
    """After a jump of thousands of years, the silence check runs once over the sources it
    tracks: the one source that went quiet is reported once."""
    engine = Engine(load(tmp_path, rules(ANY, QUIET)), lateness=0)
    engine.feed(event(0, service="a"))
    engine.feed(event(0, service="b"))
    far = event(0, service="a")
    far.timestamp = datetime(9999, 1, 1, tzinfo=UTC)
    engine.feed(far)
    quiet = [a for a in engine.take_alerts() if a.rule == "quiet"]
    assert [a.group for a in quiet] == [{"service.name": "b"}]
