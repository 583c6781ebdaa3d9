"""The `[placeholders]` table of apiwatch.toml gives Sigma `expand` values to the collector's
rules, as `scan --placeholders` does, and a bad value is a clear error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from apiwatch.cli._config import load_settings
from apiwatch.cli.serve import server_settings
from apiwatch.server import load_ruleset

APIWATCH = Path(sys.executable).with_name("apiwatch")
RULE = """\
title: Admin path from outside
id: 0d6b8d0e-3a55-4f0c-9a57-5a5e3c1d2b01
name: admin-path-request
status: test
level: medium
logsource: {category: webserver}
detection:
  selection:
    url.path|expand: '%admin_paths%'
  condition: selection
"""


def _config(tmp_path: Path, table: str) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "admin.yml").write_text(RULE)
    config = tmp_path / "apiwatch.toml"
    config.write_text(f'db = "sqlite:///{tmp_path / "store.db"}"\nrules = ["{rules}"]\n\n{table}\n')
    return config


def test_placeholders_from_the_settings_load_a_rule_that_expands_them(tmp_path: Path) -> None:
    """A rule using %admin_paths% is loaded, with the table's values, by the collector."""
    config = _config(tmp_path, '[placeholders]\nadmin_paths = ["/admin", "/internal/*"]')
    ruleset = load_ruleset(server_settings(load_settings(config)))
    assert "admin-path-request" in set(ruleset.rules)
    assert not [p for p in ruleset.unsupported if "admin-path-request" in str(p)]


def test_without_placeholders_the_rule_is_left_out_with_the_reason(tmp_path: Path) -> None:
    """No table: the rule is reported unsupported ('has no values'), never silently loaded."""
    ruleset = load_ruleset(server_settings(load_settings(_config(tmp_path, ""))))
    assert "admin-path-request" not in set(ruleset.rules)
    assert any("%admin_paths% has no values" in str(p) for p in ruleset.unsupported)


def test_config_check_refuses_a_placeholder_value_that_is_not_text(tmp_path: Path) -> None:
    """`config check` names the table and the placeholder of a bad value, without a traceback."""
    config = _config(tmp_path, "[placeholders]\nadmin_paths = [true]")
    result = subprocess.run(
        [str(APIWATCH), "config", "check", "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "[placeholders]: admin_paths" in output and "Traceback" not in output
