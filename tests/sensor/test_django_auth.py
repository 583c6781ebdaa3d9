"""Django's own authentication, heard by the sensor: the admin, LoginView, allauth, DRF, simplejwt.

Every test drives the real library through Django's test client in the shared project
(django_site) and checks what the sensor reported: a wrong password is ``authn_login_fail``
naming the account, the right one ``authn_login_success``, a logout ``session_expired`` (reason
``logout``), a password change ``authn_password_change``, and a failure is never a success.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from apiwatch.detect import Engine, builtin_dir, load_rules
from apiwatch.model import decode_event

from .django_site import NEW_PASSWORD, OUTPUT, PASSWORD, make_user, site

LOGIN_ACTIONS = {"authn_login_fail", "authn_login_success"}


@pytest.fixture(scope="module")
def _site() -> None:
    site()


@pytest.fixture
def client(_site: None) -> Any:
    from django.test import Client

    OUTPUT.clear()
    return Client(raise_request_exception=False)


def _events() -> list[dict[str, Any]]:
    return [json.loads(line) for line in OUTPUT.lines]


def _take() -> list[dict[str, Any]]:
    events = _events()
    OUTPUT.clear()
    return events


def _login_events() -> list[tuple[str, str | None]]:
    """(action, account) of every login event since the last take, and clears them."""
    return [
        (e["event"]["action"], e.get("user", {}).get("name"))
        for e in _take()
        if e["event"]["action"] in LOGIN_ACTIONS
    ]


def _only(action: str) -> dict[str, Any]:
    [event] = [e for e in _take() if e["event"]["action"] == action]
    return event


def _assert_login(response: Any, expected: list[tuple[str, str | None]]) -> None:
    events = _take()
    logins = [(e["event"]["action"], e.get("user", {}).get("name")) for e in events]
    assert logins == expected, (response.status_code, events)


def test_admin_wrong_password_is_a_failure_for_the_account(client: Any) -> None:
    """The issue's case: a wrong password on the admin (200, the form again) is authn_login_fail
    naming the account, although /admin/login/ is a configured login route; the right one is
    authn_login_success; each login is one event."""
    make_user("root", staff=True)
    wrong = client.post("/admin/login/", {"username": "root", "password": "guess"})
    assert wrong.status_code == 200
    _assert_login(wrong, [("authn_login_fail", "root")])
    right = client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert right.status_code == 302
    _assert_login(right, [("authn_login_success", "root")])


def test_admin_logout_and_password_change(client: Any) -> None:
    """Admin logout is session_expired (reason logout); its password change form is
    authn_password_change for the signed-in account."""
    make_user("root", staff=True)
    client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    OUTPUT.clear()
    changed = client.post(
        "/admin/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    change = _only("authn_password_change")
    assert (change["user"]["name"], change["url"]["path"]) == ("root", "/admin/password_change/")
    client.post("/admin/logout/")
    logout = _only("session_expired")
    assert (logout["user"]["name"], logout["event"]["reason"]) == ("root", "logout")
    assert logout["source"]["ip"] == "127.0.0.1"


def test_login_view_with_no_configuration(client: Any) -> None:
    """LoginView, on a route the sensor was not told about: failure, an incomplete form (no
    signal at all) and success are judged from Django's own signals."""
    make_user("ann")
    client.post("/login/", {"username": "ann", "password": "guess"})
    assert _login_events() == [("authn_login_fail", "ann")]
    client.post("/login/", {"username": "ann"})
    assert _login_events() == [("authn_login_fail", "ann")]
    client.post("/login/", {"username": "ann", "password": PASSWORD})
    assert _login_events() == [("authn_login_success", "ann")]
    client.post("/logout/")
    assert _only("session_expired")["user"]["name"] == "ann"


def test_password_change_view_reports_only_a_real_change(client: Any) -> None:
    """PasswordChangeView: a wrong old password changes nothing and reports no change; the
    right one is authn_password_change."""
    make_user("ann")
    client.post("/login/", {"username": "ann", "password": PASSWORD})
    OUTPUT.clear()
    form = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    client.post("/password/", {"old_password": "guess", **form})
    assert [e["event"]["action"] for e in _take()] == ["http_request"]
    client.post("/password/", {"old_password": PASSWORD, **form})
    assert _only("authn_password_change")["user"]["name"] == "ann"


def test_allauth_login_logout_and_password_change(client: Any) -> None:
    """django-allauth: wrong and right password, logout, password change."""
    make_user("bea")
    client.post("/accounts/login/", {"login": "bea", "password": "guess"})
    assert _login_events() == [("authn_login_fail", "bea")]
    client.post("/accounts/login/", {"login": "bea", "password": PASSWORD})
    assert _login_events() == [("authn_login_success", "bea")]
    changed = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    assert _only("authn_password_change")["user"]["name"] == "bea"
    client.post("/accounts/logout/")
    assert _only("session_expired")["user"]["name"] == "bea"


def test_drf_session_login_and_logout(client: Any) -> None:
    """DRF's browsable-API session login (rest_framework.urls) and its logout."""
    make_user("cy")
    client.post("/api-auth/login/", {"username": "cy", "password": "guess"})
    assert _login_events() == [("authn_login_fail", "cy")]
    client.post("/api-auth/login/", {"username": "cy", "password": PASSWORD})
    assert _login_events() == [("authn_login_success", "cy")]
    assert client.get("/api/me").json() == {"user": "cy"}
    _take()
    client.post("/api-auth/logout/")
    assert _only("session_expired")["user"]["name"] == "cy"


def test_drf_basic_authentication_failure_names_the_account(client: Any) -> None:
    """DRF basic authentication with a wrong password is authn_login_fail for that account;
    the right one is an authenticated request, not a login."""
    make_user("cy")
    # DRF answers 403 here (SessionAuthentication, listed first, sends no WWW-Authenticate).
    for password, status in (("guess", 403), (PASSWORD, 200)):
        token = base64.b64encode(f"cy:{password}".encode()).decode()
        response = client.get("/api/me", HTTP_AUTHORIZATION=f"Basic {token}")
        assert response.status_code == status
    failed, served = _take()
    assert (failed["event"]["action"], failed["user"]["name"]) == ("authn_login_fail", "cy")
    assert (served["event"]["action"], served["user"]["name"]) == ("http_request", "cy")
    assert all(b"guess" not in line for line in OUTPUT.lines)


@pytest.mark.parametrize("as_json", [True, False])
def test_drf_obtain_auth_token(client: Any, as_json: bool) -> None:
    """DRF's obtain_auth_token (which signals only failures): wrong password authn_login_fail,
    right one authn_login_success, both naming the account from the JSON or form body."""
    make_user("dee")

    def post(password: str) -> Any:
        body = {"username": "dee", "password": password}
        if as_json:
            return client.post("/api/token-auth/", json.dumps(body), "application/json")
        return client.post("/api/token-auth/", body)

    assert post("guess").status_code == 400
    assert _login_events() == [("authn_login_fail", "dee")]
    token = post(PASSWORD).json()["token"]
    assert _login_events() == [("authn_login_success", "dee")]
    me = client.get("/api/me", HTTP_AUTHORIZATION=f"Token {token}")
    assert me.json() == {"user": "dee"}


def test_simplejwt_token_obtain_pair(client: Any) -> None:
    """simplejwt's TokenObtainPairView: 401 is authn_login_fail, 200 authn_login_success."""
    make_user("eve")
    wrong = {"username": "eve", "password": "guess"}
    assert client.post("/api/token/", json.dumps(wrong), "application/json").status_code == 401
    assert _login_events() == [("authn_login_fail", "eve")]
    pair = client.post("/api/token/", {"username": "eve", "password": PASSWORD}).json()
    assert _login_events() == [("authn_login_success", "eve")]
    me = client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert me.json() == {"user": "eve"}


def test_login_outside_a_request_is_reported_on_its_own(client: Any) -> None:
    """A login with no request through the middleware (the test client's login()) is still
    reported, as an event of its own."""
    make_user("fay")
    assert client.login(username="fay", password=PASSWORD)
    assert _login_events() == [("authn_login_success", "fay")]


def test_admin_brute_force_raises_the_brute_force_incident(client: Any) -> None:
    """Twelve wrong admin passwords for one account, replayed through the real app and fed to
    the detection pack, raise the brute-force incident naming the account; no try is a
    success."""
    make_user("root", staff=True)
    for n in range(12):
        client.post("/admin/login/", {"username": "root", "password": f"guess{n}"})
    client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    events = [decode_event(line) for line in OUTPUT.lines]
    actions = [e.event.action for e in events if e.event is not None]
    assert actions == ["authn_login_fail"] * 12 + ["authn_login_success"]
    engine = Engine(load_rules([builtin_dir()]), lateness=0)
    engine.feed_all(events)
    engine.flush()
    [incident] = [i for i in engine.incidents() if "brute-force-account" in i.rules]
    assert incident.accounts_targeted == ["root"]
    assert incident.accounts_compromised == ["root"]


@pytest.mark.usefixtures("_site")
def test_password_set_outside_a_request_is_reported() -> None:
    """set_password() and save() outside any request (changepassword, a shell) is reported as
    authn_password_change on its own; creating a user with a password is not."""
    user = make_user("gus")
    OUTPUT.clear()
    user.set_password(NEW_PASSWORD)
    user.save()
    [line] = OUTPUT.lines
    assert NEW_PASSWORD.encode() not in line
    [event] = _take()
    assert (event["event"]["action"], event["user"]["name"]) == ("authn_password_change", "gus")
