"""Rule objects: what the loader builds from YAML and the engine runs.

Four kinds share `RuleMeta`:

- `DetectionRule`: a Sigma detection, compiled to a matcher. It raises alerts itself unless a
  correlation references it (Sigma's ``generate: false`` default), one alert per group
  (``source.ip`` unless ``apiwatch.group-by`` says otherwise) per ``apiwatch.suppress`` window.
- `CorrelationRule`: a Sigma correlation (``event_count``, ``value_count``, ``value_sum``,
  ``value_avg``, ``value_percentile``, ``value_median``, ``temporal``, ``temporal_ordered``) over
  detections or other correlations; its condition is one bound (``op`` ``count``) or a range
  (a lower bound and ``upper``, e.g. ``gt: 10`` with ``lte: 100``).
- `BaselineRule`, `SilenceRule` and `ReplayRule`: apiwatch extensions (documented in
  docs/detection.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field
from typing import Any

from apiwatch.detect.matcher import Matcher

__all__ = [
    "BaselineRule",
    "CorrelationRule",
    "DetectionRule",
    "Problem",
    "ReplayRule",
    "Rule",
    "RuleMeta",
    "SilenceRule",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """A rule file problem: ``kind`` is ``error`` (the file is wrong) or ``unsupported`` (valid
    Sigma this engine cannot evaluate; the rule is left out and reported, never silently)."""

    path: str
    line: int
    key: str
    message: str
    kind: str = "error"
    rule: str = ""

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        key = f" [{self.key}]" if self.key else ""
        rule = f" ({self.rule})" if self.rule else ""
        return f"{where}{key}: {self.kind}: {self.message}{rule}"


@dataclass(frozen=True, slots=True)
class RuleMeta:
    """What every rule has: identity, level, tags, where it came from, apiwatch options."""

    id: str
    name: str
    title: str
    level: str
    path: str
    line: int = 0
    refs_line: int = 0  # the line of ``rules:`` (correlations and extensions)
    description: str = ""
    tags: tuple[str, ...] = ()
    attack: str = ""
    extent: tuple[str, ...] = ()
    author: str = ""
    counted: str = ""  # the field a ``value_count`` correlation counts distinct values of

    @property
    def key(self) -> str:
        """How alerts and references name the rule: its ``name``, else its ``id``."""
        return self.name or self.id


@dataclass(slots=True)
class DetectionRule:
    meta: RuleMeta
    matcher: Matcher
    fields: frozenset[str]
    expression: str
    tree: Any = None
    group_by: tuple[str, ...] = ("source.ip",)
    suppress: float = 600.0
    generate: bool = True


@dataclass(slots=True)
class CorrelationRule:
    meta: RuleMeta
    type: str
    refs: tuple[str, ...]
    group_by: tuple[str, ...]
    timespan: float
    op: str
    count: float
    field: str = ""
    aliases: dict[str, dict[str, str]] = _field(default_factory=dict)
    upper: tuple[str, float] | None = None  # a range's upper bound: ("lt" | "lte", value)
    percentile: float = 50.0  # value_percentile's (value_median is the 50th)
    generate: bool = True
    generate_refs: bool = False  # Sigma's ``generate``: referenced rules raise alerts too
    # apiwatch ``share``: (field, value, minimum): of the distinct values counted, at least this
    # share must have last been seen on a hit whose ``field`` equals ``value``.
    share: tuple[str, Any, float] | None = None
    # Set on the /64 aggregate the engine adds beside a per-source rule: it fires only when
    # that many distinct addresses took part.
    min_sources: int = 1


@dataclass(slots=True)
class BaselineRule:
    """All-traffic measure against its own trailing baseline (apiwatch extension).

    ``measure`` is ``event_count`` (hits of ``refs``), ``value_count`` (distinct ``field`` among
    them) or ``ratio`` (hits of ``refs`` / hits of ``of``). The rule fires when the measure over
    the last ``timespan`` is at least ``minimum`` and at least ``factor`` times its median over
    the trailing ``baseline`` (``minimum_baseline`` stands in for a quieter past). It stays
    silent for its first ``warmup`` of event time, while it learns what normal looks like.
    Each source of a measured hit during the anomaly is judged on its own evidence ``settle``
    after its last one (`apiwatch.detect.behaviour`).
    """

    meta: RuleMeta
    refs: tuple[str, ...]
    measure: str
    timespan: float
    baseline: float
    minimum: float
    factor: float
    field: str = ""
    of: tuple[str, ...] = ()
    minimum_baseline: float = 1.0
    min_events: int = 0
    warmup: float = 1800.0
    settle: float = 180.0  # how long after its last failure a candidate source is judged
    generate: bool = True


@dataclass(slots=True)
class SilenceRule:
    """A known source that stopped logging (apiwatch extension): per ``group_by`` value that
    sent at least ``min_events``, fire when event time passes its last event + ``interval``."""

    meta: RuleMeta
    group_by: str
    interval: float
    min_events: int = 10
    generate: bool = True
    only: str | None = None  # watch this one ``group_by`` value (a live source's silence rule)


@dataclass(slots=True)
class ReplayRule:
    """A bearer token or session cookie replayed from elsewhere while its owner keeps using it
    (apiwatch extension, `apiwatch.detect.replay`): hits of ``refs`` grouped by the credential
    field ``group_by``; an address on a network its owner never used it from, with another
    client, used it between two of its owner's uses within ``timespan``."""

    meta: RuleMeta
    refs: tuple[str, ...]
    group_by: str
    timespan: float = 1800.0
    generate: bool = True


Rule = DetectionRule | CorrelationRule | BaselineRule | SilenceRule | ReplayRule

Options = dict[str, Any]
