"""The ground truth of a scenario: what attacked, from where, with what extent; and the traps.

`GroundTruth` is what ``truth.json`` holds (`GroundTruth.to_json` / `GroundTruth.load`), and what
`apiwatch.simulate.score` compares a detection engine's incidents with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import msgspec

from apiwatch.model import ExposedObject
from apiwatch.simulate.records import Request

__all__ = ["FORMATS", "SCHEMA_VERSION", "AttackTruth", "GroundTruth", "TrapTruth"]

SCHEMA_VERSION: Final = 1
FORMATS: Final = ("ecs", "nginx")
"""The outputs: ``ecs`` (``events.ndjson``) and ``nginx`` (``access.log``)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _time(request: Request) -> int:
    return request.time_us


def from_us(time_us: int) -> datetime:
    """A UTC datetime from microseconds since the Unix epoch (exact)."""
    return _EPOCH + timedelta(microseconds=time_us)


class AttackTruth(msgspec.Struct, frozen=True, kw_only=True):
    """One attack of the scenario.

    ``attackers`` are the source IPs of its requests (empty for ``logging_stopped``);
    ``accounts_compromised`` the accounts an attacker logged in to; ``objects_exposed`` the
    object references (``/orders/{id}=100123``) that answered 2xx to an enumeration. ``formats``
    lists the outputs in which the attack can be seen at all (nginx logs carry no account, token
    or service). ``distributed`` attacks count as detected only when one incident names at least
    90% of their IPs. ``service`` is the service the attack concerns.
    """

    id: str
    type: str
    description: str
    attackers: list[str]
    user_agents: list[str]
    accounts_targeted: list[str]
    accounts_compromised: list[str]
    objects_exposed: list[str]
    requests: int
    first_seen: datetime
    last_seen: datetime
    formats: list[str]
    distributed: bool = False
    service: str = "shop"

    @property
    def exposed(self) -> tuple[ExposedObject, ...]:
        """``objects_exposed`` as objects, in the same order."""
        return tuple(map(ExposedObject.parse, self.objects_exposed))

    @classmethod
    def of(
        cls,
        id: str,
        type: str,
        description: str,
        requests: Sequence[Request],
        *,
        accounts_targeted: Iterable[str] = (),
        accounts_compromised: Iterable[str] = (),
        objects_exposed: Iterable[str] = (),
        formats: Sequence[str] = FORMATS,
        distributed: bool = False,
    ) -> AttackTruth:
        """The truth of an attack made of ``requests`` (lists in order of first appearance)."""
        requests = sorted(requests, key=_time)
        times = [r.time_us for r in requests]
        # Compromised accounts in the order the attackers got in.
        entered = {r.user: n for n, r in enumerate(requests) if r.is_login and r.status < 400}
        compromised = sorted(dict.fromkeys(accounts_compromised),
                             key=lambda a: entered.get(a, len(requests)))  # fmt: skip
        return cls(
            id=id,
            type=type,
            description=description,
            attackers=list(dict.fromkeys(r.ip for r in requests)),
            user_agents=list(dict.fromkeys(r.user_agent for r in requests)),
            accounts_targeted=list(dict.fromkeys(accounts_targeted)),
            accounts_compromised=compromised,
            objects_exposed=list(dict.fromkeys(objects_exposed)),
            requests=len(requests),
            first_seen=from_us(min(times)),
            last_seen=from_us(max(times)),
            formats=list(formats),
            distributed=distributed,
        )


class TrapTruth(msgspec.Struct, frozen=True, kw_only=True):
    """Benign traffic that resembles an attack: none of it may be reported as one."""

    kind: str
    description: str
    ips: list[str]
    accounts: list[str]
    user_agents: list[str]
    requests: int
    first_seen: datetime
    last_seen: datetime

    @classmethod
    def of(
        cls, kind: str, description: str, requests: Sequence[Request], accounts: Iterable[str]
    ) -> TrapTruth:
        requests = sorted(requests, key=_time)
        times = [r.time_us for r in requests]
        return cls(
            kind=kind,
            description=description,
            ips=list(dict.fromkeys(r.ip for r in requests)),
            accounts=list(dict.fromkeys(accounts)),
            user_agents=list(dict.fromkeys(r.user_agent for r in requests)),
            requests=len(requests),
            first_seen=from_us(min(times)),
            last_seen=from_us(max(times)),
        )


class GroundTruth(msgspec.Struct, frozen=True, kw_only=True):
    """Everything known about a scenario: the config it came from, its span, attacks and traps.

    ``counts`` holds ``shop_requests`` (= lines of ``access.log``), ``ecs_events`` (= lines of
    ``events.ndjson``) and ``benign_requests``.
    """

    seed: int
    config: dict[str, Any]
    start: datetime
    end: datetime
    counts: dict[str, int]
    attacks: list[AttackTruth]
    traps: list[TrapTruth]
    schema_version: int = SCHEMA_VERSION
    generator: str = "apiwatch.simulate"

    @property
    def attacker_ips(self) -> frozenset[str]:
        """Every IP that took part in any attack."""
        return frozenset(ip for attack in self.attacks for ip in attack.attackers)

    @property
    def trap_ips(self) -> frozenset[str]:
        """Every IP of a benign trap."""
        return frozenset(ip for trap in self.traps for ip in trap.ips)

    @property
    def compromised_accounts(self) -> list[str]:
        return list(dict.fromkeys(a for t in self.attacks for a in t.accounts_compromised))

    def attack(self, type_or_id: str) -> AttackTruth:
        """The first attack with this id or type; KeyError when there is none."""
        for attack in self.attacks:
            if type_or_id in (attack.id, attack.type):
                return attack
        raise KeyError(type_or_id)

    def trap(self, kind: str) -> TrapTruth:
        for trap in self.traps:
            if trap.kind == kind:
                return trap
        raise KeyError(kind)

    def to_json(self) -> bytes:
        """Indented JSON (stable: equal truths give equal bytes), ending with a newline."""
        return msgspec.json.format(msgspec.json.encode(self), indent=2) + b"\n"

    @classmethod
    def from_json(cls, data: bytes | str) -> GroundTruth:
        return msgspec.json.decode(data, type=cls)

    @classmethod
    def load(cls, path: str | Path) -> GroundTruth:
        """Read a ``truth.json`` written by `write_scenario`."""
        return cls.from_json(Path(path).read_bytes())
