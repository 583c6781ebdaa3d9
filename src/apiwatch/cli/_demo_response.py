"""The demo's response act: a credential-stuffing run against a shop whose sensor enforces the
collector's decisions, a local webhook receiver counting the messages, and a user who keeps
logging in throughout."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from apiwatch.respond import ResponseConfig, parse_config, verify_signature

__all__ = ["ATTACKER", "Outcome", "Webhook", "response_config", "stuff_until_refused"]

ATTACKER = "203.0.113.250"
_SECRET_ENV = "APIWATCH_DEMO_WEBHOOK_SECRET"  # noqa: S105 - the name of a variable, not a secret


class Webhook:
    """A local HTTP receiver of apiwatch's webhook messages; checks each signature."""

    def __init__(self) -> None:
        self.secret = secrets.token_urlsafe(24)
        self.messages: list[tuple[bool, dict[str, Any]]] = []
        lock = threading.Lock()
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ok = verify_signature(
                    body,
                    secret=receiver.secret,
                    timestamp=self.headers.get("X-Apiwatch-Timestamp", ""),
                    signature=self.headers.get("X-Apiwatch-Signature", ""),
                )
                with lock:
                    receiver.messages.append((ok, json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/apiwatch"

    @property
    def environ(self) -> Mapping[str, str]:
        return {_SECRET_ENV: self.secret}

    def about(self, ip: str) -> list[tuple[bool, dict[str, Any]]]:
        return [(ok, body) for ok, body in self.messages if ip in json.dumps(body)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def response_config(webhook: Webhook) -> ResponseConfig:
    """Ban the sources of credential attacks for an hour, tell the webhook once per incident."""
    return parse_config(
        {
            "base_url": "http://127.0.0.1:8470",
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
            "notifiers": {
                "ops": {"type": "webhook", "url": webhook.url, "secret_env": _SECRET_ENV}
            },
        }
    )


@dataclass
class Outcome:
    """What the response act measured."""

    attempts: int = 0
    refused_after: float | None = None  # seconds from the alert to the first 403
    user_statuses: list[int] = field(default_factory=list)


def stuff_until_refused(
    shop: str, collector: str, read_key: str, accounts: Mapping[str, str]
) -> Outcome:
    """Failed logins from ATTACKER over many accounts (20/s, at most 60 s) until the sensor
    refuses them, while one real user logs in every half second."""
    user, password = next(iter(accounts.items()))
    attacker = {"X-Forwarded-For": ATTACKER, "User-Agent": "python-requests/2.32"}
    person = {"X-Forwarded-For": "198.51.100.20", "User-Agent": "Mozilla/5.0 Firefox/131.0"}
    outcome = Outcome()
    refused = 0.0
    with httpx.Client(base_url=shop, timeout=10) as client:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not refused:
            outcome.attempts += 1
            body = {"username": f"victim{outcome.attempts:04d}", "password": "Summer2024!"}
            if client.post("/users/login", json=body, headers=attacker).status_code == 403:
                refused = time.time()
            if outcome.attempts % 10 == 0:
                mine = {"username": user, "password": password}
                outcome.user_statuses.append(
                    client.post("/users/login", json=mine, headers=person).status_code
                )
            time.sleep(0.05)
        for _ in range(3):  # and after the ban, the user is still served
            mine = {"username": user, "password": password}
            outcome.user_statuses.append(
                client.post("/users/login", json=mine, headers=person).status_code
            )
    if refused:
        fired = _first_alert(collector, read_key)
        outcome.refused_after = refused - fired if fired else None
    return outcome


def _first_alert(collector: str, read_key: str) -> float | None:
    answer = httpx.get(
        f"{collector}/v1/alerts",
        params={"attacker.ip": ATTACKER},
        headers={"Authorization": f"Bearer {read_key}"},
        timeout=10,
    )
    answer.raise_for_status()
    times = [
        datetime.fromisoformat(item["timestamp"]).timestamp() for item in answer.json()["items"]
    ]
    return min(times) if times else None
