"""Detect shards in one process (`apiwatch.server.bus_roles.shards`): the partition, the rule
split, and a sharded run of real engines against one engine on a simulated attack log."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from apiwatch.detect import Engine, RuleSet, builtin_dir, load_rules
from apiwatch.detect.rules import BaselineRule, CorrelationRule, DetectionRule
from apiwatch.model import ConfigError, Event
from apiwatch.model.alert import Alert, Incident
from apiwatch.server.bus_roles.shards import Shard, parse_shard, shard_of, split_rules
from apiwatch.simulate import ScenarioConfig, generate
from apiwatch.store._rows import ip_bytes

#: A simulated log with benign users, distributed credential stuffing (a population-wide
#: surge), single-source attacks, token reuse and object enumeration.
SCENARIO = ScenarioConfig(seed=7, lines=20_000)


@dataclass
class Run:
    """What one engine, or the engines of a sharded run together, found."""

    alerts: dict[str, Alert]
    incidents: list[Incident]


def run_engine(ruleset: RuleSet, events: Iterable[Event]) -> Run:
    """Feed ``events`` to one engine; every alert's last state, and its incidents."""
    engine = Engine(ruleset)
    alerts: dict[str, Alert] = {}
    for event in events:
        engine.feed(event)
        alerts.update((alert.id, alert) for alert in engine.take_alerts())
    engine.flush()
    alerts.update((alert.id, alert) for alert in engine.take_alerts())
    return Run(alerts, engine.incidents())


def run_sharded(ruleset: RuleSet, events: Sequence[Event], count: int) -> Run:
    """The detect role's engines for ``count`` shards: per-source rules on each shard's own
    events, the population rules on all of them (shard 1's second engine)."""
    per_source, population = split_rules(ruleset)
    total = run_engine(population, events)
    for index in range(1, count + 1):
        shard = Shard(index, count)
        mine = [e for e in events if shard.owns(ip_bytes(e.source.ip if e.source else None))]
        part = run_engine(per_source, mine)
        assert not part.alerts.keys() & total.alerts.keys()  # no group in two engines
        total.alerts.update(part.alerts)
        total.incidents.extend(part.incidents)
    return total


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return list(generate(SCENARIO).events())


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules([builtin_dir()])


def without_incident(alerts: dict[str, Alert]) -> dict[str, Alert]:
    return {key: _replace(alert, incident="") for key, alert in alerts.items()}


def _replace(alert: Alert, **changes: str) -> Alert:
    import msgspec

    return msgspec.structs.replace(alert, **changes)


def check_same_incidents(single: Run, sharded: Run) -> None:
    """Sharded incidents are one engine's, but for an incident joining alerts of different
    engines, which arrives as one incident per engine whose union is one engine's incident.

    Pinned: the alerts of each sharded incident all belong to one incident of one engine; an
    incident whose alerts all came from one engine is identical (id, rules, attackers, accounts
    targeted and compromised, requests, severity); and the parts of a split incident give back
    its rules, attackers and compromised accounts, one of them under its id."""
    of_single = {key: alert.incident for key, alert in single.alerts.items()}
    members: dict[str, set[str]] = {}
    for key, alert in sharded.alerts.items():
        members.setdefault(alert.incident, set()).add(key)
    parts: dict[str, list[Incident]] = {}
    for incident in sharded.incidents:
        owners = {of_single[key] for key in members[incident.id]}
        assert len(owners) == 1, f"{incident.id} mixes incidents {owners}"
        parts.setdefault(owners.pop(), []).append(incident)
    assert set(parts) == {incident.id for incident in single.incidents}
    for expected in single.incidents:
        found = parts[expected.id]
        assert expected.id in {part.id for part in found}
        if len(found) == 1:
            assert _essence(found[0]) == _essence(expected)
            continue
        assert {r for part in found for r in part.rules} == set(expected.rules)
        assert {a for part in found for a in part.attackers} == set(expected.attackers)
        compromised = {a for part in found for a in part.accounts_compromised}
        assert compromised == set(expected.accounts_compromised)


def _essence(incident: Incident) -> tuple[object, ...]:
    return (incident.id, sorted(incident.rules), incident.attackers, incident.accounts_targeted,
            incident.accounts_compromised, incident.requests, incident.severity)  # fmt: skip


@pytest.mark.parametrize("count", [2, 3])
def test_a_sharded_run_raises_exactly_the_alerts_of_one_engine(
    events: list[Event], ruleset: RuleSet, count: int
) -> None:
    """Every alert of a 2- or 3-shard run (per-source rules split by source, the population
    rules, distributed stuffing among them, on all events) is one engine's alert: same ids,
    groups, counts, times, attackers and accounts; none missing, none extra."""
    single = run_engine(ruleset, events)
    sharded = run_sharded(ruleset, events, count)
    assert "credential-stuffing-distributed" in {a.rule for a in single.alerts.values()}
    assert len({a.rule for a in single.alerts.values()}) >= 8
    assert without_incident(sharded.alerts) == without_incident(single.alerts)


@pytest.mark.parametrize("count", [2, 3])
def test_a_sharded_run_gives_one_engines_incidents_split_only_across_engines(
    events: list[Event], ruleset: RuleSet, count: int
) -> None:
    """The incidents of a sharded run are one engine's, or parts of one (`check_same_incidents`:
    an attacker named by a per-source and a population rule arrives in two incidents)."""
    single = run_engine(ruleset, events)
    assert any(len(i.attackers) > 20 for i in single.incidents)  # the distributed stuffing
    check_same_incidents(single, run_sharded(ruleset, events, count))


def test_one_shard_is_one_engine(events: list[Event], ruleset: RuleSet) -> None:
    """Shard 1/1 owns every event (the unsharded detect role, the whole pack in one engine)."""
    shard = parse_shard("1/1")
    assert shard.durable == "detect"
    assert all(shard.owns(ip_bytes(e.source.ip if e.source else None)) for e in events[:2000])


def test_a_source_and_its_ipv6_64_belong_to_one_shard() -> None:
    """The partition key is the source home: an IPv4 address, an IPv6 /64 (whose addresses the
    /64 aggregate rules count together); no address goes to two shards or none. With 3 shards
    or more, shard 1 (the population rules on every event) owns no sources."""
    one = ip_bytes("2001:db8:1:2::1")
    other = ip_bytes("2001:db8:1:2:ffff::9")
    assert shard_of(one, 5) == shard_of(other, 5)
    assert {shard_of(ip_bytes(f"198.51.100.{n}"), 2) for n in range(64)} == {1, 2}
    assert {shard_of(ip_bytes(f"198.51.100.{n}"), 4) for n in range(64)} == {2, 3, 4}
    assert (shard_of(None, 2), shard_of(None, 4)) == (1, 2)
    for count in (2, 3):
        owners = [Shard(i, count).owns(ip_bytes("203.0.113.9")) for i in range(1, count + 1)]
        assert owners.count(True) == 1


def test_rules_split_into_per_source_and_population(ruleset: RuleSet) -> None:
    """Per-source rules are grouped (and chained) by source only; baselines, silences and
    rules grouped by account, token or actor are population rules, with the detections they
    read, which raise no alerts of their own there."""
    per_source, population = split_rules(ruleset)
    assert set(per_source.rules) | set(population.rules) == set(ruleset.rules)
    for rule in per_source.rules.values():
        assert isinstance(rule, DetectionRule | CorrelationRule)
        assert set(rule.group_by) <= {"source.ip", "apiwatch.net64"}
    assert isinstance(population.rules["credential-stuffing-distributed"], BaselineRule)
    assert "brute-force-account" in population.rules
    assert "account-takeover-source" in per_source.rules
    assert "brute-force-account" not in per_source.rules
    shared = set(per_source.rules) & set(population.rules)
    assert "login-failure" in shared
    for key in shared:
        rule = population.rules[key]
        assert isinstance(rule, DetectionRule) and not rule.generate


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0", ""])
def test_a_shard_that_is_not_i_of_m_is_refused(text: str) -> None:
    """`parse_shard` takes I/M with 1 <= I <= M only."""
    with pytest.raises(ConfigError, match="I/M"):
        parse_shard(text)


def test_config_check_refuses_a_detect_shard_that_is_not_i_of_m(tmp_path: Path) -> None:
    """`detect_shard = "3/2"` in apiwatch.toml is refused by `config check` in one line naming
    the file and the setting, as `serve` would refuse it."""
    from click.testing import CliRunner

    from apiwatch.cli import cli

    config = tmp_path / "apiwatch.toml"
    config.write_text(
        'db = "postgresql://postgres@127.0.0.1:5432/x"\nrole = "detect"\n'
        'bus = "nats://127.0.0.1:4222"\ndetect_shard = "3/2"\n'
    )
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(config)])
    assert result.exit_code != 0
    assert "detect_shard must be I/M with 1 <= I <= M, not '3/2'" in str(result.exception)
