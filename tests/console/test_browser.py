"""The console in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium) against a
collector seeded with a simulated attack (ingested over the API, detected live).

Screenshots of each main page go to test-artifacts/console/ (gitignored; named in the README).
Skipped, saying why, only when /usr/bin/chromium is missing outside CI; in CI it must be there.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from apiwatch.model import Event, Incident, encode_event
from apiwatch.server import ServerSettings, create_app
from apiwatch.simulate import generate
from apiwatch.store import DetectionFilter, open_store
from tests.server.conftest import add_keys, served
from tests.server.helpers import NDJSON

from .conftest import PASSWORD, ConsoleSite, add_users

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
ATTACKS = ("brute_force", "credential_stuffing", "scanner", "object_enumeration")

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip(
        "the browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install "
        "chromium; .ci/run installs it)",
        allow_module_level=True,
    )

if os.environ.get("CI"):
    from playwright import sync_api  # in CI a missing Playwright is a failure, not a skip
else:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

# Records CSP violations and dialogs: a hostile string that became markup would show here.
_WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def _ingest(url: str, key: str, events: list[Event]) -> None:
    for start in range(0, len(events), 5000):
        body = b"".join(encode_event(e) + b"\n" for e in events[start : start + 5000])
        response = httpx.post(f"{url}/v1/events", content=body, timeout=60,
                              headers={**NDJSON, "Authorization": f"Bearer {key}"})  # fmt: skip
        assert response.status_code == 202, response.text


def _simulated_attack() -> list[Event]:
    """The simulator's attack mix, moved so that it ends a minute ago."""
    events = list(generate(seed=7, users=30, attacks=ATTACKS).events())
    shift = datetime.now(UTC) - timedelta(minutes=1) - events[-1].timestamp
    return [msgspec.structs.replace(e, timestamp=e.timestamp + shift) for e in events]


def _settled(site: ConsoleSite, at_least: int) -> list[Incident]:
    """The stored incidents once detection has saved them and they stop changing."""
    deadline = time.monotonic() + 60
    last: list[Incident] = []
    while time.monotonic() < deadline:
        found = site.store.detections.incidents(DetectionFilter(), cursor=None, limit=500).items
        if len(found) >= at_least and found == last:
            return found
        last = found
        time.sleep(1)
    raise AssertionError(f"detection found {len(last)} incidents")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleSite]:
    """A collector whose live detection has seen the simulated attack, with console users."""
    tmp = tmp_path_factory.mktemp("console-browser")
    store = open_store(f"sqlite:///{tmp}/console.db", key_file=tmp / "keys")
    keys = add_keys(store)
    keys["bouncer"] = store.keys.create("bouncer", ["bouncer"])[1]
    add_users(store)
    try:
        with served(create_app(store, ServerSettings())) as url:
            site = ConsoleSite(url, store, keys)
            _ingest(url, keys["ingest"], _simulated_attack())
            _settled(site, 4)
            yield site
            site.close()
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        yield launched
        launched.close()


class Tab:
    """A browser page that collects script errors, console errors and dialogs."""

    def __init__(self, browser: Any, base: str) -> None:
        self.context = browser.new_context(base_url=base, viewport={"width": 1400, "height": 1000})
        self.context.add_init_script(_WATCH)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda exc: self.problems.append(f"pageerror: {exc}"))
        self.page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"),
                                          d.dismiss()))  # fmt: skip
        self.page.on("console", lambda m: m.type == "error" and not m.text.startswith(
            "Failed to load resource") and self.problems.append(f"console: {m.text}"))  # fmt: skip
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(
            f"{r.status} {r.url}"))  # fmt: skip

    def login(self, user: str, password: str = PASSWORD) -> None:
        self.page.goto("/login")
        self.page.fill("input[name=username]", user)
        self.page.fill("input[name=password]", password)
        self.page.click("#login")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def clean(self) -> None:
        """No script error, no dialog, no CSP violation on the page."""
        violations = self.page.evaluate("window.__violations")
        assert not self.problems, self.problems
        assert violations == [], violations

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any, seeded: ConsoleSite) -> Iterator[Tab]:
    opened = Tab(browser, seeded.url)
    yield opened
    opened.close()


def _incident_with(site: ConsoleSite, predicate: Any) -> Incident:
    found = site.store.detections.incidents(DetectionFilter(), cursor=None, limit=500).items
    return next(i for i in found if predicate(i))


def test_a_wrong_password_is_refused(tab: Tab) -> None:
    """The login form says the password is wrong and stays on the login page."""
    tab.login("analyst", "not the right password")
    assert "wrong user name or password" in tab.page.inner_text("#login-error")
    assert tab.page.url.endswith("/login")
    tab.shot("login")


def test_overview_charts_render_the_simulated_attack(tab: Tab, seeded: ConsoleSite) -> None:
    """After login the overview's three charts draw the seeded traffic (canvas, non-zero data)
    with incident markers, the open incidents and top addresses are listed, and htmx refreshes
    them without a reload."""
    tab.login("viewer")
    tab.page.wait_for_selector("#chart-requests[data-rendered]")
    tab.page.wait_for_selector("#chart-logins[data-rendered]")
    tab.page.wait_for_selector("#chart-errors[data-rendered]")
    assert int(tab.page.get_attribute("#chart-requests", "data-total") or 0) > 10_000
    assert int(tab.page.get_attribute("#chart-logins", "data-total") or 0) > 100
    assert tab.page.locator("#chart-requests canvas").count() == 1
    series = tab.page.evaluate("fetch('/overview/series.json').then(r => r.json())")
    assert len(series["incidents"]) >= 4
    assert tab.page.locator("#open-incidents tbody tr").count() >= 4
    assert "203.0.113." in tab.page.inner_text("#top-addresses")
    tab.shot("overview")
    with tab.page.expect_response(lambda r: "/overview/live" in r.url, timeout=25_000) as live:
        pass  # htmx polls the tables every 15 s, under the CSP
    assert live.value.status == 200
    assert tab.page.locator("#open-incidents tbody tr").count() >= 4
    tab.clean()


def test_incident_shows_compromised_accounts_and_evidence(tab: Tab, seeded: ConsoleSite) -> None:
    """The stuffing incident's page highlights its compromised accounts, lists its attackers
    with requests and why each is there, and draws its timeline."""
    incident = _incident_with(seeded, lambda i: "credential-stuffing-source" in i.rules)
    tab.login("analyst")
    tab.page.goto("/incidents")
    tab.shot("incidents")
    tab.page.click(f"a[href='/incidents/{incident.id}']")
    tab.page.wait_for_selector("#chart-timeline[data-rendered]")
    compromised = tab.page.locator("#compromised li.compromised .account").all_inner_texts()
    assert sorted(compromised) == sorted(incident.accounts_compromised)
    if incident.account_evidence:  # why each account is named, under it
        assert tab.page.locator("#compromised li.compromised .why").count() >= 1
    row = tab.page.locator(f"#attackers tr[data-address='{incident.attackers[0]}']")
    cells = row.locator("td").all_inner_texts()
    assert int(cells[2]) > 0  # requests
    assert "credential-stuffing-source" in cells[3]  # why it is here
    tab.shot("incident")
    tab.clean()


def test_a_ban_and_an_unban_reach_the_decision_stream(tab: Tab, seeded: ConsoleSite) -> None:
    """Banning an attacker from the incident page lists the decision there and on the decisions
    page, and a bouncer pulling /v1/decisions/stream receives it; unbanning it there reaches
    the bouncer as deleted."""
    incident = _incident_with(seeded, lambda i: "object-enumeration" in i.rules)
    address = incident.attackers[0]
    tab.login("analyst")
    tab.page.goto(f"/incidents/{incident.id}")
    tab.page.locator(f"#attackers tr[data-address='{address}'] button.ban").click()
    tab.page.wait_for_selector(f"#incident-decisions td:text-is('{address}')")
    tab.page.goto("/decisions")
    assert tab.page.locator(f"#decisions tr[data-value='{address}']").count() == 1
    tab.shot("decisions")
    bouncer = {"X-Api-Key": seeded.keys["bouncer"]}
    stream = httpx.get(f"{seeded.url}/v1/decisions/stream", params={"startup": "true"},
                       headers=bouncer, timeout=30).json()  # fmt: skip
    assert address in [d["value"] for d in stream["new"] or []]
    tab.page.goto(f"/incidents/{incident.id}")
    tab.page.click("#incident-decisions button.unban")
    tab.page.wait_for_selector("#incident-decisions td:text-matches('^deleted')")
    later = httpx.get(f"{seeded.url}/v1/decisions/stream", params={"startup": "false"},
                      headers=bouncer, timeout=30).json()  # fmt: skip
    assert address in [d["value"] for d in later["deleted"] or []]
    tab.clean()


def test_a_false_positive_offers_an_allowlist_entry(tab: Tab, seeded: ConsoleSite) -> None:
    """Marking the scanner incident a false positive offers its address for the allowlist;
    adding it shows the entry on the decisions page."""
    incident = _incident_with(seeded, lambda i: "attack-tool-user-agent" in i.rules)
    address = incident.attackers[0]
    tab.login("admin")
    tab.page.goto(f"/incidents/{incident.id}")
    tab.page.click("#false-positive")
    tab.page.wait_for_selector("#allowlist-offer")
    assert "false_positive by admin" in tab.page.inner_text("#incident-state")
    tab.page.select_option("#allowlist-value", address)
    tab.page.click("#allowlist-add")
    tab.page.wait_for_selector(f"#allowlist tr[data-value='{address}']")
    assert seeded.store.allowlist.is_allowed("Ip", address)
    tab.clean()


def test_every_page_renders_and_logout_ends_the_session(tab: Tab, seeded: ConsoleSite) -> None:
    """Each main page opens without a script error (screenshots kept); after logging out the
    console asks for a login again."""
    tab.login("admin")
    pages = [("/events?search=1&event.action=authn_login_fail", "events"), ("/rules", "rules"),
             ("/sources", "sources"), ("/audit", "audit")]  # fmt: skip
    for path, name in pages:
        tab.page.goto(path)
        tab.shot(name)
    assert "console:admin" in tab.page.inner_text("#reads")
    tab.page.click("#logout")
    tab.page.wait_for_url("**/login")
    tab.page.goto("/incidents")
    assert tab.page.url.endswith("/login?next=%2Fincidents")
    tab.clean()


HOSTILE = (
    "<script>window.__xss = 1</script>",
    '"><img src=x onerror="window.__xss = 2">',
    "javascript:window.__xss = 3",
    "'><svg onload=window.__xss=4>",
    "line1\r\nFAKE 2026-01-01 login ok",
    "\x1b[31mred\x1b[0m",
)


def _hostile_events() -> list[dict[str, Any]]:
    now = datetime.now(UTC) - timedelta(minutes=1)
    return [
        {"@timestamp": now.isoformat(), "event": {"action": action, "outcome": "failure"},
         "source": {"ip": "203.0.113.66"}, "user_agent": {"original": text},
         "user": {"name": text}, "url": {"path": "/" + text.replace(" ", "%20")},
         "http": {"request": {"method": "POST"}, "response": {"status_code": 401}},
         "service": {"name": text}, "host": {"name": "web-1"}}
        for text in HOSTILE for action in ("authn_login_fail", "http_request")
    ]  # fmt: skip


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleSite]:
    """A collector holding events, an incident, a decision and allowlist entries made of
    attacker-controlled strings."""
    from apiwatch.respond import manual_allow_entry, manual_decision

    tmp = tmp_path_factory.mktemp("console-xss")
    store = open_store(f"sqlite:///{tmp}/console.db", key_file=tmp / "keys")
    keys = add_keys(store)
    add_users(store)
    now = datetime.now(UTC)
    store.detections.save([], [Incident(
        id="xss-1", title=HOSTILE[0], severity="high", first_seen=now - timedelta(minutes=5),
        last_seen=now, rules=[HOSTILE[1], HOSTILE[3]], attackers=["203.0.113.66"],
        user_agents=list(HOSTILE), accounts_targeted=list(HOSTILE),
        accounts_compromised=[HOSTILE[1], HOSTILE[2]], objects_exposed=[HOSTILE[4]])])  # fmt: skip
    store.decisions.add([manual_decision("Ip", "203.0.113.66", allowlist=store.allowlist,
                                         duration="1h", reason=HOSTILE[1], now=now)])  # fmt: skip
    store.allowlist.add(manual_allow_entry("Username", HOSTILE[0], reason=HOSTILE[3], now=now))
    try:
        with served(create_app(store, ServerSettings())) as url:
            response = httpx.post(f"{url}/v1/events", timeout=30, content=b"".join(
                msgspec.json.encode(e) + b"\n" for e in _hostile_events()),
                headers={**NDJSON, "Authorization": f"Bearer {keys['ingest']}"})  # fmt: skip
            assert response.status_code == 202, response.text
            assert response.json()["accepted"] >= len(HOSTILE), response.text
            yield ConsoleSite(url, store, keys)
    finally:
        store.close()


def test_hostile_strings_are_inert_on_every_page(browser: Any, hostile: ConsoleSite) -> None:
    """Events, an incident, a decision and allowlist entries carrying <script>, an onerror
    image, javascript: links, CRLF and ANSI: on every page no script runs, no element is
    injected, no CSP violation is even attempted, and the strings are shown as text."""
    tab = Tab(browser, hostile.url)
    try:
        tab.login("admin")
        pages = [
            "/",
            "/overview/live",
            "/incidents",
            "/incidents/xss-1",
            "/decisions",
            "/rules",
            "/sources",
            "/audit",
            "/events?search=1",
            "/events?search=1&user.name=%3Cscript%3Ewindow.__xss%20%3D%201%3C%2Fscript%3E",
        ]
        for path in pages:
            tab.page.goto(path)
            tab.page.wait_for_load_state("load")
            tab.page.wait_for_timeout(150)  # let any injected handler fire
            where = f"on {path}"
            assert tab.page.evaluate("window.__xss") is None, where
            scripts = tab.page.eval_on_selector_all("script", "s => s.map(e => e.src)")
            assert all("/static/" in src for src in scripts), where
            assert tab.page.locator("img, svg:not(.u-over svg), iframe, object").count() == 0
            assert tab.page.locator("a[href^='javascript:' i]").count() == 0, where
            assert tab.page.locator("[onerror], [onload]").count() == 0, where
            tab.clean()
        tab.page.goto("/incidents/xss-1")
        text = tab.page.inner_text("main")
        assert HOSTILE[0] in text  # shown, not run
        assert "line1\\r\\nFAKE" in text  # CRLF visible as escapes, no forged line
        assert "\\x1b[31mred" in text  # ANSI visible, not obeyed
        tab.shot("hostile-incident")
        tab.page.goto("/events?search=1")
        assert HOSTILE[1] in tab.page.inner_text("#events")
    finally:
        tab.close()
