"""What detection produces: an `Alert` per rule firing, an `Incident` per attack.

An alert is one rule's finding about one group (a source IP, an account, all traffic ...). Alerts
about the same attack are merged into one incident, which carries the attack's extent: who
attacked, which accounts were targeted, which logins succeeded, which objects answered.

Both are plain msgspec Structs, JSON-encodable as they are; times are event time, not the clock
of the machine that ran the engine, so a replay gives the same records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import msgspec

__all__ = ["SEVERITIES", "Alert", "Incident", "severity_rank"]

SEVERITIES: Final = ("informational", "low", "medium", "high", "critical")
"""Sigma's levels, lowest first."""


def severity_rank(level: str) -> int:
    """The position of a Sigma level in `SEVERITIES` (unknown levels rank lowest)."""
    try:
        return SEVERITIES.index(level)
    except ValueError:
        return 0


class Alert(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One rule firing for one group.

    ``group`` holds the group-by values (``{"source.ip": "203.0.113.9"}``); ``count`` the events
    behind the finding when it fired; ``attackers``, ``accounts``, ``objects`` and ``user_agents``
    what the rule saw of them (bounded samples for very large findings).
    """

    id: str
    rule: str
    title: str
    severity: str
    timestamp: datetime
    first_seen: datetime
    last_seen: datetime
    incident: str = ""
    group: dict[str, str] = msgspec.field(default_factory=dict)
    count: int = 0
    tags: list[str] = msgspec.field(default_factory=list)
    attackers: list[str] = msgspec.field(default_factory=list)
    user_agents: list[str] = msgspec.field(default_factory=list)
    accounts: list[str] = msgspec.field(default_factory=list)
    objects: list[str] = msgspec.field(default_factory=list)
    event_ids: list[str] = msgspec.field(default_factory=list)
    description: str = ""


class Incident(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One attack, made of one or more alerts, with its extent.

    ``accounts_compromised`` are accounts with a successful login from one of ``attackers``
    during the incident; ``objects_exposed`` are object references (``/orders/{id}=42``) that
    answered 2xx to an attacker enumerating them. ``requests`` counts the attackers' requests
    seen while the incident was open. ``attacker_evidence`` maps each attacker to a short
    human-readable list of why it is one ("14 failed logins against 14 accounts never logged
    into from here", "no successful login"); ``account_evidence`` does the same for each
    account named.
    """

    id: str
    title: str
    severity: str
    first_seen: datetime
    last_seen: datetime
    rules: list[str] = msgspec.field(default_factory=list)
    alerts: int = 0
    attackers: list[str] = msgspec.field(default_factory=list)
    user_agents: list[str] = msgspec.field(default_factory=list)
    accounts_targeted: list[str] = msgspec.field(default_factory=list)
    accounts_compromised: list[str] = msgspec.field(default_factory=list)
    objects_exposed: list[str] = msgspec.field(default_factory=list)
    requests: int = 0
    tags: list[str] = msgspec.field(default_factory=list)
    attacker_evidence: dict[str, list[str]] = msgspec.field(default_factory=dict)
    account_evidence: dict[str, list[str]] = msgspec.field(default_factory=dict)
