"""Detection settings in apiwatch.toml and the environment: GeoIP databases and synthetic
traffic (monitors, test accounts, load tests) reach the collector's engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from apiwatch.cli._config import load_settings, synthetic_traffic
from apiwatch.cli.serve import server_settings
from apiwatch.model import ConfigError


def test_toml_lists_reach_the_collector(tmp_path: Path) -> None:
    """[detect] keys in apiwatch.toml become the collector's synthetic traffic and databases."""
    config = tmp_path / "apiwatch.toml"
    config.write_text(
        "[detect]\n"
        'geoip = ["/var/lib/GeoIP/GeoLite2-City.mmdb", "/var/lib/GeoIP/GeoLite2-ASN.mmdb"]\n'
        'monitor_accounts = ["canary@example.com"]\n'
        'monitor_networks = ["198.51.100.0/24", "2001:db8:99::/48"]\n'
        'loadtest_networks = ["10.20.0.0/16"]\n'
    )
    server = server_settings(load_settings(str(config)))
    assert server.geoip == ("/var/lib/GeoIP/GeoLite2-City.mmdb", "/var/lib/GeoIP/GeoLite2-ASN.mmdb")
    assert server.synthetic is not None
    synthetic = server.synthetic
    canary = {"source.ip": "2001:db8:99::5", "user.name": "canary@example.com"}
    assert synthetic.classify(canary, 0.0) == "monitor"
    assert synthetic.classify({**canary, "source.ip": "203.0.113.1"}, 0.0) is None
    assert synthetic.classify({"source.ip": "10.20.1.1"}, 0.0) == "loadtest"


def test_environment_lists_split_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    """APIWATCH_MONITOR_NETWORKS is comma-separated, so IPv6 networks survive."""
    monkeypatch.setenv("APIWATCH_MONITOR_NETWORKS", "2001:db8:99::/48, 198.51.100.7")
    monkeypatch.setenv("APIWATCH_TEST_ACCOUNTS", "qa-*@example.com")
    settings = load_settings(None)
    assert settings.monitor_networks == ("2001:db8:99::/48", "198.51.100.7")
    assert synthetic_traffic(settings).classify({"user.name": "qa-7@example.com"}, 0.0) == "test"


def test_a_network_that_is_not_one_is_refused(tmp_path: Path) -> None:
    """A typo in loadtest_networks is one error naming the setting and the value."""
    config = tmp_path / "apiwatch.toml"
    config.write_text('loadtest_networks = ["10.20.0.0/16", "10.300.0.0/16"]\n')
    with pytest.raises(ConfigError, match=r"loadtest_networks: '10.300.0.0/16'"):
        synthetic_traffic(load_settings(str(config)))


def test_a_list_setting_must_hold_strings(tmp_path: Path) -> None:
    """monitor_accounts = 5 is refused with the file and the key."""
    config = tmp_path / "apiwatch.toml"
    config.write_text("monitor_accounts = 5\n")
    with pytest.raises(ConfigError, match="monitor_accounts must be a list of strings"):
        load_settings(str(config))
