"""The built-in rule pack against its golden cases (``rules/builtin/tests/<rule>/<case>/``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apiwatch.detect import RuleSet, builtin_dir, load_rules
from apiwatch.detect.golden import Case, find_cases, rules_without_cases, run_case
from tests.rules import make_cases

CASES = find_cases(builtin_dir())
MAKE_CASES = Path(make_cases.__file__).resolve()


@pytest.fixture(scope="module")
def builtin() -> RuleSet:
    return load_rules([builtin_dir()])


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_builtin_rule_golden_case(case: Case, builtin: RuleSet) -> None:
    """pins each built-in rule's alerts (or silence) and incident extent on its golden case."""
    outcome = run_case(case, builtin)
    assert outcome.passed, f"{case.path}\n{outcome.message}"


def test_every_alerting_rule_has_a_positive_case(builtin: RuleSet) -> None:
    """pins that every built-in rule that raises alerts has a case in which it must fire."""
    assert rules_without_cases(builtin_dir(), builtin) == []


def test_every_alerting_rule_has_a_negative_case(builtin: RuleSet) -> None:
    """pins that every built-in rule that raises alerts has a case in which it must stay silent."""
    negative = {
        case.rule for case in CASES if json.loads((case.path / "expected.json").read_text()) == []
    }
    alerting = {key for key, rule in builtin.rules.items() if rule.generate}
    assert sorted(alerting - negative) == []


def test_cases_are_what_make_cases_writes(tmp_path: Path) -> None:
    """pins that the committed cases are exactly what make_cases.py writes (rerun it on change)."""
    written = make_cases.write_all(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(
        c.id for c in CASES
    )
    for case in CASES:
        for name in ("events.ndjson", "expected.json"):
            fresh = (tmp_path / case.id / name).read_bytes()
            assert fresh == (case.path / name).read_bytes(), f"{case.id}/{name}: rerun {MAKE_CASES}"
