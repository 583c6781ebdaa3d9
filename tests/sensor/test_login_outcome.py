"""A login route no library speaks for is judged from its whole response, never the status alone.

A form answered with 200 and HTML is the form again (a failure); a JSON 200 is a success unless
the configured failure header or body marker is there; a redirect, or an answer the sensor cannot
read, is ``unknown``: the action stays ``http_request`` with ``event.outcome`` ``unknown`` and
``labels.login`` ``unknown``, never a success.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from apiwatch.model import ConfigError
from apiwatch.sensor import ApiwatchMiddleware, MemoryOutput, Sensor, WSGIMiddleware

from .conftest import decoded

FORM = {"username": "alice", "password": "hunter2-hunter2"}
HTML = "text/html; charset=utf-8"


def _starlette(
    memory: MemoryOutput, status: int, media: str | None, body: bytes, **opts: Any
) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def login(request: Request) -> Response:
        await request.body()
        headers = {"location": "/login"} if 300 <= status < 400 else {}
        if media is None:
            return Response(status_code=status, headers=headers)
        return Response(body, status_code=status, media_type=media, headers=headers)

    app = Starlette(routes=[Route("/login", login, methods=["POST"])])
    app.add_middleware(
        ApiwatchMiddleware,
        service="t",
        login_paths={"/login": "username"},
        outputs=[memory],
        **opts,
    )
    return app


def _one(memory: MemoryOutput) -> dict[str, Any]:
    [event] = decoded(memory)
    return event


@pytest.mark.parametrize(
    ("status", "media", "as_json", "action", "outcome"),
    [
        (200, HTML, False, "authn_login_fail", "failure"),  # the form again
        (200, "application/json", False, "authn_login_success", "success"),
        (200, "application/json", True, "authn_login_success", "success"),
        (200, HTML, True, "http_request", "unknown"),  # HTML to a JSON login: cannot tell
        (302, None, False, "http_request", "unknown"),  # a redirect proves nothing
        (204, None, True, "http_request", "unknown"),
        (200, "text/plain", False, "http_request", "unknown"),
        (401, "application/json", True, "authn_login_fail", "failure"),
        (500, "application/json", True, "http_request", "failure"),
    ],
)
def test_asgi_login_is_judged_from_the_whole_response(
    memory: MemoryOutput, status: int, media: str | None, as_json: bool, action: str, outcome: str
) -> None:
    """Status, media type and whether a form was posted decide; unknown is never success."""
    app = _starlette(memory, status, media, b"<form>" if media == HTML else b"{}")
    client = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    client.post("/login", json=FORM) if as_json else client.post("/login", data=FORM)
    event = _one(memory)
    assert (event["event"]["action"], event["event"]["outcome"]) == (action, outcome)
    if status < 500:  # a 5xx is no login outcome, and names no account
        assert event["user"]["name"] == "alice"
    assert (event["labels"].get("login") == "unknown") is (outcome == "unknown")
    assert b"hunter2" not in memory.lines[0]


@pytest.mark.parametrize(
    "convention",
    [{"login_failure_header": "X-Login-Failed"}, {"login_failure_body": '"ok":false'}],
)
def test_asgi_json_failure_convention(memory: MemoryOutput, convention: dict[str, str]) -> None:
    """A JSON API that answers a failed login 200 marks it by header or body: a failure."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def login(request: Request) -> JSONResponse:
        ok = (await request.json())["password"] == "right"
        headers = {} if ok else {"X-Login-Failed": "1"}
        return JSONResponse({"ok": ok}, headers=headers)

    app = Starlette(routes=[Route("/login", login, methods=["POST"])])
    app.add_middleware(ApiwatchMiddleware, service="t", login_paths=["/login"], outputs=[memory],
                       **convention)  # fmt: skip
    client = TestClient(app)
    client.post("/login", json={"username": "alice", "password": "wrong"})
    client.post("/login", json={"username": "alice", "password": "right"})
    assert [e["event"]["action"] for e in decoded(memory)] == [
        "authn_login_fail",
        "authn_login_success",
    ]


def _wsgi_login(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    if environ.get("CONTENT_TYPE", "").startswith("application/json"):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"ok": ', b"false}"]
    start_response("200 OK", [("Content-Type", HTML)])
    return [b"<form>again</form>"]


def test_wsgi_form_again_and_body_marker(memory: MemoryOutput) -> None:
    """WSGI: the form answered with HTML is a failure; a JSON body with the marker too."""
    from werkzeug.test import Client

    app = WSGIMiddleware(_wsgi_login, service="t", login_paths=["/login"], outputs=[memory],
                         login_failure_body='"ok": false')  # fmt: skip
    client = Client(app)
    client.post("/login", data=FORM, buffered=True)  # buffered: read, then closed
    client.post("/login", json=FORM, buffered=True)
    events = decoded(memory)
    assert [e["event"]["action"] for e in events] == ["authn_login_fail", "authn_login_fail"]
    assert [e["user"]["name"] for e in events] == ["alice", "alice"]


def test_django_plain_login_form_again_is_a_failure() -> None:
    """Django, a login route of the app's own answering the form again (200 HTML): a failure."""
    from django.test import Client

    from .django_site import OUTPUT, site

    site()
    OUTPUT.clear()
    Client().post("/users/login", {"username": "alice", "password": "x", "html": "1"})
    [event] = [e for e in decoded(OUTPUT) if e["url"]["path"] == "/users/login"]
    assert (event["event"]["action"], event["user"]["name"]) == ("authn_login_fail", "alice")


@pytest.mark.parametrize("name", ["login_failure_header", "login_failure_body"])
def test_failure_convention_options_are_checked(name: str) -> None:
    """An empty or non-text failure convention fails at start-up, naming the option."""
    for value in ("", "  ", 3):
        with pytest.raises(ConfigError, match=rf"^{name}: expected a non-empty string$"):
            Sensor.from_options(service="t", **{name: value})
