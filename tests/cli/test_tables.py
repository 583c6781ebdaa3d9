"""Terminal tables never cut a name: they wrap between words, or run wider than the terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path

from click.testing import CliRunner, Result
from rich.console import Console
from rich.table import Table

from apiwatch.cli import cli
from apiwatch.cli._tables import print_table
from apiwatch.simulate import ScenarioConfig, write_scenario

KEY = "very-long-sensor-name-for-the-payments-service-eu-west"
SERVICE = "payments-api-eu-west-production"
ADDRESS = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"
NETWORK = "2001:db8:1234:5678:9abc::/80"
ACCOUNT = "jean-baptiste.emmanuel.zorg@very-long-mail-domain.example"
REASON = "manual ban for credential-stuffing-distributed-campaign-number-seven"


def _rendered(table: Table, width: int) -> str:
    out = io.StringIO()
    print_table(Console(file=out, width=width, markup=False), table)
    return out.getvalue()


def _run(*args: str, columns: int = 60) -> Result:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": str(columns)})
    assert "Traceback" not in result.output
    assert result.exit_code == 0, result.output
    return result


def test_a_table_that_fits_keeps_to_the_width_and_wraps_only_between_words() -> None:
    """With room for every longest word, the table keeps to the width and every word is whole."""
    table = Table("incident", "attackers", "objects exposed")
    name = "credential-stuffing-distributed"
    table.add_row(f"Distributed stuffing {name}", "198.51.100.7 " * 6, "/orders/1 " * 10)
    rendered = _rendered(table, 70)
    assert max(len(line) for line in rendered.splitlines()) <= 70
    assert name in rendered
    assert rendered.count("198.51.100.7") == 6
    assert rendered.count("/orders/1") == 10


def test_a_table_too_wide_for_the_terminal_becomes_records_of_whole_values() -> None:
    """When the longest words alone exceed the width, each row is printed as a block of
    `header: value` lines (a value's further lines indented under it), every value whole."""
    table = Table("name", "id", "services", title="keys")
    table.add_row(KEY, "6ebb086cc39d", f"{SERVICE}\nbilling")
    table.add_row("short", "0123456789ab", "")
    assert _rendered(table, 40).splitlines() == [
        "keys",
        "",
        f"name: {KEY}",
        "id: 6ebb086cc39d",
        f"services: {SERVICE}",
        "          billing",
        "",
        "name: short",
        "id: 0123456789ab",
        "services:",
    ]


def test_a_headerless_table_too_wide_labels_each_row_with_its_first_cell() -> None:
    """A field/value table without headers (`incidents show`) becomes `field: value` lines."""
    table = Table(show_header=False)
    table.add_column("field")
    table.add_column("value")
    table.add_row("rules", "credential-stuffing-distributed, account-takeover-source")
    table.add_row("attackers", ADDRESS)
    assert _rendered(table, 30).splitlines() == [
        "",
        "rules: credential-stuffing-distributed, account-takeover-source",
        f"attackers: {ADDRESS}",
    ]


def test_a_table_with_room_to_spare_is_printed_as_wide_as_its_content() -> None:
    """A small table is not stretched to the terminal: each column is as wide as its content."""
    table = Table("id", "value")
    table.add_row("1", "203.0.113.9")
    lines = _rendered(table, 200).splitlines()
    assert max(map(len, lines)) == len("│ id │ value       │")


def test_keys_list_shows_long_key_and_service_names_whole(tmp_path: Path) -> None:
    """`apiwatch keys list` at 60 columns prints a long key name and service whole, no '…'."""
    db = f"sqlite:///{tmp_path}/a.db"
    _run("keys", "create", "--name", KEY, "--scope", "ingest", "--service", SERVICE, "--db", db)
    listed = _run("keys", "list", "--db", db).stdout
    assert KEY in listed
    assert SERVICE in listed
    assert "…" not in listed


def test_decisions_and_allowlist_show_values_whole_at_60_columns(tmp_path: Path) -> None:
    """`decisions list` and `allowlist list` at 60 columns never fold an address, a network or
    an account, and wrap a long reason only between its words."""
    db = f"sqlite:///{tmp_path}/a.db"
    _run("keys", "create", "--name", "reader", "--scope", "read", "--db", db)
    _run("decisions", "add", "--ip", ADDRESS, "--duration", "1h", "--reason", REASON, "--db", db)
    _run("decisions", "add", "--account", ACCOUNT, "--duration", "1h", "--reason", "x", "--db", db)
    _run("allowlist", "add", "--range", NETWORK, "--reason", REASON, "--db", db)
    decided = _run("decisions", "list", "--db", db).stdout
    allowed = _run("allowlist", "list", "--db", db).stdout
    for word in (ADDRESS, ACCOUNT, *REASON.split()):
        assert word in decided, word
    for word in (NETWORK, *REASON.split()):
        assert word in allowed, word


def test_scan_prints_every_rule_name_whole(tmp_path: Path) -> None:
    """`apiwatch scan`'s incident table at 60 columns shows each rule name and attacker whole."""
    paths = write_scenario(ScenarioConfig(seed=3, scale=0.1), tmp_path)
    result = _run("scan", str(paths.events))
    listed = _run("scan", "--json", str(paths.events))
    incidents = [json.loads(line) for line in listed.stdout.splitlines()]
    rules = {rule for incident in incidents for rule in incident["rules"]}
    assert rules
    for rule in rules:
        assert rule in result.stdout, rule
    for incident in incidents:
        assert incident["id"] in result.stdout
        for attacker in incident["attackers"][:5]:
            assert attacker in result.stdout, attacker
