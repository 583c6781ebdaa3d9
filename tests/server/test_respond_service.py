"""`ResponseService` over a real store: large incidents decided once, export files kept current."""

from __future__ import annotations

import ipaddress
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from apiwatch.model import Incident
from apiwatch.respond import Dispatcher, parse_config
from apiwatch.server import _respond
from apiwatch.server._respond import Exports, ResponseService
from apiwatch.store import DecisionFilter
from tests.server.conftest import StoreFactory

NOW = datetime.now(UTC).replace(microsecond=0)
POLICY = {"name": "ban stuffing", "min_severity": "high", "action": "ban_ip", "duration": "2h"}


def stuffing(attackers: list[str]) -> Incident:
    return Incident(
        id="inc-big",
        title="Distributed credential stuffing",
        severity="high",
        first_seen=NOW - timedelta(minutes=5),
        last_seen=NOW,
        rules=["credential-stuffing-distributed"],
        alerts=1,
        attackers=attackers,
    )


def addresses(count: int) -> list[str]:
    first = int(ipaddress.ip_address("198.18.0.1"))
    return [str(ipaddress.ip_address(first + n)) for n in range(count)]


def service(make_store: StoreFactory, exports: Exports | None = None) -> ResponseService:
    config = parse_config({"policy": [POLICY], "protect_internal": True})
    return ResponseService(
        make_store(), config, exports=exports, dispatcher=Dispatcher({}), clock=lambda: NOW
    )


def test_an_incident_with_over_a_page_of_decisions_is_never_decided_twice(
    make_store: StoreFactory,
) -> None:
    """An incident updated after 1,200 bans yields no second ban for any of its attackers."""
    responder = service(make_store)
    try:
        first = responder.on_incidents([stuffing(addresses(1200))])
        again = responder.on_incidents([stuffing(addresses(1201))])
    finally:
        responder.close()
    assert len(first) == 1200
    assert [d.value for d in again] == addresses(1201)[-1:]


def test_a_deleted_ban_leaves_the_export_files_without_a_new_incident(
    make_store: StoreFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Export files are refreshed on their own: a ban deleted by hand leaves the nginx file."""
    monkeypatch.setattr(_respond, "_EXPORT_EVERY", 0.2)
    deny = tmp_path / "deny.conf"
    responder = service(make_store, Exports(nginx=deny))
    responder.start()
    try:
        (ban,) = responder.on_incidents([stuffing(["198.18.0.9"])])
        assert "deny 198.18.0.9;" in deny.read_text()
        responder.store.decisions.delete(ban.id, at=NOW, by="test")
        deadline = time.monotonic() + 10
        while "198.18.0.9" in deny.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "198.18.0.9" not in deny.read_text()
    finally:
        responder.close()
    assert responder.store.decisions.query(DecisionFilter()).items == []


def test_the_log_names_no_account_and_forges_no_line(
    make_store: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A flagged account's name is not logged, and a hostile attacker value cannot add lines."""
    config = parse_config(
        {"policy": [POLICY, {**POLICY, "name": "flag", "action": "flag_account"}]}
    )
    responder = ResponseService(make_store(), config, dispatcher=Dispatcher({}), clock=lambda: NOW)
    case = stuffing(["198.18.0.9", "x\n2026-01-01 CRITICAL forged"])
    case.accounts_compromised = ["dana.private-account"]
    try:
        with caplog.at_level("INFO", logger="apiwatch.server.respond"):
            stored = responder.on_incidents([case])
    finally:
        responder.close()
    assert {d.scope for d in stored} == {"Ip", "Username"}
    messages = [record.getMessage() for record in caplog.records]
    assert messages and not any("dana.private-account" in m for m in messages)
    assert not any("\n" in m for m in messages)
