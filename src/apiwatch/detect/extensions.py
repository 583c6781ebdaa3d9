"""apiwatch's rule extensions: what Sigma correlations cannot say.

**baseline** — an all-traffic measure over a sliding window (hits, distinct values of a field,
or the ratio of two rules' hits) compared with its own trailing baseline: the median of the
measure sampled every tenth of a window over the ``baseline`` period before the current window.
It fires when the measure is at least ``minimum`` and ``factor`` times that baseline. This is how
distributed credential stuffing shows: each source stays below every per-source threshold, but
the number of distinct failing accounts across all traffic jumps.

Who took part is judged per source, on its own evidence (`apiwatch.detect.behaviour`): every
source with a measured hit (a failed login), or a hit of ``of`` (a successful login), while the
anomaly lasts is a *candidate*, judged
``settle`` (3 minutes by default) after its last measured hit, so a user who mistypes a password
and then gets in is cleared by that success. A candidate with failures against accounts it never
logged into (or, in logs without accounts, failures its successes do not explain) and no crowd of
real users behind it is a participant. A login that was a hit and run, but is no evidence yet (its
account's owner was not seen elsewhere: `LoginMemory.unproven`), is kept in view for two hours and
named when its owner shows up. Traits shared with other sources (a user agent, a network)
play no part: they are what a botnet rotates and what innocent users share.

While the anomaly lasts, the baseline stays what it was when the rule fired (the attack's own
traffic is not learnt as normal), and the anomaly ends when the measure falls back to twice that
baseline; a later rise fires anew. So participants that arrive late or one try at a time, over
hours, join the same finding, and 900 sources make one alert.

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

import math
from collections import deque
from statistics import median
from typing import Any, Final

from apiwatch.detect.behaviour import LoginMemory
from apiwatch.detect.findings import Finding, Hit
from apiwatch.detect.rules import BaselineRule, SilenceRule

__all__ = ["BaselineState", "SilenceState"]

_BACK_TO_NORMAL: Final = 2.0  # an anomaly ends when its measure is at most this x its baseline
_WATCH: Final = 7200.0  # seconds a hit-and-run login waits for its account's owner to show up
_WATCH_MAX: Final = 10_000


class BaselineState:
    """The one global window of a baseline rule, and the candidates of its current anomaly."""

    def __init__(self, rule: BaselineRule, memory: LoginMemory | None = None) -> None:
        self.rule = rule
        self.memory = memory if memory is not None else LoginMemory()
        self.hits: deque[tuple[float, Any, str | None, str | None]] = deque()
        self.counts: dict[Any, int] = {}
        self.denominator: deque[tuple[float, str | None, str | None]] = deque()
        self.history: deque[tuple[float, float]] = deque()
        self.step = max(rule.timespan / 10, 1.0)
        self.next_sample: float | None = None
        self.started: float | None = None
        self.finding: Finding | None = None
        self.level = 0.0  # the baseline frozen when the current anomaly fired
        # source -> (when it is judged, its user agent, the finding it may join)
        self.pending: dict[str, tuple[float, str | None, Finding | None]] = {}
        self.judged: dict[str, Finding] = {}  # sources already named in a finding
        # A hit-and-run login not yet evidence (`LoginMemory.unproven`): source -> (when it was
        # judged, its user agent, the finding it joins once its account's owner shows up).
        self.watching: dict[str, tuple[float, str | None, Finding]] = {}
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

    def tick(self, t: float) -> list[Finding]:
        """Sample the measure into the baseline history as event time passes; judge the
        candidates that are due. The findings that named new participants."""
        if self.next_sample is None:
            self.next_sample = t + self.step
            self.started = t
            return []
        if t < self.next_sample:
            return []
        self._expire(t)
        current = self.measure()
        horizon = t - self.rule.timespan - self.rule.baseline
        if self.next_sample < horizon:
            # Event time jumped (a gap in the stream, an event dated far ahead): the samples
            # before the horizon would be dropped at once, so they are never taken. This bounds
            # the loop below by the rule (window + baseline over step), not by the jump.
            self.next_sample += math.floor((horizon - self.next_sample) / self.step) * self.step
        learn = self.finding is None  # an anomaly is not learnt as normal
        while self.next_sample <= t:
            if learn:
                self.history.append((self.next_sample, current))
            self.samples += 1
            self.next_sample += self.step
        while self.history and self.history[0][0] < horizon:
            self.history.popleft()
        if self.finding is not None and self.back_to_normal(current):
            self.finding = None
            self.judged = {}
        return self.settle(t)

    def back_to_normal(self, current: float) -> bool:
        """Whether the anomaly is over: its measure is back near the baseline it fired on."""
        return current <= _BACK_TO_NORMAL * self.level

    def baseline(self, t: float) -> float:
        cutoff = t - self.rule.timespan
        past = [value for at, value in self.history if at <= cutoff]
        floor = self.rule.minimum_baseline
        if len(past) < 3:
            return floor
        return max(median(past), floor)

    def hit(self, hit: Hit, ref: str) -> Finding | None:
        """Count ``hit`` (of referenced rule ``ref``); the finding it raised or updated."""
        rule = self.rule
        t = hit.t
        if ref in rule.of:
            self.denominator.append((t, hit.ip, hit.ua))
            if ref not in rule.refs:
                if self.finding is not None:  # a success during the anomaly: judged too
                    self._candidate(hit.ip, hit.ua, t, self.finding)
                return None
        value = None
        if rule.measure == "value_count":
            value = hit.values.get(rule.field)
            if value is None:
                return None
            self.counts[value] = self.counts.get(value, 0) + 1
        self.hits.append((t, value, hit.ip, hit.ua))
        if len(self.hits) > self.max_window:
            self._drop_oldest()
        self._expire(t)
        finding = self.finding
        if finding is not None:
            finding.count += 1
            finding.last = max(finding.last, t)
            self._candidate(hit.ip, hit.ua, t, finding)
            # Reported as updated, as a correlation's is: an alert saved now and then must not
            # lag behind its finding by however many hits came since the last save.
            return finding
        if self.started is None or t - self.started < rule.warmup:
            return None
        current = self.measure()
        level = self.baseline(t)
        if current < rule.minimum or current < rule.factor * level:
            return None
        self.level = level
        return self._fire(hit)

    def _candidate(self, ip: str | None, ua: str | None, t: float, finding: Finding | None) -> None:
        if ip is None or (finding is not None and self.judged.get(ip) is finding):
            return
        self.pending.pop(ip, None)  # re-inserted last: the dict stays in order of due time
        self.pending[ip] = (t + self.rule.settle, ua, finding)

    def settle(self, t: float) -> list[Finding]:
        """Judge the candidates due by ``t`` (all of them for ``inf``, at the end of a stream);
        the findings that named new participants."""
        changed: dict[str, Finding] = {}
        pending = self.pending
        while pending:
            ip = next(iter(pending))
            due, ua, finding = pending[ip]
            if due > t:
                break
            del pending[ip]
            named = self._judge(ip, ua, finding, due - self.rule.settle)
            if named is not None:
                changed[named.id] = named
        if self.watching:
            for named in self._rewatch():
                changed[named.id] = named
        return list(changed.values())

    def watch(self, ip: str, ua: str | None, finding: Finding | None, t: float) -> None:
        """Keep ``ip`` in view if it made a hit-and-run login that is no evidence yet: the
        account's owner may show up elsewhere later, which makes it one."""
        if finding is None or not self.memory.unproven(ip):
            return
        watching = self.watching
        watching.pop(ip, None)
        if len(watching) >= _WATCH_MAX:
            del watching[next(iter(watching))]
        watching[ip] = (t, ua, finding)

    def _rewatch(self) -> list[Finding]:
        """Name the watched sources whose evidence came (their account's owner showed up
        elsewhere); forget those that did more since, or waited `_WATCH`."""
        memory, out = self.memory, []
        horizon = memory.now - _WATCH
        for ip, (since, ua, finding) in list(self.watching.items()):
            if memory.judge(ip).attacker:
                del self.watching[ip]
                self.judged[ip] = finding
                self.name(finding, ip, ua)
                out.append(finding)
            elif since < horizon or not memory.unproven(ip):
                del self.watching[ip]
        return out

    def _judge(self, ip: str, ua: str | None, finding: Finding | None, t: float) -> Finding | None:
        """Name ``ip`` a participant of ``finding`` if its own evidence says so; the finding
        that changed."""
        if finding is None:
            return None
        history = self.memory.sources.get(ip)
        if (
            history is not None
            and len(history.failed) <= 1
            and history.first < finding.first - self.rule.timespan
        ):
            return None  # one account failing since long before the wave: not part of it
        if not self.memory.judge(ip).attacker:
            self.watch(ip, ua, finding, t)
            return None
        self.judged[ip] = finding
        self.name(finding, ip, ua)
        return finding

    def name(self, finding: Finding, ip: str, ua: str | None) -> None:
        """Add ``ip`` to ``finding`` with its user agent and the accounts it failed for."""
        finding.add_attacker(ip)
        finding.add_agent(ua)
        history = self.memory.sources.get(ip)
        if history is not None:
            for account in history.failed:
                finding.add_account(account)

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

    def _fire(self, hit: Hit) -> Finding:
        first = self.hits[0][0] if self.hits else hit.t
        finding = Finding(self.rule.meta, {}, hit.t, first)
        finding.count = len(self.hits)
        for t, _, ip, ua in self.hits:
            self._candidate(ip, ua, t, finding)
        for t, ip, ua in self.denominator:  # the window's logins: a stolen password checked
            self._candidate(ip, ua, t, finding)
        self.finding = finding
        return finding

    def state_size(self) -> int:
        return (
            len(self.hits)
            + len(self.denominator)
            + len(self.history)
            + len(self.pending)
            + len(self.watching)
        )


class SilenceState:
    """Last event time and event count per source, for a silence rule."""

    def __init__(self, rule: SilenceRule) -> None:
        self.rule = rule
        self.last: dict[str, float] = {}
        self.count: dict[str, int] = {}
        self.fired: set[str] = set()
        self.next_check = 0.0
        self.group_by = rule.group_by
        self.only = rule.only

    def see(self, values: dict[str, Any], t: float) -> None:
        source = values.get(self.group_by)
        if source is None:
            return
        only = self.only
        if only is not None and source != only:
            return
        last = self.last
        if t > last.get(source, 0.0):
            last[source] = t
        count = self.count
        count[source] = count.get(source, 0) + 1
        if self.fired:
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
