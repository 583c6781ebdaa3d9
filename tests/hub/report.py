"""Scan every CrowdSec hub test log and count match / partial / miss / unparsable.

``python -m tests.hub.report [--sigmahq] [--hub DIR] [--list]`` prints the table; the tests in
``tests/hub/`` assert on the same counts. The hub copy (its README defines the four verdicts) is
``$APIWATCH_CROWDSEC_HUB`` or ``../shared/crowdsec-hub`` next to the repository.

A test **matches** when every expected source address is an attacker of some incident raised on
its log and no other address is; **partial** when some are; **miss** when none are;
**unparsable** when the log's format is refused or none of its expected sources is recovered
from the parsed events. The scan is ``apiwatch scan``'s, in-process: the log read by
`apiwatch.sources.read_events` (format detected, so every format the sources learn counts
without a change here), the rules loaded by `load_rules`, one `Engine` per log.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from apiwatch.detect import Engine, RuleSet, builtin_dir, load_rules, parse_duration, sigmahq_dir
from apiwatch.model import ApiwatchError
from apiwatch.sources import read_events

__all__ = [
    "FAMILIES",
    "VERDICTS",
    "HubTest",
    "Outcome",
    "default_hub",
    "family",
    "load_hub",
    "main",
    "ruleset",
    "scan_test",
    "table",
]

VERDICTS = ("match", "partial", "miss", "unparsable")
FAMILIES = ("nginx/Apache HTTP", "other formats", "mail proxy")
_HTTP_TYPES = frozenset({"nginx", "apache2"})
_MAIL = frozenset({"nginx-mail-bf"})  # an nginx mail proxy's log: not HTTP traffic
_LATENESS = parse_duration("60s")  # apiwatch scan's default


def default_hub() -> Path:
    """Where the hub copy is: ``$APIWATCH_CROWDSEC_HUB``, else ``../shared/crowdsec-hub``."""
    if env := os.environ.get("APIWATCH_CROWDSEC_HUB"):
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "crowdsec-hub"


@dataclass(frozen=True)
class HubTest:
    """One hub test: its log and the attacker addresses CrowdSec's alerts name."""

    name: str
    log_type: str
    log: Path
    sources: frozenset[str]
    scenarios: tuple[str, ...]


@dataclass
class Outcome:
    """What apiwatch made of one hub test."""

    test: HubTest
    verdict: str
    flagged: set[str] = field(default_factory=set)
    rules: set[str] = field(default_factory=set)
    reason: str = ""

    @property
    def missed(self) -> set[str]:
        return set(self.test.sources) - self.flagged

    @property
    def extra(self) -> set[str]:
        return self.flagged - self.test.sources


def _canonical(address: str) -> str:
    """An address as apiwatch writes it (``2001:0db8::0001`` is ``2001:db8::1``)."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def load_hub(hub: Path) -> list[HubTest]:
    """The hub's tests from its ``expected.json``, by name."""
    expected = json.loads((hub / "expected.json").read_text())
    tests = []
    for name, entry in sorted(expected.items()):
        results = entry["results"]
        sources = frozenset(_canonical(ip) for result in results for ip in result["sources"])
        scenarios = tuple(sorted({result["scenario"] for result in results}))
        log = hub / "tests" / name / entry["log_file"]
        tests.append(HubTest(name, entry["log_type"], log, sources, scenarios))
    return tests


def family(test: HubTest) -> str:
    """Which row of the table a test counts in (`FAMILIES`)."""
    if test.name in _MAIL:
        return FAMILIES[2]
    return FAMILIES[0] if test.log_type in _HTTP_TYPES else FAMILIES[1]


def ruleset(*, sigmahq: bool = False) -> RuleSet:
    """The built-in pack (and SigmaHQ's web pack), as ``apiwatch scan [--sigmahq]`` loads it."""
    rules = load_rules([builtin_dir(), *([sigmahq_dir()] if sigmahq else [])])
    if rules.errors:
        raise SystemExit("rule errors:\n" + "\n".join(map(str, rules.errors)))
    return rules


def scan_test(test: HubTest, rules: RuleSet) -> Outcome:
    """Scan one hub test's log and give its verdict."""
    engine = Engine(rules, lateness=_LATENESS)
    seen: set[str] = set()
    try:
        for event in read_events(test.log):
            if event.source is not None and event.source.ip:
                seen.add(event.source.ip)
            engine.feed(event)
    except ApiwatchError as exc:
        return Outcome(test, "unparsable", reason=str(exc).splitlines()[0][:100])
    engine.flush()
    if not seen & test.sources:
        return Outcome(test, "unparsable", reason="no expected source address in the events")
    flagged: set[str] = set()
    rule_names: set[str] = set()
    for incident in engine.incidents():
        flagged.update(incident.attackers)
        rule_names.update(incident.rules)
    hit = flagged & test.sources
    if hit == test.sources and flagged <= test.sources:
        verdict = "match"
    elif hit:
        verdict = "partial"
    else:
        verdict = "miss"
    return Outcome(test, verdict, flagged, rule_names)


def table(outcomes: Iterable[Outcome]) -> str:
    """The counts per family and verdict, as plain text."""
    counts: Counter[tuple[str, str]] = Counter()
    totals: Counter[str] = Counter()
    for outcome in outcomes:
        row = family(outcome.test)
        counts[row, outcome.verdict] += 1
        totals[row] += 1
    head = f"{'CrowdSec hub tests':<20}{'tests':>7}" + "".join(f"{v:>12}" for v in VERDICTS)
    lines = [head, "-" * len(head)]
    for row in FAMILIES:
        cells = "".join(f"{counts[row, v]:>12}" for v in VERDICTS)
        lines.append(f"{row:<20}{totals[row]:>7}{cells}")
    return "\n".join(lines)


def describe(outcome: Outcome) -> str:
    """One line on a test that did not match: what was expected, what was flagged, by what."""
    text = f"{outcome.verdict:<10} {outcome.test.name} ({outcome.test.log_type})"
    if outcome.reason:
        return f"{text}: {outcome.reason}"
    parts = [f"missed {sorted(outcome.missed)}"] if outcome.missed else []
    if outcome.extra:
        parts.append(f"also flagged {sorted(outcome.extra)[:5]} by {sorted(outcome.rules)}")
    return f"{text}: {'; '.join(parts)}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.hub.report", description=__doc__)
    parser.add_argument("--hub", type=Path, default=None, help="the hub copy's directory")
    parser.add_argument("--sigmahq", action="store_true", help="also run the SigmaHQ web pack")
    parser.add_argument("--list", action="store_true", help="list every test not matching")
    args = parser.parse_args(argv)
    hub = args.hub or default_hub()
    if not (hub / "expected.json").is_file():
        raise SystemExit(f"no CrowdSec hub copy at {hub} (set APIWATCH_CROWDSEC_HUB)")
    rules = ruleset(sigmahq=args.sigmahq)
    outcomes = [scan_test(test, rules) for test in load_hub(hub)]
    print(table(outcomes))
    if args.list:
        for outcome in outcomes:
            if outcome.verdict != "match":
                print(f"  [{family(outcome.test)}] {describe(outcome)}")


if __name__ == "__main__":
    main()
