"""`Message`: an incident and its decisions, rendered for people."""

from __future__ import annotations

import pytest

from apiwatch.respond import Message, Responder, parse_config
from apiwatch.respond.notify import check_template

from .helpers import NOW, incident, policy


def test_the_default_text_carries_the_incident_extent() -> None:
    """Title, severity, times, attackers, counts, every compromised account, decisions, link."""
    case = incident(
        accounts_compromised=["bob", "erin"],
        objects_exposed=["/orders/{id}=42"],
    )
    decided = Responder(parse_config({"policy": [policy()]})).decide(case, now=NOW)
    text = Message.build(case, decided.decisions, base_url="https://aw.example/").render()
    assert text.startswith("Incident: Credential stuffing from one source\n")
    assert "Severity: high" in text
    assert "First seen: 2024-05-01T11:40:00Z" in text
    assert "Last seen: 2024-05-01T11:59:00Z" in text
    assert "Attackers (3): 203.0.113.9, 203.0.113.10, 198.51.100.7" in text
    assert "Accounts targeted: 3" in text
    assert "Accounts compromised (2): bob, erin" in text
    assert "Objects exposed (1): /orders/{id}=42" in text
    assert "- ban Ip 203.0.113.9 for 4h0m0s (until 2024-05-01T16:00:00Z)" in text
    assert text.rstrip().endswith("https://aw.example/v1/incidents/inc-1")
    assert "alice" not in text  # targeted accounts are counted, not listed


def test_attackers_are_capped_but_compromised_accounts_are_all_listed() -> None:
    """The first 20 attackers are listed (the rest counted); every compromised account is named."""
    attackers = [f"203.0.113.{i}" for i in range(1, 101)]
    compromised = [f"user{i:03}" for i in range(60)]
    message = Message.build(
        incident(attackers=attackers, accounts_compromised=compromised), base_url="http://x"
    )
    assert len(message.attackers) == 20
    assert message.attackers_count == 100
    text = message.render()
    assert "Attackers (100): 203.0.113.1, " in text
    assert "(+80 more)" in text
    assert "203.0.113.21," not in text
    assert all(name in text for name in compromised)


def test_dry_run_decisions_read_would() -> None:
    """Simulated decisions are announced as what would have been done."""
    case = incident()
    decided = Responder(parse_config({"dry_run": True, "policy": [policy()]})).decide(case, now=NOW)
    text = Message.build(case, decided.decisions, base_url="http://x").render()
    assert "- would ban Ip 203.0.113.9 for 4h0m0s" in text


def test_a_custom_template_is_used() -> None:
    """A notifier's template replaces the default text, with the documented fields."""
    message = Message.build(incident(), base_url="http://x")
    text = message.render("$severity $title ($attackers_count attackers) $$5 $link")
    assert (
        text
        == "high Credential stuffing from one source (3 attackers) $5 http://x/v1/incidents/inc-1\n"
    )


def test_templates_are_checked() -> None:
    """Unknown fields and malformed placeholders are refused with a message saying which."""
    check_template("$title ${severity}")
    with pytest.raises(ValueError, match=r"unknown field \$secret"):
        check_template("$title $secret")
    with pytest.raises(ValueError, match="invalid placeholder"):
        check_template("cost: $5")


def test_attacker_controlled_text_cannot_forge_lines() -> None:
    """Control characters in account names and object references are replaced, not rendered."""
    case = incident(
        accounts_compromised=["bob\nSeverity: low"], objects_exposed=["/a/{id}=1\r\nBcc: x"]
    )
    text = Message.build(case, base_url="http://x").render()
    assert "\nSeverity: low" not in text
    assert "\nBcc: x" not in text
    assert "bob\ufffdSeverity: low" in text


def test_updates_name_what_changed() -> None:
    """An update message says so in its subject and lists its changes."""
    message = Message.build(
        incident(severity="critical"),
        base_url="http://x",
        update=True,
        changes=["severity rose to critical"],
    )
    assert message.subject == "[apiwatch] CRITICAL update: Credential stuffing from one source"
    assert message.render().startswith("Changed: severity rose to critical\nIncident update:")
    assert message.to_dict()["event"] == "incident.updated"


def test_the_json_form_has_the_extent_and_decisions() -> None:
    """`to_dict` (webhook bodies) carries the extent, decisions with durations, and the link."""
    case = incident(accounts_compromised=["bob"])
    decided = Responder(parse_config({"policy": [policy()]})).decide(case, now=NOW)
    data = Message.build(case, decided.decisions, base_url="http://x").to_dict()
    assert data["event"] == "incident.opened"
    assert data["incident"]["accounts_compromised"] == ["bob"]
    assert data["incident"]["accounts_targeted_count"] == 3
    assert data["incident"]["attacks"] == ["credential_stuffing"]
    assert data["decisions"][0] == {
        "type": "ban",
        "scope": "Ip",
        "value": "203.0.113.9",
        "until": "2024-05-01T16:00:00Z",
        "duration": "4h0m0s",
        "simulated": False,
        "reason": decided.decisions[0].reason,
    }
