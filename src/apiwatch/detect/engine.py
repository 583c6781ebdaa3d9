"""`Engine`: runs a rule set over events in event time and groups what fires into incidents.

Pure: no I/O, no clock. Feed events (`feed`); the engine orders them within ``lateness`` seconds
of event time (a small reorder buffer), so events that arrive slightly out of order give the
alerts they would have given in order, and a replay of a file gives exactly what live streaming
gave. Events later than that are still counted (``stats.late``), in arrival order. The buffer
holds the events within ``lateness`` of the newest one fed, and never more than ``max_buffered``
(past that the oldest are processed at once).

With ``max_lag`` (live detection), an event more than that many seconds behind the watermark
(the newest event time processed) is not processed at all, only counted (``stats.too_old``):
it may be stored as a backfill, but its windows are long gone.

`take_alerts` and `take_incidents` return what changed since their last call (new or updated);
`flush` ends a stream (offline scans); `advance` moves event time on from a clock when no events
arrive (live service), which is what lets a "logging stopped" rule fire.

State is bounded: correlation groups expire with their windows, and past ``max_keys`` groups the
least recently active are evicted (``stats.evicted``); the login memory attribution is judged on
(`apiwatch.detect.behaviour`) keeps at most ``max_keys`` sources and accounts, forgetting the
oldest first. So is work: no loop runs once per unit of
event time, so an event dated in year 9999 (or 1970) costs what any other event costs.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from apiwatch.detect.behaviour import LoginMemory
from apiwatch.detect.correlate import CorrelationState
from apiwatch.detect.extensions import BaselineState, SilenceState
from apiwatch.detect.fields import to_record
from apiwatch.detect.findings import Finding, Hit
from apiwatch.detect.incidents import SIGNATURES, IncidentTracker
from apiwatch.detect.loader import RuleSet
from apiwatch.detect.matcher import compile_all
from apiwatch.detect.profiles import AccountOrigins, GeoLookup, LoginTiming, NetworkCrowds
from apiwatch.detect.replay import ReplayState
from apiwatch.detect.rules import (
    BaselineRule,
    CorrelationRule,
    DetectionRule,
    ReplayRule,
    SilenceRule,
)
from apiwatch.detect.steady import SUSPECT_SOURCES, SteadyState
from apiwatch.detect.synthetic import SyntheticTraffic
from apiwatch.model import Event
from apiwatch.model.alert import Alert, Incident

__all__ = ["Engine", "EngineStats"]

_SWEEP_EVERY = 60.0
_Parent = CorrelationState | BaselineState | ReplayState
"""A rule state that hits of other rules reach."""
_NOTHING: frozenset[str] = frozenset()


@dataclass
class EngineStats:
    """Counters and state size, for `/metrics` and the benchmark."""

    events: int = 0
    late: int = 0
    matches: int = 0
    alerts: int = 0
    evicted: int = 0
    keys: int = 0
    buffered: int = 0
    too_old: int = 0
    synthetic: int = 0


class Engine:
    """Detection over a stream of events (see the module docstring)."""

    def __init__(
        self,
        ruleset: RuleSet,
        *,
        lateness: float = 2.0,
        max_keys: int = 200_000,
        incident_gap: float = 1800.0,
        keep_closed_incidents: bool = True,
        max_lag: float | None = None,
        max_buffered: int = 100_000,
        synthetic: SyntheticTraffic | None = None,
        geo: GeoLookup | None = None,
    ) -> None:
        self.ruleset = ruleset
        self.synthetic = synthetic if synthetic is not None else SyntheticTraffic()
        self.timing = LoginTiming()
        self.origins = AccountOrigins(geo)
        self.crowds = NetworkCrowds()
        self.lateness = lateness
        self.max_keys = max_keys
        self.max_lag = max_lag
        self.max_buffered = max(max_buffered, 1)
        self.stats = EngineStats()
        self.memory = LoginMemory(max_sources=max_keys, max_accounts=max_keys)
        self.tracker = IncidentTracker(
            gap=incident_gap, keep_closed=keep_closed_incidents, memory=self.memory
        )
        self.detections: list[DetectionRule] = []
        self.correlations: dict[str, CorrelationState] = {}
        self.baselines: dict[str, BaselineState] = {}
        self.silences: list[SilenceState] = []
        self.replays: list[ReplayState] = []
        self.parents: dict[str, list[tuple[str, _Parent]]] = {}
        self.ipv6_parents: dict[str, list[tuple[str, _Parent]]] = {}
        self.single: dict[str, dict[tuple[Any, ...], Finding]] = {}
        self.changed: dict[str, Finding] = {}
        self.watermark = float("-inf")
        self.newest_fed = float("-inf")
        self.buffer: list[tuple[float, int, Event]] = []
        self.seq = itertools.count()
        self.next_sweep = float("-inf")
        self.next_tick = float("-inf")
        self._wire()

    def _wire(self) -> None:
        for key, rule in self.ruleset.rules.items():
            if isinstance(rule, DetectionRule):
                self.detections.append(rule)
                self.single[key] = {}
            elif isinstance(rule, CorrelationRule):
                self._add_correlation(key, CorrelationState(rule, victim=self.memory.victim))
                twin = _net64_twin(rule)
                if twin is not None:
                    state = CorrelationState(twin, self.crowds.crowded)
                    self._add_correlation(f"{key}@net64", state, ipv6=True)
            elif isinstance(rule, BaselineRule):
                kind = SteadyState if rule.measure == SUSPECT_SOURCES else BaselineState
                baseline = kind(rule, self.memory)
                self.baselines[key] = baseline
                for ref in dict.fromkeys(rule.refs + rule.of):
                    self.parents.setdefault(ref, []).append((ref, baseline))
            elif isinstance(rule, SilenceRule):
                self.silences.append(SilenceState(rule))
            elif isinstance(rule, ReplayRule):
                replay = ReplayState(rule, self.memory, max_credentials=self.max_keys)
                self.replays.append(replay)
                for ref in dict.fromkeys(rule.refs):
                    self.parents.setdefault(ref, []).append((ref, replay))
        self.routes = [
            (
                rule,
                self.single[rule.meta.key],
                self.parents.get(rule.meta.key, []),
                self.ipv6_parents.get(rule.meta.key, []),
            )
            for rule in self.detections
        ]
        self.match_all, _ = compile_all([rule.tree for rule in self.detections])

    def _add_correlation(self, key: str, state: CorrelationState, *, ipv6: bool = False) -> None:
        """Wire ``state`` to the rules it references. A /64 aggregate (``ipv6``) is fed a
        detection's hits only for IPv6 events (no other can have a group); chained findings,
        which are rare, reach it like any correlation."""
        self.correlations[key] = state
        for ref in dict.fromkeys(state.rule.refs):
            direct = ipv6 and isinstance(self.ruleset.rules.get(ref), DetectionRule)
            table = self.ipv6_parents if direct else self.parents
            table.setdefault(ref, []).append((ref, state))

    # -- input ---------------------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        """Take one event (any order within ``lateness``)."""
        t = event.timestamp.timestamp()
        if self.max_lag is not None and t < self.watermark - self.max_lag:
            self.stats.too_old += 1
            return
        if self.lateness <= 0:
            self._process(event, t)
            return
        buffer = self.buffer
        heapq.heappush(buffer, (t, next(self.seq), event))
        # Released by the newest time fed, not processed: a stream that only goes backwards
        # would otherwise never release anything.
        if t > self.newest_fed:  # noqa: PLR1730 - a builtin call per event costs more
            self.newest_fed = t
        upto = self.newest_fed - self.lateness
        while buffer and buffer[0][0] <= upto:  # `_release`, inlined: once per event
            t, _, event = heapq.heappop(buffer)
            self._process(event, t)
        while len(buffer) > self.max_buffered:
            t, _, event = heapq.heappop(buffer)
            self._process(event, t)

    def feed_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.feed(event)

    def _release(self, upto: float) -> None:
        buffer = self.buffer
        while buffer and buffer[0][0] <= upto:
            t, _, event = heapq.heappop(buffer)
            self._process(event, t)

    def advance(self, now: datetime) -> None:
        """Event time has reached ``now`` (a clock, when events stop coming)."""
        t = now.timestamp()
        self._release(t - self.lateness)
        self._tick(t)

    def flush(self) -> None:
        """End of stream: process everything still buffered, and judge every source still
        waiting for its verdict."""
        self._release(float("inf"))
        for baseline in self.baselines.values():
            for finding in baseline.settle(float("inf")):
                self._report(finding)

    # -- processing ----------------------------------------------------------------------------

    def _process(self, event: Event, t: float) -> None:
        stats = self.stats
        stats.events += 1
        if t < self.watermark:
            stats.late += 1
        else:
            self.watermark = t
        record = to_record(event, _NOTHING)  # the matcher lower-cases what it reads itself
        values = record.values
        login = values["apiwatch.login"]
        if (login is not None or self.synthetic.declared) and self._synthetic(values, t):
            return
        if login is not None or values["user.name"] is not None:
            self._profile(values, login, t)
        self.memory.see(values, t)
        ipv6 = "apiwatch.net64" in values
        hit: Hit | None = None
        matched = self.match_all(values, record.lower)
        if matched:
            stats.matches += len(matched)
            hit = Hit(t, values, rec=record)
            self._route(matched, hit, ipv6)
        for silence in self.silences:
            silence.see(values, t)
        self.tracker.on_event(record, t)
        if hit is not None:
            hit.release()
        if self.watermark >= self.next_tick:
            self._tick(self.watermark)

    def _route(self, matched: tuple[int, ...], hit: Hit, ipv6: bool) -> None:
        """Count ``hit`` for the detections that matched: their own alerts, and the
        correlations and baselines that reference them."""
        routes = self.routes
        for index in matched:
            rule, single, parents, ipv6_parents = routes[index]
            if rule.generate:
                self._single(rule, single, hit)
            for ref, state in parents + ipv6_parents if ipv6 else parents:
                finding = state.hit(hit, ref)
                if finding is not None:
                    self._dispatch(finding, state)

    def _synthetic(self, values: dict[str, Any], t: float) -> bool:
        """Whether the event is synthetic traffic (`SyntheticTraffic`): counted, seen by the
        silence rules (the source is alive), matched by no other rule."""
        if not self.synthetic.classify(values, t):
            return False
        self.stats.synthetic += 1
        for silence in self.silences:
            silence.see(values, t)
        return True

    def _profile(self, values: dict[str, Any], login: str | None, t: float) -> None:
        """What the engine learns from an event before rules see it (`apiwatch.detect.profiles`):
        login timing and crowds from logins, where accounts are used from."""
        account = values.get("user.name")
        if login is None:
            status = values.get("http.response.status_code")
            if account is not None and (status is None or status < 400):
                self.origins(values, account, login=False)
            return
        self.timing(values, login)
        if login == "success" and account is not None:
            self.origins(values, account, login=True)
        net = values.get("apiwatch.net64")
        if net is not None:
            self.crowds(net, values, login, t)

    def _tick(self, t: float) -> None:
        """Time-driven work: baseline samples, silence checks, sweeps; then when it is next due."""
        due = t + _SWEEP_EVERY
        for baseline in self.baselines.values():
            for finding in baseline.tick(t):
                self._report(finding)
            if baseline.next_sample is not None:
                due = min(due, baseline.next_sample)
        for silence in self.silences:
            for finding in silence.tick(t):
                self._report(finding)
            due = min(due, silence.next_check)
        if t >= self.next_sweep:
            self.next_sweep = t + _SWEEP_EVERY
            self._sweep(t)
        self.next_tick = min(due, self.next_sweep)

    def _single(
        self, rule: DetectionRule, single: dict[tuple[Any, ...], Finding], hit: Hit
    ) -> None:
        values = hit.values
        key = tuple(values.get(name) for name in rule.group_by)
        finding = single.get(key)
        if finding is None or hit.t - finding.last > rule.suppress:
            group = {n: str(v) for n, v in zip(rule.group_by, key, strict=True) if v is not None}
            finding = single[key] = Finding(rule.meta, group, hit.t, hit.t)
        finding.absorb(hit)
        self._report(finding)

    def _dispatch(self, finding: Finding | None, state: _Parent) -> None:
        if finding is None:
            return
        rule = state.rule
        if rule.generate:
            self._report(finding)
        key = rule.meta.key
        parents = self.parents.get(key)
        if parents:
            chained = Hit(finding.last, dict(finding.group), alert=finding)
            for ref, parent in parents:
                self._dispatch(parent.hit(chained, ref), parent)

    def _report(self, finding: Finding) -> None:
        if self._crowd(finding):
            return
        if not finding.incident:
            self.stats.alerts += 1
        self.changed[finding.id] = finding
        self.tracker.on_finding(finding)

    def _crowd(self, finding: Finding) -> bool:
        """A finding about one source that is a crowd of real users (an office NAT): not
        reported, whatever its volume (reported once the source's own evidence changes), unless
        its rule is a signature (`SIGNATURES`: an exploit string is an attack whoever sends it)."""
        ip = finding.group.get("source.ip")
        return ip is not None and finding.meta.attack not in SIGNATURES and self.memory.is_crowd(ip)

    def _sweep(self, now: float) -> None:
        for single_rule in self.detections:
            single = self.single[single_rule.meta.key]
            dead = [k for k, f in single.items() if now - f.last > single_rule.suppress]
            for key in dead:
                del single[key]
        keys = sum(len(single) for single in self.single.values())
        for state in self.correlations.values():
            state.sweep(now)
            keys += len(state.groups)
        for replay in self.replays:  # bounded by itself: not counted towards eviction
            replay.sweep(now)
        if keys > self.max_keys:
            keys -= self._evict(keys - self.max_keys)
        self.tracker.sweep(now)
        self.stats.keys = keys
        self.stats.buffered = len(self.buffer)

    def _evict(self, excess: int) -> int:
        """Forget the ``excess`` least recently active groups: correlation windows and the
        per-source suppression of single-event rules alike (an evicted group starts afresh)."""
        tables: list[dict[Any, Any]] = [state.groups for state in self.correlations.values()]
        tables += self.single.values()
        # By time alone: equal times would compare group keys (of mixed types) and states.
        ages = sorted(
            ((entry.last, key, table) for table in tables for key, entry in table.items()),
            key=lambda age: age[0],
        )
        for _, key, table in ages[:excess]:
            del table[key]
        self.stats.evicted += excess
        return excess

    # -- output --------------------------------------------------------------------------------

    def take_alerts(self) -> list[Alert]:
        """Alerts raised or updated since the last call."""
        out = [finding.to_alert() for finding in self.changed.values()]
        self.changed = {}
        return out

    def take_incidents(self) -> list[Incident]:
        """Incidents opened or updated since the last call."""
        return self.tracker.take()

    def incidents(self) -> list[Incident]:
        """Every incident so far, oldest first (only those still open when the engine was made
        with ``keep_closed_incidents=False``)."""
        return sorted(self.tracker.all(), key=lambda i: (i.first_seen, i.id))

    def state_keys(self) -> int:
        """Tracked keys: correlation groups, suppression groups, baseline entries, sources,
        accounts whose origins are known, IPv6 /64s whose crowd is known."""
        return (
            sum(len(s.groups) for s in self.correlations.values())
            + sum(len(s) for s in self.single.values())
            + sum(b.state_size() for b in self.baselines.values())
            + sum(r.state_size() for r in self.replays)
            + self.tracker.sources()
            + len(self.origins.accounts)
            + len(self.crowds.nets)
        )


def _net64_twin(rule: CorrelationRule) -> CorrelationRule | None:
    """The /64 aggregate of a per-source rule: the same rule grouped by ``apiwatch.net64``
    instead of ``source.ip``, firing only when two or more addresses of the /64 took part (one
    address is the per-source rule's own case; a sequence chains on aggregates that did) and
    never for a crowd (see `NetworkCrowds`)."""
    if "source.ip" not in rule.group_by or rule.field == "source.ip" or rule.aliases:
        return None
    group_by = tuple("apiwatch.net64" if g == "source.ip" else g for g in rule.group_by)
    # A sequence (stuffing, then a successful login) chains on the /64 aggregates above it,
    # which already took two addresses: its own closing step may come from any one.
    sources = 1 if rule.type.startswith("temporal") else 2
    return replace(rule, group_by=group_by, min_sources=sources)
