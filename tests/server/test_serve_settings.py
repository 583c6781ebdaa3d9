"""`apiwatch serve`'s detection settings: apiwatch.toml, APIWATCH_* and flags, and rule errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from apiwatch.cli import cli
from apiwatch.cli._config import Settings, load_settings
from apiwatch.model import ConfigError

from .test_detection_thread import BROKEN_RULE


@pytest.fixture(autouse=True)
def _clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DETECT", "RULES", "SIGMAHQ", "LATENESS"):
        monkeypatch.delenv(f"APIWATCH_{name}", raising=False)


def test_detection_is_on_by_default_with_the_builtin_pack_only() -> None:
    """Without settings: detect on, no extra rules, no SigmaHQ pack, 2 s lateness."""
    settings = load_settings(None)
    assert (settings.detect, settings.rules, settings.sigmahq, settings.lateness) == (
        True, (), False, 2.0,
    )  # fmt: skip


def test_file_then_environment_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """apiwatch.toml sets the detection keys, APIWATCH_* overrides them, flags override both."""
    (tmp_path / "apiwatch.toml").write_text(
        'detect = false\nrules = ["a", "b"]\nsigmahq = true\nlateness = "1m"\n'
    )
    assert load_settings(None) == Settings(detect=False, rules=("a", "b"), sigmahq=True,
                                           lateness=60.0)  # fmt: skip
    monkeypatch.setenv("APIWATCH_DETECT", "on")
    monkeypatch.setenv("APIWATCH_RULES", f"c{os.pathsep}d")
    monkeypatch.setenv("APIWATCH_LATENESS", "5")
    from_env = load_settings(None)
    assert (from_env.detect, from_env.rules, from_env.lateness) == (True, ("c", "d"), 5.0)
    flagged = load_settings(None, detect=False, rules=("e",), sigmahq=False, lateness="2s")
    assert (flagged.detect, flagged.rules, flagged.sigmahq, flagged.lateness) == (
        False, ("e",), False, 2.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('detect = "maybe"', "detect must be true or false"),
        ("lateness = -1", "lateness must be 0 or more seconds"),
        ('lateness = "soon"', "lateness must be a number of seconds"),
        ('rules = "one/dir"', None),  # a single text is one directory
        ("rules = [1]", "rules must be a list of paths"),
    ],
)
def test_bad_detection_settings_name_file_and_key(
    tmp_path: Path, line: str, message: str | None
) -> None:
    """A wrong value in apiwatch.toml is an error naming the file, the key and what is allowed."""
    (tmp_path / "apiwatch.toml").write_text(line + "\n")
    if message is None:
        assert load_settings(None).rules == ("one/dir",)
        return
    with pytest.raises(ConfigError, match=f"apiwatch.toml: {message}"):
        load_settings(None)


def test_serve_help_describes_detection() -> None:
    """`apiwatch serve --help` names the detection flags and the detection endpoints."""
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    for text in ("--detect / --no-detect", "--rules DIR", "--sigmahq", "--lateness SECONDS",
                 "/v1/incidents", "APIWATCH_RULES"):  # fmt: skip
        assert text in result.output


def test_a_broken_rule_stops_serve_before_a_store_is_made(tmp_path: Path) -> None:
    """`apiwatch serve --rules DIR` with a broken rule exits 1 naming the file and line, and
    creates neither a store nor keys."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.yml").write_text(BROKEN_RULE)
    result = subprocess.run(
        [sys.executable, "-m", "apiwatch", "serve", "--rules", str(rules), "--port", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("APIWATCH_")},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("apiwatch: rules: 1 error(s) in rule files:")
    assert "broken.yml:8" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "apiwatch.db").exists()
    assert not (tmp_path / "apiwatch.db.keys").exists()
