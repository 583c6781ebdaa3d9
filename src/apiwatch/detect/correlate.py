"""Sigma correlations on event time: sliding windows per group.

Every group (the values of ``group-by``) keeps only what its window needs: the hits of the last
``timespan`` (time, counted value and the extent they contribute), distinct-value counts, and for
temporal rules the time each referenced rule was last seen. Expired hits are dropped as new ones
arrive, so state lives exactly as long as its window; groups idle for longer than their window
are swept by the engine.

A group whose condition holds raises a `Finding`; further hits while it holds (or within one
window of its last hit) update that finding instead of raising another.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from apiwatch.detect.findings import Finding, Hit
from apiwatch.detect.rules import CorrelationRule

__all__ = ["CorrelationState", "GroupWindow"]

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gte": operator.ge,
    "gt": operator.gt,
    "eq": operator.eq,
}


class GroupWindow:
    """One group's sliding window."""

    __slots__ = ("counts", "finding", "head", "hits", "last", "starts", "total")

    def __init__(self) -> None:
        self.hits: list[tuple[float, Any, Hit]] = []
        self.head = 0
        self.counts: dict[Any, int] = {}
        self.total = 0.0
        self.last = 0.0
        self.finding: Finding | None = None
        self.starts: list[float | None] = []

    def live(self) -> list[tuple[float, Any, Hit]]:
        return self.hits[self.head :]

    def expire(self, horizon: float, track_values: bool, sums: bool) -> None:
        hits = self.hits
        head = self.head
        end = len(hits)
        while head < end and hits[head][0] < horizon:
            _, value, _ = hits[head]
            if track_values:
                left = self.counts[value] - 1
                if left:
                    self.counts[value] = left
                else:
                    del self.counts[value]
            if sums:
                self.total -= value
            head += 1
        if head > 64 and head * 2 > end:  # noqa: PLR2004 - compact once mostly dead
            del hits[:head]
            head = 0
        self.head = head

    def size(self) -> int:
        return len(self.hits) - self.head


class CorrelationState:
    """All groups of one correlation rule."""

    def __init__(self, rule: CorrelationRule) -> None:
        self.rule = rule
        self.groups: dict[tuple[Any, ...], GroupWindow] = {}
        self.compare = _COMPARE[rule.op]
        self.track_values = rule.type == "value_count"
        self.sums = rule.type in {"value_sum", "value_avg"}
        self.temporal = rule.type.startswith("temporal")
        self.ordered = rule.type == "temporal_ordered"

    def group_of(self, hit: Hit, ref: str) -> tuple[Any, ...] | None:
        values = hit.values
        key = []
        for name in self.rule.group_by:
            alias = self.rule.aliases.get(name)
            field = alias.get(ref, name) if alias is not None else name
            value = values.get(field)
            if value is None:
                return None
            key.append(value)
        return tuple(key)

    def hit(self, hit: Hit, ref: str) -> Finding | None:
        """Count ``hit`` (of referenced rule ``ref``); the finding it raised or updated."""
        key = self.group_of(hit, ref)
        if key is None:
            return None
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = GroupWindow()
        rule = self.rule
        t = hit.t
        group.last = max(group.last, t)
        finding = group.finding
        if finding is not None and t - finding.last > rule.timespan:
            group.finding = finding = None
        if self.temporal:
            holds = self._temporal(group, hit, ref)
        else:
            holds = self._window(group, hit)
        if finding is not None:
            finding.absorb(hit)
            return finding
        if not holds:
            return None
        return self._fire(group, key, hit)

    def _window(self, group: GroupWindow, hit: Hit) -> bool:
        rule = self.rule
        value: Any = None
        if self.track_values or self.sums:
            value = hit.values.get(rule.field)
            if value is None:
                return False
            if self.sums:
                if not isinstance(value, int | float):
                    return False
                group.total += value
            else:
                group.counts[value] = group.counts.get(value, 0) + 1
        group.hits.append((hit.t, value, hit))
        group.expire(hit.t - rule.timespan, self.track_values, self.sums)
        if self.track_values:
            measure: float = len(group.counts)
        elif rule.type == "value_sum":
            measure = group.total
        elif rule.type == "value_avg":
            measure = group.total / max(group.size(), 1)
        else:
            measure = group.size()
        return self.compare(measure, rule.count)

    def _temporal(self, group: GroupWindow, hit: Hit, ref: str) -> bool:
        rule = self.rule
        refs = rule.refs
        if not group.starts:
            group.starts = [None] * len(refs)
        group.hits.append((hit.t, None, hit))
        group.expire(hit.t - rule.timespan, False, False)
        horizon = hit.t - rule.timespan
        starts = group.starts
        for index, name in enumerate(refs):
            if name != ref:
                continue
            if not self.ordered or index == 0:
                starts[index] = hit.t if not self.ordered else hit.t
            else:
                before = starts[index - 1]
                if before is not None and before >= horizon:
                    starts[index] = before
        if self.ordered:
            done = starts[-1]
            return done is not None and done >= horizon
        return all(s is not None and s >= horizon for s in starts)

    def _fire(self, group: GroupWindow, key: tuple[Any, ...], hit: Hit) -> Finding:
        rule = self.rule
        live = group.live()
        first = live[0][0] if live else hit.t
        names = rule.group_by
        finding = Finding(rule.meta, {n: str(v) for n, v in zip(names, key, strict=True)}, hit.t,
                          first)  # fmt: skip
        for _, _, earlier in live:
            finding.absorb(earlier)
        if not live or live[-1][2] is not hit:
            finding.absorb(hit)
        group.finding = finding
        return finding

    def sweep(self, now: float) -> int:
        """Drop groups idle for longer than the window; how many were dropped."""
        span = self.rule.timespan
        dead = [k for k, g in self.groups.items() if now - g.last > span]
        for key in dead:
            del self.groups[key]
        return len(dead)
