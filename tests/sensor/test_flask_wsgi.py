"""The WSGI middleware, bare and through the Flask glue, with Werkzeug's test client.

Requests use ``buffered=True`` so that the test client closes the response iterable, as every
PEP 3333 server does; the sensor reports a WSGI request when its response is closed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apiwatch.sensor import MemoryOutput
from apiwatch.sensor.wsgi import WSGIMiddleware

from .apps import PASSWORD, BoomError, flask_app
from .conftest import decoded


def test_flask_request_event_has_route_template_and_user(memory: MemoryOutput) -> None:
    """Flask's rule /users/<int:user_id> becomes labels.route /users/{user_id}; g.user is user."""
    client = flask_app(outputs=[memory]).test_client()
    response = client.get("/users/9?x=1", headers={"User-Agent": "curl/8.0"}, buffered=True)
    assert response.status_code == 200
    [event] = decoded(memory)
    assert event["labels"]["route"] == "/users/{user_id}"
    assert event["url"] == {"path": "/users/9", "query": "x=1"}
    assert event["user"]["name"] == "dave"
    assert event["user_agent"]["original"] == "curl/8.0"
    assert event["source"]["ip"] == "127.0.0.1"


def test_flask_login_fail_and_success(memory: MemoryOutput) -> None:
    """Flask login route: JSON failure then form success, each naming the attempted account."""
    client = flask_app(outputs=[memory]).test_client()
    client.post("/users/login", json={"username": "alice", "password": "nope-nope"}, buffered=True)
    client.post("/users/login", data={"username": "bob", "password": PASSWORD}, buffered=True)
    fail, success = decoded(memory)
    assert (fail["event"]["action"], fail["user"]["name"]) == ("authn_login_fail", "alice")
    assert (success["event"]["action"], success["user"]["name"]) == ("authn_login_success", "bob")
    assert all(b"nope-nope" not in line and PASSWORD.encode() not in line for line in memory.lines)


def test_flask_exception_propagates_unchanged_with_a_500_event(memory: MemoryOutput) -> None:
    """With exceptions propagating (testing mode), the app's exception escapes and status is 500."""
    app = flask_app(outputs=[memory])
    app.testing = True
    with pytest.raises(BoomError, match="kaput"):
        app.test_client().get("/boom", buffered=True)
    assert decoded(memory)[0]["http"]["response"]["status_code"] == 500


def test_flask_handled_exception_is_the_500_response(memory: MemoryOutput) -> None:
    """Outside testing mode Flask answers 500 itself, and the event says 500."""
    response = flask_app(outputs=[memory]).test_client().get("/boom", buffered=True)
    assert response.status_code == 500
    assert decoded(memory)[0]["http"]["response"]["status_code"] == 500


def test_streamed_response_is_reported_once_when_closed(memory: MemoryOutput) -> None:
    """A streamed body is timed to its end and yields exactly one event."""
    response = flask_app(outputs=[memory]).test_client().get("/stream", buffered=True)
    assert response.data == b"ab"
    assert len(memory.lines) == 1


def _plain_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    if environ["PATH_INFO"] == "/explode":
        raise BoomError("kaput")
    start_response("418 I'm a teapot", [("Content-Type", "text/plain")])
    return [b"tea"]


def test_bare_wsgi_app_and_remote_user(memory: MemoryOutput) -> None:
    """Any WSGI app works; REMOTE_USER (set by a front-end auth) becomes user.name."""
    from werkzeug.test import Client

    client = Client(WSGIMiddleware(_plain_wsgi, service="tea", outputs=[memory]))
    response = client.get("/pot", environ_base={"REMOTE_USER": "frank"}, buffered=True)
    assert response.status_code == 418
    [event] = decoded(memory)
    assert event["http"]["response"]["status_code"] == 418
    assert event["user"]["name"] == "frank"
    assert event["service"]["name"] == "tea"


def test_bare_wsgi_exception_is_reraised(memory: MemoryOutput) -> None:
    """An exception raised by a WSGI app is re-raised and reported as 500."""
    from werkzeug.test import Client

    client = Client(WSGIMiddleware(_plain_wsgi, service="tea", outputs=[memory]))
    with pytest.raises(BoomError):
        client.get("/explode", buffered=True)
    assert decoded(memory)[0]["http"]["response"]["status_code"] == 500


def test_wsgi_trusted_proxy_and_invalid_utf8(memory: MemoryOutput) -> None:
    """WSGI: X-Forwarded-For from a trusted proxy is used; latin-1 native strings are re-read."""
    from werkzeug.test import Client

    app = WSGIMiddleware(
        _plain_wsgi, service="tea", outputs=[memory], trusted_proxies=["10.0.0.0/8"]
    )
    Client(app).get(
        "/pot",
        headers={"X-Forwarded-For": "192.0.2.5", "User-Agent": "bad\xff"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
        buffered=True,
    )
    event = decoded(memory)[0]
    assert event["source"]["ip"] == "192.0.2.5"
    assert event["user_agent"]["original"] == "bad\\xff"


def _streams_then_dies(_environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"partial"
    raise BoomError("kaput")


def test_wsgi_exception_while_streaming_is_a_failure(memory: MemoryOutput) -> None:
    """A WSGI body that raises after 200 started keeps the status but has outcome failure."""
    from werkzeug.test import Client

    client = Client(WSGIMiddleware(_streams_then_dies, service="tea", outputs=[memory]))
    with pytest.raises(BoomError, match="kaput"):
        client.get("/report", buffered=True)
    [event] = decoded(memory)
    assert event["http"]["response"]["status_code"] == 200
    assert event["event"]["outcome"] == "failure"
    assert event["event"]["reason"] == "the app raised after the response started"
