"""What detection produces: an `Alert` per rule firing, an `Incident` per attack.

An alert is one rule's finding about one group (a source IP, an account, all traffic ...). Alerts
about the same attack are merged into one incident, which carries the attack's extent: who
attacked, which accounts were targeted, which logins succeeded, which objects answered.

Both are plain msgspec Structs, JSON-encodable as they are; times are event time, not the clock
of the machine that ran the engine, so a replay gives the same records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, NamedTuple

import msgspec

__all__ = [
    "ATTACK_TAG",
    "SEVERITIES",
    "Alert",
    "ExposedObject",
    "Incident",
    "attack_tag",
    "severity_rank",
]

SEVERITIES: Final = ("informational", "low", "medium", "high", "critical")
"""Sigma's levels, lowest first."""


def severity_rank(level: str) -> int:
    """The position of a Sigma level in `SEVERITIES` (unknown levels rank lowest)."""
    try:
        return SEVERITIES.index(level)
    except ValueError:
        return 0


ATTACK_TAG: Final = "apiwatch.attack."
"""The prefix of the tag that names an incident's attack kind (``apiwatch.attack.token_reuse``):
how records carry `Incident.attacks`."""


def attack_tag(attack: str) -> str:
    """The tag an incident carries for the attack kind ``attack`` (a rule's ``attack``)."""
    return ATTACK_TAG + attack


class ExposedObject(NamedTuple):
    """An object that answered an attacker: its route template and its id.

    Records carry it as text, ``route=id`` (``/orders/{id}=42``): ``str()`` writes that form
    and `parse` reads it back.
    """

    route: str
    id: str

    def __str__(self) -> str:
        return f"{self.route}={self.id}"

    @classmethod
    def parse(cls, ref: str) -> ExposedObject:
        """The object ``ref`` (``route=id``; the id is after the last ``=``) names."""
        route, _, object_id = ref.rpartition("=")
        return cls(route, object_id)


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
    during the incident; ``objects_exposed`` are object references (``/orders/{id}=42``, an
    `ExposedObject` written as text; `exposed` reads them back) that answered 2xx to an
    attacker enumerating them. The attack kinds are tags (`attack_tag`; `attacks` reads them).
    ``requests`` counts the attackers' requests seen while the incident was open.
    ``attacker_evidence`` maps each attacker to a short human-readable list of why it is one
    ("14 failed logins against 14 accounts never logged into from here", "no successful
    login"); ``account_evidence`` does the same for each account named.
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

    @property
    def attacks(self) -> tuple[str, ...]:
        """The attack kinds of this incident (the rules' ``attack``), in tag order."""
        return tuple(tag[len(ATTACK_TAG) :] for tag in self.tags if tag.startswith(ATTACK_TAG))

    @property
    def exposed(self) -> tuple[ExposedObject, ...]:
        """``objects_exposed`` as objects, in the same order."""
        return tuple(map(ExposedObject.parse, self.objects_exposed))
