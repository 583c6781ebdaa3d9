"""Golden cases: the runner compares one rule's alerts with the expected ones, and says how."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from apiwatch.detect.golden import CaseResult, find_cases, rules_without_cases, run_cases
from apiwatch.model import Event, encode_event
from tests.detect.helpers import correlation, detection, event, login, rules

IP, OTHER = "203.0.113.5", "198.51.100.7"
PROBE = detection("probe", "sel: {url.path|contains: /.env}\ncondition: sel")
FAIL = detection("fail", "sel: {apiwatch.login: fail}\ncondition: sel")
MANY = correlation("many", """
    type: event_count
    rules: [fail]
    group-by: [source.ip]
    timespan: 10m
    condition: {gte: 3}
    """).replace("correlation:", "apiwatch: {extent: [accounts]}\ncorrelation:")  # fmt: skip


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """A rules directory with a detection (probe), a silent base rule and a correlation (many)."""
    (tmp_path / "rules.yml").write_text(rules(PROBE, FAIL, MANY), encoding="utf-8")
    return tmp_path


def write_case(pack: Path, rule: str, name: str, events: list[Event], expected: Any) -> Path:
    folder = pack / "tests" / rule / name
    folder.mkdir(parents=True)
    (folder / "events.ndjson").write_bytes(b"".join(encode_event(e) + b"\n" for e in events))
    (folder / "expected.json").write_text(json.dumps(expected), encoding="utf-8")
    return folder


def probes(ip: str = IP, count: int = 2) -> list[Event]:
    return [event(t, ip=ip, path="/.env", status=404) for t in range(count)]


def result(pack: Path) -> CaseResult:
    (only,) = run_cases(pack)
    return only


def test_positive_and_negative_cases_pass(pack: Path) -> None:
    """A case passes when the rule raises exactly the expected alerts; [] when it raises none."""
    write_case(pack, "probe", "hit", probes(), [{"rule": "probe", "group": {"source.ip": IP},
                                                "count": 2, "attackers": [IP]}])  # fmt: skip
    write_case(pack, "probe", "quiet", [event(0, path="/index.html")], [])
    results = run_cases(pack)
    assert [(r.rule, r.case, r.passed, r.message) for r in results] == [
        ("probe", "hit", True, ""),
        ("probe", "quiet", True, ""),
    ]
    assert [c.id for c in find_cases(pack)] == ["probe/hit", "probe/quiet"]


def test_only_the_rule_under_test_is_compared(pack: Path) -> None:
    """Alerts of other rules on the same events do not make a case fail."""
    failing = [login(t, IP, f"u{t}", ok=False) for t in range(3)]
    write_case(
        pack,
        "probe",
        "busy",
        [*failing, *probes()],
        [{"rule": "probe", "group": {"source.ip": IP}}],
    )
    assert result(pack).passed


def test_a_differing_alert_is_described_field_by_field(pack: Path) -> None:
    """A mismatch names the alert and, per compared field, what was expected and what came."""
    expected = [{"rule": "probe", "group": {"source.ip": IP}, "count": 3, "attackers": [IP, OTHER]}]
    write_case(pack, "probe", "hit", probes(), expected)
    outcome = result(pack)
    assert not outcome.passed
    assert outcome.message.splitlines() == [
        f'~ alert probe {{"source.ip": "{IP}"}} differs:',
        "    count: expected 3, got 2",
        f"    attackers: expected 2, got 1; missing [{OTHER}]",
    ]
    assert str(outcome).startswith("probe/hit: FAILED\n")


def test_missing_and_unexpected_alerts_are_listed(pack: Path) -> None:
    """An expected alert not raised is a '-' line; a raised one not expected is a '+' line."""
    write_case(pack, "probe", "hit", probes(IP), [{"rule": "probe", "group": {"source.ip": OTHER}}])
    lines = result(pack).message.splitlines()
    assert lines[0] == f'- missing alert probe {{"source.ip": "{OTHER}"}}'
    assert lines[1].startswith(
        f'+ unexpected alert probe {{"source.ip": "{IP}"}}: count 2, attackers [{IP}]'
    )


def test_a_negative_case_fails_when_the_rule_fires(pack: Path) -> None:
    """An empty expected list means the rule must not fire at all."""
    write_case(pack, "probe", "quiet", probes(), [])
    outcome = result(pack)
    assert not outcome.passed
    assert outcome.message.startswith("+ unexpected alert probe")


def test_incident_extent_can_be_pinned(pack: Path) -> None:
    """The object form also compares the extent of the incidents holding the rule's alerts."""
    events = [*(login(t, IP, f"u{t}", ok=False) for t in range(3)), login(9, IP, "victim", ok=True)]
    alerts = [{"rule": "many", "group": {"source.ip": IP}}]
    right = [{"attackers": [IP], "accounts_compromised": ["victim"]}]
    wrong = [{"accounts_compromised": []}, {"attackers": []}]
    write_case(pack, "many", "takeover", events, {"alerts": alerts, "incidents": right})
    write_case(pack, "many", "wrong", events, {"alerts": alerts, "incidents": wrong})
    takeover, mismatch = run_cases(pack)
    assert takeover.passed, takeover.message
    assert mismatch.message.splitlines() == [
        "~ incidents: expected 2, got 1",
        "~ incident 0 (many) differs:",
        "    accounts_compromised: expected 0, got 1; extra [victim]",
    ]


@pytest.mark.parametrize(
    ("damage", "says"),
    [("no-events", "events.ndjson: cannot read"),
     ("bad-line", "events.ndjson: line 2: "),
     ("bad-json", "expected.json: not valid JSON"),
     ("unknown-key", "alerts[0]: unknown key 'cuont'"),
     ("other-rule", "rule 'many' is not the rule under test 'probe'")],
)  # fmt: skip
def test_broken_case_files_fail_with_a_message_naming_the_file(
    pack: Path, damage: str, says: str
) -> None:
    """Unreadable or malformed case files fail the case, saying which file and what is wrong."""
    expected: Any = [{"rule": "probe", "group": {"source.ip": IP}}]
    if damage == "unknown-key":
        expected[0]["cuont"] = 2
    if damage == "other-rule":
        expected[0]["rule"] = "many"
    folder = write_case(pack, "probe", damage, probes(), expected)
    if damage == "no-events":
        (folder / "events.ndjson").unlink()
    if damage == "bad-line":
        (folder / "events.ndjson").write_text('{"event": {"action": "x"}}\n{"source": 5}\n')
    if damage == "bad-json":
        (folder / "expected.json").write_text("[{")
    outcome = result(pack)
    assert not outcome.passed
    assert says in outcome.message


def test_a_case_for_an_unknown_rule_fails(pack: Path) -> None:
    """A case directory must be named after a loaded rule."""
    write_case(pack, "nosuch", "x", probes(), [])
    assert result(pack).message == "no rule 'nosuch' is loaded (the directory names the rule)"


def test_rules_without_cases_lists_alerting_rules_lacking_a_positive_case(pack: Path) -> None:
    """Rules that raise alerts need a positive case; rules that only feed correlations do not."""
    assert rules_without_cases(pack) == ["many", "probe"]
    write_case(pack, "probe", "quiet", [], [])
    assert rules_without_cases(pack) == ["many", "probe"]
    write_case(pack, "probe", "hit", probes(), [{"rule": "probe", "group": {"source.ip": IP}}])
    assert rules_without_cases(pack) == ["many"]
