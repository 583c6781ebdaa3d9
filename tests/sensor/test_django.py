"""The Django middleware through Django's own test client (the shared project, django_site)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .django_site import OUTPUT, PASSWORD, site


@pytest.fixture(scope="module")
def client() -> Any:
    site()
    from django.test import Client

    return Client(raise_request_exception=False)


@pytest.fixture(autouse=True)
def _fresh_output() -> None:
    OUTPUT.clear()


def _events() -> list[dict[str, Any]]:
    return [json.loads(line) for line in OUTPUT.lines]


def test_django_request_has_route_template_and_user(client: Any) -> None:
    """Django's route users/<int:user_id> becomes /users/{user_id}; request.user is user.*."""
    response = client.get("/users/5", HTTP_X_TEST_USER="gina", HTTP_USER_AGENT="curl/8")
    assert response.status_code == 200
    [event] = _events()
    assert event["labels"]["route"] == "/users/{user_id}"
    assert event["user"] == {"name": "gina", "id": "42"}
    assert event["source"]["ip"] == "127.0.0.1"


def test_django_login_json_and_form(client: Any) -> None:
    """Django login route: JSON failure and form success name the attempted account only."""
    client.post(
        "/users/login",
        data=json.dumps({"username": "alice", "password": "wrong-pw"}),
        content_type="application/json",
    )
    client.post("/users/login", data={"username": "bob", "password": PASSWORD})
    fail, success = _events()
    assert (fail["event"]["action"], fail["user"]["name"]) == ("authn_login_fail", "alice")
    assert (success["event"]["action"], success["user"]["name"]) == ("authn_login_success", "bob")
    assert all(b"wrong-pw" not in line for line in OUTPUT.lines)


def test_django_403_and_500(client: Any) -> None:
    """A 403 is authz_fail; a view exception is reported with status 500."""
    client.get("/users/13")
    client.get("/boom")
    forbidden, crashed = _events()
    assert forbidden["event"]["action"] == "authz_fail"
    assert crashed["http"]["response"]["status_code"] == 500


def test_django_spoofed_forwarded_for_is_ignored(client: Any) -> None:
    """Without trusted proxies, X-Forwarded-For from the client is ignored."""
    client.get("/users/5", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert _events()[0]["source"]["ip"] == "127.0.0.1"
