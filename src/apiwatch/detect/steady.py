"""Steady, low-and-slow stuffing that never forms a surge: a baseline rule whose measure is the
*composition* of failures, not their rate (``measure: suspect_sources``).

A run that tries one password per address, a few hundred addresses an hour, for days, raises its
own baseline: no rate ever looks anomalous. What gives it away is who fails. Every source of a
measured hit (a failed login) is judged ``settle`` after its last one; a **one-shot suspect** is
a source whose whole traffic was one to three failed logins for accounts it never got into (or
that tried unknown usernames), with no success and no other request, and no crowd behind it
(`LoginMemory.one_shot`). Ordinary users who mistype get in, or go on to reset their password;
a monitor's canary keeps failing the same account and checks health too.

While the rule is firing, the sources of its ``of`` hits (successful logins) are judged too: a
login that checked a stolen password and left (`LoginMemory.judge`'s hit and run) is named, and
so is a one-shot address that got in after its failures for other accounts (one login, at most
a check of the account, and the failures' own evidence). The
logins of the window before it fired are judged when it fires: a run's first hits come before
thirty of its addresses have shown themselves.

The measure is the number of one-shot suspects in the last ``timespan``. The rule fires when it
is at least ``minimum`` and ``factor`` times its baseline (``factor: 0`` compares with nothing:
a composition this lopsided is an attack whatever the past held). The suspects of the window are
its participants, and later ones join while the measure stays at half the minimum or more.
"""

from __future__ import annotations

from collections import deque

from apiwatch.detect.behaviour import HIT_AND_RUN, ONE_SHOT, LoginMemory
from apiwatch.detect.extensions import BaselineState
from apiwatch.detect.findings import Finding, Hit
from apiwatch.detect.rules import BaselineRule

__all__ = ["SUSPECT_SOURCES", "SteadyState"]

SUSPECT_SOURCES = "suspect_sources"


class SteadyState(BaselineState):
    """A ``suspect_sources`` baseline rule (see the module docstring)."""

    def __init__(self, rule: BaselineRule, memory: LoginMemory | None = None) -> None:
        super().__init__(rule, memory)
        self.suspects: dict[str, tuple[float, str | None]] = {}  # oldest first
        self.logins: deque[tuple[float, str, str | None]] = deque()  # ``of`` hits, not firing

    def measure(self) -> float:
        return float(len(self.suspects))

    def _expire(self, t: float) -> None:
        horizon = t - self.rule.timespan
        suspects = self.suspects
        while suspects:
            oldest = next(iter(suspects))
            if suspects[oldest][0] >= horizon:
                break
            del suspects[oldest]

    def back_to_normal(self, current: float) -> bool:
        return current < self.rule.minimum / 2

    def hit(self, hit: Hit, ref: str) -> Finding | None:
        if ref in self.rule.refs or self.finding is not None:
            self._candidate(hit.ip, hit.ua, hit.t, self.finding)
        elif hit.ip is not None:  # a login before the rule fires: judged if it does
            logins = self.logins
            logins.append((hit.t, hit.ip, hit.ua))
            horizon = hit.t - self.rule.timespan
            while logins and (logins[0][0] < horizon or len(logins) > self.max_window):
                logins.popleft()
        return None

    def _judge(self, ip: str, ua: str | None, finding: Finding | None, t: float) -> Finding | None:
        if not self.memory.one_shot(ip).attacker:
            return self._judge_login(ip, ua, t)
        self.suspects.pop(ip, None)
        self.suspects[ip] = (t, ua)
        self._expire(t)
        finding = self.finding
        if finding is not None:
            finding.count += 1
            finding.last = max(finding.last, t)
            self.name(finding, ip, ua)
            return finding
        if self.started is None or t - self.started < self.rule.warmup:
            return None
        current = self.measure()
        level = self.baseline(t)
        if current < self.rule.minimum or current < self.rule.factor * level:
            return None
        self.level = level
        first = next(iter(self.suspects.values()))[0]
        finding = self.finding = Finding(self.rule.meta, {}, t, first)
        finding.count = len(self.suspects)
        for suspect, (_, agent) in self.suspects.items():
            self.name(finding, suspect, agent)
        for at, source, agent in self.logins:
            self._candidate(source, agent, at, finding)
        self.logins.clear()
        return finding

    def _judge_login(self, ip: str, ua: str | None, t: float) -> Finding | None:
        """A login (``of``) while the run goes on: named if a stolen password was checked,
        straight away or after failures for other accounts (a one-shot address that hit)."""
        history = self.memory.sources.get(ip)
        if history is None:
            return None
        hit_and_run = not history.fails
        one_shot_hit = (
            0 < history.fails <= ONE_SHOT
            and history.successes == 1
            and history.other <= HIT_AND_RUN
        )
        finding = self.finding
        if finding is not None and (hit_and_run or one_shot_hit) and self.memory.judge(ip).attacker:
            self.name(finding, ip, ua)
            return finding
        if hit_and_run:
            self.watch(ip, ua, finding, t)
        return None

    def state_size(self) -> int:
        return super().state_size() + len(self.suspects) + len(self.logins)
