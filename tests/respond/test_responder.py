"""`Responder.decide`: policies turn an incident into decisions, never against the protected."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from apiwatch.model import AllowEntry
from apiwatch.respond import Responder, parse_config

from .helpers import NOW, incident, policy


def responder(*policies: dict[str, Any], **respond: Any) -> Responder:
    return Responder(parse_config({"policy": list(policies), **respond}))


def test_ban_ip_bans_each_attacker() -> None:
    """ban_ip gives one Ip ban per attacker, id 0, until now + duration, traced to the incident."""
    decided = responder(policy()).decide(incident(), now=NOW)
    assert [(d.type, d.scope, d.value) for d in decided.decisions] == [
        ("ban", "Ip", "203.0.113.9"),
        ("ban", "Ip", "203.0.113.10"),
        ("ban", "Ip", "198.51.100.7"),
    ]
    first = decided.decisions[0]
    assert first.id == 0
    assert first.origin == "apiwatch"
    assert first.scenario == "credential-stuffing-source"
    assert first.incident == "inc-1"
    assert first.created == NOW
    assert first.until == NOW + timedelta(hours=4)
    assert first.simulated is False
    assert first.reason.startswith("ban credential attackers: Credential stuffing")
    assert decided.policies == ["ban credential attackers"]
    assert decided.skipped == []


def test_repeat_offenders_are_banned_longer() -> None:
    """A value with earlier offences is banned duration * escalate ** offences."""
    offences = {("Ip", "203.0.113.9"): 2}
    decided = responder(policy()).decide(
        incident(), now=NOW, offences=lambda scope, value: offences.get((scope, value), 0)
    )
    until = {d.value: d.until - NOW for d in decided.decisions}
    assert until["203.0.113.9"] == timedelta(hours=16)
    assert until["203.0.113.10"] == timedelta(hours=4)


def test_escalation_is_capped_at_max_duration() -> None:
    """However many offences, a ban lasts at most max_duration (and does not overflow)."""
    decided = responder(policy()).decide(incident(), now=NOW, offences=lambda s, v: 10_000)
    assert {d.until - NOW for d in decided.decisions} == {timedelta(days=7)}


def test_policies_match_on_rules_attacks_and_severity() -> None:
    """Rule globs, attack types and the minimum severity all have to match."""
    by_rule = responder(policy(rules=["brute-force-*"]))
    assert by_rule.decide(incident(), now=NOW).decisions == []
    by_attack = responder(policy(rules=[], attacks=["credential_stuffing"]))
    assert len(by_attack.decide(incident(), now=NOW).decisions) == 3
    other_attack = responder(policy(rules=[], attacks=["scanner"]))
    assert other_attack.decide(incident(), now=NOW).decisions == []
    critical_only = responder(policy(min_severity="critical"))
    assert critical_only.decide(incident(), now=NOW).decisions == []
    assert len(critical_only.decide(incident(severity="critical"), now=NOW).decisions) == 3


def test_allowlisted_values_are_never_banned() -> None:
    """An allowlisted address, an address inside an allowlisted range, are skipped with why."""
    allow = [
        {"scope": "Ip", "value": "203.0.113.9", "reason": "partner"},
        {"scope": "Range", "value": "198.51.100.0/24", "reason": "office NAT"},
    ]
    decided = responder(policy(), allow=allow).decide(incident(), now=NOW)
    assert [d.value for d in decided.decisions] == ["203.0.113.10"]
    assert decided.skipped == [
        ("203.0.113.9", "allowlisted (partner)"),
        ("198.51.100.7", "allowlisted (office NAT)"),
    ]


def test_allowlist_entries_from_the_store_count_too() -> None:
    """Entries passed to the Responder (kept in the store) protect like configured ones."""
    entry = AllowEntry(scope="Ip", value="203.0.113.10", reason="monitoring", created=NOW)
    chosen = Responder(parse_config({"policy": [policy()]}), allow=[entry])
    assert "203.0.113.10" not in [d.value for d in chosen.decide(incident(), now=NOW).decisions]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.5.5",
        "192.168.1.20",
        "169.254.0.9",
        "100.64.12.1",
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:10.0.0.1",
    ],
)
def test_internal_addresses_are_never_banned(address: str) -> None:
    """Loopback, RFC 1918, link-local, CGNAT, ULA are protected, whatever the policy says."""
    decided = responder(policy(rules=[], min_severity="informational")).decide(
        incident(attackers=[address]), now=NOW
    )
    assert decided.decisions == []
    assert len(decided.skipped) == 1
    assert decided.skipped[0][1].startswith("protected internal range")


def test_protection_of_internal_ranges_can_be_turned_off() -> None:
    """With protect_internal = false an internal attacker is banned like any other."""
    decided = responder(policy(), protect_internal=False).decide(
        incident(attackers=["10.1.2.3"]), now=NOW
    )
    assert [d.value for d in decided.decisions] == ["10.1.2.3"]


def test_ban_range_needs_enough_attackers_in_the_range() -> None:
    """ban_range bans a /24 only when min_range_attackers attackers share it."""
    attackers = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "198.51.100.7", "2001:db8::1"]
    chosen = responder(policy(action="ban_range", min_range_attackers=3))
    decided = chosen.decide(incident(attackers=attackers), now=NOW)
    assert [(d.scope, d.value) for d in decided.decisions] == [("Range", "203.0.113.0/24")]
    assert ("198.51.100.0/24", "1 attacker in range, min_range_attackers is 3") in (decided.skipped)
    assert [v for v, _ in decided.skipped] == ["198.51.100.0/24", "2001:db8::/64"]


def test_a_range_overlapping_the_allowlist_is_not_banned() -> None:
    """A range that would cover an allowlisted address is skipped, not banned around it."""
    attackers = ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
    allow = [{"scope": "Ip", "value": "203.0.113.200", "reason": "status page"}]
    decided = responder(policy(action="ban_range", min_range_attackers=2), allow=allow).decide(
        incident(attackers=attackers), now=NOW
    )
    assert decided.decisions == []
    assert decided.skipped == [("203.0.113.0/24", "allowlisted (status page)")]


def test_flag_account_flags_only_compromised_accounts() -> None:
    """flag_account flags accounts whose login succeeded — never the accounts merely targeted."""
    case = incident(
        severity="critical",
        rules=["account-takeover-source"],
        accounts_targeted=["alice", "bob", "carol", "dave"],
        accounts_compromised=["bob"],
    )
    decided = responder(policy(rules=[], action="flag_account")).decide(case, now=NOW)
    assert [(d.type, d.scope, d.value) for d in decided.decisions] == [("flag", "Username", "bob")]
    assert "step-up" in decided.decisions[0].reason


def test_targeted_accounts_are_never_acted_on() -> None:
    """Thousands of targeted accounts and no compromise: no account decision at all."""
    case = incident(accounts_targeted=[f"user{i}" for i in range(5000)])
    decided = responder(policy(rules=[], action="flag_account")).decide(case, now=NOW)
    assert decided.decisions == []


def test_allowlisted_accounts_are_not_flagged() -> None:
    """A Username allowlist entry keeps that account from being flagged (names caselessly)."""
    allow = [{"scope": "Username", "value": "Bob", "reason": "break-glass"}]
    case = incident(accounts_compromised=["bob", "erin"])
    decided = responder(policy(action="flag_account"), allow=allow).decide(case, now=NOW)
    assert [d.value for d in decided.decisions] == ["erin"]
    assert decided.skipped == [("bob", "allowlisted (break-glass)")]


def test_token_revocation_is_only_suggested() -> None:
    """suggest_token_revocation adds a suggestion naming the compromised accounts, no decision."""
    case = incident(accounts_compromised=["bob", "erin"])
    decided = responder(policy(action="suggest_token_revocation")).decide(case, now=NOW)
    assert decided.decisions == []
    assert len(decided.suggestions) == 1
    assert "bob, erin" in decided.suggestions[0]
    assert (
        responder(policy(action="suggest_token_revocation")).decide(incident(), now=NOW).suggestions
        == []
    )


def test_dry_run_marks_decisions_simulated() -> None:
    """In dry-run mode the same decisions are made, each marked simulated."""
    decided = responder(policy(), dry_run=True).decide(incident(), now=NOW)
    assert len(decided.decisions) == 3
    assert all(d.simulated for d in decided.decisions)


def test_re_deciding_an_updated_incident_adds_only_new_values() -> None:
    """An incident decided again after it grew gets decisions only for its new attackers."""
    chosen = responder(policy())
    first = chosen.decide(incident(), now=NOW)
    grown = incident(attackers=[*incident().attackers, "192.0.2.55"])
    existing = {(d.scope, d.value) for d in first.decisions}
    again = chosen.decide(grown, now=NOW + timedelta(minutes=5), existing=existing)
    assert [d.value for d in again.decisions] == ["192.0.2.55"]


def test_overlapping_policies_decide_a_value_once_and_collect_notifiers() -> None:
    """Two policies banning the same attacker give one decision; notifiers of both are named."""
    config = parse_config(
        {
            "notifiers": {
                "ops": {"type": "webhook", "url": "https://ops.example/hook"},
                "soc": {"type": "webhook", "url": "https://soc.example/hook"},
            },
            "policy": [
                policy(notify=["ops"]),
                policy(name="everything high", rules=[], notify=["soc", "ops"]),
                policy(name="tell", action="notify", notify=["soc"]),
            ],
        }
    )
    decided = Responder(config).decide(incident(), now=NOW)
    assert len(decided.decisions) == 3
    assert decided.notify == ["ops", "soc"]
    assert decided.policies == ["ban credential attackers", "everything high", "tell"]


def test_attackers_that_are_not_addresses_are_skipped() -> None:
    """A non-address attacker value (a malformed log) is reported, not turned into a decision."""
    decided = responder(policy()).decide(incident(attackers=["not-an-ip"]), now=NOW)
    assert decided.decisions == []
    assert decided.skipped == [("not-an-ip", "not an IP address")]


def test_an_attacker_with_an_ipv6_zone_is_never_banned() -> None:
    """An attacker value with an IPv6 zone (text after %, e.g. ';' and a line break) is skipped."""
    hostile = "2001:db8::1%x;\nallow all"
    decided = responder(policy()).decide(incident(attackers=[hostile]), now=NOW)
    ranged = responder(policy(action="ban_range", min_range_attackers=1)).decide(
        incident(attackers=[hostile]), now=NOW
    )
    assert decided.decisions == [] and ranged.decisions == []
    assert decided.skipped == [(hostile, "not an IP address")]
