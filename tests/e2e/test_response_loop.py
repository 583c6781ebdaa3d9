"""The whole loop on real parts: sample app with the sensor -> collector -> detection -> policy
-> decision -> the sensor refuses the attacker, and one signed webhook message goes out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from apiwatch.cli._demo_response import ATTACKER, Webhook, response_config, stuff_until_refused
from apiwatch.cli._serving import Running
from apiwatch.server import ServerSettings, create_app
from apiwatch.simulate import generate
from apiwatch.store import open_store
from tests._wait import wait_for


@pytest.mark.slow
def test_stuffing_is_blocked_at_the_sensor_within_5_s_with_one_message(tmp_path: Path) -> None:
    """Credential stuffing through the real app: the incident leads to a ban that the app's
    sensor enforces (403) within 5 s of the alert, exactly one signed webhook message names the
    incident, and an ordinary user keeps being served."""
    from apiwatch.cli._shop import build_shop

    webhook = Webhook()
    store = open_store(f"sqlite:///{tmp_path / 'collector.db'}")
    _, ingest = store.keys.create("shop", ["ingest"])
    _, bouncer = store.keys.create("shop-sensor", ["bouncer"])
    _, reader = store.keys.create("reader", ["read"])
    scenario = generate(seed=3, users=20, attacks=())
    settings = ServerSettings(respond=response_config(webhook), respond_environ=webhook.environ)
    collector = Running(create_app(store, settings))
    try:
        shop = Running(
            build_shop(
                scenario,
                collector=collector.url,
                api_key=ingest,
                decisions_key=bouncer,
                decisions_interval=0.5,
                spool_dir=str(tmp_path / "spool"),
            )
        )
        try:
            outcome = stuff_until_refused(shop.url, collector.url, reader, scenario.accounts)
        finally:
            shop.stop()
    finally:
        # Its shutdown feeds, saves and responds to what is left and delivers every message
        # queued: a second (wrong) message, if there were one, has arrived once it returns.
        collector.stop()
        webhook.close()
        store.close()
    delay = outcome.refused_after
    assert delay is not None, "the attacker was never refused"
    print(f"alert -> enforcement at the sensor: {delay:.2f} s")
    assert delay <= 5.0, f"enforced {delay:.1f} s after the alert"
    assert outcome.user_statuses and all(status == 200 for status in outcome.user_statuses)
    about = webhook.about(ATTACKER)
    assert len(about) == 1, webhook.messages
    assert about[0][0]  # the signature verified


@pytest.mark.slow
def test_a_decision_added_by_hand_reaches_the_sensor(tmp_path: Path) -> None:
    """A ban and an account flag added by hand (as `apiwatch decisions add` does) reach the app's
    sensor through the real collector's stream: the banned address and a login naming the flagged
    account are refused, everyone else is served; deleting the ban lifts it."""
    from datetime import timedelta

    from apiwatch.cli._shop import build_shop
    from apiwatch.model import Decision

    store = open_store(f"sqlite:///{tmp_path / 'collector.db'}")
    _, bouncer = store.keys.create("shop-sensor", ["bouncer"])
    scenario = generate(seed=3, users=20, attacks=())
    (user, password), (flagged, flagged_password) = list(scenario.accounts.items())[:2]
    now = datetime.now(UTC)
    until = now + timedelta(hours=1)
    ban, flag = store.decisions.add(
        [
            Decision(id=0, type="ban", scope="Ip", value=ATTACKER, created=now, until=until,
                     origin="cscli", reason="by hand"),
            Decision(id=0, type="flag", scope="Username", value=flagged, created=now, until=until,
                     origin="cscli", reason="password reset pending"),
        ]
    )  # fmt: skip
    collector = Running(create_app(store, ServerSettings(detect=False)))
    try:
        shop = Running(build_shop(scenario, decisions_url=collector.url, decisions_key=bouncer,
                                  decisions_interval=0.3))  # fmt: skip
        try:
            with httpx.Client(base_url=shop.url, timeout=10) as client:

                def login(name: str, secret: str, ip: str) -> int:
                    body = {"username": name, "password": secret}
                    headers = {"X-Forwarded-For": ip}
                    return client.post("/users/login", json=body, headers=headers).status_code

                wait_for(lambda: login(user, "wrong", ATTACKER) == 403, "the ban", 5)
                assert login(flagged, flagged_password, "198.51.100.21") == 403
                assert login(user, password, "198.51.100.20") == 200
                store.decisions.delete(ban.id, at=datetime.now(UTC))
                wait_for(lambda: login(user, password, ATTACKER) == 200, "the unban", 5)
        finally:
            shop.stop()
    finally:
        collector.stop()
        store.close()
    assert flag.scope == "Username"
