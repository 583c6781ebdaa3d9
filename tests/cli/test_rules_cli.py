"""``apiwatch rules lint`` and ``apiwatch rules test`` on the command line."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from apiwatch.cli import cli
from apiwatch.detect import load_rules, sigmahq_dir

BROKEN = {
    "yaml.yml": """\
        title: Not YAML
        name: not-yaml
          detection: {}
        """,
    "level.yml": """\
        title: Bad level
        name: bad-level
        logsource: {category: webserver}
        level: urgent
        detection:
          selection:
            url.path: /x
          condition: selection
        """,
    "correlations.yml": """\
        title: Base
        name: base
        logsource: {category: webserver}
        detection:
          selection:
            url.path: /x
          condition: selection
        ---
        title: Unknown reference
        name: unknown-ref
        correlation:
          type: event_count
          rules: [no-such-rule]
          group-by: [source.ip]
          timespan: 5m
          condition: {gte: 3}
        ---
        title: Bad timespan
        name: bad-span
        correlation:
          type: event_count
          rules: [base]
          group-by: [source.ip]
          timespan: 5 fortnights
          condition: {gte: 3}
        ---
        title: Unknown field
        name: unknown-field
        logsource: {category: webserver}
        detection:
          selection:
            http.request.body.bytes: 5
          condition: selection
        """,
}


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["rules", *map(str, args)])


def write_rules(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def problem_lines(output: str) -> dict[str, str]:
    """Each ``FILE:LINE [KEY]: kind: message`` line of a lint, by ``FILE:LINE [KEY]``."""
    found = {}
    for text in output.splitlines():
        match = re.match(r"^(\S+:\d+(?: \[[^\]]+\])?): (error|unsupported): ", text)
        if match:
            found[match.group(1)] = text
    return found


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "broken", BROKEN)


def test_lint_of_the_builtin_pack_is_clean() -> None:
    """`rules lint` with no directory lints the built-in pack: no problem, exit 0."""
    result = run("lint")
    assert result.exit_code == 0, result.output
    assert problem_lines(result.output) == {}
    assert re.search(r"\d+ rules loaded, 0 errors, 0 unsupported", result.output)


def test_lint_reports_each_problem_at_its_line_and_key(broken: Path) -> None:
    """Invalid YAML, a bad level, a bad timespan and an unknown field are each printed as
    FILE:LINE [KEY] with the line of the offending key, and the lint exits 1."""
    result = run("lint", broken)
    assert result.exit_code == 1
    lines = problem_lines(result.output)
    yaml_line = lines[f"{broken / 'yaml.yml'}:3"]
    assert "error: invalid YAML: mapping values are not allowed here" in yaml_line
    level = lines[f"{broken / 'level.yml'}:4 [level]"]
    assert "level 'urgent' is not one of" in level and "(bad-level)" in level
    span = lines[f"{broken / 'correlations.yml'}:24 [correlation.timespan]"]
    assert "error: invalid Sigma" in span and "5 fortnights" in span
    field = lines[f"{broken / 'correlations.yml'}:32 [detection.selection.http.request.body.bytes]"]
    assert "unsupported: cannot evaluate: unknown field 'http.request.body.bytes'" in field
    unknown = [text for text in lines.values() if "references unknown rule 'no-such-rule'" in text]
    assert len(unknown) == 1 and "[correlation.rules]" in unknown[0]
    assert len(lines) == 5
    assert "3 files, 5 documents, 1 rule loaded, 4 errors, 1 unsupported" in result.output


def test_lint_puts_an_unknown_reference_at_the_rules_key(broken: Path) -> None:
    """An unknown rule reference is reported at the line of its `correlation: rules:` key."""
    lines = problem_lines(run("lint", broken).output)
    assert f"{broken / 'correlations.yml'}:13 [correlation.rules]" in lines


def test_lint_with_the_builtin_pack_resolves_references_to_it(tmp_path: Path) -> None:
    """With --builtin a user correlation may reference a built-in rule; without, it is an error."""
    folder = write_rules(
        tmp_path / "mine",
        {
            "mine.yml": """\
                title: Failed logins on one route
                name: route-login-failures
                correlation:
                  type: event_count
                  rules: [login-failure]
                  group-by: [apiwatch.route]
                  timespan: 10m
                  condition: {gte: 50}
                """
        },
    )
    alone = run("lint", folder)
    assert alone.exit_code == 1
    assert "references unknown rule 'login-failure'" in alone.output
    together = run("lint", "--builtin", folder)
    assert together.exit_code == 0, together.output
    assert "0 errors" in together.output


def test_lint_sigmahq_lists_the_unsupported_rules_with_reasons() -> None:
    """--sigmahq lints the SigmaHQ pack too: each rule apiwatch cannot evaluate is printed with
    its file, line and reason, and the lint still exits 0."""
    result = run("lint", "--sigmahq")
    assert result.exit_code == 0, result.output
    expected = load_rules([sigmahq_dir()]).unsupported
    assert expected
    printed = [text for text in problem_lines(result.output).values() if ": unsupported: " in text]
    assert len(printed) == len(expected)
    for problem in expected:
        text = next(t for t in printed if t.startswith(f"{problem.path}:{problem.line} "))
        assert "cannot evaluate" in text and "is not in apiwatch events" in text
        assert f"({problem.rule})" in text
    assert f"0 errors, {len(expected)} unsupported" in result.output


def test_rules_test_runs_the_builtin_golden_cases() -> None:
    """`rules test` with no directory runs every built-in golden case; all pass, exit 0."""
    result = run("test")
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    match = re.search(r"(\d+) cases, 0 failed, 0 rules without a positive case", result.output)
    assert match and int(match.group(1)) >= 30
    assert result.output.count("pass ") == int(match.group(1))


def golden_dir(tmp_path: Path) -> Path:
    """Two rules: admin-probe with a case expecting the wrong source, env-probe with only a
    negative case."""
    folder = write_rules(
        tmp_path / "gold",
        {
            "probes.yml": """\
                title: Admin probe
                name: admin-probe
                level: medium
                logsource: {category: webserver}
                detection:
                  selection:
                    url.path|startswith: /admin
                  condition: selection
                ---
                title: Env probe
                name: env-probe
                level: medium
                logsource: {category: webserver}
                detection:
                  selection:
                    url.path|endswith: /.env
                  condition: selection
                """
        },
    )

    def case(rule: str, name: str, path: str, expected: object) -> None:
        where = folder / "tests" / rule / name
        where.mkdir(parents=True)
        event = {
            "@timestamp": "2026-11-02T08:00:00Z",
            "event": {"action": "http_request"},
            "source": {"ip": "203.0.113.5"},
            "url": {"path": path},
        }
        (where / "events.ndjson").write_text(json.dumps(event) + "\n", encoding="utf-8")
        (where / "expected.json").write_text(json.dumps(expected), encoding="utf-8")

    case(
        "admin-probe",
        "hit",
        "/admin/login",
        [{"rule": "admin-probe", "group": {"source.ip": "203.0.113.99"}}],
    )
    case("env-probe", "quiet", "/", [])
    return folder


def test_rules_test_shows_a_failing_case_with_its_diff(tmp_path: Path) -> None:
    """A failing golden case exits 1 with the missing and the unexpected alert spelled out, and a
    rule with only negative cases is reported as having no positive case."""
    result = run("test", golden_dir(tmp_path))
    assert result.exit_code == 1
    out = result.output
    assert "FAIL admin-probe/hit" in out
    assert '- missing alert admin-probe {"source.ip": "203.0.113.99"}' in out
    assert '+ unexpected alert admin-probe {"source.ip": "203.0.113.5"}: count 1' in out
    assert "pass env-probe/quiet" in out
    assert "no golden case for rule env-probe" in out
    assert "2 cases, 1 failed, 1 rule without a positive case" in out


def test_rules_test_counts_failures_per_directory(tmp_path: Path) -> None:
    """The summary of each directory counts its own failures: the clean built-in pack after a
    failing directory still reads 0 failed, and the exit code is 1."""
    from apiwatch.detect import builtin_dir

    result = run("test", golden_dir(tmp_path), builtin_dir())
    assert result.exit_code == 1
    summaries = [text for text in result.output.splitlines() if " cases, " in text]
    assert len(summaries) == 2
    assert summaries[0].endswith("2 cases, 1 failed, 1 rule without a positive case")
    assert summaries[1].startswith(str(builtin_dir()))
    assert ", 0 failed, 0 rules without a positive case" in summaries[1]


def test_rules_test_reports_rule_errors_instead_of_running(broken: Path) -> None:
    """A directory whose rules do not load is reported problem by problem and fails (exit 1)."""
    result = run("test", broken)
    assert result.exit_code == 1
    assert "level 'urgent' is not one of" in result.output
    assert "pass " not in result.output
