"""GeoIP/ASN from real MaxMind-format databases (written by mmdb-writer for each test), and the
takeover they let the engine see in events that carry no geo fields: engine, ``scan --geoip``
and ``scan --config``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from apiwatch.cli import cli
from apiwatch.detect import Engine, builtin_dir, load_rules
from apiwatch.model import ConfigError, Event, encode_event
from apiwatch.sources.geoip import GeoIP
from tests.detect.helpers import alerts_of, event

HOME, INTRUDER = "192.0.2.10", "203.0.113.80"


@pytest.fixture
def databases(tmp_path: Path) -> list[Path]:
    """A country database and an ASN database, as GeoLite2 lays them out."""
    country = MMDBWriter(ip_version=6, database_type="GeoLite2-Country", ipv4_compatible=True)
    country.insert_network(IPSet(["192.0.2.0/24"]), {"country": {"iso_code": "FR"}})
    country.insert_network(IPSet(["203.0.113.0/24"]), {"country": {"iso_code": "VN"}})
    country.insert_network(IPSet(["2001:db8::/32"]), {"registered_country": {"iso_code": "DE"}})
    asn = MMDBWriter(ip_version=6, database_type="GeoLite2-ASN", ipv4_compatible=True)
    asn.insert_network(IPSet(["192.0.2.0/24"]), {"autonomous_system_number": 3215})
    asn.insert_network(IPSet(["203.0.113.0/24"]), {"autonomous_system_number": 64500})
    paths = [tmp_path / "country.mmdb", tmp_path / "asn.mmdb"]
    country.to_db_file(str(paths[0]))
    asn.to_db_file(str(paths[1]))
    return paths


def test_lookup_merges_country_and_asn(databases: list[Path]) -> None:
    """An address gets its country from one database and its AS number from the other."""
    geo = GeoIP(databases)
    assert geo(INTRUDER) == ("VN", 64500)
    assert geo("2001:db8::1") == ("DE", None)
    assert geo("198.51.100.1") == (None, None)
    assert geo("not an address") == (None, None)
    geo.close()


def test_a_file_that_is_no_database_is_a_clear_error(tmp_path: Path) -> None:
    """A file that is not .mmdb is refused with the path, not a traceback."""
    bogus = tmp_path / "GeoLite2-City.mmdb"
    bogus.write_bytes(b"<html>login required</html>")
    with pytest.raises(ConfigError, match="not a MaxMind database"):
        GeoIP([bogus])
    with pytest.raises(ConfigError, match="no such file"):
        GeoIP([tmp_path / "missing.mmdb"])


PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X)"


def takeover() -> list[Event]:
    """Alice logs in three times from home and once from another address of her network, then
    an intruder logs in and changes her e-mail. No event carries geo fields."""
    logins = [(0, HOME), (1800, HOME), (3600, HOME), (5000, "192.0.2.77"), (7200, INTRUDER)]
    events = [
        event(t, ip=ip, action="authn_login_success", method="POST", path="/api/v1/login",
              user="alice", ua=PHONE)
        for t, ip in logins
    ]  # fmt: skip
    events.append(
        event(
            7300, ip=INTRUDER, method="PATCH", path="/api/v1/account/email", user="alice", ua=PHONE
        )
    )
    return events


def test_takeover_is_seen_through_the_databases(databases: list[Path]) -> None:
    """With the databases, a login from a new AS then an e-mail change is a takeover; the
    owner's login from another address of her own network is not new."""
    geo = GeoIP(databases)
    engine = Engine(load_rules([builtin_dir()]), lateness=0, geo=geo)
    engine.feed_all(takeover())
    engine.flush()
    geo.close()
    found = alerts_of(engine, "account-takeover-persistence")
    assert [(a.group, a.attackers) for a in found] == [({"user.name": "alice"}, [INTRUDER])]


def write_events(path: Path) -> Path:
    path.write_bytes(b"".join(encode_event(e) + b"\n" for e in takeover()))
    return path


def test_scan_geoip_option_finds_the_takeover(tmp_path: Path, databases: list[Path]) -> None:
    """scan --geoip (twice: country and ASN) reports the takeover incident."""
    log = write_events(tmp_path / "events.ndjson")
    args = ["scan", "--json", "-q", str(log)]
    for path in databases:
        args += ["--geoip", str(path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    rules = [json.loads(line)["rules"] for line in result.stdout.splitlines()]
    assert ["account-takeover-persistence"] in rules


def test_scan_without_databases_keeps_the_owner_network_rule(tmp_path: Path) -> None:
    """Without databases the network is the /16: the intruder's is still new, so it is found."""
    log = write_events(tmp_path / "events.ndjson")
    result = CliRunner().invoke(cli, ["scan", "--json", "-q", str(log)])
    assert result.exit_code == 0, result.output
    assert "account-takeover-persistence" in result.stdout


def test_scan_config_declares_monitors_and_databases(tmp_path: Path, databases: list[Path]) -> None:
    """scan --config reads geoip and monitor_accounts from apiwatch.toml: the canary's failures
    raise nothing, and a bad database path there is one clear error."""
    canary = [
        event(n * 20 + n % 3, ip="198.51.100.250", action="authn_login_fail", method="POST",
              path="/api/v1/login", status=401, user="canary@example.com")
        for n in range(40)
    ]  # fmt: skip
    log = tmp_path / "canary.ndjson"
    log.write_bytes(b"".join(encode_event(e) + b"\n" for e in canary))
    config = tmp_path / "apiwatch.toml"
    geoip = ", ".join(json.dumps(str(p)) for p in databases)
    config.write_text(f'geoip = [{geoip}]\nmonitor_accounts = ["canary@*"]\n')
    quiet = CliRunner().invoke(cli, ["scan", "--json", "-q", "--config", str(config), str(log)])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout == ""
    loud = CliRunner().invoke(cli, ["scan", "--json", "-q", str(log)])
    assert "brute-force-account" in loud.stdout
    config.write_text('geoip = ["/nonexistent/GeoLite2-ASN.mmdb"]\n')
    bad = CliRunner().invoke(cli, ["scan", "-q", "--config", str(config), str(log)])
    assert bad.exit_code == 2 and "no such file" in bad.output
    assert "Traceback" not in bad.output
