"""Response in a real collector: incidents lead to decisions (or not), served and exported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from apiwatch.model import AllowEntry
from apiwatch.respond import parse_config
from apiwatch.server import ServerSettings
from apiwatch.store import DecisionFilter
from tests._wait import wait_for
from tests.server.conftest import StoreFactory, collector_with
from tests.server.test_detection_live import ATTACKER, post, stuffing_batch

POLICY = {
    "name": "ban stuffing",
    "rules": ["credential-stuffing-*", "account-takeover-*"],
    "min_severity": "high",
    "action": "ban_ip",
    "duration": "2h",
}


def _settings(tmp_path: Path, **respond: Any) -> ServerSettings:
    return ServerSettings(
        respond=parse_config({"policy": [POLICY], **respond}),
        export_nginx=str(tmp_path / "deny.conf"),
        export_nftables=str(tmp_path / "apiwatch.nft"),
    )


def _bouncer(collector: Any) -> str:
    if "bouncer" not in collector.keys:
        collector.keys["bouncer"] = collector.store.keys.create("bouncer", ["bouncer"])[1]
    key: str = collector.keys["bouncer"]
    return key


def _stream(url: str, key: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{url}/v1/decisions/stream", params={"startup": "true"}, headers={"X-Api-Key": key}
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_an_incident_bans_its_attacker_served_to_bouncers_and_exported(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """Stuffing posted to the collector becomes a 2 h ban of its source, in the bouncer stream
    and in the nginx and nftables export files."""
    with collector_with(make_store, _settings(tmp_path)) as collector:
        post(collector, stuffing_batch())
        wait_for(lambda: _stream(collector.url, _bouncer(collector))["new"], "a decision")
        (ban,) = _stream(collector.url, _bouncer(collector))["new"]
        assert (ban["type"], ban["scope"], ban["value"]) == ("ban", "Ip", ATTACKER)
        assert ban["duration"].startswith("1h59m")
        wait_for((tmp_path / "deny.conf").exists, "the nginx export")
        assert f"deny {ATTACKER};" in (tmp_path / "deny.conf").read_text()
        assert ATTACKER in (tmp_path / "apiwatch.nft").read_text()


def test_dry_run_records_decisions_but_serves_none(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """In dry-run mode the decision is recorded as simulated and never served or exported."""
    with collector_with(make_store, _settings(tmp_path, dry_run=True)) as collector:
        post(collector, stuffing_batch())
        store = collector.store
        wait_for(
            lambda: store.decisions.query(DecisionFilter(include_simulated=True)).items,
            "a decision",
        )
        (decision,) = store.decisions.query(DecisionFilter(include_simulated=True)).items
        assert decision.simulated and decision.value == ATTACKER
        assert _stream(collector.url, _bouncer(collector))["new"] is None
        deny = tmp_path / "deny.conf"
        assert not deny.exists() or ATTACKER not in deny.read_text()


def test_an_allowlisted_attacker_is_never_banned(make_store: StoreFactory, tmp_path: Path) -> None:
    """An address on the store's allowlist gets no decision, whatever the incident."""
    with collector_with(make_store, _settings(tmp_path)) as collector:
        from datetime import UTC, datetime

        collector.store.allowlist.add(
            AllowEntry(scope="Ip", value=ATTACKER, reason="pen test", created=datetime.now(UTC))
        )
        post(collector, stuffing_batch())
        with collector.client("read") as client:
            wait_for(
                lambda: client.get("/v1/incidents", params={"attacker.ip": ATTACKER}).json()[
                    "items"
                ],
                "the incident",
            )
        assert not collector.store.decisions.query(
            DecisionFilter(include_simulated=True, include_expired=True)
        ).items


def test_an_attacker_carrying_an_internal_ipv4_address_is_never_banned_nor_exported(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """Stuffing from 6to4 of 10.0.0.1 is an incident but no decision, and never reaches the
    export files; the public attacker posted after it is banned and exported."""
    embedded = "2002:a00:1::1"
    with collector_with(make_store, _settings(tmp_path)) as collector:
        post(collector, stuffing_batch(ip=embedded))
        post(collector, stuffing_batch())
        deny = tmp_path / "deny.conf"
        wait_for(lambda: deny.exists() and ATTACKER in deny.read_text(), "the public ban")
        with collector.client("read") as client:
            found = client.get("/v1/incidents", params={"attacker.ip": embedded}).json()
        assert found["items"], "the embedded attacker's incident"
        stored = collector.store.decisions.query(DecisionFilter(include_simulated=True)).items
        assert [d.value for d in stored] == [ATTACKER]
        for path in (deny, tmp_path / "apiwatch.nft"):
            assert "2002:" not in path.read_text()
