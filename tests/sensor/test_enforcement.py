"""Decision enforcement in the ASGI middleware, through Starlette's and FastAPI's TestClient."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.testclient import TestClient

from apiwatch.sensor import ApiwatchMiddleware, MemoryOutput, Sensor
from tests._wait import wait_until

from .apps import PASSWORD, fastapi_app
from .conftest import decoded, sensor_of
from .decision_helpers import caught_up, enforcing, server_fixture  # noqa: F401
from .decision_server import DecisionServer

BANNED = "203.0.113.66"
BENIGN = "198.51.100.20"


class HeaderAuth(AuthenticationBackend):
    """X-Test-User authenticates, inside the sensor: the user is known only after it runs."""

    async def authenticate(self, conn: HTTPConnection) -> Any:
        name = conn.headers.get("x-test-user")
        return (AuthCredentials(["authenticated"]), SimpleUser(name)) if name else None


def shop(calls: list[str], memory: MemoryOutput, **options: Any) -> Starlette:
    """``GET /hello``, ``GET /healthz`` and ``POST /login`` (JSON or form), counting app calls."""

    async def hello(request: Request) -> JSONResponse:
        calls.append("hello")
        return JSONResponse({"hello": "world"})

    async def login(request: Request) -> JSONResponse:
        calls.append("login")
        if request.headers.get("content-type", "").startswith("application/json"):
            body: Any = await request.json()
        else:
            body = dict(await request.form())
        ok = body.get("password") == PASSWORD
        return JSONResponse({"user": body.get("username")}, status_code=200 if ok else 401)

    app = Starlette(
        middleware=[
            Middleware(
                ApiwatchMiddleware,
                service="shop",
                login_paths={"/login": "username"},
                outputs=[memory],
                **options,
            ),
            Middleware(AuthenticationMiddleware, backend=HeaderAuth()),
        ]
    )
    app.add_route("/hello", hello)
    app.add_route("/healthz", hello)
    app.add_route("/login", login, methods=["POST"])
    return app


Build = Callable[..., tuple[Starlette, Sensor]]


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
def build(server: DecisionServer, calls: list[str], memory: MemoryOutput) -> Iterator[Build]:
    """Build the shop with enforcement against ``server``; its sensor has pulled once."""
    sensors: list[Sensor] = []

    def make(**options: Any) -> tuple[Starlette, Sensor]:
        app = shop(calls, memory, **enforcing(server, **options))
        app.middleware_stack = app.build_middleware_stack()
        sensor = sensor_of(app)
        sensors.append(sensor)
        caught_up(sensor)
        return app, sensor

    yield make
    for sensor in sensors:
        sensor.close()


def client(app: Any, ip: str) -> TestClient:
    return TestClient(app, client=(ip, 50000))


def blocked_events(memory: MemoryOutput) -> list[dict[str, Any]]:
    return [e for e in decoded(memory) if e.get("labels", {}).get("blocked") == "true"]


def test_banned_address_gets_403_before_the_app_and_a_block_event(
    server: DecisionServer, build: Build, calls: list[str], memory: MemoryOutput
) -> None:
    """A banned client gets 403 {"error":"blocked"} without the app running; the event says why."""
    decision = server.add("Ip", BANNED)
    app, sensor = build()
    response = client(app, BANNED).get("/hello")
    assert response.status_code == 403
    assert response.json() == {"error": "blocked"}
    assert response.headers["cache-control"] == "no-store"
    assert "retry-after" not in response.headers
    assert calls == []
    [event] = decoded(memory)
    assert event["event"]["action"] == "authz_fail"
    assert event["event"]["outcome"] == "failure"
    assert event["event"]["reason"] == f"blocked by apiwatch decision {decision}"
    assert event["labels"]["decision_id"] == str(decision)
    assert event["labels"]["blocked"] == "true"
    assert event["source"]["ip"] == BANNED
    assert event["http"]["response"]["status_code"] == 403
    assert sensor.stats.blocked == 1


def test_benign_address_reaches_the_app_with_an_unlabelled_event(
    server: DecisionServer, build: Build, calls: list[str], memory: MemoryOutput
) -> None:
    """A client under no decision is served as if enforcement were off."""
    server.add("Ip", BANNED)
    server.add("Range", "192.0.2.0/24")
    app, sensor = build()
    response = client(app, BENIGN).get("/hello")
    assert (response.status_code, calls) == (200, ["hello"])
    [event] = decoded(memory)
    assert event["event"]["action"] == "http_request"
    assert "blocked" not in event.get("labels", {})
    assert sensor.stats.blocked == 0


def test_block_status_429_sends_retry_after_until_the_decision_ends(
    server: DecisionServer, build: Build, memory: MemoryOutput
) -> None:
    """With block_status=429 the answer is 429 with Retry-After = seconds left of the decision."""
    decision = server.add("Ip", BANNED, seconds=600)
    app, _ = build(block_status=429)
    response = client(app, BANNED).get("/hello")
    assert response.status_code == 429
    assert 595 <= int(response.headers["retry-after"]) <= 600
    [event] = decoded(memory)
    assert event["event"]["action"] == "excess_rate_limit_exceeded"
    assert event["event"]["outcome"] == "failure"
    assert event["labels"]["decision_id"] == str(decision)


@pytest.mark.parametrize(
    ("network", "inside", "outside"),
    [
        ("192.0.2.0/24", "192.0.2.200", "192.0.3.1"),
        ("10.20.0.0/16", "10.20.255.1", "10.21.0.1"),
        ("2001:db8:abcd::/48", "2001:db8:abcd:12::7", "2001:db8:abce::7"),
    ],
)
def test_clients_inside_a_banned_range_are_blocked_and_outside_are_not(
    server: DecisionServer, build: Build, network: str, inside: str, outside: str
) -> None:
    """A Range decision (v4 or v6) blocks every address inside it and none outside."""
    server.add("Range", network)
    app, _ = build()
    assert client(app, inside).get("/hello").status_code == 403
    assert client(app, outside).get("/hello").status_code == 200


def test_xff_from_a_trusted_proxy_names_the_banned_client(
    server: DecisionServer, build: Build, calls: list[str]
) -> None:
    """Behind a trusted proxy, the client named by X-Forwarded-For is the one judged."""
    server.add("Ip", BANNED)
    app, _ = build(trusted_proxies=["10.0.0.0/8"])
    proxy = client(app, "10.0.0.5")
    assert proxy.get("/hello", headers={"x-forwarded-for": BANNED}).status_code == 403
    assert proxy.get("/hello", headers={"x-forwarded-for": BENIGN}).status_code == 200
    assert calls == ["hello"]


def test_spoofed_xff_neither_frees_a_banned_peer_nor_bans_an_innocent_one(
    server: DecisionServer, build: Build, memory: MemoryOutput
) -> None:
    """X-Forwarded-For from an untrusted peer is ignored: the peer itself is judged."""
    server.add("Ip", BANNED)
    app, _ = build(trusted_proxies=["10.0.0.0/8"])
    spoof_innocent = client(app, BANNED).get("/hello", headers={"x-forwarded-for": BENIGN})
    assert spoof_innocent.status_code == 403
    frame_banned = client(app, BENIGN).get("/hello", headers={"x-forwarded-for": BANNED})
    assert frame_banned.status_code == 200
    assert [e["source"]["ip"] for e in decoded(memory)] == [BANNED, BENIGN]


def test_login_naming_a_flagged_account_is_refused_before_the_app(
    server: DecisionServer, build: Build, calls: list[str], memory: MemoryOutput
) -> None:
    """A login for a flagged account gets 403 without the app; the event is authn_login_fail."""
    decision = server.add("Username", "alice", type="flag")
    app, _ = build()
    payload = {"username": "Alice", "password": PASSWORD}
    response = client(app, BENIGN).post("/login", json=payload)
    assert response.status_code == 403
    assert response.json() == {"error": "blocked"}
    assert calls == []
    [event] = decoded(memory)
    assert event["event"]["action"] == "authn_login_fail"
    assert event["event"]["reason"] == f"blocked by apiwatch decision {decision}"
    assert event["user"]["name"] == "Alice"
    assert event["labels"] == {"blocked": "true", "decision_id": str(decision), "flagged": "true"}
    assert PASSWORD not in json.dumps(event)


@pytest.mark.parametrize("as_json", [True, False])
def test_login_for_another_account_reaches_the_app_with_its_body_intact(
    server: DecisionServer, build: Build, calls: list[str], memory: MemoryOutput, as_json: bool
) -> None:
    """While accounts are flagged, other logins are read first and replayed intact (JSON, form)."""
    server.add("Username", "alice", type="flag")
    app, _ = build()
    payload = {"username": "bob", "password": PASSWORD}
    http = client(app, BENIGN)
    response = http.post("/login", json=payload) if as_json else http.post("/login", data=payload)
    assert (response.status_code, response.json()) == (200, {"user": "bob"})
    assert calls == ["login"]
    [event] = decoded(memory)
    assert (event["event"]["action"], event["user"]["name"]) == ("authn_login_success", "bob")


def test_flagged_user_known_before_the_app_is_refused(
    server: DecisionServer, build: Build, calls: list[str], memory: MemoryOutput
) -> None:
    """A user_hook that knows the user from the request alone lets a flagged user be refused."""
    decision = server.add("Username", "mallory", type="flag")

    def from_header(scope: Any) -> tuple[str | None, str | None] | None:
        for name, value in scope["headers"]:
            if name == b"x-test-user":
                return (value.decode(), None)
        return None

    app, _ = build(user_hook=from_header)
    response = client(app, BENIGN).get("/hello", headers={"x-test-user": "mallory"})
    assert response.status_code == 403
    assert calls == []
    [event] = decoded(memory)
    assert event["event"]["action"] == "authz_fail"
    assert event["user"]["name"] == "mallory"
    assert event["labels"]["decision_id"] == str(decision)
    assert event["labels"]["flagged"] == "true"
    assert client(app, BENIGN).get("/hello", headers={"x-test-user": "erin"}).status_code == 200


def test_flagged_user_known_only_after_the_app_is_served_and_reported_flagged(
    server: DecisionServer, build: Build, calls: list[str], memory: MemoryOutput
) -> None:
    """Authenticated inside the app, a flagged user is served; the event says flagged."""
    decision = server.add("Username", "mallory", type="flag")
    app, _ = build()
    response = client(app, BENIGN).get("/hello", headers={"x-test-user": "mallory"})
    assert (response.status_code, calls) == (200, ["hello"])
    [event] = decoded(memory)
    assert event["user"]["name"] == "mallory"
    assert event["labels"]["flagged"] == "true"
    assert event["labels"]["decision_id"] == str(decision)
    assert event["labels"]["blocked"] == "false"


def test_enforce_false_serves_everyone_and_labels_the_matches(
    server: DecisionServer, build: Build, calls: list[str], memory: MemoryOutput
) -> None:
    """A dry run (enforce=False) blocks nobody; a banned client's event names the decision."""
    decision = server.add("Ip", BANNED)
    server.add("Username", "alice", type="flag")
    app, sensor = build(enforce=False)
    assert client(app, BANNED).get("/hello").status_code == 200
    login = client(app, BENIGN).post("/login", json={"username": "alice", "password": "x"})
    assert login.status_code == 401
    assert calls == ["hello", "login"]
    banned, flagged = decoded(memory)
    assert banned["event"]["action"] == "http_request"
    assert banned["labels"]["decision_id"] == str(decision)
    assert banned["labels"]["blocked"] == "false"
    assert flagged["labels"]["flagged"] == "true"
    assert sensor.stats.blocked == 0


def test_blocks_on_excluded_paths_are_still_reported(
    server: DecisionServer, build: Build, memory: MemoryOutput
) -> None:
    """exclude_paths silences plain requests, never a block."""
    server.add("Ip", BANNED)
    app, _ = build(exclude_paths=["/healthz"])
    assert client(app, BENIGN).get("/healthz").status_code == 200
    assert client(app, BANNED).get("/healthz").status_code == 403
    assert [e["url"]["path"] for e in decoded(memory)] == ["/healthz"]
    assert len(blocked_events(memory)) == 1


def test_a_decision_ends_at_its_until_without_another_sync(
    server: DecisionServer, build: Build
) -> None:
    """A short ban stops applying when it ends, with the sync thread stopped meanwhile."""
    server.add("Ip", BANNED, seconds=0.6)
    app, sensor = build()
    assert client(app, BANNED).get("/hello").status_code == 403
    assert sensor.enforcer is not None
    sensor.enforcer.sync.close()
    syncs = sensor.stats.decision_syncs
    assert wait_until(lambda: client(app, BANNED).get("/hello").status_code == 200, timeout=3)
    assert sensor.stats.decision_syncs == syncs


def test_deleted_decision_lets_the_client_back_in(server: DecisionServer, build: Build) -> None:
    """Once the collector deletes a ban, the next pull lifts it."""
    decision = server.add("Ip", BANNED)
    app, sensor = build()
    assert client(app, BANNED).get("/hello").status_code == 403
    server.delete(decision)
    caught_up(sensor)
    assert client(app, BANNED).get("/hello").status_code == 200


def test_fastapi_app_blocks_a_banned_address(server: DecisionServer, memory: MemoryOutput) -> None:
    """The same enforcement through FastAPI's add_middleware."""
    decision = server.add("Ip", BANNED)
    app = fastapi_app(outputs=[memory], **enforcing(server))
    with TestClient(app, client=(BANNED, 50000)) as http:
        caught_up(sensor_of(app))
        response = http.get("/users/5")
        assert response.status_code == 403
        assert client(app, BENIGN).get("/users/5").status_code == 200
    blocked = blocked_events(memory)
    assert [e["labels"]["decision_id"] for e in blocked] == [str(decision)]
    assert sensor_of(app).enforcer is not None
