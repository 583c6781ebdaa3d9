"""`score`: how a detection engine's incidents compare with a scenario's ground truth.

An attack is **detected** when an incident has a rule whose type (``rule_types[rule]``) is the
attack's type or one `ACCEPTED` for it, and whose attackers overlap the attack's (for a
``distributed`` attack: include at least 90% of its IPs; for ``logging_stopped``: any such
incident). Every compromised account must appear in some incident's ``accounts_compromised``
(``ecs`` only: nginx logs carry no accounts). A **false positive** is an incident naming none of
any attack's IPs (except a ``logging_stopped`` incident when the truth has that attack), or one
naming a benign trap's IP, whatever else it names. Attacks an output cannot show (their
``formats``) are not applicable and count neither way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Final

from apiwatch.model import plural, plural_noun
from apiwatch.model.alert import Incident
from apiwatch.simulate.truth import FORMATS, AttackTruth, GroundTruth

__all__ = ["ACCEPTED", "DISTRIBUTED_COVERAGE", "Score", "score"]

DISTRIBUTED_COVERAGE: Final = 0.9

ACCEPTED: Final[Mapping[str, frozenset[str]]] = {
    "brute_force": frozenset({"credential_stuffing", "account_takeover"}),
    "credential_stuffing": frozenset(
        {"brute_force", "password_spraying", "error_flood", "account_takeover"}
    ),
    # credential_stuffing_distributed: the same attack under the word order some rule packs use
    "distributed_credential_stuffing": frozenset(
        {"credential_stuffing_distributed", "credential_stuffing", "password_spraying"}
    ),
    "password_spraying": frozenset({"credential_stuffing"}),
    "object_enumeration": frozenset(),
    "scanner": frozenset({"error_flood"}),
    "error_flood": frozenset({"scanner", "object_enumeration"}),
    "token_reuse": frozenset({"account_takeover"}),
    "logging_stopped": frozenset(),
}
"""Attack type -> the other rule types whose findings also count as detecting it."""


@dataclass(frozen=True, slots=True)
class Score:
    """The comparison; `perfect` when nothing was missed and nothing benign was reported.

    ``matches`` maps each detected attack id to the incidents that detected it;
    ``false_positives`` maps an incident id to why it is one. ``missed_objects`` (exposed objects
    no incident names) is for information and does not affect `perfect`.
    """

    format: str
    matches: dict[str, list[str]]
    missed: list[str]
    not_applicable: list[str]
    compromised: list[str]
    missed_compromised: list[str]
    false_positives: dict[str, str]
    missed_objects: list[str] = field(default_factory=list)
    attack_types: dict[str, str] = field(default_factory=dict)

    @property
    def detected(self) -> list[str]:
        """The ids of the detected attacks."""
        return list(self.matches)

    @property
    def perfect(self) -> bool:
        return not (self.missed or self.missed_compromised or self.false_positives)

    def report(self) -> str:
        """A few readable lines: the verdict, then each attack, account and false positive."""
        total = len(self.matches) + len(self.missed)
        verdict = "PERFECT" if self.perfect else "NOT PERFECT"
        lines = [
            f"score ({self.format}): {verdict}: {len(self.matches)}/{total} "
            f"{plural_noun(total, 'attack')} detected, "
            f"{len(self.compromised) - len(self.missed_compromised)}/{len(self.compromised)} "
            f"{plural_noun(len(self.compromised), 'compromised account')} named, "
            f"{plural(len(self.false_positives), 'false positive')}"
        ]
        for attack, incidents in self.matches.items():
            lines.append(f"  detected   {self._name(attack)}  by {', '.join(incidents)}")
        lines.extend(f"  MISSED     {self._name(attack)}" for attack in self.missed)
        lines.extend(
            f"  n/a        {self._name(attack)} (not visible in {self.format})"
            for attack in self.not_applicable
        )
        if self.missed_compromised:
            lines.append(f"  MISSED compromised accounts: {', '.join(self.missed_compromised)}")
        lines.extend(
            f"  FALSE POSITIVE {incident}: {why}" for incident, why in self.false_positives.items()
        )
        if self.missed_objects:
            lines.append(f"  (info) exposed objects not named: {', '.join(self.missed_objects)}")
        return "\n".join(lines)

    def _name(self, attack: str) -> str:
        kind = self.attack_types.get(attack, attack)
        return attack if kind == attack else f"{attack} [{kind}]"


def score(
    truth: GroundTruth,
    incidents: Sequence[Incident],
    *,
    format: str,
    rule_types: Mapping[str, str],
    accepted: Mapping[str, Set[str]] = ACCEPTED,
) -> Score:
    """Compare ``incidents`` (from the ``format`` output) with ``truth``; see the module doc."""
    if format not in FORMATS:
        raise ValueError(f"format: expected one of {', '.join(FORMATS)}, got {format!r}")
    types = {inc.id: {rule_types[r] for r in inc.rules if r in rule_types} for inc in incidents}
    matches: dict[str, list[str]] = {}
    missed: list[str] = []
    not_applicable: list[str] = []
    applicable: list[AttackTruth] = []
    for attack in truth.attacks:
        if format not in attack.formats:
            not_applicable.append(attack.id)
            continue
        applicable.append(attack)
        wanted = {attack.type, *accepted.get(attack.type, ())}
        found = [i.id for i in incidents if types[i.id] & wanted and _covers(attack, i)]
        if found:
            matches[attack.id] = found
        else:
            missed.append(attack.id)
    compromised, missed_accounts = _compromised(applicable, incidents, format)
    return Score(
        format=format,
        matches=matches,
        missed=missed,
        not_applicable=not_applicable,
        compromised=compromised,
        missed_compromised=missed_accounts,
        false_positives=_false_positives(truth, incidents, types, applicable),
        missed_objects=_missed_objects(applicable, incidents),
        attack_types={attack.id: attack.type for attack in truth.attacks},
    )


def _covers(attack: AttackTruth, incident: Incident) -> bool:
    if attack.type == "logging_stopped":
        return True
    shared = len(set(attack.attackers).intersection(incident.attackers))
    if attack.distributed:
        return shared >= math.ceil(DISTRIBUTED_COVERAGE * len(attack.attackers))
    return shared > 0


def _compromised(
    attacks: Sequence[AttackTruth], incidents: Sequence[Incident], format: str
) -> tuple[list[str], list[str]]:
    if format != "ecs":
        return [], []
    expected = list(dict.fromkeys(a for attack in attacks for a in attack.accounts_compromised))
    named = {account for incident in incidents for account in incident.accounts_compromised}
    return expected, [account for account in expected if account not in named]


def _false_positives(
    truth: GroundTruth,
    incidents: Sequence[Incident],
    types: Mapping[str, set[str]],
    attacks: Sequence[AttackTruth],
) -> dict[str, str]:
    attacker_ips = truth.attacker_ips
    trap_of = {ip: trap.kind for trap in truth.traps for ip in trap.ips}
    silence_expected = any(attack.type == "logging_stopped" for attack in attacks)
    found: dict[str, str] = {}
    for incident in incidents:
        traps = [f"{ip} ({trap_of[ip]})" for ip in incident.attackers if ip in trap_of]
        if traps:
            found[incident.id] = (
                f"names {plural_noun(len(traps), 'benign trap IP')} {', '.join(traps)}"
            )
        elif not attacker_ips.intersection(incident.attackers):
            if silence_expected and types[incident.id] == {"logging_stopped"}:
                continue
            named = ", ".join(incident.attackers[:5]) or "no IP"
            found[incident.id] = f"names none of the attackers ({named}; rules {incident.rules})"
    return found


def _missed_objects(attacks: Sequence[AttackTruth], incidents: Sequence[Incident]) -> list[str]:
    named = {obj for incident in incidents for obj in incident.objects_exposed}
    return [obj for attack in attacks for obj in attack.objects_exposed if obj not in named]
