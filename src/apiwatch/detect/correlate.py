"""Sigma correlations on event time: sliding windows per group.

Every group (the values of ``group-by``) keeps only what its window needs:

- ``event_count``: the hit times of the last ``timespan``;
- ``value_count``: each distinct value with the hit it was last seen in, in recency order
  (so expiry pops from the front and memory is one entry per distinct value, however many hits);
- ``value_sum``/``value_avg``/``value_percentile``/``value_median``: hit times and values
  (percentiles sort the window's values when a hit arrives: meant for per-source windows);
- ``temporal``/``temporal_ordered``: when each referenced rule was last seen (and, ordered, the
  start of the chain that reached it).

Groups other than ``value_count`` ones also keep their last `RECENT` hits, the extent (sources,
accounts, user agents, objects) an alert starts with. Expired entries are dropped as hits
arrive; groups idle for longer than their window are swept by the engine. A group whose
condition holds raises a `Finding`; further hits while it is active (within one window of its
last hit) update that finding.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Final

from apiwatch.detect.behaviour import CREDENTIALS
from apiwatch.detect.findings import Finding, Hit
from apiwatch.detect.rules import CorrelationRule

__all__ = ["RECENT", "CorrelationState", "GroupWindow", "percentile"]

RECENT: Final = 16

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gte": operator.ge,
    "gt": operator.gt,
    "eq": operator.eq,
    "lt": operator.lt,
    "lte": operator.le,
}
_RANKED = frozenset({"value_percentile", "value_median"})


def percentile(values: list[float], rank: float) -> float:
    """The ``rank``-th percentile of ``values`` (not empty), linearly interpolated between the
    closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * rank / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


_NO_TIMES: Final[list[float]] = []
_NO_SEEN: Final[dict[Any, Hit]] = {}


class GroupWindow:
    """One group's sliding window. A group of a ``value_count`` rule never keeps times, one of
    the other rules never keeps values seen: those start as the shared empty `_NO_TIMES` and
    `_NO_SEEN` (never written to), replaced by the group's own on its first write."""

    __slots__ = (
        "finding",
        "head",
        "last",
        "marked",
        "newest",
        "recent",
        "seen",
        "starts",
        "times",
        "total",
        "values",
    )

    def __init__(self) -> None:
        self.times: list[float] = _NO_TIMES
        self.head = 0
        self.values: list[float] = _NO_TIMES
        self.total = 0.0
        self.seen: dict[Any, Hit] = _NO_SEEN
        self.starts: list[float | None] = _NO_TIMES  # type: ignore[assignment]
        self.recent: list[Hit] | None = None
        self.last = 0.0
        self.finding: Finding | None = None
        self.marked: set[Any] | None = None  # values counted towards a ``share``
        self.newest: Any = None  # the last key of ``seen``

    def expire_times(self, horizon: float, sums: bool) -> None:
        times = self.times
        head = self.head
        end = len(times)
        while head < end and times[head] < horizon:
            if sums:
                self.total -= self.values[head]
            head += 1
        if head > 64 and head * 2 > end:
            del times[:head]
            if sums:
                del self.values[:head]
            head = 0
        self.head = head

    def first_time(self) -> float | None:
        if self.head < len(self.times):
            return self.times[self.head]
        if self.seen:
            return min(hit.t for hit in self.seen.values())
        return self.recent[0].t if self.recent else None

    def remember(self, hit: Hit) -> None:
        """Keep the last `RECENT` hits (a list made on first use: most groups never need one)."""
        recent = self.recent
        if recent is None:
            self.recent = [hit]
            return
        recent.append(hit)
        if len(recent) > RECENT:
            del recent[0]

    def size(self) -> int:
        return len(self.times) - self.head + len(self.seen)


Crowded = Callable[[str, float], bool]
"""``crowded(network, t)``: whether a network carries a crowd of ordinary users at ``t``."""

Victim = Callable[[str, str], bool]
"""``victim(credential, ip)``: whether ``ip`` belongs to the owner of a token or session
(`LoginMemory.victim`)."""


class CorrelationState:
    """All groups of one correlation rule.

    A rule with ``min_sources`` above one (the /64 aggregate of a per-source rule) fires only
    when that many distinct addresses are among the group's hits; one given ``crowded`` never
    fires for a group whose ``apiwatch.net64`` it says is a crowd of ordinary users. One given
    ``victim`` and grouped by a token or session (``token-many-ips``) never names its owner's
    addresses attackers: they are the victim's.
    """

    def __init__(
        self, rule: CorrelationRule, crowded: Crowded | None = None, victim: Victim | None = None
    ) -> None:
        self.rule = rule
        self.crowded = crowded
        credential = next((i for i, name in enumerate(rule.group_by) if name in CREDENTIALS), None)
        self.victim = victim if credential is not None else None
        self.credential = credential or 0
        self.groups: dict[tuple[Any, ...], GroupWindow] = {}
        self.compare = _COMPARE[rule.op]
        self.distinct = rule.type == "value_count"
        self.sums = rule.type in {"value_sum", "value_avg"} or rule.type in _RANKED
        self.upper = None if rule.upper is None else (_COMPARE[rule.upper[0]], rule.upper[1])
        self.temporal = rule.type.startswith("temporal")
        self.ordered = rule.type == "temporal_ordered"
        self.aliased = bool(rule.aliases)
        # The one field of the usual group (a source, an account): its key without a loop.
        self.only = rule.group_by[0] if len(rule.group_by) == 1 and not self.aliased else None
        # What every hit reads of the rule, held here: an attribute less per read.
        self.timespan = rule.timespan
        self.field = rule.field
        self.count = rule.count

    def group_of(self, hit: Hit, ref: str) -> tuple[Any, ...] | None:
        values = hit.values
        if self.only is not None:
            value = values.get(self.only)
            return None if value is None else (value,)
        if not self.aliased:
            key = tuple(values.get(name) for name in self.rule.group_by)
            return None if None in key else key
        out = []
        for name in self.rule.group_by:
            alias = self.rule.aliases.get(name)
            value = values.get(alias.get(ref, name) if alias is not None else name)
            if value is None:
                return None
            out.append(value)
        return tuple(out)

    def hit(self, hit: Hit, ref: str) -> Finding | None:
        """Count ``hit`` (of referenced rule ``ref``); the finding it raised or updated."""
        only = self.only
        if only is not None:  # the usual group, by one field: its key without a call
            value = hit.values.get(only)
            if value is None:
                return None
            key: tuple[Any, ...] = (value,)
        else:
            grouped = self.group_of(hit, ref)
            if grouped is None:
                return None
            key = grouped
        groups = self.groups
        group = groups.get(key)
        if group is None:
            group = groups[key] = GroupWindow()
        t = hit.t
        if t > group.last:  # noqa: PLR1730 - a compare, not a call, per hit
            group.last = t
        finding = group.finding
        if finding is not None and t - finding.last > self.timespan:
            group.finding = finding = None
        if self.distinct:
            holds = self._distinct(group, hit, t - self.timespan)
        else:
            holds = self._temporal(group, t, ref) if self.temporal else self._window(group, hit)
            group.remember(hit)
        if finding is not None:
            finding.absorb(hit, attacker=self._names(hit, ref, key))
            return finding
        if not holds or (self.crowded is not None and not self._network_allows(group, key, hit)):
            return None
        return self._fire(group, key, hit, ref)

    def _names(self, hit: Hit, ref: str, key: tuple[Any, ...]) -> bool:
        """Whether ``hit``'s source is an attacker of group ``key``'s finding: as the rule says
        (`names_attacker`), and never the victim of a stolen credential."""
        return self.names_attacker(hit, ref) and not self._victim(hit, key)

    def _victim(self, hit: Hit, key: tuple[Any, ...]) -> bool:
        """Whether ``hit`` came from the owner of the credential the group is about."""
        victim = self.victim
        return (
            victim is not None and hit.ip is not None and victim(str(key[self.credential]), hit.ip)
        )

    def _network_allows(self, group: GroupWindow, key: tuple[Any, ...], hit: Hit) -> bool:
        """Whether a /64 aggregate may fire: enough addresses took part, and no crowd."""
        rule = self.rule
        if rule.min_sources > 1:
            hits = list(group.seen.values()) if self.distinct else group.recent or []
            if len({h.ip for h in hits} | {hit.ip}) < rule.min_sources:
                return False
        if self.crowded is None or "apiwatch.net64" not in rule.group_by:
            return True
        net = key[rule.group_by.index("apiwatch.net64")]
        return not self.crowded(str(net), hit.t)

    def names_attacker(self, hit: Hit, ref: str) -> bool:
        """Whether ``hit``'s source is an attacker of this rule's finding. The plain event that
        closes an ordered sequence (the successful login after a brute force against an account)
        may come from the account's owner, so it names no attacker unless the sequence is
        grouped by source; the steps before it, and chained findings, do."""
        return (
            not self.ordered
            or hit.alert is not None
            or ref != self.rule.refs[-1]
            or "source.ip" in self.rule.group_by
            or "apiwatch.net64" in self.rule.group_by
        )

    def _window(self, group: GroupWindow, hit: Hit) -> bool:
        """Count ``hit`` in a window of hit times (every type but ``value_count`` and the
        temporal ones); whether the condition holds."""
        if not self.sums:
            return self._count(group, hit.t)
        rule = self.rule
        horizon = hit.t - rule.timespan
        number = hit.values.get(rule.field)
        if not isinstance(number, int | float) or isinstance(number, bool):
            return False
        if group.values is _NO_TIMES:
            group.values = []
        group.values.append(float(number))
        group.total += number
        if group.times is _NO_TIMES:
            group.times = []
        group.times.append(hit.t)
        group.expire_times(horizon, sums=True)
        live = len(group.times) - group.head
        if rule.type == "value_sum":
            measure: float = group.total
        elif rule.type == "value_avg":
            measure = group.total / max(live, 1)
        elif rule.type in _RANKED:
            measure = percentile(group.values[group.head :], rule.percentile)
        else:
            measure = float(live)
        return self.holds(measure)

    def _count(self, group: GroupWindow, t: float) -> bool:
        """`_window` for ``event_count``, with `GroupWindow.expire_times` and `holds` inline."""
        times = group.times
        if times is _NO_TIMES:
            times = group.times = []
        times.append(t)
        horizon = t - self.timespan
        head = group.head
        end = len(times)
        while head < end and times[head] < horizon:
            head += 1
        if head > 64 and head * 2 > end:
            del times[:head]
            head = 0
        group.head = head
        live = len(times) - head
        upper = self.upper
        if upper is not None and not upper[0](live, upper[1]):
            return False
        return self.compare(live, self.count)

    def _distinct(self, group: GroupWindow, hit: Hit, horizon: float) -> bool:
        value = hit.values.get(self.field)
        if value is None:
            return False
        seen = group.seen
        if seen is _NO_SEEN:
            seen = group.seen = {value: hit}
        elif value == group.newest:  # the most recent value again: already last in order
            seen[value] = hit
        else:  # moved last: ``seen`` stays in order of last hit
            seen.pop(value, None)
            seen[value] = hit
        group.newest = value
        share = self.rule.share
        if share is not None:
            self._mark(group, value, hit)
        distinct = len(seen)
        if distinct > 1:  # a lone value is this hit's own, within the window
            # Expire the values last seen before the window, oldest first: ``value`` is within
            # it, so the loop ends there at the latest.
            marked = group.marked
            while seen:
                oldest = next(iter(seen))
                if seen[oldest].t >= horizon:
                    break
                del seen[oldest]
                if marked is not None:
                    marked.discard(oldest)
            distinct = len(seen)
        upper = self.upper
        if upper is not None and not upper[0](distinct, upper[1]):
            return False
        if not self.compare(distinct, self.count):
            return False
        return share is None or len(group.marked or ()) >= share[2] * distinct

    def _mark(self, group: GroupWindow, value: Any, hit: Hit) -> None:
        """Whether ``value`` counts towards the rule's ``share``: its latest hit decides."""
        share_field, wanted, _ = self.rule.share  # type: ignore[misc]
        marked = group.marked
        if marked is None:
            marked = group.marked = set()
        if hit.values.get(share_field) == wanted:
            marked.add(value)
        else:
            marked.discard(value)

    def holds(self, measure: float) -> bool:
        """The condition on ``measure``: its bound, and a range's upper bound."""
        upper = self.upper
        if upper is not None and not upper[0](measure, upper[1]):
            return False
        return self.compare(measure, self.rule.count)

    def _temporal(self, group: GroupWindow, t: float, ref: str) -> bool:
        rule = self.rule
        refs = rule.refs
        if not group.starts:
            group.starts = [None] * len(refs)
        horizon = t - rule.timespan
        starts = group.starts
        for index, name in enumerate(refs):
            if name != ref:
                continue
            if not self.ordered or index == 0:
                starts[index] = t
            else:
                before = starts[index - 1]
                if before is not None and before >= horizon:
                    starts[index] = before
        if self.ordered:
            done = starts[-1]
            return done is not None and done >= horizon
        return all(s is not None and s >= horizon for s in starts)

    def _fire(self, group: GroupWindow, key: tuple[Any, ...], hit: Hit, ref: str) -> Finding:
        rule = self.rule
        first = group.first_time()
        names = rule.group_by
        group_values = {n: str(v) for n, v in zip(names, key, strict=True)}
        finding = Finding(rule.meta, group_values, hit.t, hit.t if first is None else first)
        if self.distinct:
            earlier = list(group.seen.values())
        else:
            # Only hits of the current window (for an ordered chain, from its first step): the
            # owner's own login before a brute force is no part of the attack.
            begin = hit.t - rule.timespan
            if self.ordered and group.starts and group.starts[-1] is not None:
                begin = max(begin, group.starts[-1])
            earlier = [h for h in group.recent or () if h.t >= begin]
        for past in earlier:
            if past is not hit:
                finding.absorb(past, attacker=not self._victim(past, key))
        finding.absorb(hit, attacker=self._names(hit, ref, key))
        if self.distinct:
            finding.count = max(finding.count, len(group.seen))
        else:
            finding.count = max(finding.count, len(group.times) - group.head)
        group.finding = finding
        return finding

    def sweep(self, now: float) -> int:
        """Drop groups idle for longer than the window; how many were dropped."""
        if not self.groups:
            return 0
        span = self.rule.timespan
        dead = [k for k, g in self.groups.items() if now - g.last > span]
        for key in dead:
            del self.groups[key]
        return len(dead)
