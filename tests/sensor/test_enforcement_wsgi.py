"""Decision enforcement in the WSGI middleware: Flask, a bare WSGI app, and Django."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from apiwatch.sensor import MemoryOutput, Sensor, WSGIMiddleware
from apiwatch.sensor._sensor import default_sensor

from .apps import PASSWORD, flask_app
from .conftest import decoded
from .decision_helpers import caught_up, enforcing, server_fixture  # noqa: F401
from .decision_server import DecisionServer
from .test_django import client as django_client  # noqa: F401 - configures Django

BANNED = "203.0.113.66"
BENIGN = "198.51.100.20"


@pytest.fixture
def flask_shop(server: DecisionServer, memory: MemoryOutput) -> Iterator[Callable[..., Any]]:
    """Build the Flask sample app with enforcement; its sensor has pulled once."""
    sensors: list[Sensor] = []

    def make(**options: Any) -> Any:
        app = flask_app(outputs=[memory], **enforcing(server, **options))
        sensor = app.extensions["apiwatch"].sensor
        sensors.append(sensor)
        caught_up(sensor)
        return app

    yield make
    for sensor in sensors:
        sensor.close()


def test_flask_banned_address_gets_403_and_a_block_event(
    server: DecisionServer, flask_shop: Callable[..., Any], memory: MemoryOutput
) -> None:
    """A banned client of a Flask app gets the block response; a benign one is served."""
    decision = server.add("Ip", BANNED)
    app = flask_shop()
    http = app.test_client()
    response = http.get("/users/5", environ_base={"REMOTE_ADDR": BANNED})
    assert response.status_code == 403
    assert response.get_json() == {"error": "blocked"}
    assert response.headers["Cache-Control"] == "no-store"
    assert http.get("/users/5", environ_base={"REMOTE_ADDR": BENIGN}).status_code == 200
    blocked, served = decoded(memory)
    assert blocked["event"]["action"] == "authz_fail"
    assert blocked["event"]["reason"] == f"blocked by apiwatch decision {decision}"
    assert blocked["labels"] == {"blocked": "true", "decision_id": str(decision)}
    assert "user" not in blocked  # the app (which sets g.user) never ran
    assert served["user"]["name"] == "dave"


def test_flask_429_carries_retry_after(
    server: DecisionServer, flask_shop: Callable[..., Any], memory: MemoryOutput
) -> None:
    """block_status=429 in a WSGI app: Retry-After is the time left of the decision."""
    server.add("Range", "203.0.113.0/24", seconds=120)
    app = flask_shop(block_status=429)
    response = app.test_client().get("/users/5", environ_base={"REMOTE_ADDR": BANNED})
    assert response.status_code == 429
    assert 115 <= int(response.headers["Retry-After"]) <= 120
    [event] = decoded(memory)
    assert event["event"]["action"] == "excess_rate_limit_exceeded"


def test_flask_login_for_a_flagged_account_is_refused_and_others_reach_the_app(
    server: DecisionServer, flask_shop: Callable[..., Any], memory: MemoryOutput
) -> None:
    """Flask login: the flagged account gets 403; another account's body reaches the view."""
    decision = server.add("Username", "alice", type="flag")
    app = flask_shop()
    http = app.test_client()
    env = {"REMOTE_ADDR": BENIGN}
    alice = {"username": "alice", "password": PASSWORD}
    refused = http.post("/users/login", json=alice, environ_base=env)
    bob = {"username": "bob", "password": PASSWORD}
    served = http.post("/users/login", data=bob, environ_base=env)
    assert (refused.status_code, served.status_code) == (403, 200)
    assert served.get_json() == {"ok": True}
    blocked, success = decoded(memory)
    assert blocked["event"]["action"] == "authn_login_fail"
    assert blocked["labels"]["decision_id"] == str(decision)
    assert blocked["user"]["name"] == "alice"
    assert (success["event"]["action"], success["user"]["name"]) == ("authn_login_success", "bob")


def test_flask_xff_only_from_trusted_proxies(
    server: DecisionServer, flask_shop: Callable[..., Any]
) -> None:
    """A trusted proxy's X-Forwarded-For is believed; an untrusted peer's is ignored both ways."""
    server.add("Ip", BANNED)
    app = flask_shop(trusted_proxies=["10.0.0.0/8"])
    http = app.test_client()

    def status(peer: str, forwarded: str) -> int:
        env = {"REMOTE_ADDR": peer}
        headers = {"X-Forwarded-For": forwarded}
        return int(http.get("/users/5", headers=headers, environ_base=env).status_code)

    assert status("10.0.0.5", BANNED) == 403
    assert status("10.0.0.5", BENIGN) == 200
    assert status(BANNED, BENIGN) == 403
    assert status(BENIGN, BANNED) == 200


def _echo(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A bare WSGI app that answers with the body it read (CONTENT_LENGTH bytes)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [body]


def test_bare_wsgi_login_body_is_replayed_byte_for_byte(
    server: DecisionServer, memory: MemoryOutput
) -> None:
    """While accounts are flagged, a bare WSGI app still reads the exact login body it was sent."""
    from werkzeug.test import Client

    server.add("Username", "alice", type="flag")
    middleware = WSGIMiddleware(
        _echo,
        service="echo",
        login_paths={"/login": "user.name"},
        outputs=[memory],
        **enforcing(server),
    )
    try:
        caught_up(middleware.sensor)
        http = Client(middleware)
        env = {"REMOTE_ADDR": BENIGN}
        body = json.dumps({"user": {"name": "bob"}, "password": "p" * 500}).encode()
        served = http.post("/login", data=body, content_type="application/json", environ_base=env)
        assert (served.status_code, served.data) == (200, body)
        flagged = body.replace(b'"bob"', b'"ALICE"')
        refused = http.post(
            "/login", data=flagged, content_type="application/json", environ_base=env
        )
        assert refused.status_code == 403
        assert [e["user"]["name"] for e in decoded(memory)] == ["bob", "ALICE"]
    finally:
        middleware.sensor.close()


@pytest.mark.usefixtures("django_client")
def test_django_banned_address_and_flagged_login_are_refused(
    server: DecisionServer, memory: MemoryOutput
) -> None:
    """Django: a banned REMOTE_ADDR gets 403 before the view; so does a flagged account's login."""
    from django.test import Client, override_settings

    ban = server.add("Ip", BANNED)
    server.add("Username", "alice", type="flag")
    options = {"service": "shop", "login_paths": {"/users/login": "username"}, "outputs": [memory]}
    with override_settings(APIWATCH={**options, **enforcing(server)}):
        http = Client()  # one handler, so one middleware and one sensor
        http.get("/users/5", REMOTE_ADDR=BENIGN)
        sensor = default_sensor()
        assert sensor is not None
        try:
            caught_up(sensor)
            banned = http.get("/users/5", REMOTE_ADDR=BANNED)
            benign = http.get("/users/5", REMOTE_ADDR=BENIGN)
            alice = {"username": "alice", "password": PASSWORD}
            refused = http.post("/users/login", data=alice, REMOTE_ADDR=BENIGN)
            served = http.post(
                "/users/login",
                data=json.dumps({"username": "bob", "password": PASSWORD}),
                content_type="application/json",
                REMOTE_ADDR=BENIGN,
            )
        finally:
            sensor.close()
    statuses = [r.status_code for r in (banned, benign, refused, served)]
    assert statuses == [403, 200, 403, 200]
    assert json.loads(banned.content) == {"error": "blocked"}
    blocked = [e for e in decoded(memory) if e.get("labels", {}).get("blocked") == "true"]
    assert [e["event"]["action"] for e in blocked] == ["authz_fail", "authn_login_fail"]
    assert blocked[0]["labels"]["decision_id"] == str(ban)
    assert blocked[1]["user"]["name"] == "alice"
