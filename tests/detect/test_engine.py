"""The engine on event time: reordering within lateness, replays, and bounded state."""

from __future__ import annotations

import random
from pathlib import Path

from apiwatch.detect import Engine, RuleSet, builtin_dir, load_rules
from apiwatch.model import Event
from apiwatch.model.alert import Alert
from tests.detect.helpers import alerts_of, correlation, detection, event, load, login, rules, run

FAIL = detection("fail", "sel: {apiwatch.login: fail}\ncondition: sel")
PROBE = detection("probe", "sel: {url.path|contains: /.env}\ncondition: sel")
SPREAD = correlation("spread", """
    type: value_count
    rules: [fail]
    group-by: [source.ip]
    timespan: 1m
    condition: {gte: 5, field: user.name}
    """)  # fmt: skip


def attack() -> list[Event]:
    """Three sources failing logins one event a second, with probes between: sorted by time."""
    events = []
    for t in range(120):
        ip = f"203.0.113.{t % 3}"
        events.append(login(t, ip, f"user{t // 3}", ok=False))
        if t % 10 == 0:
            events.append(event(t + 0.5, ip=ip, path="/.env", status=404))
    return events


def summary(alerts: list[Alert]) -> list[tuple[str, str, int, list[str], list[str]]]:
    return sorted((a.id, a.rule, a.count, a.attackers, a.accounts) for a in alerts)


def ruleset(tmp_path: Path) -> RuleSet:
    return load(tmp_path, rules(FAIL, PROBE, SPREAD))


def test_out_of_order_within_lateness_gives_the_alerts_of_sorted_input(tmp_path: Path) -> None:
    """Events shuffled by less than ``lateness`` give exactly the alerts sorted input gives."""
    events = attack()
    jitter = random.Random(7)  # noqa: S311 - a fixed shuffle, not a secret
    shuffled = sorted(events, key=lambda e: e.timestamp.timestamp() + jitter.uniform(0, 4))
    assert shuffled != events
    rules_ = ruleset(tmp_path)
    in_order = run(rules_, events, lateness=5)
    reordered = run(rules_, shuffled, lateness=5)
    assert summary(alerts_of(reordered)) == summary(alerts_of(in_order))
    assert summary(alerts_of(run(rules_, events))) == summary(
        alerts_of(run(rules_, shuffled, lateness=5))
    )
    assert reordered.stats.late == 0


def test_events_later_than_lateness_are_processed_and_counted(tmp_path: Path) -> None:
    """An event older than the reorder buffer still counts, and ``stats.late`` says so."""
    events = [login(t, "203.0.113.1", f"user{t}", ok=False) for t in (0, 10, 20, 30, 5)]
    engine = run(ruleset(tmp_path), events, lateness=2)
    assert engine.stats.late == 1
    (alert,) = alerts_of(engine, "spread")
    assert alert.count == 5


def test_a_replay_gives_the_same_alert_and_incident_ids(tmp_path: Path) -> None:
    """The same events give the same alerts and incidents, ids included (no clock, no chance)."""
    rules_ = ruleset(tmp_path)
    first, second = run(rules_, attack()), run(rules_, attack())
    assert summary(alerts_of(first)) == summary(alerts_of(second))
    assert [i.id for i in first.incidents()] == [i.id for i in second.incidents()]
    assert first.incidents()


def test_take_alerts_returns_what_changed_since_the_last_call(tmp_path: Path) -> None:
    """`take_alerts` hands each raised or updated alert once, then only later changes."""
    engine = Engine(ruleset(tmp_path), lateness=0)
    engine.feed_all(login(t, "203.0.113.1", f"user{t}", ok=False) for t in range(5))
    (raised,) = engine.take_alerts()
    assert engine.take_alerts() == []
    engine.feed(login(6, "203.0.113.1", "user6", ok=False))
    (updated,) = engine.take_alerts()
    assert (updated.id, updated.count) == (raised.id, raised.count + 1)


def test_groups_past_max_keys_are_evicted_and_counted(tmp_path: Path) -> None:
    """Beyond ``max_keys`` groups the least recently active go, counted in ``stats.evicted``."""
    engine = Engine(ruleset(tmp_path), lateness=0, max_keys=10)
    engine.feed_all(login(10 + n * 0.1, f"100.64.0.{n}", "a", ok=False) for n in range(50))
    engine.feed(event(70, ip="192.0.2.1"))  # the next sweep (a minute on); no group is stale
    assert (engine.stats.evicted, engine.stats.keys) == (40, 10)


def test_eviction_copes_with_rules_sharing_group_keys() -> None:
    """Eviction works when several correlations hold groups with equal keys and times."""
    engine = Engine(load_rules([builtin_dir()]), lateness=0, max_keys=10)
    engine.feed_all(login(0, f"100.64.0.{n}", f"user{n}", ok=False) for n in range(50))
    engine.feed(event(61, ip="192.0.2.1"))
    assert engine.stats.keys == 10
    # 50 groups in each of brute force, stuffing, spraying, login enumeration and error flood
    # (401s), less 10 kept; rules that count every request of a source (user-agent switching)
    # hold one group more.
    assert 240 <= engine.stats.evicted <= 241


def test_single_event_rule_state_counts_towards_max_keys() -> None:
    """Per-source suppression of single-event rules (a scanner's UA from thousands of addresses)
    is bounded by ``max_keys`` too: the least recently active sources are evicted and counted."""
    engine = Engine(load_rules([builtin_dir()]), lateness=0, max_keys=10)
    engine.feed_all(
        event(n * 0.01, ip=f"100.64.{n // 250}.{n % 250}", ua="sqlmap/1.8") for n in range(500)
    )
    engine.feed(event(61, ip="192.0.2.1"))
    assert engine.stats.keys == 10
    assert engine.stats.evicted >= 490
    assert sum(len(single) for single in engine.single.values()) <= 10


def test_groups_expire_with_their_window(tmp_path: Path) -> None:
    """A correlation group is dropped once idle for longer than its window: state stays bounded."""
    engine = Engine(ruleset(tmp_path), lateness=0)
    engine.feed_all(login(n * 0.1, f"100.64.0.{n}", "a", ok=False) for n in range(50))
    assert engine.state_keys() >= 50
    engine.feed(event(200, ip="192.0.2.1", path="/"))
    assert engine.stats.keys == 0
    assert engine.state_keys() <= 2
