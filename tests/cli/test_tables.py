"""Terminal tables wrap names between words, never inside one."""

from __future__ import annotations

import io
import json
from pathlib import Path

from click.testing import CliRunner
from rich.console import Console
from rich.table import Table

from apiwatch.cli import cli
from apiwatch.cli._tables import keep_words_whole
from apiwatch.simulate import ScenarioConfig, write_scenario


def _rendered(table: Table, width: int) -> str:
    out = io.StringIO()
    Console(file=out, width=width, markup=False).print(table)
    return out.getvalue()


def test_a_named_column_never_cuts_a_word_and_the_table_still_fits() -> None:
    """A long rule name in a named column stays whole on one line while the table keeps to the
    console's width (the other columns give up the room)."""
    table = Table("incident", "attackers", "objects exposed")
    name = "credential-stuffing-distributed"
    table.add_row(f"Distributed stuffing {name}", "198.51.100.7 " * 6, "/orders/1 " * 10)
    rendered = _rendered(keep_words_whole(table, "incident"), 70)
    assert name in rendered
    assert max(len(line) for line in rendered.splitlines()) <= 70


def test_scan_prints_every_rule_name_whole(tmp_path: Path) -> None:
    """`apiwatch scan`'s incident table shows each incident's rule names unbroken."""
    paths = write_scenario(ScenarioConfig(seed=3, scale=0.1), tmp_path)
    result = CliRunner().invoke(cli, ["scan", str(paths.events)])
    listed = CliRunner().invoke(cli, ["scan", "--json", str(paths.events)])
    assert result.exit_code == 0, result.output
    rules = {rule for line in listed.stdout.splitlines() for rule in json.loads(line)["rules"]}
    assert rules
    for rule in rules:
        assert rule in result.stdout, rule
