"""Incidents and configurations for response tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from apiwatch.model import Incident

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def incident(**overrides: Any) -> Incident:
    """A high-severity credential-stuffing incident from three attackers (fields overridable)."""
    fields: dict[str, Any] = {
        "id": "inc-1",
        "title": "Credential stuffing from one source",
        "severity": "high",
        "first_seen": NOW - timedelta(minutes=20),
        "last_seen": NOW - timedelta(minutes=1),
        "rules": ["credential-stuffing-source"],
        "alerts": 1,
        "attackers": ["203.0.113.9", "203.0.113.10", "198.51.100.7"],
        "accounts_targeted": ["alice", "bob", "carol"],
        "accounts_compromised": [],
        "requests": 500,
        "tags": ["apiwatch.attack.credential_stuffing", "attack.credential-access"],
    }
    fields.update(overrides)
    return Incident(**fields)


def policy(**overrides: Any) -> dict[str, Any]:
    """A ``[[respond.policy]]`` table banning each attacker of credential attacks for 4h."""
    table: dict[str, Any] = {
        "name": "ban credential attackers",
        "rules": ["credential-stuffing-*", "brute-force-account"],
        "min_severity": "high",
        "action": "ban_ip",
        "duration": "4h",
        "escalate": 2.0,
        "max_duration": "7d",
    }
    table.update(overrides)
    return table
