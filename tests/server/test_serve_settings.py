"""`apiwatch serve`'s detection settings: apiwatch.toml, APIWATCH_* and flags, and rule errors."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from click.testing import CliRunner

from apiwatch.cli import cli
from apiwatch.cli._config import Settings, load_settings
from apiwatch.cli.serve import server_settings
from apiwatch.model import ConfigError
from apiwatch.server import ServerSettings

from .test_detection_thread import BROKEN_RULE


@pytest.fixture(autouse=True)
def _clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DETECT", "RULES", "SIGMAHQ", "LATENESS", "FUTURE_SKEW", "MAX_EVENT_AGE",
                 "DETECT_MAX_LAG"):  # fmt: skip
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
    assert result.stderr.startswith("apiwatch: rules: 1 error in a rule file:")
    assert "broken.yml:8" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "apiwatch.db").exists()
    assert not (tmp_path / "apiwatch.db.keys").exists()


def test_event_time_bounds_come_from_file_environment_and_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """future_skew, max_event_age and detect_max_lag (seconds, or 1m/2h/30d) default to 5 min,
    ten years and 1 h, are set by apiwatch.toml, APIWATCH_* and flags in that order, and reach
    the collector's settings."""
    defaults = server_settings(load_settings(None))
    assert (defaults.future_skew, defaults.max_event_age, defaults.detect_max_lag) == (
        300.0, 3650 * 86400.0, 3600.0,
    )  # fmt: skip
    (tmp_path / "apiwatch.toml").write_text(
        'future_skew = "1m"\nmax_event_age = "30d"\ndetect_max_lag = "2h"\n'
    )
    from_file = server_settings(load_settings(None))
    assert (from_file.future_skew, from_file.max_event_age, from_file.detect_max_lag) == (
        60.0, 30 * 86400.0, 7200.0,
    )  # fmt: skip
    monkeypatch.setenv("APIWATCH_FUTURE_SKEW", "10")
    assert load_settings(None).future_skew == 10.0
    flagged = load_settings(None, future_skew="0", max_event_age="1d", detect_max_lag="90s")
    assert (flagged.future_skew, flagged.max_event_age, flagged.detect_max_lag) == (
        0.0, 86400.0, 90.0,
    )  # fmt: skip


def test_a_zero_event_age_or_lag_names_the_setting(tmp_path: Path) -> None:
    """max_event_age and detect_max_lag must be more than 0: the error names the key."""
    for line, key in (
        ("max_event_age = 0", "max_event_age"),
        ("detect_max_lag = 0", "detect_max_lag"),
    ):
        (tmp_path / "apiwatch.toml").write_text(line + "\n")
        with pytest.raises(ConfigError, match=f"{key}: must be more than 0 seconds"):
            server_settings(load_settings(None))


def test_serve_help_describes_the_event_time_bounds() -> None:
    """`apiwatch serve --help` names the event-time flags and their environment variables."""
    result = CliRunner().invoke(cli, ["serve", "--help"])
    for text in ("--future-skew SECONDS", "--max-event-age SECONDS", "--detect-max-lag SECONDS",
                 "APIWATCH_FUTURE_SKEW"):  # fmt: skip
        assert text in result.output


def test_collector_settings_come_from_the_loaded_options(tmp_path: Path) -> None:
    """Settings named alike reach the collector as they are (retention_days too); the live
    sources' state sits beside the key file; --dry-run is applied over the [respond] table."""
    (tmp_path / "apiwatch.toml").write_text(
        'retention_days = 30\nkey_file = "k/store.keys"\nmax_body_bytes = 2048\n'
        "[respond]\ndry_run = false\n"
    )
    collector = server_settings(load_settings(None, dry_run=True))
    assert (collector.retention_days, collector.max_body_bytes) == (30, 2048)
    assert collector.sources_state_dir == str(Path("k/store.sources"))
    assert collector.respond is not None and collector.respond.dry_run is True
    from_file = server_settings(load_settings(None)).respond
    assert from_file is not None and from_file.dry_run is False


def test_a_setting_the_loader_and_the_collector_share_has_one_default() -> None:
    """Where `Settings` (file, environment, flags) and `ServerSettings` name the same setting
    taken as it is, both default alike: `apiwatch serve` without settings is `create_app`'s."""
    parsed = {"placeholders", "respond", "forward", "sources_state_dir"}
    shared = {f.name for f in fields(ServerSettings)} & {f.name for f in fields(Settings)} - parsed
    assert {"lateness", "retention_days", "max_body_bytes"} <= shared
    loader, collector = Settings(), ServerSettings()
    assert {n: getattr(loader, n) for n in shared} == {n: getattr(collector, n) for n in shared}
