"""``[[forward]]`` in apiwatch.toml: checked at start, every mistake named."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from apiwatch.cli import cli
from apiwatch.cli._config import load_settings
from apiwatch.forward import parse_forward
from apiwatch.model import ConfigError


def test_forward_tables_are_read_from_the_file(tmp_path: Path) -> None:
    """[[forward]] tables reach the settings as written, and parse into targets."""
    config = tmp_path / "apiwatch.toml"
    config.write_text(
        '[[forward]]\nname = "lake"\ntype = "ndjson"\npath = "/var/x.ndjson"\n'
        'kinds = ["incidents", "events"]\n'
        '[[forward]]\nname = "es"\ntype = "opensearch"\nurl = "https://os:9200"\n'
        'api_key_env = "OS_KEY"\n'
    )
    settings = load_settings(str(config))
    lake, es = parse_forward(settings.forward or [], environ={"OS_KEY": "k"})
    assert (lake.type, lake.kinds, lake.option("path")) == (
        "file",
        ("events", "incidents"),
        "/var/x.ndjson",
    )
    assert (es.type, es.secrets) == ("elasticsearch", {"api_key": "k"})


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"type": "file", "path": "x"}, r"forward\[0\]\.name: give each forwarder a name"),
        ({"name": "a", "type": "kafka"}, r"forward\.a\.type: one of elasticsearch"),
        ({"name": "a", "type": "file"}, r"forward\.a\.path: required for type file"),
        ({"name": "a", "type": "file", "path": "x", "url": "y"}, r"unknown option url"),
        ({"name": "a", "type": "file", "path": "x", "kinds": ["logs"]}, r"forward\.a\.kinds"),
        ({"name": "a", "type": "file", "path": "x", "batch": 0}, r"forward\.a\.batch"),
        ({"name": "a", "type": "syslog", "host": "h", "port": "514"}, r"forward\.a\.port: must be"),
        (
            {"name": "a", "type": "elasticsearch", "url": "https://elastic:pw@es:9200"},
            r"forward\.a\.url: no credentials in the URL",
        ),
        (
            {"name": "a", "type": "splunk", "url": "u", "token_env": "NOPE"},
            r"forward\.a\.token_env: environment variable NOPE is not set",
        ),
    ],
)
def test_a_wrong_table_is_refused_naming_the_option(table: dict[str, object], message: str) -> None:
    """Each mistake is a ConfigError naming the forwarder and the option."""
    with pytest.raises(ConfigError, match=message):
        parse_forward([table], environ={})


def test_two_forwarders_may_not_share_a_name() -> None:
    """Names are unique: each one keys its cursor in the store."""
    table = {"name": "a", "type": "file", "path": "x"}
    with pytest.raises(ConfigError, match="two forwarders have this name"):
        parse_forward([table, table], environ={})


def test_serve_stops_on_a_wrong_forward_table(tmp_path: Path) -> None:
    """`apiwatch serve` refuses to start, naming the option, before it opens a store."""
    config = tmp_path / "apiwatch.toml"
    config.write_text('[[forward]]\nname = "es"\ntype = "elasticsearch"\n')
    db = tmp_path / "c.db"
    result = CliRunner().invoke(cli, ["serve", "--config", str(config), "--db", f"sqlite:///{db}"])
    assert result.exit_code != 0
    assert "forward.es.url: required for type elasticsearch" in result.output + str(
        result.exception
    )
    assert not db.exists()


def test_config_check_names_the_forwarders(tmp_path: Path) -> None:
    """`apiwatch config check` validates [[forward]] and says where it would forward."""
    config = tmp_path / "apiwatch.toml"
    config.write_text('detect = false\n[[forward]]\nname = "lake"\ntype = "file"\npath = "x"\n')
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "forwarding to lake" in result.output
