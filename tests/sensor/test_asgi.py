"""The ASGI middleware under FastAPI and Starlette, through real test clients."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from apiwatch.sensor import ApiwatchMiddleware, MemoryOutput, audit

from .apps import PASSWORD, BoomError, fastapi_app, starlette_app
from .asgi_helpers import call_asgi
from .conftest import decoded, sensor_of

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"


def test_one_event_per_request_with_the_who_what_when_where(memory: MemoryOutput) -> None:
    """A plain request yields one ECS event with every field DESIGN.md requires."""
    client = TestClient(fastapi_app(outputs=[memory]))
    client.get("/users/5?page=2", headers={"User-Agent": BROWSER})
    [event] = decoded(memory)
    assert event["event"]["action"] == "http_request"
    assert event["event"]["outcome"] == "success"
    assert event["event"]["category"] == ["web"]
    assert event["event"]["duration"] > 0
    assert event["@timestamp"].endswith("Z")
    assert event["http"]["request"]["method"] == "GET"
    assert event["http"]["response"]["status_code"] == 200
    assert event["url"] == {"path": "/users/5", "query": "page=2"}
    assert event["labels"]["route"] == "/users/{user_id}"
    assert event["user_agent"]["original"] == BROWSER
    assert event["service"]["name"] == "shop"
    assert event["host"]["name"]
    assert len(event["event"]["id"]) == 32
    assert event["http"]["request"]["id"] == event["event"]["id"]


def test_failed_login_names_the_attempted_account_not_the_password(
    memory: MemoryOutput,
) -> None:
    """A 401 on a login route is authn_login_fail with user.name from the JSON body."""
    client = TestClient(fastapi_app(outputs=[memory]))
    response = client.post("/users/login", json={"username": "alice", "password": "hunter2!"})
    assert response.status_code == 401
    [event] = decoded(memory)
    assert event["event"]["action"] == "authn_login_fail"
    assert event["event"]["outcome"] == "failure"
    assert event["event"]["category"] == ["authentication"]
    assert event["user"]["name"] == "alice"
    assert b"hunter2" not in memory.lines[0]


def test_successful_form_login(memory: MemoryOutput) -> None:
    """A 200 on a login route posted as a form is authn_login_success for that account."""
    client = TestClient(fastapi_app(outputs=[memory]))
    response = client.post("/users/login", data={"username": "bob", "password": PASSWORD})
    assert response.status_code == 200
    [event] = decoded(memory)
    assert event["event"]["action"] == "authn_login_success"
    assert event["user"]["name"] == "bob"
    assert PASSWORD.encode() not in memory.lines[0]


def test_get_of_a_login_route_is_not_a_login(memory: MemoryOutput) -> None:
    """Only POST/PUT/PATCH to a login route count as login attempts."""
    client = TestClient(fastapi_app(outputs=[memory]))
    client.get("/users/login")
    assert decoded(memory)[0]["event"]["action"] == "http_request"


def test_403_is_an_authz_failure(memory: MemoryOutput) -> None:
    """A 403 outside login routes is authz_fail."""
    TestClient(fastapi_app(outputs=[memory])).get("/users/13")
    [event] = decoded(memory)
    assert event["event"]["action"] == "authz_fail"
    assert event["event"]["outcome"] == "failure"


def test_attack_tool_user_agent(memory: MemoryOutput) -> None:
    """A known attack tool's user agent is malicious_attack_tool, naming the tool."""
    client = TestClient(fastapi_app(outputs=[memory]))
    client.get("/users/1", headers={"User-Agent": "sqlmap/1.7.2#stable (https://sqlmap.org)"})
    [event] = decoded(memory)
    assert event["event"]["action"] == "malicious_attack_tool"
    assert event["labels"]["attack_tool"] == "sqlmap"


def test_incoming_request_id_and_traceparent_are_kept(memory: MemoryOutput) -> None:
    """X-Request-ID is honoured and trace.id comes from a W3C traceparent."""
    client = TestClient(fastapi_app(outputs=[memory]))
    client.get(
        "/users/1",
        headers={
            "X-Request-ID": "req-abc-123",
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        },
    )
    [event] = decoded(memory)
    assert event["http"]["request"]["id"] == "req-abc-123"
    assert event["trace"]["id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_malformed_traceparent_is_ignored(memory: MemoryOutput) -> None:
    """A traceparent that is not W3C-valid gives no trace.id rather than garbage."""
    client = TestClient(fastapi_app(outputs=[memory]))
    client.get("/users/1", headers={"traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"})
    client.get("/users/1", headers={"traceparent": "zz-nothex-at-all"})
    assert all("trace" not in event for event in decoded(memory))


def test_bearer_token_is_fingerprinted_never_logged(memory: MemoryOutput) -> None:
    """labels.token_id is a stable keyed hash of the bearer token; the token never appears."""
    client = TestClient(fastapi_app(outputs=[memory], token_key="k" * 32))
    for _ in range(2):
        client.get("/users/1", headers={"Authorization": "Bearer s3cr3t-t0ken-value"})
    client.get("/users/1", headers={"Authorization": "Bearer another-token-value"})
    ids = [event["labels"]["token_id"] for event in decoded(memory)]
    assert ids[0] == ids[1] != ids[2]
    assert all(b"s3cr3t-t0ken" not in line for line in memory.lines)


def test_session_cookie_is_fingerprinted(memory: MemoryOutput) -> None:
    """A session cookie gives labels.session_id, never the cookie value."""
    client = TestClient(fastapi_app(outputs=[memory]))
    client.get("/users/1", headers={"Cookie": "theme=dark; sessionid=abcdef0123456789"})
    [event] = decoded(memory)
    assert len(event["labels"]["session_id"]) == 32
    assert b"abcdef0123456789" not in memory.lines[0]


def test_query_secrets_are_masked(memory: MemoryOutput) -> None:
    """Secret-looking query parameters are masked, the others kept."""
    client = TestClient(fastapi_app(outputs=[memory], redact_keys=["ssn"]))
    client.get("/users/1?api_key=AKIA123456&token=t0k3n&ssn=123-45-6789&page=3")
    [event] = decoded(memory)
    assert event["url"]["query"] == ("api_key=[REDACTED]&token=[REDACTED]&ssn=[REDACTED]&page=3")


def test_app_exception_is_reported_as_500_and_reraised_unchanged(memory: MemoryOutput) -> None:
    """An exception in the app still yields an event with status 500 and propagates as is."""
    client = TestClient(fastapi_app(outputs=[memory]))
    with pytest.raises(BoomError, match="kaput"):
        client.get("/boom")
    [event] = decoded(memory)
    assert event["http"]["response"]["status_code"] == 500
    assert event["event"]["outcome"] == "failure"


def test_a_failing_output_never_breaks_the_app(memory: MemoryOutput) -> None:
    """An output that raises is counted; the response and the other outputs are unaffected."""

    def broken(_event: object, _line: bytes) -> None:
        raise OSError("disk full")

    app = fastapi_app(outputs=[broken, memory])
    client = TestClient(app)
    assert client.get("/users/1").status_code == 200
    assert len(memory.lines) == 1
    assert sensor_of(app).stats.output_errors == 1


def test_sensor_failure_is_counted_not_raised(memory: MemoryOutput) -> None:
    """A user hook that raises is counted in the sensor's stats and the request still succeeds."""

    def bad_hook(_scope: object) -> None:
        raise ValueError("bug in the app's hook")

    app = fastapi_app(outputs=[memory], user_hook=bad_hook)
    client = TestClient(app)
    assert client.get("/users/1").status_code == 200
    assert sensor_of(app).stats.errors == 1
    assert len(memory.lines) == 1


def test_starlette_mount_route_and_authenticated_user(memory: MemoryOutput) -> None:
    """Under Starlette, the mounted route template and the authenticated user are recorded."""
    client = TestClient(starlette_app(outputs=[memory]))
    client.get("/api/orders/77", headers={"X-Test-User": "erin"})
    [event] = decoded(memory)
    assert event["labels"]["route"] == "/api/orders/{order_id}"
    assert event["url"]["path"] == "/api/orders/77"
    assert event["user"]["name"] == "erin"


def test_excluded_paths_emit_nothing(memory: MemoryOutput) -> None:
    """exclude_paths silences health checks and the like."""
    client = TestClient(fastapi_app(outputs=[memory], exclude_paths=["/users/1"]))
    client.get("/users/1")
    client.get("/users/2")
    assert [event["url"]["path"] for event in decoded(memory)] == ["/users/2"]


class _Closing(MemoryOutput):
    """A MemoryOutput that records how many lines it held when closed, and in which thread."""

    def __init__(self) -> None:
        super().__init__()
        self.lines_at_close: int | None = None
        self.close_thread: str | None = None

    def close(self) -> None:
        self.lines_at_close = len(self.lines)
        self.close_thread = threading.current_thread().name


def test_lifespan_shutdown_closes_outputs() -> None:
    """Every output with close() is closed at lifespan shutdown (the shipper flushes there)."""
    output = _Closing()
    with TestClient(fastapi_app(outputs=[output])) as client:
        client.get("/users/1")
        assert output.lines_at_close is None
    assert output.lines_at_close == 1


def test_events_from_the_apps_own_shutdown_reach_outputs_before_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An audit event emitted after the lifespan's yield reaches outputs; close() runs off-loop."""
    from starlette.applications import Starlette

    monkeypatch.setattr(audit, "_fallback", None)
    output = _Closing()
    loop_thread = []

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        audit.shutdown("ops")
        loop_thread.append(threading.current_thread().name)

    app = Starlette(lifespan=lifespan)
    app.add_middleware(ApiwatchMiddleware, service="shop", outputs=[output])
    with TestClient(app):
        pass
    assert output.lines_at_close == 1
    assert decoded(output)[0]["event"]["action"] == "sys_shutdown"
    assert loop_thread and output.close_thread not in loop_thread


async def _deny(_scope: Any, receive: Any, send: Any) -> None:
    """A bare ASGI app that reads the body and answers 401 (a failed login)."""
    await receive()
    await send({"type": "http.response.start", "status": 401, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@pytest.mark.parametrize("path", ["/api/users/login", "/users/login"])
def test_root_path_is_not_doubled_behind_a_mount_prefix(memory: MemoryOutput, path: str) -> None:
    """Behind --root-path, url.path and login routes hold root_path once, never twice."""
    app = ApiwatchMiddleware(
        _deny, service="shop", outputs=[memory], login_paths=["/api/users/login"]
    )
    call_asgi(
        app,
        "POST",
        path,
        root_path="/api",
        headers=[(b"content-type", b"application/x-www-form-urlencoded")],
        body=b"username=alice&password=x",
    )
    [event] = decoded(memory)
    assert event["url"]["path"] == "/api/users/login"
    assert event["event"]["action"] == "authn_login_fail"
    assert event["user"]["name"] == "alice"


async def _dies_mid_stream(_scope: Any, _receive: Any, send: Any) -> None:
    """A bare ASGI app that starts a 200 response, then raises."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise BoomError("kaput")


def test_exception_after_the_response_started_is_a_failure(memory: MemoryOutput) -> None:
    """An app that raises after sending 200 gives status 200, outcome failure and a reason."""
    app = ApiwatchMiddleware(_dies_mid_stream, service="shop", outputs=[memory])
    with pytest.raises(BoomError, match="kaput"):
        call_asgi(app, path="/report")
    [event] = decoded(memory)
    assert event["http"]["response"]["status_code"] == 200
    assert event["event"]["outcome"] == "failure"
    assert event["event"]["reason"] == "the app raised after the response started"
