"""Golden cases: recorded events and the alerts one rule must raise on them.

For a rules directory ``DIR`` the cases live in ``DIR/tests/<rule-key>/<case-name>/``::

    events.ndjson   ECS NDJSON, one event a line (the sensor's or a log source's events)
    expected.json   the alerts the rule must raise on them

``expected.json`` is a JSON list of alerts ``{"rule": "<key>", "group": {...}}``, each with
optional ``count``, ``attackers``, ``accounts`` and ``objects`` compared exactly when given; an
empty list means the rule must not fire (a negative case). It may instead be an object
``{"alerts": [...], "incidents": [...]}`` whose incidents (those holding an alert of the rule,
oldest first) pin extent: ``accounts_compromised``, ``accounts_targeted``, ``attackers``,
``objects_exposed``, each compared exactly when given.

Every case runs on a fresh `Engine` with no reorder buffer over its events, then
`Engine.flush`; only alerts of the rule the case is filed under are compared. Pure apart from
reading the case files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from apiwatch.detect.engine import Engine
from apiwatch.detect.loader import RuleSet, load_rules
from apiwatch.model import ApiwatchError, Event, EventDecodeError, decode_ndjson
from apiwatch.model.alert import Alert, Incident

__all__ = ["Case", "CaseResult", "find_cases", "rules_without_cases", "run_case", "run_cases"]

EVENTS: Final = "events.ndjson"
EXPECTED: Final = "expected.json"

_ALERT_KEYS: Final = ("count", "attackers", "accounts", "objects")
_INCIDENT_KEYS: Final = (
    "accounts_compromised",
    "accounts_targeted",
    "attackers",
    "objects_exposed",
)
_SHOWN: Final = 8  # list items shown in a mismatch before "... N more"


@dataclass(frozen=True, slots=True)
class Case:
    """One golden case: the rule it tests, its name and its directory."""

    rule: str
    name: str
    path: Path

    @property
    def id(self) -> str:
        return f"{self.rule}/{self.name}"


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one case; ``message`` says what differed, line by line, when it failed."""

    rule: str
    case: str
    path: Path
    passed: bool
    message: str = ""

    def __str__(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        head = f"{self.rule}/{self.case}: {verdict}"
        return f"{head}\n{self.message}" if self.message else head


class _CaseError(ApiwatchError):
    """A case's files are unreadable or malformed; the message names the file and the place."""


@dataclass(slots=True)
class _Expected:
    alerts: list[dict[str, Any]]
    incidents: list[dict[str, Any]] | None = None
    problems: list[str] = field(default_factory=list)


def find_cases(rules_dir: Path) -> list[Case]:
    """Every case directory under ``rules_dir/tests``, sorted by rule then case name."""
    root = Path(rules_dir) / "tests"
    if not root.is_dir():
        return []
    return [
        Case(rule_dir.name, case_dir.name, case_dir)
        for rule_dir in _subdirs(root)
        for case_dir in _subdirs(rule_dir)
    ]


def _subdirs(path: Path) -> Iterator[Path]:
    for child in sorted(path.iterdir()):
        if child.is_dir() and not child.name.startswith((".", "_")):
            yield child


def run_cases(rules_dir: Path, *, ruleset: RuleSet | None = None) -> list[CaseResult]:
    """Run every case of ``rules_dir`` (rules loaded from it unless ``ruleset`` is given)."""
    rules = ruleset if ruleset is not None else load_rules([rules_dir])
    return [run_case(case, rules) for case in find_cases(rules_dir)]


def run_case(case: Case, ruleset: RuleSet) -> CaseResult:
    """Run one case on a fresh engine and compare the alerts of its rule with the expected."""
    if case.rule not in ruleset.rules:
        return _result(case, [f"no rule {case.rule!r} is loaded (the directory names the rule)"])
    try:
        expected = _read_expected(case)
        events = _read_events(case.path / EVENTS)
    except _CaseError as exc:
        return _result(case, [str(exc)])
    engine = Engine(ruleset, lateness=0)
    engine.feed_all(events)
    engine.flush()
    alerts = sorted(
        (alert for alert in engine.take_alerts() if alert.rule == case.rule),
        key=lambda a: (a.first_seen, a.id),
    )
    lines = list(expected.problems)
    lines += _compare_alerts(expected.alerts, alerts)
    if expected.incidents is not None:
        incidents = [i for i in engine.incidents() if case.rule in i.rules]
        lines += _compare_incidents(expected.incidents, incidents)
    return _result(case, lines)


def rules_without_cases(rules_dir: Path, ruleset: RuleSet | None = None) -> list[str]:
    """Keys of the rules that raise alerts but have no positive case (one expecting an alert)."""
    rules = ruleset if ruleset is not None else load_rules([rules_dir])
    covered = set()
    for case in find_cases(rules_dir):
        try:
            if _read_expected(case).alerts:
                covered.add(case.rule)
        except _CaseError:
            continue
    return sorted(key for key, rule in rules.rules.items() if rule.generate and key not in covered)


def _result(case: Case, lines: list[str]) -> CaseResult:
    return CaseResult(case.rule, case.name, case.path, not lines, "\n".join(lines))


# -- reading -----------------------------------------------------------------------------------


def _read_events(path: Path) -> list[Event]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _CaseError(f"{path}: cannot read: {exc.strerror or exc}") from None
    events = []
    for item in decode_ndjson(data):
        if isinstance(item, EventDecodeError):
            raise _CaseError(f"{path}: {item}")
        events.append(item)
    return events


def _read_expected(case: Case) -> _Expected:
    path = case.path / EXPECTED
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _CaseError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _CaseError(f"{path}: not valid JSON: {exc}") from None
    incidents: list[dict[str, Any]] | None = None
    if isinstance(doc, dict):
        unknown = sorted(set(doc) - {"alerts", "incidents"})
        if unknown:
            raise _CaseError(f"{path}: unknown key {unknown[0]!r} (alerts, incidents)")
        incidents = _objects(path, "incidents", doc.get("incidents", []), _INCIDENT_KEYS)
        doc = doc.get("alerts", [])
    alerts = _objects(path, "alerts", doc, ("rule", "group", *_ALERT_KEYS))
    expected = _Expected(alerts, incidents)
    for index, alert in enumerate(alerts):
        where = f"{path}: alerts[{index}]"
        if alert.get("rule") != case.rule:
            expected.problems.append(
                f"{where}: rule {alert.get('rule')!r} is not the rule under test {case.rule!r}"
            )
        if not isinstance(alert.get("group"), dict):
            raise _CaseError(f"{where}: 'group' must be an object of group-by values")
    return expected


def _objects(path: Path, what: str, value: Any, keys: Sequence[str]) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _CaseError(f"{path}: {what} must be a JSON list")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise _CaseError(f"{path}: {what}[{index}] must be an object")
        unknown = sorted(set(item) - set(keys))
        if unknown:
            raise _CaseError(
                f"{path}: {what}[{index}]: unknown key {unknown[0]!r} ({', '.join(keys)})"
            )
    return value


# -- comparing ---------------------------------------------------------------------------------


def _compare_alerts(expected: list[dict[str, Any]], actual: list[Alert]) -> list[str]:
    lines: list[str] = []
    left = list(actual)
    for want in expected:
        group = {str(k): str(v) for k, v in want["group"].items()}
        match = next((alert for alert in left if alert.group == group), None)
        label = f"alert {want['rule']} {_json(group)}"
        if match is None:
            lines.append(f"- missing {label}")
            continue
        left.remove(match)
        got = {
            "count": match.count,
            "attackers": match.attackers,
            "accounts": match.accounts,
            "objects": match.objects,
        }
        diffs = [_diff(key, want[key], got[key]) for key in _ALERT_KEYS if key in want]
        differing = [d for d in diffs if d]
        if differing:
            lines.append(f"~ {label} differs:")
            lines.extend(f"    {d}" for d in differing)
    lines.extend(f"+ unexpected {_describe(alert)}" for alert in left)
    return lines


def _compare_incidents(expected: list[dict[str, Any]], actual: list[Incident]) -> list[str]:
    lines: list[str] = []
    if len(expected) != len(actual):
        lines.append(f"~ incidents: expected {len(expected)}, got {len(actual)}")
    for index, (want, incident) in enumerate(zip(expected, actual, strict=False)):
        got: Mapping[str, Any] = {
            "accounts_compromised": incident.accounts_compromised,
            "accounts_targeted": incident.accounts_targeted,
            "attackers": incident.attackers,
            "objects_exposed": incident.objects_exposed,
        }
        diffs = [_diff(key, want[key], got[key]) for key in _INCIDENT_KEYS if key in want]
        differing = [d for d in diffs if d]
        if differing:
            lines.append(f"~ incident {index} ({incident.title}) differs:")
            lines.extend(f"    {d}" for d in differing)
    return lines


def _diff(key: str, want: Any, got: Any) -> str:
    """One line saying how ``got`` differs from ``want`` ("" when equal)."""
    if isinstance(want, list) and isinstance(got, list):
        if sorted(map(str, want)) == sorted(map(str, got)):
            return ""
        missing = sorted(set(map(str, want)) - set(map(str, got)))
        extra = sorted(set(map(str, got)) - set(map(str, want)))
        parts = [f"{key}: expected {len(want)}, got {len(got)}"]
        if missing:
            parts.append(f"missing {_short(missing)}")
        if extra:
            parts.append(f"extra {_short(extra)}")
        return "; ".join(parts)
    if want == got:
        return ""
    return f"{key}: expected {_json(want)}, got {_json(got)}"


def _describe(alert: Alert) -> str:
    return (
        f"alert {alert.rule} {_json(alert.group)}: count {alert.count}, "
        f"attackers {_short(alert.attackers)}, accounts {_short(alert.accounts)}, "
        f"first seen {alert.first_seen.isoformat()}"
    )


def _short(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    more = f", ... {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return f"[{shown}{more}]"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
