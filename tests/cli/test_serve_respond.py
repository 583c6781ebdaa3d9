"""`apiwatch serve` reads the [respond] table of apiwatch.toml and refuses a wrong one."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from apiwatch.cli import cli
from apiwatch.cli._config import load_settings


def test_a_wrong_respond_setting_stops_serve_naming_the_key(tmp_path: Path) -> None:
    """A bad duration in a policy stops the start with the key's full name, before any store."""
    config = tmp_path / "apiwatch.toml"
    config.write_text('[[respond.policy]]\nname = "x"\naction = "ban_ip"\nduration = "4x"\n')
    db = tmp_path / "c.db"
    result = CliRunner().invoke(cli, ["serve", "--config", str(config), "--db", f"sqlite:///{db}"])
    assert result.exit_code != 0
    assert "respond.policy[0].duration" in str(result.exception) + result.output
    assert not db.exists()


def test_the_respond_table_is_kept_whole_and_dry_run_overrides_it(tmp_path: Path) -> None:
    """[respond] (with its policies and notifiers) is passed on as written; --dry-run wins."""
    config = tmp_path / "apiwatch.toml"
    config.write_text(
        'export_nginx = "/tmp/deny.conf"\n[respond]\ndry_run = false\n'
        '[[respond.policy]]\nname = "x"\naction = "ban_ip"\n'
    )
    settings = load_settings(str(config), dry_run=True)
    assert settings.respond == {"dry_run": False, "policy": [{"name": "x", "action": "ban_ip"}]}
    assert settings.dry_run is True
    assert settings.export_nginx == "/tmp/deny.conf"  # noqa: S108 - only a setting's text
