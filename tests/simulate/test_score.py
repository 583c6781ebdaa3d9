"""Scoring hand-built incidents against the ground truth."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apiwatch.model.alert import Incident
from apiwatch.simulate import GroundTruth, Scenario, ScenarioConfig, generate, score

RULE_TYPES = {
    f"rule-{kind}": kind
    for kind in (
        "brute_force",
        "credential_stuffing",
        "distributed_credential_stuffing",
        "password_spraying",
        "object_enumeration",
        "scanner",
        "error_flood",
        "token_reuse",
        "logging_stopped",
        "account_takeover",
    )
}
WHEN = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _incident(
    number: int,
    rule: str,
    attackers: list[str],
    *,
    accounts_compromised: list[str] | None = None,
    objects_exposed: list[str] | None = None,
) -> Incident:
    return Incident(
        id=f"inc-{number}",
        title=rule,
        severity="high",
        first_seen=WHEN,
        last_seen=WHEN,
        rules=[rule],
        attackers=attackers,
        accounts_compromised=accounts_compromised or [],
        objects_exposed=objects_exposed or [],
    )


def _perfect(truth: GroundTruth) -> list[Incident]:
    """One incident per attack, naming all its attackers, accounts and objects."""
    return [
        _incident(
            number,
            f"rule-{attack.type}",
            list(attack.attackers),
            accounts_compromised=list(attack.accounts_compromised),
            objects_exposed=list(attack.objects_exposed),
        )
        for number, attack in enumerate(truth.attacks)
    ]


def test_incidents_matching_every_attack_score_perfect(scenario: Scenario) -> None:
    """One incident per attack with its IPs and accounts is a perfect score in both formats."""
    incidents = _perfect(scenario.truth)
    ecs = score(scenario.truth, incidents, format="ecs", rule_types=RULE_TYPES)
    assert ecs.perfect, ecs.report()
    assert len(ecs.detected) == len(scenario.truth.attacks) and not ecs.not_applicable
    assert "PERFECT" in ecs.report()
    # A silent service cannot be seen in an access log: there it would be a false positive.
    incidents = [i for i in incidents if i.rules != ["rule-logging_stopped"]]
    nginx = score(scenario.truth, incidents, format="nginx", rule_types=RULE_TYPES)
    assert nginx.perfect and nginx.detected == ["object_enumeration", "scanner", "error_flood"]
    assert "token_reuse" in nginx.not_applicable and not nginx.compromised


def test_a_missing_incident_is_a_missed_attack(scenario: Scenario) -> None:
    """Without an incident for the scanner, the scanner is missed and the score not perfect."""
    incidents = [i for i in _perfect(scenario.truth) if i.rules != ["rule-scanner"]]
    result = score(scenario.truth, incidents, format="ecs", rule_types=RULE_TYPES)
    assert result.missed == ["scanner"] and not result.perfect
    assert "MISSED     scanner" in result.report()


def test_the_wrong_rule_type_does_not_detect(scenario: Scenario) -> None:
    """An incident on the scanner's IP from a token-reuse rule does not detect the scanner."""
    incidents = [i for i in _perfect(scenario.truth) if i.rules != ["rule-scanner"]]
    scanner = scenario.truth.attack("scanner")
    incidents.append(_incident(99, "rule-token_reuse", scanner.attackers))
    result = score(scenario.truth, incidents, format="ecs", rule_types=RULE_TYPES)
    assert result.missed == ["scanner"]


def test_an_accepted_related_type_detects(scenario: Scenario) -> None:
    """Credential stuffing reported by a brute-force rule on its IP counts as detected."""
    stuffing = scenario.truth.attack("credential_stuffing")
    incidents = [i for i in _perfect(scenario.truth) if i.rules != ["rule-credential_stuffing"]]
    incidents.append(
        _incident(
            99,
            "rule-brute_force",
            stuffing.attackers,
            accounts_compromised=stuffing.accounts_compromised,
        )
    )
    result = score(scenario.truth, incidents, format="ecs", rule_types=RULE_TYPES)
    assert result.perfect and result.matches["credential_stuffing"] == ["inc-99"]


def test_a_trap_ip_as_attacker_is_a_false_positive(scenario: Scenario) -> None:
    """An incident naming the office NAT is a false positive, even beside a real attacker."""
    office = scenario.truth.trap("office_nat").ips
    scanner = scenario.truth.attack("scanner").attackers
    incidents = [
        *_perfect(scenario.truth),
        _incident(98, "rule-brute_force", office),
        _incident(99, "rule-scanner", scanner + office),
    ]
    result = score(scenario.truth, incidents, format="ecs", rule_types=RULE_TYPES)
    assert list(result.false_positives) == ["inc-98", "inc-99"] and not result.perfect
    assert "office_nat" in result.false_positives["inc-98"]
    assert "FALSE POSITIVE inc-98" in result.report()


def test_an_incident_naming_no_attacker_is_a_false_positive(scenario: Scenario) -> None:
    """An incident about an address no attack used is a false positive."""
    incidents = [*_perfect(scenario.truth), _incident(99, "rule-error_flood", ["192.0.2.250"])]
    result = score(scenario.truth, incidents, format="ecs", rule_types=RULE_TYPES)
    assert list(result.false_positives) == ["inc-99"]


def test_logging_stopped_without_attackers_is_only_fine_when_expected() -> None:
    """An attacker-less logging-stopped incident is no false positive when the truth has one."""
    silent = generate(ScenarioConfig(users=40, attacks=("scanner",), traps=False))
    incidents = [*_perfect(silent.truth), _incident(9, "rule-logging_stopped", [])]
    result = score(silent.truth, incidents, format="ecs", rule_types=RULE_TYPES)
    assert list(result.false_positives) == ["inc-9"]


def test_a_missed_compromised_account_spoils_the_score(scenario: Scenario) -> None:
    """An account logged in to by an attacker but named by no incident is reported missing."""
    incidents = _perfect(scenario.truth)
    victim = scenario.truth.attack("brute_force").accounts_compromised[0]
    incidents = [
        i if victim not in i.accounts_compromised else _incident(50, i.rules[0], i.attackers)
        for i in incidents
    ]
    result = score(scenario.truth, incidents, format="ecs", rule_types=RULE_TYPES)
    assert result.missed_compromised == [victim] and not result.perfect
    assert not score(
        scenario.truth, incidents, format="nginx", rule_types=RULE_TYPES
    ).missed_compromised


@pytest.mark.parametrize(("share", "detected"), [(0.95, True), (0.8, False)])
def test_distributed_attacks_need_ninety_percent_of_their_ips(
    scenario: Scenario, share: float, detected: bool
) -> None:
    """A distributed attack is detected only by an incident naming at least 90% of its IPs."""
    attack = scenario.truth.attack("distributed_credential_stuffing")
    incidents = [
        i for i in _perfect(scenario.truth) if i.rules != ["rule-distributed_credential_stuffing"]
    ]
    some = attack.attackers[: int(len(attack.attackers) * share)]
    incidents.append(
        _incident(
            99,
            "rule-distributed_credential_stuffing",
            some,
            accounts_compromised=attack.accounts_compromised,
        )
    )
    result = score(scenario.truth, incidents, format="ecs", rule_types=RULE_TYPES)
    assert ("distributed_credential_stuffing" in result.detected) is detected


def test_unknown_format_is_refused(scenario: Scenario) -> None:
    """Only the two outputs can be scored."""
    with pytest.raises(ValueError, match="format"):
        score(scenario.truth, [], format="syslog", rule_types=RULE_TYPES)


@pytest.mark.parametrize(("extra", "said"), [(0, "0 false positives"), (1, "1 false positive"),
                                             (2, "2 false positives")])  # fmt: skip
def test_the_report_counts_false_positives_in_agreement(
    scenario: Scenario, extra: int, said: str
) -> None:
    """The score line says "1 false positive" and "0"/"2 false positives", never "(s)"."""
    strays = [_incident(90 + n, "rule-error_flood", [f"192.0.2.{250 + n}"]) for n in range(extra)]
    result = score(scenario.truth, [*_perfect(scenario.truth), *strays], format="ecs",
                   rule_types=RULE_TYPES)  # fmt: skip
    first = result.report().splitlines()[0]
    assert first.endswith(said) and "(s)" not in first
