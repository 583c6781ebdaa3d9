"""The operator's commands over a real collector's store (SQLite and PostgreSQL): incidents,
alerts, explain, status and unban by value; and `serve`'s WARNING line per incident and decision.

One collector per back end (uvicorn on a free port, live detection, a ban policy) is fed a
credential-stuffing run; the commands then read the store it wrote.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from apiwatch.cli import cli
from apiwatch.cli._common import parse_since
from apiwatch.respond import parse_config
from apiwatch.server import ServerSettings, create_app
from apiwatch.store import DecisionFilter, open_store
from tests._wait import wait_for
from tests.server.conftest import (
    POSTGRES_URL,
    Collector,
    _create_schema,
    _drop_schema,
    add_keys,
    served,
)
from tests.server.helpers import event
from tests.server.test_detection_live import ATTACKER, VICTIM, post, stuffing_batch

POLICY = {"name": "ban stuffing", "rules": ["credential-stuffing-*"], "min_severity": "high",
          "action": "ban_ip", "duration": "2h"}  # fmt: skip


class _Lines(logging.Handler):
    """Keeps the WARNING lines of apiwatch's loggers, formatted as the collector logs them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@dataclass
class Scenario:
    url: str
    key_file: Path
    incident_id: str
    logged: list[str]

    def run(self, *args: str) -> Result:
        result = CliRunner().invoke(cli, [*args, "--db", self.url])
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        return result


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def scenario(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scenario]:
    """A collector's store after a stuffing run: one incident, one ban, a silent source."""
    home = tmp_path_factory.mktemp(request.param)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    if request.param == "postgres":
        _create_schema(schema)
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{home}/apiwatch.db"
    store = open_store(url, key_file=home / "keys")
    lines = _Lines()
    logging.getLogger("apiwatch").addHandler(lines)
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("APIWATCH_KEY_FILE", str(home / "keys"))
    monkeypatch.delenv("APIWATCH_DATA_KEY", raising=False)
    try:
        settings = ServerSettings(respond=parse_config({"policy": [POLICY]}))
        with served(create_app(store, settings)) as base:
            collector = Collector(base, store, add_keys(store))
            old = event(ip="198.51.100.5", service="billing", host="old-1",
                        at=datetime.now(UTC) - timedelta(hours=2))  # fmt: skip
            post(collector, [old, *stuffing_batch()])
            decision = wait_for(lambda: store.decisions.query(DecisionFilter(ip=ATTACKER)).items,
                                "the ban")[0]  # fmt: skip
            wait_for(lambda: any("new decision" in line for line in lines.lines), "the log line")
        _last_heard(request.param, url, "billing", datetime.now(UTC) - timedelta(hours=2))
        yield Scenario(url, home / "keys", decision.incident, lines.lines)
    finally:
        logging.getLogger("apiwatch").removeHandler(lines)
        monkeypatch.undo()
        store.close()
        if request.param == "postgres":
            _drop_schema(schema)


def _last_heard(backend: str, url: str, service: str, when: datetime) -> None:
    """Make a source last heard from at ``when`` (its last batch arrived then), as if the
    collector had gone on running without it for a while."""
    sql = "UPDATE sources SET last_seen = {m} WHERE service = {m}"
    at = int(when.timestamp() * 1_000_000)
    if backend == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            connection.execute(sql.format(m="?"), (at, service))
        return
    import psycopg

    schema = url.rsplit("%3D", 1)[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True, options=f"-csearch_path={schema}") as c:
        c.execute(sql.format(m="%s"), (at, service))


def test_serve_logs_each_new_incident_and_decision_at_warning(scenario: Scenario) -> None:
    """The collector logs one WARNING line for the incident it opened and one for the ban."""
    opened = [line for line in scenario.logged if line.startswith("new incident")]
    assert any(scenario.incident_id in line and "critical" in line for line in opened)
    assert any(line.startswith("new decision") and ATTACKER in line for line in scenario.logged)


def test_incidents_list_filters_and_prints_json(scenario: Scenario) -> None:
    """`incidents list` finds the incident by attacker, account, severity and --since; a filter
    that excludes it gives an empty list."""
    for filters in (("--ip", ATTACKER), ("--account", VICTIM.upper()), ("--severity", "high"),
                    ("--since", "1h"), ("--rule", "credential-stuffing-source")):  # fmt: skip
        result = scenario.run("incidents", "list", "--json", *filters)
        assert result.exit_code == 0, result.output
        (found,) = [i for i in json.loads(result.output) if i["id"] == scenario.incident_id]
        assert found["accounts_compromised"] == [VICTIM]
    none = scenario.run("incidents", "list", "--json", "--ip", "192.0.2.0/24")
    assert json.loads(none.output) == []
    table = scenario.run("incidents", "list")
    assert table.exit_code == 0
    assert ATTACKER in table.output


def test_incidents_show_gives_the_evidence_and_the_decisions(scenario: Scenario) -> None:
    """`incidents show ID` prints the extent, why each attacker and compromised account is
    named (stored with the incident), the alerts behind it and the ban it led to."""
    result = scenario.run("incidents", "show", scenario.incident_id, "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["accounts_compromised"] == [VICTIM]
    why = shown["attacker_evidence"][ATTACKER]
    assert any("never logged into from here" in line for line in why), why
    assert "an attacking address" in shown["account_evidence"][VICTIM][0]
    assert any(a["rule"] == "credential-stuffing-source" for a in shown["evidence"])
    assert [(d["value"], d["type"]) for d in shown["decisions"]] == [(ATTACKER, "ban")]
    text = scenario.run("incidents", "show", scenario.incident_id)
    assert "evidence (alerts)" in text.output
    assert "why each is named" in text.output
    assert "in force" in text.output
    missing = scenario.run("incidents", "show", "no-such-incident")
    assert missing.exit_code == 1
    assert "no incident no-such-incident" in missing.output


def test_alerts_list_filters_by_rule_and_ip(scenario: Scenario) -> None:
    """`alerts list` returns the stuffing alert for its rule and attacker, nothing for another."""
    result = scenario.run("alerts", "list", "--json", "--rule", "credential-stuffing-source",
                          "--ip", ATTACKER)  # fmt: skip
    assert result.exit_code == 0, result.output
    (alert,) = json.loads(result.output)
    assert alert["incident"] == scenario.incident_id
    assert json.loads(scenario.run("alerts", "list", "--json", "--rule", "nope").output) == []


def test_explain_says_why_an_address_is_banned(scenario: Scenario) -> None:
    """`explain IP` (and `decisions explain IP`) names the decision, its policy, the incident
    and the alerts naming the address."""
    result = scenario.run("explain", ATTACKER, "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    (decision,) = shown["decisions"]
    assert decision["policy"] == "ban stuffing"
    assert [i["id"] for i in shown["incidents"]] == [scenario.incident_id]
    assert all(ATTACKER in a["attackers"] for a in shown["evidence"])
    assert shown["evidence"]
    assert any("no successful login" not in line for line in shown["why"][scenario.incident_id])
    text = scenario.run("decisions", "explain", ATTACKER)
    assert text.exit_code == 0, text.output
    assert "policy ban stuffing" in text.output
    assert f"why incident {scenario.incident_id} names {ATTACKER}:" in text.output
    clean = scenario.run("explain", "192.0.2.1")
    assert "no decision in force" in clean.output


def test_status_shows_sources_silent_ones_incidents_and_decisions(scenario: Scenario) -> None:
    """`status` lists both sources, marks the one quiet for 2 hours silent, counts the critical
    incident and the ban in force."""
    result = scenario.run("status", "--no-probe", "--json")
    assert result.exit_code == 0, result.output
    state = json.loads(result.output)
    assert {(s["service"], s["silent"]) for s in state["sources"]} == {
        ("billing", True), ("shop", False)}  # fmt: skip
    assert state["incidents"]["critical"] >= 1
    assert state["decisions_in_force"] == {"Ip": 1}
    text = scenario.run("status", "--no-probe", "--silent-after", "1m")
    assert "SILENT" in text.output
    assert "decisions in force: Ip 1" in text.output
    bad = scenario.run("status", "--no-probe", "--silent-after", "soon")
    assert bad.exit_code == 2
    assert "--silent-after" in bad.output


def test_decisions_delete_by_ip_lifts_the_ban(scenario: Scenario) -> None:
    """`decisions delete --ip` deletes what is in force on that address (a default reason);
    a second time there is nothing to delete, said in one line."""
    deleted = scenario.run("decisions", "delete", "--ip", ATTACKER)
    assert deleted.exit_code == 0, deleted.output
    assert f"ban Ip {ATTACKER}" in deleted.output
    again = scenario.run("decisions", "delete", "--ip", ATTACKER, "--reason", "false positive")
    assert again.exit_code == 1
    assert f"no decision in force on Ip {ATTACKER}" in again.output
    both = scenario.run("decisions", "delete", "3", "--ip", ATTACKER)
    assert both.exit_code == 2


def test_since_takes_a_time_ago_or_iso_8601() -> None:
    """`parse_since` reads 30m, 1h30m, 2d and ISO 8601 (UTC when no offset), and refuses
    anything else with a one-line message."""
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now=now) == now - timedelta(minutes=30)
    assert parse_since("1h30m", now=now) == now - timedelta(minutes=90)
    assert parse_since("2d", now=now) == now - timedelta(days=2)
    assert parse_since("2026-03-01T10:00:00") == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert parse_since("2026-03-01T10:00:00+01:00") == datetime(2026, 3, 1, 9, tzinfo=UTC)
    with pytest.raises(Exception, match="neither a time ago"):
        parse_since("yesterday")


def test_events_takes_a_relative_since(scenario: Scenario) -> None:
    """`events --since 1h` prints the recent events and not the one from two hours ago."""
    result = scenario.run("events", "--since", "1h", "--limit", "1000")
    assert result.exit_code == 0, result.output
    services = {json.loads(line)["service"]["name"] for line in result.output.splitlines()}
    assert services == {"shop"}
    bad = scenario.run("events", "--since", "last week")
    assert bad.exit_code == 2
    assert "neither a time ago" in bad.output
