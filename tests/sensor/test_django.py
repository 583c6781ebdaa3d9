"""The Django middleware through Django's own test client."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apiwatch.sensor import MemoryOutput

from .apps import PASSWORD

OUTPUT = MemoryOutput()


def _login(request: Any) -> Any:
    from django.http import JsonResponse

    is_json = request.content_type == "application/json"
    body = json.loads(request.body) if is_json else request.POST
    if body.get("password") != PASSWORD:
        return JsonResponse({"error": "bad credentials"}, status=401)
    return JsonResponse({"ok": True})


def _user(request: Any, user_id: int) -> Any:
    from django.http import JsonResponse

    if user_id == 13:
        return JsonResponse({}, status=403)
    return JsonResponse({"id": user_id})


def _boom(request: Any) -> Any:
    raise RuntimeError("kaput")


def _fake_auth(get_response: Any) -> Any:
    """Stands in for django.contrib.auth: X-Test-User becomes an authenticated request.user."""

    class User:
        is_authenticated = True
        pk = 42

        def __init__(self, name: str) -> None:
            self.name = name

        def get_username(self) -> str:
            return self.name

    def middleware(request: Any) -> Any:
        name = request.META.get("HTTP_X_TEST_USER")
        if name:
            request.user = User(name)
        return get_response(request)

    return middleware


urlpatterns: list[Any] = []


@pytest.fixture(scope="module")
def client() -> Any:
    import django
    from django.conf import settings
    from django.urls import path

    urlpatterns[:] = [
        path("users/login", _login),
        path("users/<int:user_id>", _user),
        path("boom", _boom),
    ]
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="test-only-not-secret",
            ROOT_URLCONF=__name__,
            ALLOWED_HOSTS=["testserver"],
            MIDDLEWARE=["apiwatch.sensor.django.ApiwatchMiddleware", f"{__name__}._fake_auth"],
            APIWATCH={
                "service": "shop",
                "login_paths": {"/users/login": "username"},
                "outputs": [OUTPUT],
            },
            INSTALLED_APPS=[],
            USE_TZ=True,
        )
        django.setup()
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
