"""Rule loading: problems name the file, the line and the key; unsupported rules say why."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from apiwatch.detect import Problem, builtin_dir, load_rules, loader, sigmahq_dir
from tests.detect.helpers import correlation, detection, load, rules

BASE = detection("base", "sel: {url.path: /x}\ncondition: sel")


def counting(
    refs: str = "[base]",
    *,
    kind: str = "event_count",
    group_by: str = "[source.ip]",
    timespan: str = "10m",
    condition: str = "{gte: 3}",
) -> str:
    """The body of a correlation (by default: three hits of ``base`` per source in 10 minutes)."""
    return (
        f"type: {kind}\nrules: {refs}\ngroup-by: {group_by}\ntimespan: {timespan}\n"
        f"condition: {condition}"
    )


def only_problem(tmp_path: Path, text: str) -> Problem:
    ruleset = load(tmp_path, text, clean=False)
    (problem,) = ruleset.problems
    return problem


def test_the_builtin_pack_loads_without_problems() -> None:
    """Every rule of the built-in pack loads, with no error and nothing unsupported."""
    ruleset = load_rules([builtin_dir()])
    assert ruleset.problems == []
    assert len(ruleset.rules) >= 25


def test_a_bad_level_names_its_line_and_key(tmp_path: Path) -> None:
    """A level that is not a Sigma level is an error at the ``level`` line; the rule is left out."""
    text = detection("a", "sel: {url.path: /x}\ncondition: sel").replace(
        "detection:", "level: urgent\ndetection:"
    )
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.key, problem.kind, problem.rule) == (4, "level", "error", "a")
    assert "'urgent'" in problem.message
    assert problem.path.endswith("rules.yml")
    assert str(problem) == f"{problem.path}:4 [level]: error: {problem.message} (a)"


def test_an_unknown_field_is_unsupported_at_its_own_line(tmp_path: Path) -> None:
    """A field apiwatch's events never carry makes the rule unsupported, reported at that field."""
    text = detection("a", "sel:\n  url.path: /x\n  foo.bar: y\ncondition: sel")
    problem = only_problem(tmp_path, text)
    assert (problem.kind, problem.line, problem.key) == ("unsupported", 7, "detection.sel.foo.bar")
    assert "unknown field 'foo.bar'" in problem.message


def test_a_taxonomy_field_apiwatch_lacks_is_unsupported_with_the_reason(tmp_path: Path) -> None:
    """SigmaHQ fields apiwatch never logs (cookies) are unsupported, and the message says so."""
    text = detection("a", "sel:\n  cs-cookie|contains: session\ncondition: sel")
    problem = only_problem(tmp_path, text)
    assert (problem.kind, problem.key) == ("unsupported", "detection.sel.cs-cookie|contains")
    assert "not in apiwatch events" in problem.message


def test_a_bad_timespan_names_its_line(tmp_path: Path) -> None:
    """A correlation or baseline timespan that is not a duration is an error at its own line."""
    corr = correlation("c", counting(timespan="10x"))
    problem = only_problem(tmp_path, rules(BASE, corr))
    assert (problem.key, problem.line, problem.rule) == ("correlation.timespan", 14, "c")
    base = "title: b\nname: b\napiwatch:\n  type: baseline\n  rules: [base]\n  timespan: soon\n"
    problem = only_problem(tmp_path, rules(BASE, base))
    assert (problem.key, problem.line) == ("apiwatch.timespan", 13)
    assert "not a duration: 'soon'" in problem.message


def test_an_unknown_rule_reference_is_an_error(tmp_path: Path) -> None:
    """A correlation naming a rule that is not loaded is left out, reported at its `rules:` line."""
    corr = correlation("c", counting("[nosuch]"))
    ruleset = load(tmp_path, rules(BASE, corr), clean=False)
    (problem,) = ruleset.problems
    assert (problem.key, problem.line, problem.kind) == ("correlation.rules", 12, "error")
    assert "unknown rule 'nosuch'" in problem.message
    assert sorted(ruleset.rules) == ["base"]


def test_a_rule_on_a_rule_left_out_is_left_out_too(tmp_path: Path) -> None:
    """A chain on a correlation dropped for its own bad reference is reported, never half-loaded."""
    inner = correlation("inner", counting("[nosuch]"))
    outer = correlation(
        "outer", "type: temporal\nrules: [inner, base]\ngroup-by: [source.ip]\ntimespan: 10m"
    )
    ruleset = load(tmp_path, rules(outer, BASE, inner), clean=False)
    assert sorted(ruleset.rules) == ["base"]
    assert sorted(p.rule for p in ruleset.problems) == ["inner", "outer"]


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    """A file that is not YAML is one error, one line long, naming where the parser gave up."""
    problem = only_problem(tmp_path, "title: t\ndetection: [\n  sel: {\n")
    assert problem.line == 4
    assert problem.message.startswith("invalid YAML: ")
    assert "\n" not in str(problem)


def test_an_unknown_apiwatch_option_is_an_error(tmp_path: Path) -> None:
    """A misspelt option is reported at its line rather than silently meaning the default."""
    text = detection("a", "sel: {url.path: /x}\ncondition: sel", options="{supress: 5m}")
    problem = only_problem(tmp_path, text)
    assert (problem.key, problem.line, problem.kind) == ("apiwatch.supress", 4, "error")


@pytest.mark.parametrize(
    ("body", "key", "reason"),
    [(counting(condition="{lt: 3}"), "correlation.condition", "cannot fire on a stream"),
     (counting(group_by="[cs-cookie]"), "correlation.group-by", "unknown field 'cs-cookie'"),
     (counting(kind="value_count", condition="{gte: 3, field: foo}"),
      "correlation.condition.field", "unknown field 'foo'")],
)  # fmt: skip
def test_correlations_this_engine_cannot_run_are_unsupported(
    tmp_path: Path, body: str, key: str, reason: str
) -> None:
    """Valid Sigma correlations the engine cannot evaluate are left out as unsupported, with why."""
    problem = only_problem(tmp_path, rules(BASE, correlation("c", body)))
    assert (problem.kind, problem.key, problem.rule) == ("unsupported", key, "c")
    assert reason in problem.message


def test_libyaml_reads_every_pack_as_the_pure_python_parser_does() -> None:
    """The one-pass libyaml read gives the documents and key lines the two pure-Python passes
    give, for every rule file shipped (built-in and SigmaHQ packs)."""
    if loader._FAST_LOADER is None:
        pytest.skip("PyYAML was built without libyaml")
    files = [*Path(str(builtin_dir())).rglob("*.yml"), *Path(str(sigmahq_dir())).rglob("*.yml")]
    assert len(files) > 10
    for path in files:
        text = path.read_text(encoding="utf-8")
        pure = (list(yaml.safe_load_all(text)), loader._positions(text))
        assert loader._parse(text) == pure, path
