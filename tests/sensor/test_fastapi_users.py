"""FastAPI-Users (JWT bearer and cookie backends) and Starlette's AuthenticationMiddleware.

The FastAPI-Users app is the library's SQLAlchemy example (fastapi_users_app), driven through
Starlette's test client with its lifespan; the hook is the one documented line, the mixin.
"""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from apiwatch.sensor import MemoryOutput

from .conftest import decoded

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a whole new staple, battered"
LOGINS = {"authn_login_fail", "authn_login_success"}


def _logins(memory: MemoryOutput) -> list[tuple[str, str | None]]:
    found = [
        (e["event"]["action"], e.get("user", {}).get("name"))
        for e in decoded(memory)
        if e["event"]["action"] in LOGINS
    ]
    memory.clear()
    return found


def _only(memory: MemoryOutput, action: str) -> dict[str, Any]:
    [event] = [e for e in decoded(memory) if e["event"]["action"] == action]
    memory.clear()
    return event


@pytest.fixture
def users(tmp_path: Path, memory: MemoryOutput) -> Any:
    from .fastapi_users_app import build

    app = build(str(tmp_path / "users.db"), outputs=[memory])
    with TestClient(app) as client:
        body = {"email": "kim@example.org", "password": PASSWORD}
        assert client.post("/auth/register", json=body).status_code == 201
        memory.clear()
        yield client


def _login(client: TestClient, backend: str, email: str, password: str) -> Any:
    return client.post(f"/auth/{backend}/login", data={"username": email, "password": password})


@pytest.mark.parametrize("backend", ["jwt", "cookie"])
def test_fastapi_users_login_and_logout(
    users: TestClient, memory: MemoryOutput, backend: str
) -> None:
    """Wrong password and unknown account are authn_login_fail naming the account, the right
    one authn_login_success; the logout route is session_expired (reason logout)."""
    assert _login(users, backend, "kim@example.org", "guess").status_code == 400
    assert _login(users, backend, "nobody@example.org", "guess").status_code == 400
    assert _logins(memory) == [
        ("authn_login_fail", "kim@example.org"),
        ("authn_login_fail", "nobody@example.org"),
    ]
    response = _login(users, backend, "kim@example.org", PASSWORD)
    assert response.status_code in (200, 204)
    assert _logins(memory) == [("authn_login_success", "kim@example.org")]
    headers = {}
    if backend == "jwt":
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert users.post(f"/auth/{backend}/logout", headers=headers).status_code in (200, 204)
    logout = _only(memory, "session_expired")
    assert (logout["event"]["reason"], logout["url"]["path"]) == (
        "logout",
        f"/auth/{backend}/logout",
    )


def test_fastapi_users_inactive_user_is_a_failure(
    users: TestClient, memory: MemoryOutput, tmp_path: Path
) -> None:
    """The right password for a deactivated account (400, no on_after_login) is a failure."""
    with sqlite3.connect(tmp_path / "users.db") as db:
        db.execute("UPDATE user SET is_active = 0 WHERE email = 'kim@example.org'")
    assert _login(users, "jwt", "kim@example.org", PASSWORD).status_code == 400
    assert _logins(memory) == [("authn_login_fail", "kim@example.org")]


def test_fastapi_users_password_change_and_reset(users: TestClient, memory: MemoryOutput) -> None:
    """PATCH /users/me with a password, and the reset-password flow, are authn_password_change."""
    from .fastapi_users_app import UserManager

    token = _login(users, "jwt", "kim@example.org", PASSWORD).json()["access_token"]
    memory.clear()
    auth = {"Authorization": f"Bearer {token}"}
    patched = users.patch("/users/me", json={"password": NEW_PASSWORD}, headers=auth)
    assert patched.status_code == 200
    assert _only(memory, "authn_password_change")["user"]["name"] == "kim@example.org"
    assert users.post("/auth/forgot-password", json={"email": "kim@example.org"}).status_code == 202
    reset = {"token": UserManager.reset_tokens["kim@example.org"], "password": PASSWORD}
    assert users.post("/auth/reset-password", json=reset).status_code == 200
    assert _only(memory, "authn_password_change")["user"]["name"] == "kim@example.org"
    assert all(NEW_PASSWORD.encode() not in line for line in memory.lines)


def _starlette_app(memory: MemoryOutput) -> Any:
    from starlette.applications import Starlette
    from starlette.authentication import (
        AuthCredentials,
        AuthenticationBackend,
        AuthenticationError,
        SimpleUser,
    )
    from starlette.middleware import Middleware
    from starlette.middleware.authentication import AuthenticationMiddleware
    from starlette.requests import HTTPConnection, Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from apiwatch.sensor import ApiwatchMiddleware
    from apiwatch.sensor.starlette import on_auth_error

    class BasicAuth(AuthenticationBackend):
        """Starlette's documented Basic-auth backend, checking one password."""

        async def authenticate(self, conn: HTTPConnection) -> Any:
            if "Authorization" not in conn.headers:
                return None
            _, _, encoded = conn.headers["Authorization"].partition(" ")
            name, _, password = base64.b64decode(encoded).decode().partition(":")
            if password != PASSWORD:
                raise AuthenticationError("Invalid basic auth credentials")
            return AuthCredentials(["authenticated"]), SimpleUser(name)

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"hello {request.user.display_name}")

    return Starlette(
        routes=[Route("/", home)],
        middleware=[
            Middleware(ApiwatchMiddleware, service="shop", outputs=[memory]),
            Middleware(AuthenticationMiddleware, backend=BasicAuth(), on_error=on_auth_error),
        ],
    )


def test_starlette_authentication_error_is_a_failed_login(memory: MemoryOutput) -> None:
    """AuthenticationMiddleware(on_error=on_auth_error): refused Basic credentials are
    authn_login_fail naming the account (never the password), answered 400 as by default."""
    client = TestClient(_starlette_app(memory))
    for password in ("guess-guess", PASSWORD):
        token = base64.b64encode(f"lee:{password}".encode()).decode()
        client.get("/", headers={"Authorization": f"Basic {token}"})
    refused, served = decoded(memory)
    assert refused["http"]["response"]["status_code"] == 400
    assert (refused["event"]["action"], refused["user"]["name"]) == ("authn_login_fail", "lee")
    assert (served["event"]["action"], served["user"]["name"]) == ("http_request", "lee")
    assert all(b"guess-guess" not in line for line in memory.lines)


def test_a_reported_login_on_an_excluded_path_is_still_reported(memory: MemoryOutput) -> None:
    """exclude_paths silences plain requests, never a login a library reported."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.authentication import AuthenticationMiddleware
    from starlette.routing import Route

    from apiwatch.sensor import ApiwatchMiddleware
    from apiwatch.sensor.starlette import on_auth_error

    inner = _starlette_app(MemoryOutput())
    backend = inner.user_middleware[1].kwargs["backend"]
    app = Starlette(
        routes=[Route("/", inner.routes[0].endpoint)],
        middleware=[
            Middleware(ApiwatchMiddleware, service="t", outputs=[memory], exclude_paths=["/"]),
            Middleware(AuthenticationMiddleware, backend=backend, on_error=on_auth_error),
        ],
    )
    client = TestClient(app)
    client.get("/")
    token = base64.b64encode(b"lee:nope").decode()
    client.get("/", headers={"Authorization": f"Basic {token}"})
    [event] = decoded(memory)
    assert (event["event"]["action"], event["user"]["name"]) == ("authn_login_fail", "lee")


def test_glue_modules_export_their_one_line_hooks() -> None:
    """The FastAPI-Users and Starlette glue export exactly their documented hooks."""
    import apiwatch.sensor.fastapi_users
    import apiwatch.sensor.starlette

    assert apiwatch.sensor.fastapi_users.__all__ == ["ApiwatchUserManager"]
    assert apiwatch.sensor.starlette.__all__ == ["on_auth_error", "report_auth_error"]
