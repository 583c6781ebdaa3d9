"""The whole loop on real parts: sample app with the sensor -> collector -> detection -> policy
-> decision -> the sensor refuses the attacker, and one signed webhook message goes out."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from apiwatch.cli._serving import Running
from apiwatch.respond import parse_config, verify_signature
from apiwatch.server import ServerSettings, create_app
from apiwatch.simulate import generate
from apiwatch.store import open_store

SECRET = "e2e-webhook-secret"
ATTACKER = "203.0.113.77"


class _Receiver(BaseHTTPRequestHandler):
    messages: list[dict[str, Any]]
    lock: threading.Lock

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ok = verify_signature(
            body,
            secret=SECRET,
            timestamp=self.headers.get("X-Apiwatch-Timestamp", ""),
            signature=self.headers.get("X-Apiwatch-Signature", ""),
        )
        with self.lock:
            self.messages.append({"verified": ok, "body": json.loads(body)})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    messages: list[dict[str, Any]] = []
    handler = type("Receiver", (_Receiver,), {"messages": messages, "lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", messages
    finally:
        server.shutdown()
        server.server_close()


def _settings(hook: str) -> ServerSettings:
    respond = parse_config(
        {
            "policy": [
                {
                    "name": "ban credential attackers",
                    "rules": ["credential-stuffing-*", "brute-force-*", "account-takeover-*"],
                    "min_severity": "high",
                    "action": "ban_ip",
                    "duration": "1h",
                    "notify": ["ops"],
                }
            ],
            "notifiers": {"ops": {"type": "webhook", "url": hook, "secret_env": "E2E_SECRET"}},
        }
    )
    return ServerSettings(respond=respond, respond_environ={"E2E_SECRET": SECRET})


@pytest.mark.slow
def test_stuffing_is_blocked_at_the_sensor_within_5_s_with_one_message(
    tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    """Credential stuffing through the real app: the incident leads to a ban that the app's
    sensor enforces (403) within 5 s of the alert, exactly one signed webhook message names the
    incident, and an ordinary user keeps being served."""
    from apiwatch.cli._shop import build_shop

    hook, messages = webhook
    store = open_store(f"sqlite:///{tmp_path / 'collector.db'}")
    _, ingest = store.create_key("shop", ["ingest"])
    _, bouncer = store.create_key("shop-sensor", ["bouncer"])
    _, reader = store.create_key("reader", ["read"])
    scenario = generate(seed=3, users=20, attacks=())
    user, password = next(iter(scenario.accounts.items()))
    collector = Running(create_app(store, _settings(hook)))
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
            blocked_at, fired_at, benign = _attack(shop.url, collector.url, reader, user, password)
        finally:
            shop.stop()
        time.sleep(3)  # time for a second (wrong) message to arrive, if there were one
    finally:
        collector.stop()
        store.close()
    print(f"alert -> enforcement at the sensor: {blocked_at - fired_at:.2f} s")
    assert blocked_at - fired_at <= 5.0, f"enforced {blocked_at - fired_at:.1f} s after the alert"
    assert benign and all(status == 200 for status in benign)
    about = [m for m in messages if ATTACKER in json.dumps(m["body"])]
    assert len(about) == 1, messages
    assert about[0]["verified"]


def _attack(
    shop: str, collector: str, reader: str, user: str, password: str
) -> tuple[float, float, list[int]]:
    """Stuff credentials from ATTACKER until refused, while a real user keeps logging in;
    (when the attacker was first refused, when the alert fired, the user's statuses)."""
    attacker = {"X-Forwarded-For": ATTACKER, "User-Agent": "python-requests/2.32"}
    user_headers = {"X-Forwarded-For": "198.51.100.20", "User-Agent": "Mozilla/5.0 Firefox/131"}
    benign: list[int] = []
    blocked_at = 0.0
    with httpx.Client(base_url=shop, timeout=10) as client:
        deadline = time.monotonic() + 60
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            answer = client.post(
                "/users/login",
                json={"username": f"victim{attempt:04d}", "password": "Summer2024!"},
                headers=attacker,
            )
            if answer.status_code == 403:
                blocked_at = time.time()
                break
            if attempt % 10 == 0:
                benign.append(
                    client.post(
                        "/users/login",
                        json={"username": user, "password": password},
                        headers=user_headers,
                    ).status_code
                )
            time.sleep(0.05)
    assert blocked_at, "the attacker was never refused"
    after = httpx.post(
        f"{shop}/users/login",
        json={"username": user, "password": password},
        headers=user_headers,
        timeout=10,
    )
    benign.append(after.status_code)
    return blocked_at, _first_alert(collector, reader), benign


def _first_alert(collector: str, reader: str) -> float:
    """When the first credential alert about ATTACKER fired (its event time, UTC)."""
    answer = httpx.get(
        f"{collector}/v1/alerts",
        params={"attacker.ip": ATTACKER},
        headers={"Authorization": f"Bearer {reader}"},
        timeout=10,
    )
    answer.raise_for_status()
    fired = [datetime.fromisoformat(item["timestamp"]) for item in answer.json()["items"]]
    assert fired, "no alert about the attacker"
    return min(fired).astimezone(UTC).timestamp()


@pytest.mark.slow
def test_a_decision_added_by_hand_reaches_the_sensor(tmp_path: Path) -> None:
    """A ban and an account flag added by hand (as `apiwatch decisions add` does) reach the app's
    sensor through the real collector's stream: the banned address and a login naming the flagged
    account are refused, everyone else is served; deleting the ban lifts it."""
    from datetime import timedelta

    from apiwatch.cli._shop import build_shop
    from apiwatch.model import Decision

    store = open_store(f"sqlite:///{tmp_path / 'collector.db'}")
    _, bouncer = store.create_key("shop-sensor", ["bouncer"])
    scenario = generate(seed=3, users=20, attacks=())
    (user, password), (flagged, flagged_password) = list(scenario.accounts.items())[:2]
    now = datetime.now(UTC)
    until = now + timedelta(hours=1)
    ban, flag = store.add_decisions(
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

                _eventually(lambda: login(user, "wrong", ATTACKER) == 403)
                assert login(flagged, flagged_password, "198.51.100.21") == 403
                assert login(user, password, "198.51.100.20") == 200
                store.delete_decision(ban.id, at=datetime.now(UTC))
                _eventually(lambda: login(user, password, ATTACKER) == 200)
        finally:
            shop.stop()
    finally:
        collector.stop()
        store.close()
    assert flag.scope == "Username"


def _eventually(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within 5 s"
        time.sleep(0.1)
