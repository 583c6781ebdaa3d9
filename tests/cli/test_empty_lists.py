"""A list with nothing in it says so in one line instead of printing an empty table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from apiwatch.cli import cli
from apiwatch.store import open_store
from tests.server.helpers import event


def _run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/a.db"
    _run("keys", "create", "--name", "reader", "--scope", "read", "--db", url)
    return url


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("incidents", "list"), "no incidents in the store"),
        (("incidents", "list", "--severity", "high"), "no incidents match the filters"),
        (("alerts", "list"), "no alerts in the store"),
        (("alerts", "list", "--since", "1h"), "no alerts match the filters"),
        (("decisions", "list"), "no decisions in force"),
        (("decisions", "list", "--all"), "no decisions at all"),
        (("decisions", "list", "--ip", "203.0.113.9"), "no decision in force covers 203.0.113.9"),
        (("allowlist", "list"), "the allowlist is empty"),
        (("status", "--no-probe"), "sources: none (no event stored yet)"),
    ],
)
def test_an_empty_list_is_one_line(db: str, args: tuple[str, ...], said: str) -> None:
    """Each list command on a store without any says what it found not, and draws no table."""
    result = _run(*args, "--db", db)
    assert said in result.stdout.splitlines()
    assert "┏" not in result.stdout


def test_keys_list_without_keys_says_how_to_make_one(tmp_path: Path) -> None:
    """`keys list` on a store that has no key yet points at `keys create`."""
    db = f"sqlite:///{tmp_path}/a.db"
    open_store(db).close()
    listed = _run("keys", "list", "--db", db).stdout
    assert listed.strip() == "no keys: `apiwatch keys create` makes one"


def test_scan_finding_nothing_says_so(tmp_path: Path) -> None:
    """`scan` over benign events prints "no incidents found", not an empty table."""
    log = tmp_path / "quiet.ndjson"
    log.write_text(json.dumps(event()) + "\n")
    result = _run("scan", str(log))
    assert result.stdout.strip() == "no incidents found"
