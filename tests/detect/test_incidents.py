"""Alerts merged into incidents, and each incident's extent: attackers, compromised accounts,
exposed objects."""

from __future__ import annotations

from pathlib import Path

from apiwatch.detect import Engine, RuleSet
from apiwatch.model import Event
from tests.detect.helpers import correlation, detection, event, load, login, rules, run

ORDERS = "/api/v1/orders/{order_id}"
PROBE = detection("probe", "sel: {url.path|contains: /.env}\ncondition: sel")
SQLI = detection("sqli", "sel: {url.query|contains: union select}\ncondition: sel")
FAIL = detection("fail", "sel: {apiwatch.login: fail}\ncondition: sel")
DENIED = detection("denied", """
    sel:
      apiwatch.object_id|exists: true
      sc-status: [403, 404]
    condition: sel
    """)  # fmt: skip
STUFF = correlation(
    "stuffing",
    """
    type: value_count
    rules: [fail]
    group-by: [source.ip]
    timespan: 10m
    condition: {gte: 5, field: user.name}
    """,
).replace("correlation:", "level: high\napiwatch: {extent: [accounts]}\ncorrelation:")
ENUM = correlation(
    "enumeration",
    """
    type: value_count
    rules: [denied]
    group-by: [apiwatch.actor, apiwatch.route]
    timespan: 10m
    condition: {gte: 5, field: apiwatch.object_id}
    """,
).replace("correlation:", "apiwatch: {extent: [objects]}\ncorrelation:")
DISTRIBUTED = """
title: Distributed stuffing
name: distributed
apiwatch:
  type: baseline
  extent: [accounts]
  rules: [fail]
  measure: value_count
  field: user.name
  timespan: 10m
  warmup: 0s
  condition: {minimum: 50, factor: 2}
"""
IP = "203.0.113.66"


def ruleset(tmp_path: Path) -> RuleSet:
    return load(tmp_path, rules(PROBE, SQLI, FAIL, DENIED, STUFF, ENUM, DISTRIBUTED))


def stuffing(start: float, count: int = 6, *, first: int = 0) -> list[Event]:
    """Failed logins from the attacker, one a second, for distinct accounts."""
    return [login(start + n, IP, f"user{first + n}", ok=False) for n in range(count)]


def order(t: float, number: int, status: int, *, ip: str = IP, user: str = "mallory") -> Event:
    return event(t, ip=ip, path=f"/api/v1/orders/{number}", status=status, user=user,
                 labels={"route": ORDERS})  # fmt: skip


def test_alerts_about_one_attacker_make_one_incident(tmp_path: Path) -> None:
    """Different rules firing on one source join one incident; another source gets its own."""
    events = [event(0, path="/.env", status=404), event(5, path="/s", query="q=1 union select 2"),
              event(9, ip="198.51.100.3", path="/.env", status=404)]  # fmt: skip
    first, second = run(ruleset(tmp_path), events).incidents()
    assert (first.rules, first.alerts, first.attackers) == (["probe", "sqli"], 2, ["203.0.113.5"])
    assert second.attackers == ["198.51.100.3"]


def test_an_attacker_back_after_the_gap_opens_a_new_incident(tmp_path: Path) -> None:
    """An incident closes after 30 minutes of quiet; the same source later starts another."""
    events = [event(0, path="/.env", status=404), event(1900, path="/.env", status=404)]
    assert len(run(ruleset(tmp_path), events).incidents()) == 2


def test_three_hundred_distributed_sources_make_one_incident(tmp_path: Path) -> None:
    """A distributed attack's sources are one incident, not three hundred."""
    ips = [f"100.{64 + n % 50}.{n // 50}.7" for n in range(300)]
    events = [login(n, ip, f"victim{n}", ok=False, ua="stuffer/1.0") for n, ip in enumerate(ips)]
    (incident,) = run(ruleset(tmp_path), events).incidents()
    assert incident.rules == ["distributed"]
    assert incident.attackers == sorted(ips)


def test_a_success_from_an_attacker_is_a_compromised_account(tmp_path: Path) -> None:
    """A successful login from an attacker during a credential attack compromises that account."""
    events = [
        *stuffing(0),
        login(30, IP, "victim", ok=True),
        login(31, "192.0.2.8", "bob", ok=True),
    ]
    (incident,) = run(ruleset(tmp_path), events).incidents()
    assert incident.accounts_compromised == ["victim"]
    assert incident.severity == "critical"
    assert "victim" in incident.accounts_targeted


def test_a_success_shortly_before_the_alert_is_found_by_looking_back(tmp_path: Path) -> None:
    """A success from the source before its alert fired is a compromise too (look-back)."""
    events = [*stuffing(0, 2), login(2.5, IP, "early", ok=True), *stuffing(3, 4, first=2)]
    (incident,) = run(ruleset(tmp_path), events).incidents()
    assert incident.accounts_compromised == ["early"]


def test_browsing_after_a_first_try_success_does_not_hide_the_compromise(tmp_path: Path) -> None:
    """A stuffer whose very first try succeeds, and who then reads a dozen objects of the account,
    is still found to have compromised it when its alert fires later (reads never push the
    login out of the look-back memory)."""
    browse = [event(1 + n * 0.1, ip=IP, path=f"/api/v1/orders/{n}", status=200) for n in range(12)]
    events = [login(0.5, IP, "first-try", ok=True), *browse, *stuffing(3)]
    (incident,) = run(ruleset(tmp_path), events).incidents()
    assert incident.accounts_compromised == ["first-try"]


def test_look_back_is_bounded(tmp_path: Path) -> None:
    """A success from the same address long before the attack (over 30 minutes) is no compromise."""
    events = [login(0, IP, "longago", ok=True), *stuffing(2000)]
    (incident,) = run(ruleset(tmp_path), events).incidents()
    assert incident.accounts_compromised == []


def test_objects_answered_to_an_enumerator_are_exposed(tmp_path: Path) -> None:
    """2xx answers under the enumerated route, before and after the alert, are exposed objects."""
    walk = [order(10 + n, 100 + n, 200 if n in (2, 9) else 403) for n in range(12)]
    other_route = event(30, path="/api/v1/profile/7", status=200, user="mallory")
    (incident,) = run(ruleset(tmp_path), [*walk, other_route]).incidents()
    assert incident.objects_exposed == [f"{ORDERS}=102", f"{ORDERS}=109"]


def test_an_enumerators_own_login_is_no_compromise(tmp_path: Path) -> None:
    """A BOLA prober logging into its own account is not a compromised account."""
    events = [login(0, IP, "mallory", ok=True), *(order(10 + n, 100 + n, 403) for n in range(6))]
    (incident,) = run(ruleset(tmp_path), events).incidents()
    assert (incident.rules, incident.accounts_compromised) == (["enumeration"], [])


def test_a_service_engine_forgets_closed_incidents_once_taken(tmp_path: Path) -> None:
    """With keep_closed_incidents=False, closed incidents (and their group entries) are dropped
    at the sweep once taken, so memory does not grow with every incident ever opened."""
    engine = Engine(ruleset(tmp_path), lateness=0, keep_closed_incidents=False)
    taken: set[str] = set()
    for n in range(40):
        engine.feed(event(n * 2000, ip=f"198.51.100.{n + 1}", path="/.env", status=404))
        engine.feed(event(n * 2000 + 1, ip=None, path="/.env", status=404))
        taken |= {incident.id for incident in engine.take_incidents()}
    assert len(taken) == 80
    assert len(engine.tracker.incidents) <= 2
    assert len(engine.tracker.by_group) <= 1


def test_a_finding_outliving_its_forgotten_incident_opens_one_under_a_new_id(
    tmp_path: Path,
) -> None:
    """A forgotten incident's id is never reused: the saved incident is not overwritten."""
    long_suppress = PROBE.replace("detection:", "apiwatch: {suppress: 2h}\ndetection:")
    engine = Engine(load(tmp_path, long_suppress), lateness=0, incident_gap=60,
                    keep_closed_incidents=False)  # fmt: skip
    engine.feed(event(0, path="/.env", status=404))
    (first,) = engine.take_incidents()
    engine.feed(event(100, ip="192.0.2.99", path="/.env", status=404))
    engine.take_incidents()
    engine.feed(event(200, path="/.env", status=404))
    (renewed,) = engine.take_incidents()
    assert renewed.id != first.id
    assert renewed.attackers == first.attackers == ["203.0.113.5"]
