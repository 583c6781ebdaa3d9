"""apiwatch's extensions: baselines (all traffic against its own past) and silent sources."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from apiwatch.detect import Engine, RuleSet
from apiwatch.model import Event
from tests.detect.helpers import alerts_of, at, detection, event, load, login, rules, run

FAIL = detection("fail", "sel: {apiwatch.login: fail}\ncondition: sel")
OK = detection("ok", "sel: {apiwatch.login: success}\ncondition: sel")
SURGE = """
title: Surge of failed logins
name: surge
apiwatch:
  type: baseline
  extent: [accounts]
  rules: [fail]
  of: [ok]
  measure: event_count
  timespan: 10m
  baseline: 1h
  warmup: 30m
  condition: {minimum: 10, factor: 3, minimum-baseline: 2}
"""
QUIET = """
title: Logging stopped
name: quiet
apiwatch: {type: silence, group-by: service.name, interval: 15m, min-events: 5}
"""
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"


def baseline_rules(tmp_path: Path) -> RuleSet:
    return load(tmp_path, rules(FAIL, OK, SURGE))


def history() -> Iterator[Event]:
    """An hour of normal traffic ending ten minutes before 09:00: five failed logins per window."""
    for n, t in enumerate(range(-3600, -600, 60)):
        ip = f"192.0.2.{n % 250 + 1}"
        yield login(t, ip, f"user{n}", ok=True, ua=BROWSER)
        if n % 2 == 0:
            yield login(t + 30, ip, f"user{n}", ok=False, ua=BROWSER)


def surge(count: int, ip: Callable[[int], str], ua: Callable[[int], str]) -> list[Event]:
    return [login(10 + n * 5, ip(n), f"victim{n}", ok=False, ua=ua(n)) for n in range(count)]


def spread(n: int) -> str:
    return f"100.{64 + n}.0.1"  # one address in each of many /16 networks


def stuffer(n: int) -> str:
    return "stuffer/1.0"


def test_baseline_fires_only_above_factor_times_its_past(tmp_path: Path) -> None:
    """Over the minimum but under factor x the trailing median is quiet; above both it fires."""
    ruleset = baseline_rules(tmp_path)
    assert not alerts_of(run(ruleset, [*history(), *surge(14, spread, stuffer)]), "surge")
    (alert,) = alerts_of(run(ruleset, [*history(), *surge(25, spread, stuffer)]), "surge")
    assert (alert.group, alert.count) == ({}, 25)


def test_baseline_is_silent_while_it_warms_up(tmp_path: Path) -> None:
    """With no past to compare with, a surge in the first ``warmup`` of event time is quiet."""
    assert not alerts_of(run(baseline_rules(tmp_path), surge(60, spread, stuffer)), "surge")


def test_participants_are_judged_on_their_own_evidence(tmp_path: Path) -> None:
    """Sources failing for accounts they never got into are attackers, whatever their user
    agent or network; a user who mistypes and then logs in, and a known user failing from
    home, are not."""
    bystanders = [login(12, "192.0.2.200", "olivia", ok=False, ua=BROWSER),
                  login(30, "192.0.2.200", "olivia", ok=True, ua=BROWSER),
                  login(14, "192.0.2.3", "user2", ok=False, ua=BROWSER)]  # fmt: skip
    attack = surge(25, spread, lambda n: f"Mozilla/5.0 build/{n}")
    (alert,) = alerts_of(run(baseline_rules(tmp_path), [*history(), *bystanders, *attack]), "surge")
    assert alert.attackers == sorted(spread(n) for n in range(25))
    assert "olivia" not in alert.accounts


def test_a_crowd_of_real_users_is_never_a_participant(tmp_path: Path) -> None:
    """An address where many accounts log in and come back is no attacker, even while it
    fails logins during a surge."""
    nat = [login(t, "198.51.100.10", f"staff{t % 7}", ok=True, ua=BROWSER)
           for t in range(-3000, 0, 60)]  # fmt: skip
    typos = [login(15 + n, "198.51.100.10", f"staff{n}", ok=False, ua=BROWSER) for n in range(3)]
    attack = surge(25, spread, stuffer)
    engine = run(baseline_rules(tmp_path), sorted([*history(), *nat, *typos, *attack], key=at_of))
    (alert,) = alerts_of(engine, "surge")
    assert "198.51.100.10" not in alert.attackers
    assert len(alert.attackers) == 25


def test_late_participants_join_until_the_measure_falls_back(tmp_path: Path) -> None:
    """An anomaly stays open while the measure is above twice the baseline it fired on, so a
    slower tail of the same run is still named; once it has fallen back, a new rise fires
    anew."""
    burst = surge(25, spread, stuffer)
    tail = [login(200 + n * 40, f"100.200.{n}.1", f"late{n}", ok=False, ua=f"ua/{n}")
            for n in range(40)]  # fmt: skip  # a try every forty seconds: 15 per window
    again = [login(6000 + n * 5, f"100.201.{n}.1", f"again{n}", ok=False) for n in range(25)]
    quiet = [login(t, "192.0.2.9", "user9", ok=True, ua=BROWSER) for t in range(2000, 6000, 60)]
    events = sorted([*history(), *burst, *tail, *quiet, *again], key=at_of)
    first, second = alerts_of(run(baseline_rules(tmp_path), events), "surge")
    assert {f"100.200.{n}.1" for n in range(40)} <= set(first.attackers)
    assert second.attackers == sorted(f"100.201.{n}.1" for n in range(25))


def at_of(ev: Event) -> object:
    return ev.timestamp


def test_silence_fires_when_a_known_source_stops_while_others_go_on(tmp_path: Path) -> None:
    """A service that sent ``min-events`` and then nothing for ``interval`` raises one alert."""
    ruleset = load(tmp_path, QUIET)
    orders = [event(t, service="orders") for t in range(0, 100, 10)]
    billing = [event(t, service="billing") for t in range(5, 1500, 30)]
    (alert,) = alerts_of(run(ruleset, sorted([*orders, *billing], key=lambda e: e.timestamp)))
    assert (alert.group, alert.count) == ({"service.name": "orders"}, 10)
    assert (alert.first_seen, alert.timestamp) == (at(90), at(90 + 900))


def test_silence_fires_when_the_clock_advances(tmp_path: Path) -> None:
    """With no events at all, `Engine.advance` moves event time on and the silence is noticed."""
    engine = Engine(load(tmp_path, QUIET), lateness=2)
    engine.feed_all(event(t, service="orders") for t in range(0, 100, 10))
    engine.advance(at(90 + 899))
    assert [a.rule for a in engine.take_alerts()] == []
    engine.advance(at(90 + 960))
    assert [a.group for a in engine.take_alerts()] == [{"service.name": "orders"}]


def test_silence_needs_min_events_and_rearms(tmp_path: Path) -> None:
    """A source with fewer than ``min-events`` is never missed; one that logs again re-arms."""
    ruleset = load(tmp_path, QUIET)
    few = [event(t, service="cron") for t in range(0, 40, 10)]
    back = [event(t, service="orders") for t in [*range(0, 100, 10), *range(2000, 2100, 10)]]
    billing = [event(t, service="billing") for t in range(5, 4000, 30)]
    found = alerts_of(run(ruleset, sorted([*few, *back, *billing], key=lambda e: e.timestamp)))
    assert [(a.group["service.name"], a.timestamp) for a in found] == [
        ("orders", at(990)),
        ("orders", at(2090 + 900)),
    ]
