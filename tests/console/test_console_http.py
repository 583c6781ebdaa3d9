"""The console over HTTP: security headers, sign-in, CSRF, roles on every route, the login rate
limit and its events, the read audit, rollups behind the charts."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from apiwatch.server import ServerSettings, create_app
from apiwatch.server.console import console_router
from apiwatch.server.console._web import CSP, visible
from apiwatch.store import DetectionFilter, EventFilter
from tests.server.helpers import NDJSON, event, ndjson

from .conftest import PASSWORD, ConsoleSite, csrf_of

PAGES = ["/", "/incidents", "/events?search=1", "/decisions", "/rules", "/sources", "/audit"]


def ingest(site: ConsoleSite, events: list[dict[str, object]]) -> None:
    headers = {**NDJSON, "Authorization": f"Bearer {site.keys['ingest']}"}
    response = httpx.post(f"{site.url}/v1/events", content=ndjson(events), timeout=30,
                          headers=headers)  # fmt: skip
    assert response.status_code == 202, response.text


def test_pages_carry_a_strict_csp_and_no_inline_script_or_style(site: ConsoleSite) -> None:
    """Every page: CSP without unsafe-inline, frame-ancestors 'none', nosniff, same-origin
    referrers; and no inline script, style element or style attribute for the CSP to block."""
    assert "unsafe-inline" not in CSP
    assert "frame-ancestors 'none'" in CSP
    client, _ = site.login("admin")
    for path in [*PAGES, "/login"]:
        response = client.get(path)
        assert response.status_code in (200, 303), path
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        html = response.text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert "<style" not in html, path
        assert not re.search(r"\sstyle=", html), path
        assert not re.search(r"<[^>]+\son[a-z]+=", html), path


def test_api_answers_keep_their_own_headers(site: ConsoleSite) -> None:
    """The JSON API is not given the console's page headers (and /healthz still answers)."""
    response = httpx.get(f"{site.url}/healthz")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers


def test_a_wrong_password_is_refused_without_a_session(site: ConsoleSite) -> None:
    """A wrong password gets 401, the form again, and no session cookie."""
    client = site.client()
    response = site.attempt(client, "admin", "not the password at all")
    assert response.status_code == 401
    assert "wrong user name or password" in response.text
    assert "apiwatch_session" not in client.cookies
    assert client.get("/").status_code == 303


def test_the_session_cookie_is_httponly_and_samesite_strict(site: ConsoleSite) -> None:
    """The session cookie is HttpOnly and SameSite=Strict (and not Secure over plain HTTP)."""
    client = site.client()
    response = site.attempt(client, "viewer", PASSWORD)
    assert response.status_code == 303
    cookie = next(v for k, v in response.headers.multi_items()
                  if k == "set-cookie" and v.startswith("apiwatch_session="))  # fmt: skip
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Secure" not in cookie


def test_logout_ends_the_session_in_the_store(site: ConsoleSite) -> None:
    """After logout the old cookie no longer opens any page."""
    client, csrf = site.login("viewer")
    token = client.cookies["apiwatch_session"]
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    again = site.client()
    again.cookies.set("apiwatch_session", token)
    assert again.get("/").status_code == 303


def test_state_changes_need_the_csrf_token(site: ConsoleSite) -> None:
    """A POST without the session's CSRF token, with a wrong one, or from another origin is 403
    and changes nothing."""
    client, csrf = site.login("admin")
    form = {"scope": "ip", "value": "203.0.113.50", "duration": "1h", "reason": "test"}
    assert client.post("/decisions", data=form).status_code == 403
    assert client.post("/decisions", data={**form, "csrf": "x" + csrf}).status_code == 403
    foreign = client.post("/decisions", data={**form, "csrf": csrf},
                          headers={"Origin": "https://evil.example"})  # fmt: skip
    assert foreign.status_code == 403
    assert site.store.decisions.query(_in_force()).items == []
    assert client.post("/decisions", data={**form, "csrf": csrf}).status_code == 303
    assert [d.value for d in site.store.decisions.query(_in_force()).items] == ["203.0.113.50"]


def _in_force():  # type: ignore[no-untyped-def]
    from apiwatch.store import DecisionFilter

    return DecisionFilter()


ROLE_RANK = {None: -1, "viewer": 0, "analyst": 1, "admin": 2}


def _concrete(path: str) -> str:
    return (path.replace("{incident_id}", "no-such-incident").replace("{decision_id}", "999")
            .replace("{kind}", "csv"))  # fmt: skip


def test_every_route_is_walked_with_every_role(site: ConsoleSite) -> None:
    """Each console route, called signed out and as each role: refused (login or 403) below its
    role, let through at or above it; POSTs carry the CSRF token."""
    roles = console_router().roles
    assert len(roles) >= 20
    app = create_app(site.store, ServerSettings(detect=False))
    api = ("/v1/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/static")
    for route in app.routes:
        path = getattr(route, "path", "")
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD" and not path.startswith(api):
                assert (method, path) in roles, f"{method} {path} is not a console route"
    clients = {None: (site.client(), "")} | {r: site.login(r) for r in ("viewer", "analyst",
                                                                          "admin")}  # fmt: skip
    # Logout last: it ends the session the other calls use.
    for (method, path), needed in sorted(roles.items(), key=lambda i: (i[0][1] == "/logout", i)):
        if needed is None:
            continue
        url = _concrete(path)
        for role, (client, csrf) in clients.items():
            data = {"csrf": csrf} if method == "POST" else None
            response = client.request(method, url, data=data)
            allowed = ROLE_RANK[role] >= ROLE_RANK[needed]
            where = f"{method} {path} as {role}"
            if role is None:
                assert response.status_code == 303, where
                assert response.headers["location"].startswith("/login"), where
            elif allowed:
                assert response.status_code not in (401, 403), where
                if path != "/logout":
                    assert not response.headers.get("location", "").startswith("/login"), where
            else:
                assert response.status_code == 403, where


def test_login_attempts_are_rate_limited_and_become_events(site: ConsoleSite) -> None:
    """After 5 failures from one address even the right password is refused (429); every
    attempt is stored as an OWASP login event of service apiwatch-console."""
    client = site.client()
    for _ in range(5):
        assert site.attempt(client, "admin", "guess guess guess").status_code == 401
    assert site.attempt(client, "admin", PASSWORD).status_code == 429
    assert site.attempt(client, "viewer", PASSWORD).status_code == 429  # same address
    lines = site.store.events.query(
        EventFilter(action="authn_login_fail"), cursor=None, limit=100
    ).lines
    assert len(lines) == 7
    assert all(b'"apiwatch-console"' in line for line in lines)


def test_brute_force_on_the_console_raises_an_incident(site: ConsoleSite) -> None:
    """Twelve failed logins for one account against the console become a brute-force incident
    through the collector's own detection."""
    client = site.client()
    for _ in range(12):
        site.attempt(client, "admin", "hunter2 hunter2")
    deadline = time.monotonic() + 20
    found = []
    while time.monotonic() < deadline and not found:
        page = site.store.detections.incidents(DetectionFilter(), cursor=None, limit=50)
        found = [i for i in page.items if "brute-force-account" in i.rules]
        time.sleep(0.3)
    assert found, "no brute-force incident"
    assert found[0].accounts_targeted == ["admin"]


def test_reading_event_data_is_audited(site: ConsoleSite) -> None:
    """Searching events, opening an incident, the decisions and the sources are recorded in the
    read audit as the user."""
    ingest(site, [event(ip="198.51.100.7", user="carol")])
    client, _ = site.login("viewer")
    assert client.get("/events", params={"source.ip": "198.51.100.0/24"}).status_code == 200
    assert client.get("/incidents/whatever").status_code == 404
    assert client.get("/decisions").status_code == 200
    assert client.get("/sources").status_code == 200
    reads = [(r.key_name, r.what) for r in site.store.audit.reads(50)]
    assert ("console:viewer", "decisions") in reads
    assert ("console:viewer", "sources") in reads
    assert ("console:viewer", "events") in reads
    assert ("console:viewer", "incident") in reads


def test_events_search_shows_matches_and_refuses_bad_input(site: ConsoleSite) -> None:
    """The events page filters by network and status, and names a bad field clearly."""
    ingest(site, [event(ip="198.51.100.7", status=401), event(ip="192.0.2.1", status=200)])
    client, _ = site.login("viewer")
    page = client.get("/events", params={"source.ip": "198.51.100.0/24", "status": "401"})
    assert "198.51.100.7" in page.text
    assert "192.0.2.1" not in page.text
    bad = client.get("/events", params={"source.ip": "not-an-ip"})
    assert "source.ip: &#39;not-an-ip&#39; is not an IP address" in bad.text


def test_overview_series_read_the_rollups(site: ConsoleSite) -> None:
    """The chart data counts requests, failed logins and errors of the newest minutes (the
    console's own login is an event too)."""
    now = datetime.now(UTC)
    ingest(site, [event(at=now, status=200), event("authn_login_fail", at=now, status=401,
                                                   outcome="failure", user="x"),
                  event(at=now, status=503)])  # fmt: skip
    client, _ = site.login("viewer")
    data = client.get("/overview/series.json").json()
    assert sum(data["requests"]) == 4
    assert sum(data["login_failures"]) == 1
    assert (sum(data["client_errors"]), sum(data["server_errors"])) == (1, 1)
    assert len(data["t"]) == 360


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\r\nb", "a\\r\\nb"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("ok", "ok"),
        ("\u202eevil", "\\u202eevil"),
    ],
)
def test_control_characters_are_shown_as_escapes(text: str, shown: str) -> None:
    """CR, LF, ANSI escapes and bidi overrides in attacker text are shown, not obeyed."""
    assert visible(text) == shown


def test_the_console_is_on_the_collector_port(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`create_app` serves the console at / beside the API (no second port)."""
    from apiwatch.store import open_store
    from tests.server.conftest import served

    store = open_store(f"sqlite:///{tmp_path}/x.db", key_file=tmp_path / "k")
    try:
        with served(create_app(store, ServerSettings(detect=False))) as url:
            assert httpx.get(f"{url}/").status_code == 303
            assert httpx.get(f"{url}/login").status_code == 200
            assert "uPlot" in httpx.get(f"{url}/static/uPlot.iife.min.js").text
            assert httpx.get(f"{url}/static/LICENSE.htmx").status_code == 200
    finally:
        store.close()
    assert csrf_of('name="csrf" value="abc"') == "abc"


def test_over_tls_the_session_cookie_is_secure(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Served over TLS, the session cookie is also Secure, and the session works over https."""
    import socket
    import ssl
    import threading

    import uvicorn

    from apiwatch.store import open_store
    from tests.tls_helpers import write_self_signed

    from .conftest import add_users

    cert, key = write_self_signed(tmp_path)
    store = open_store(f"sqlite:///{tmp_path}/tls.db", key_file=tmp_path / "k")
    add_users(store)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(store, ServerSettings(detect=False)), log_level="warning",
                            ssl_certfile=str(cert), ssl_keyfile=str(key))  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        trust = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=trust,
                          timeout=30) as client:  # fmt: skip
            form = client.get("/login")
            login = {"csrf": csrf_of(form.text), "username": "viewer", "password": PASSWORD}
            response = client.post("/login", data=login)
            cookie = next(v for k, v in response.headers.multi_items()
                          if k == "set-cookie" and v.startswith("apiwatch_session="))  # fmt: skip
            assert "Secure" in cookie
            assert "HttpOnly" in cookie
            assert client.get("/").status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        store.close()


def test_an_expired_session_opens_nothing(site: ConsoleSite) -> None:
    """A session past its expiry is refused like no session (the login page)."""
    import hashlib

    now = datetime.now(UTC)
    token = "expired-session-token"
    token_hash = hashlib.sha256(token.encode()).digest()
    ended = now - timedelta(seconds=1)
    site.store.console.add_session(token_hash, "admin", "c", ended, now - timedelta(hours=9))
    client = site.client()
    client.cookies.set("apiwatch_session", token)
    response = client.get("/incidents")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fincidents"


def test_an_incident_exports_its_extent(site: ConsoleSite) -> None:
    """CSV and JSON exports list every attacker (with requests), account and object; a cell a
    spreadsheet would run as a formula is defused."""
    from apiwatch.model import Incident

    now = datetime.now(UTC)
    ingest(site, [event(ip="203.0.113.9", at=now, status=401) for _ in range(3)])
    site.store.detections.save([], [Incident(
        id="inc-x", title="Stuffing", severity="high", first_seen=now, last_seen=now,
        attackers=["203.0.113.9"], accounts_targeted=["=HYPERLINK(1)", "bob"],
        accounts_compromised=["bob"], objects_exposed=["/orders/{id}=42"])])  # fmt: skip
    client, _ = site.login("viewer")
    csv_text = client.get("/incidents/inc-x/export.csv")
    assert csv_text.status_code == 200
    assert "attachment" in csv_text.headers["content-disposition"]
    rows = csv_text.text.splitlines()
    assert rows[0] == "kind,value,requests"
    assert "attacker,203.0.113.9,3" in rows
    assert "account_targeted,'=HYPERLINK(1)," in rows
    assert "account_compromised,bob," in rows
    assert "object_exposed,/orders/{id}=42," in rows
    data = client.get("/incidents/inc-x/export.json").json()
    assert data["accounts_compromised"] == ["bob"]
    assert data["attacker_requests"] == {"203.0.113.9": 3}
    assert ("console:viewer", "incident export") in [
        (r.key_name, r.what) for r in site.store.audit.reads(20)]  # fmt: skip
