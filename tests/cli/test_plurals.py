"""The command line counts in agreement: "1 incident", "0 incidents", "2 incidents", never
"incident(s)" or "1 incidents"."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner, Result

from apiwatch.cli import cli
from tests.server.helpers import event

NOUNS = ("event", "bad line", "rule", "incident", "file", "document", "error", "decision")
COUNTED = re.compile(r"\b(\d[\d,]*) (" + "|".join(NOUNS) + r")(s?)\b")


def _run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result


def _agreeing(text: str) -> list[str]:
    """Each "N noun" of ``text``, asserting the noun is singular exactly when N is 1."""
    found = COUNTED.findall(text)
    for count, noun, s in found:
        assert (count == "1") == (s == ""), f"{count} {noun}{s} in {text!r}"
    assert "(s)" not in text
    return [f"{count} {noun}{s}" for count, noun, s in found]


def _ecs(path: Path, count: int) -> Path:
    lines = [json.dumps(event(ip=f"198.51.100.{n + 1}")) + "\n" for n in range(count)]
    path.write_text("".join(lines))
    return path


def test_scan_counts_zero_one_and_two_events_in_agreement(tmp_path: Path) -> None:
    """`scan`'s summary says 0 events / 1 event / 2 events, and 0 incidents."""
    for count in (0, 1, 2):
        log = _ecs(tmp_path / f"{count}.ndjson", count)
        if count == 0:
            log.write_text('{"not": "an event"}\n')
        said = _agreeing(_run("scan", str(log)).stderr)
        assert f"{count} event{'' if count == 1 else 's'}" in said
        assert "0 incidents" in said
        assert f"{1 if count == 0 else 0} bad line{'' if count == 0 else 's'}" in said


def test_allowlist_names_one_or_two_decisions_still_in_force(tmp_path: Path) -> None:
    """Allowlisting a banned range says "decision 1 still applies … lifts it" for one ban and
    "decisions 2, 3 still apply … lifts them" for two."""
    db = f"sqlite:///{tmp_path}/a.db"
    _run("keys", "create", "--name", "reader", "--scope", "read", "--db", db)
    for address in ("203.0.113.9", "198.51.100.7", "198.51.100.8"):
        _run("decisions", "add", "--ip", address, "--duration", "1h", "--reason", "x", "--db", db)
    one = _run("allowlist", "add", "--range", "203.0.113.0/24", "--reason", "a", "--db", db)
    two = _run("allowlist", "add", "--range", "198.51.100.0/24", "--reason", "b", "--db", db)
    assert "note: decision 1 still applies to it; " in one.stderr
    assert one.stderr.rstrip().endswith("lifts it")
    assert "note: decisions 2, 3 still apply to it; " in two.stderr
    assert two.stderr.rstrip().endswith("lifts them")


def test_rules_lint_counts_one_file_and_rule_in_agreement(tmp_path: Path) -> None:
    """`rules lint` on a pack of one rule says 1 file, 1 document, 1 rule, 0 errors."""
    (tmp_path / "one.yml").write_text(
        "title: Admin probe\nid: 0b6c2f7e-5d0a-4c43-9b8e-1f0e9f3a0d11\nname: admin-probe\n"
        "status: test\nlevel: low\nlogsource: {category: webserver}\n"
        "detection:\n  selection:\n    url.path: /admin\n  condition: selection\n"
    )
    result = _run("rules", "lint", str(tmp_path))
    assert result.exit_code == 0, result.output
    said = _agreeing(result.output)
    assert said[:4] == ["1 file", "1 document", "1 rule", "0 errors"]
