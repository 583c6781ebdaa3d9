"""apiwatch's rule extensions: what Sigma correlations cannot say.

**baseline** — an all-traffic measure over a sliding window (hits, distinct values of a field,
or the ratio of two rules' hits) compared with its own trailing baseline: the median of the
measure sampled every tenth of a window over the ``baseline`` period before the current window.
It fires when the measure is at least ``minimum`` and ``factor`` times that baseline. This is how
distributed credential stuffing shows: each source stays below every per-source threshold, but
the number of distinct failing accounts across all traffic jumps.

Who took part is found through shared traits: among the window's hits, a user agent or a network
(/16 for IPv4, /48 for IPv6) holding at least a fifth of them is an attack trait. A measured hit
(a failed login) showing any attack trait names its source as a participant; another hit (a
successful login, from ``of``) must show every kind of trait there is. Participants found while
the anomaly lasts are added to the same finding, so 900 sources make one alert.

**silence** — a source (by ``group-by``, ``service.name`` by default) that has sent at least
``min-events`` and then nothing for ``interval`` of event time while others kept logging (or the
clock the caller advances with `Engine.advance` moved on).

A baseline rule stays silent for its first ``warmup`` (30 minutes by default) of event time: a
collector that just started, or a scan of a file, has no normal to compare with yet.

Work is bounded by the rules, never by event time: however far event time jumps, one tick takes
at most one window and one baseline period of samples (``BaselineState.samples`` counts them),
and a silence check is one pass over the sources tracked.
"""

from __future__ import annotations

import ipaddress
import math
from collections import deque
from functools import lru_cache
from statistics import median
from typing import Any

from apiwatch.detect.findings import Finding, Hit
from apiwatch.detect.rules import BaselineRule, SilenceRule

__all__ = ["BaselineState", "SilenceState", "network_of"]

_TRAIT_SHARE = 0.2
_MIN_TRAIT = 3


@lru_cache(maxsize=65536)
def network_of(ip: str | None) -> str | None:
    """The /16 (IPv4) or /48 (IPv6) an address belongs to."""
    if ip is None:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 16 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _trait(hit: Hit, name: str) -> str | None:
    if name == "network":
        return network_of(hit.ip)
    value = hit.values.get(name) if hit.values else None
    if value is None and name == "user_agent.original":
        return hit.ua
    return value if isinstance(value, str) else None


class BaselineState:
    """The one global window of a baseline rule."""

    def __init__(self, rule: BaselineRule) -> None:
        self.rule = rule
        self.hits: deque[tuple[float, Any, Hit, tuple[str | None, ...]]] = deque()
        self.counts: dict[Any, int] = {}
        self.denominator: deque[tuple[float, Hit, tuple[str | None, ...]]] = deque()
        self.history: deque[tuple[float, float]] = deque()
        self.step = max(rule.timespan / 10, 1.0)
        self.next_sample: float | None = None
        self.started: float | None = None
        self.finding: Finding | None = None
        self.anomalous: list[set[str]] = []
        self.max_window = 200_000
        self.dropped = 0
        self.samples = 0  # baseline samples taken, ever

    def _expire(self, t: float) -> None:
        horizon = t - self.rule.timespan
        hits = self.hits
        while hits and hits[0][0] < horizon:
            _, value, _, _ = hits.popleft()
            if value is not None:
                left = self.counts[value] - 1
                if left:
                    self.counts[value] = left
                else:
                    del self.counts[value]
        while self.denominator and self.denominator[0][0] < horizon:
            self.denominator.popleft()

    def measure(self) -> float:
        rule = self.rule
        if rule.measure == "value_count":
            return float(len(self.counts))
        if rule.measure == "ratio":
            if len(self.denominator) < max(rule.min_events, 1):
                return 0.0
            return len(self.hits) / len(self.denominator)
        return float(len(self.hits))

    def tick(self, t: float) -> None:
        """Sample the measure into the baseline history as event time passes."""
        if self.next_sample is None:
            self.next_sample = t + self.step
            self.started = t
            return
        if t < self.next_sample:
            return
        self._expire(t)
        current = self.measure()
        horizon = t - self.rule.timespan - self.rule.baseline
        if self.next_sample < horizon:
            # Event time jumped (a gap in the stream, an event dated far ahead): the samples
            # before the horizon would be dropped at once, so they are never taken. This bounds
            # the loop below by the rule (window + baseline over step), not by the jump.
            self.next_sample += math.floor((horizon - self.next_sample) / self.step) * self.step
        while self.next_sample <= t:
            self.history.append((self.next_sample, current))
            self.samples += 1
            self.next_sample += self.step
        while self.history and self.history[0][0] < horizon:
            self.history.popleft()
        if self.finding is not None and current < self.rule.minimum:
            self.finding = None

    def baseline(self, t: float) -> float:
        cutoff = t - self.rule.timespan
        past = [value for at, value in self.history if at <= cutoff]
        floor = self.rule.minimum_baseline
        if len(past) < 3:
            return floor
        return max(median(past), floor)

    def hit(self, hit: Hit, ref: str) -> Finding | None:
        rule = self.rule
        t = hit.t
        traits = tuple(_trait(hit, name) for name in rule.traits)
        if ref in rule.of:
            self.denominator.append((t, hit, traits))
            if ref not in rule.refs:
                self._expire(t)
                if self.finding is not None and self._participates(traits):
                    self.finding.absorb(hit)
                return self.finding
        value = None
        if rule.measure == "value_count":
            value = hit.values.get(rule.field)
            if value is None:
                return None
            self.counts[value] = self.counts.get(value, 0) + 1
        self.hits.append((t, value, hit, traits))
        if len(self.hits) > self.max_window:
            self._drop_oldest()
        self._expire(t)
        finding = self.finding
        if finding is not None:
            if self._participates(traits, measured=True):
                finding.absorb(hit)
            return finding
        if self.started is None or t - self.started < rule.warmup:
            return None
        current = self.measure()
        if current < rule.minimum or current < rule.factor * self.baseline(t):
            return None
        return self._fire(hit)

    def _drop_oldest(self) -> None:
        """The window is at its cap: forget its oldest hit (counted in ``dropped``)."""
        self.dropped += 1
        _, old, _, _ = self.hits.popleft()
        if old is not None:
            left = self.counts[old] - 1
            if left:
                self.counts[old] = left
            else:
                del self.counts[old]

    def _participates(self, traits: tuple[str | None, ...], *, measured: bool = False) -> bool:
        """Whether a hit with ``traits`` is part of the attack: it shows every kind of attack
        trait there is; a measured hit (a failure, for a login baseline) showing any one of them
        is enough, so the odd attacker outside the main networks is still named."""
        pairs = [(t, a) for t, a in zip(traits, self.anomalous, strict=True) if a]
        if not pairs:
            return False
        if measured:
            return any(trait in anomalous for trait, anomalous in pairs)
        return all(trait in anomalous for trait, anomalous in pairs)

    def _fire(self, hit: Hit) -> Finding:
        total = len(self.hits)
        threshold = max(_MIN_TRAIT, _TRAIT_SHARE * total)
        self.anomalous = []
        for index in range(len(self.rule.traits)):
            counts: dict[str, int] = {}
            for _, _, _, traits in self.hits:
                trait = traits[index]
                if trait is not None:
                    counts[trait] = counts.get(trait, 0) + 1
            self.anomalous.append({k for k, n in counts.items() if n >= threshold})
        first = self.hits[0][0] if self.hits else hit.t
        finding = Finding(self.rule.meta, {}, hit.t, first)
        for _, _, earlier, traits in self.hits:
            if self._participates(traits, measured=True):
                finding.absorb(earlier)
        for _, earlier, traits in self.denominator:
            if self._participates(traits):
                finding.add_attacker(earlier.ip)
        self.finding = finding
        return finding

    def state_size(self) -> int:
        return len(self.hits) + len(self.denominator) + len(self.history)


class SilenceState:
    """Last event time and event count per source, for a silence rule."""

    def __init__(self, rule: SilenceRule) -> None:
        self.rule = rule
        self.last: dict[str, float] = {}
        self.count: dict[str, int] = {}
        self.fired: set[str] = set()
        self.next_check = 0.0

    def see(self, values: dict[str, Any], t: float) -> None:
        source = values.get(self.rule.group_by)
        if source is None or (self.rule.only is not None and source != self.rule.only):
            return
        if t > self.last.get(source, 0.0):
            self.last[source] = t
        self.count[source] = self.count.get(source, 0) + 1
        self.fired.discard(source)

    def tick(self, now: float) -> list[Finding]:
        """Findings for sources silent at event time ``now``."""
        if now < self.next_check:
            return []
        self.next_check = now + min(self.rule.interval / 10, 60.0)
        rule = self.rule
        out = []
        for source, last in self.last.items():
            if source in self.fired or self.count.get(source, 0) < rule.min_events:
                continue
            if now - last > rule.interval:
                self.fired.add(source)
                finding = Finding(rule.meta, {rule.group_by: source}, last + rule.interval, last)
                finding.count = self.count[source]
                out.append(finding)
        return out
