"""`Finding`: an alert while the engine still updates it, and `Hit`: one event (or one fired
correlation) counted by a rule."""

from __future__ import annotations

import hashlib
import sys
from datetime import UTC, datetime
from typing import Any, Final

from apiwatch.detect.fields import Record
from apiwatch.detect.rules import RuleMeta
from apiwatch.model.alert import Alert, ExposedObject

__all__ = ["Finding", "Hit", "exposed_object", "stable_id", "to_datetime"]

CAP_VALUES: Final = 10_000
CAP_AGENTS: Final = 100
CAP_EVENT_IDS: Final = 20
CAP_REASONS: Final = 100  # attackers a finding explains in words


def exposed_object(route: object, object_id: object) -> ExposedObject:
    """The object ``object_id`` under ``route``, as an event's fields give them. The route is
    interned: the few routes of an API are then kept once, however many objects are held."""
    return ExposedObject(sys.intern(str(route)), str(object_id))


def to_datetime(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def stable_id(prefix: str, *parts: object) -> str:
    """The same id for the same inputs: replays give the ids live streaming gave."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).hexdigest()
    return f"{prefix}-{digest}"


class Hit:
    """What a rule counts of one event: time, group source and the extent it contributes."""

    __slots__ = ("account", "alert", "event_id", "ip", "oid", "rec", "route", "t", "ua", "values")

    def __init__(
        self,
        t: float,
        values: dict[str, Any],
        *,
        rec: Record | None = None,
        alert: Finding | None = None,
    ) -> None:
        self.t = t
        self.values = values
        self.rec = rec
        self.alert = alert
        self.ip: str | None = values.get("source.ip")
        self.account: str | None = values.get("user.name")
        self.ua: str | None = values.get("user_agent.original")
        self.oid: str | None = values.get("apiwatch.object_id")
        self.route: str | None = values.get("apiwatch.route")
        self.event_id: str | None = rec.event.event.id if rec is not None else None

    @property
    def obj(self) -> ExposedObject | None:
        """The object this hit addressed."""
        return exposed_object(self.route, self.oid) if self.oid else None

    def release(self) -> None:
        """Drop the event's record once every rule has seen it: windows keep only the extent."""
        self.values = NO_VALUES
        self.rec = None


NO_VALUES: Final[dict[str, Any]] = {}
"""The (never mutated) values of a released hit."""


class Finding:
    """One rule firing for one group, updated while the attack goes on."""

    __slots__ = (
        "accounts",
        "agents",
        "attackers",
        "count",
        "event_ids",
        "first",
        "group",
        "id",
        "incident",
        "last",
        "meta",
        "new_objects",
        "news",
        "objects",
        "reasons",
        "t",
    )

    def __init__(self, meta: RuleMeta, group: dict[str, str], t: float, first: float) -> None:
        self.meta = meta
        self.group = group
        self.t = t
        self.first = first
        self.last = t
        self.id = stable_id("alert", meta.key, sorted(group.items()), first)
        self.count = 0
        self.attackers: set[str] = set()
        self.accounts: set[str] = set()
        self.agents: set[str] = set()
        self.objects: set[ExposedObject] = set()
        self.event_ids: list[str] = []
        self.incident = ""
        self.news: list[tuple[str, str]] = []
        self.new_objects: list[ExposedObject] = []
        self.reasons: dict[str, list[str]] | None = None  # attacker -> why, when the rule says

    def absorb(self, hit: Hit, *, attacker: bool = True) -> None:
        """Count one more hit: its time, attacker, account, user agent and object.

        ``attacker=False`` counts the hit without naming its source an attacker (the closing
        step of a sequence, such as the successful login after a brute force, may be the owner).
        """
        self.count += 1
        if hit.t > self.last:  # noqa: PLR1730 - a compare, not a call, per hit
            self.last = hit.t
        if hit.alert is not None:
            for ip in hit.alert.attackers:
                self.add_attacker(ip)
            for account in hit.alert.accounts:
                self._add(self.accounts, "account", account, CAP_VALUES)
            for agent in hit.alert.agents:
                self._add(self.agents, "agent", agent, CAP_AGENTS)
            for obj in hit.alert.objects:
                self._add_object(obj)
            return
        # What the finding knows already is skipped here, without a call: an attack's hits
        # mostly repeat its attackers, accounts, agents and objects.
        source, user, ua, oid = hit.ip, hit.account, hit.ua, hit.oid
        if attacker and source is not None and source not in self.attackers:
            self.add_attacker(source)
        if user is not None and user not in self.accounts:
            self._add(self.accounts, "account", user, CAP_VALUES)
        if ua is not None and ua not in self.agents:
            self._add(self.agents, "agent", ua, CAP_AGENTS)
        # An `ExposedObject` equals the plain tuple of its route and id: none is made to look.
        if oid and (str(hit.route), str(oid)) not in self.objects:
            self._add_object(hit.obj)
        if hit.event_id is not None and len(self.event_ids) < CAP_EVENT_IDS:
            self.event_ids.append(hit.event_id)

    def add_attacker(self, ip: str | None, reasons: list[str] | None = None) -> None:
        """Name ``ip`` an attacker; ``reasons`` say why in words (the incident's evidence)."""
        if ip is not None and reasons and ip not in self.attackers:
            if self.reasons is None:
                self.reasons = {}
            if len(self.reasons) < CAP_REASONS:
                self.reasons[ip] = reasons
        self._add(self.attackers, "attacker", ip, CAP_VALUES)

    def add_account(self, account: str | None) -> None:
        self._add(self.accounts, "account", account, CAP_VALUES)

    def add_agent(self, agent: str | None) -> None:
        self._add(self.agents, "agent", agent, CAP_AGENTS)

    def _add(self, target: set[str], kind: str, value: str | None, cap: int) -> None:
        if value is None or value in target or len(target) >= cap:
            return
        target.add(value)
        self.news.append((kind, value))

    def _add_object(self, obj: ExposedObject | None) -> None:
        if obj is None or obj in self.objects or len(self.objects) >= CAP_VALUES:
            return
        self.objects.add(obj)
        self.new_objects.append(obj)

    def take_news(self) -> tuple[list[tuple[str, str]], list[ExposedObject]]:
        """What this finding learnt since the last call: (attacker|account|agent, value)
        pairs, and the objects."""
        news, self.news = self.news, []
        objects, self.new_objects = self.new_objects, []
        return news, objects

    def to_alert(self) -> Alert:
        meta = self.meta
        return Alert(
            id=self.id,
            rule=meta.key,
            title=meta.title,
            severity=meta.level,
            timestamp=to_datetime(self.t),
            first_seen=to_datetime(self.first),
            last_seen=to_datetime(self.last),
            incident=self.incident,
            group=dict(self.group),
            count=self.count,
            tags=list(meta.tags),
            attackers=sorted(self.attackers),
            user_agents=sorted(self.agents),
            accounts=sorted(self.accounts),
            objects=sorted(map(str, self.objects)),
            event_ids=list(self.event_ids),
            description=meta.description,
        )
