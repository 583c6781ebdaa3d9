"""Detect shards: which events and which rules each ``--role detect --shard I/M`` process runs.

The partition key is the event's **source home**: the address for IPv4, its /64 for IPv6
(`apiwatch.detect.behaviour.home`, the unit the login memory and the /64 aggregate rules already
use). It is read from the row's clear ``source_ip`` column, so a shard skips the rows of other
shards without decrypting them. Rules split in two (`split_rules`):

* **per-source rules**: detections and correlations grouped by ``source.ip`` or
  ``apiwatch.net64`` only (and chained only on such rules). Each shard runs them on the events
  whose source it owns: every group is whole in one shard.
* **population rules**: everything else (grouped by account, token, actor or route; the
  all-traffic baselines; the silence rules), with the detections they reference. Shard 1 (the
  *population shard*) runs them on every event of the stream, in an engine of its own: their
  counts are those of the whole population, as one engine's. With 3 shards or more it owns no
  sources (`shard_of`): the population rules on every event cost about what two shards' share
  of the per-source rules does.

So every alert of a sharded run is the alert one engine raises (same id, group, count, times).
Incidents: each engine groups its own alerts. An attacker named both by a per-source rule and by
a population rule (a source in a distributed stuffing that also sprays on its own) is one
incident in one engine, and two in a sharded run (docs/scaling.md). With ``M = 1`` the one
shard runs the whole pack in one engine: the unsharded detect role.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, replace

from apiwatch.detect import RuleSet
from apiwatch.detect.rules import CorrelationRule, DetectionRule, Rule
from apiwatch.model import ConfigError

__all__ = ["Shard", "parse_shard", "shard_of", "split_rules"]

_SOURCE_KEYS = frozenset({"source.ip", "apiwatch.net64"})
_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"
_POPULATION_ALONE = 3  # from this many shards, shard 1 owns no sources
_SHARD = re.compile(r"([1-9][0-9]*)/([1-9][0-9]*)")


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int = 1
    count: int = 1

    @property
    def durable(self) -> str:
        """This shard's durable consumer of the stream (``detect`` when unsharded)."""
        return "detect" if self.count == 1 else f"detect-{self.index}-of-{self.count}"

    @property
    def population(self) -> bool:
        """Whether this shard runs the population rules (shard 1 of a sharded run)."""
        return self.count > 1 and self.index == 1

    def owns(self, source_ip: bytes | None) -> bool:
        """Whether the event whose clear ``source_ip`` column (16 bytes, IPv4 mapped) this is
        belongs to this shard (`shard_of`)."""
        if self.count == 1:
            return True
        return shard_of(source_ip, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(source_ip: bytes | None, count: int) -> int:
    """The shard (1-based) of the events from ``source_ip`` (a clear ``source_ip`` column):
    with 2 shards, 1 or 2; with 3 or more, 2 to ``count``, shard 1 running the population rules
    alone (they cost about what the per-source rules of two shards do). An event without a
    source goes to the first shard that owns sources."""
    first = 1 if count < _POPULATION_ALONE else 2
    if not source_ip:
        return first
    home = source_ip if source_ip[:12] == _V4_MAPPED else source_ip[:8]
    return zlib.crc32(home) % (count - first + 1) + first


def parse_shard(text: str) -> Shard:
    """``I/M`` (1 <= I <= M) as a `Shard`; `ConfigError` otherwise."""
    match = _SHARD.fullmatch(text.strip())
    if match is None or int(match[1]) > int(match[2]):
        raise ConfigError(f"detect_shard: {text!r} must be I/M with 1 <= I <= M, e.g. 1/2")
    return Shard(int(match[1]), int(match[2]))


def split_rules(ruleset: RuleSet) -> tuple[RuleSet, RuleSet]:
    """``(per-source rules, population rules)`` of ``ruleset`` (the module docstring); a
    detection both kinds reference is in both."""
    rules = ruleset.rules
    known: dict[str, bool] = {}
    per_source = {k: r for k, r in rules.items() if _per_source(k, rules, known)}
    population = {k: r for k, r in rules.items() if k not in per_source}
    for key in list(population):
        _add_refs(key, rules, population)
    for key, rule in population.items():
        if key in per_source and isinstance(rule, DetectionRule):
            # Its own alerts are the per-source shards': here it only feeds population rules.
            population[key] = replace(rule, generate=False)
    return _subset(ruleset, per_source), _subset(ruleset, population)


def _per_source(key: str, rules: dict[str, Rule], known: dict[str, bool]) -> bool:
    if key in known:
        return known[key]
    known[key] = False  # a reference cycle is no per-source chain
    rule = rules.get(key)
    if isinstance(rule, DetectionRule):
        verdict = set(rule.group_by) <= _SOURCE_KEYS
    elif isinstance(rule, CorrelationRule):
        verdict = set(rule.group_by) <= _SOURCE_KEYS and all(
            _per_source(ref, rules, known) for ref in rule.refs
        )
    else:  # baselines and silences measure the whole population
        verdict = False
    known[key] = verdict
    return verdict


def _add_refs(key: str, rules: dict[str, Rule], into: dict[str, Rule]) -> None:
    """Add the rules ``key`` references (directly or through others) to ``into``."""
    rule = rules[key]
    for ref in (*getattr(rule, "refs", ()), *getattr(rule, "of", ())):
        if ref in rules and ref not in into:
            into[ref] = rules[ref]
            _add_refs(ref, rules, into)


def _subset(ruleset: RuleSet, keep: dict[str, Rule]) -> RuleSet:
    # In the pack's own order: the engine wires rules in that order.
    return RuleSet(
        rules={k: keep[k] for k in ruleset.rules if k in keep},
        files=ruleset.files,
        documents=ruleset.documents,
    )
