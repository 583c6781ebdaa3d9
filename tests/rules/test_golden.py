"""The built-in rule pack against its golden cases (``rules/builtin/tests/<rule>/<case>/``)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from apiwatch.detect import RuleSet, builtin_dir, load_rules
from apiwatch.detect.golden import Case, find_cases, rules_without_cases, run_case

CASES = find_cases(builtin_dir())
MAKE_CASES = builtin_dir() / "tests" / "make_cases.py"


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


def test_cases_are_what_make_cases_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pins that the committed cases are exactly what make_cases.py writes (rerun it on change)."""
    spec = importlib.util.spec_from_file_location("make_cases", MAKE_CASES)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_cases", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    written = module.write_all(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(
        c.id for c in CASES
    )
    for case in CASES:
        for name in ("events.ndjson", "expected.json"):
            fresh = (tmp_path / case.id / name).read_bytes()
            assert fresh == (case.path / name).read_bytes(), f"{case.id}/{name}: rerun {MAKE_CASES}"
