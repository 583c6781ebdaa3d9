"""Attribution by behaviour on a day of a shop's traffic: every participant named, no innocent.

One scenario, built once: customers who log in from home (a typo now and then, then success),
an office NAT with sixty colleagues, an uptime monitor whose canary login fails every minute, a
victim whose bearer token is replayed from elsewhere, and at 09:00 a distributed
credential-stuffing run over 1,000 residential addresses with one to three tries each, spread
over forty minutes, twenty of which get in. The built-in rule pack runs over it.
"""

from __future__ import annotations

import random
from functools import cache

from apiwatch.detect import Engine, builtin_dir, load_rules
from apiwatch.model import Event
from apiwatch.model.alert import Incident
from tests.detect.helpers import event, login

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"
NAT = "198.51.100.10"
CANARY = "198.51.100.250"
VICTIM_HOME = "192.0.2.77"
TOKEN = "tok-victim-0001"
THIEVES = [f"203.0.113.{n}" for n in range(150, 156)]


def home(n: int) -> str:
    return f"10.{n // 250}.{n % 250}.{7 + n % 3}"


def customer(n: int) -> str:
    return f"customer{n}@example.com"


def bot(n: int) -> str:
    return f"100.{64 + n % 60}.{n // 60}.{(n * 37) % 250 + 1}"


def _customers(rng: random.Random) -> list[Event]:
    """Two and a half hours of 300 customers logging in from home, a typo one time in eight."""
    out = []
    for n in range(300):
        for t in range(-7200 + rng.randrange(1200), 2400, 1500 + rng.randrange(600)):
            ip = home(n)
            if rng.random() < 0.125:
                out.append(login(t - 15, ip, customer(n), ok=False, ua=BROWSER))
            out.append(login(t, ip, customer(n), ok=True, ua=BROWSER))
            out.append(event(t + 5, ip=ip, path="/api/v1/orders", user=customer(n), ua=BROWSER))
    return out


def _office(rng: random.Random) -> list[Event]:
    """Sixty colleagues behind one NAT address; a few mistype, one of them a dozen times."""
    out = []
    for n in range(60):
        who = f"staff{n}@corp.example"
        for t in range(-7000 + rng.randrange(900), 2400, 1800):
            if rng.random() < 0.15:
                out.append(login(t - 20, NAT, who, ok=False, ua=BROWSER))
            out.append(login(t, NAT, who, ok=True, ua=BROWSER))
            out.append(event(t + 3, ip=NAT, path="/api/v1/orders", user=who, ua=BROWSER))
    out += [login(600 + n * 5, NAT, "staff3@corp.example", ok=False) for n in range(12)]
    return out


def _canary() -> list[Event]:
    """An uptime monitor: a health check and a canary login that fails, every minute."""
    out = []
    for t in range(-7200, 2400, 60):
        out.append(event(t, ip=CANARY, path="/healthz", ua="UptimeRobot/2.0"))
        out.append(login(t + 1, CANARY, "canary@monitor.example", ok=False, ua="UptimeRobot/2.0"))
    return out


def _token_theft() -> list[Event]:
    """The victim logs in at home and uses the token; then it is replayed from six addresses."""
    out = [login(-3000, VICTIM_HOME, "victim@example.com", ok=True, ua=BROWSER)]
    for t in range(-2990, 1800, 300):
        out.append(event(t, ip=VICTIM_HOME, path="/api/v1/orders", user="victim@example.com",
                         ua=BROWSER, labels={"token_id": TOKEN}))  # fmt: skip
    for n, ip in enumerate(THIEVES):
        out.append(event(900 + n * 30, ip=ip, path="/api/v1/account", ua="python-requests/2.31",
                         labels={"token_id": TOKEN}))  # fmt: skip
    return out


def _stuffing(rng: random.Random) -> tuple[list[Event], list[str], list[str]]:
    """1,000 addresses, one to three tries each over forty minutes; twenty get in."""
    out, winners = [], []
    agents = [f"Mozilla/5.0 (Windows NT 10.0) Chrome/{100 + n}.0" for n in range(40)]
    tried = 0
    for n in range(1000):
        ip, ua = bot(n), agents[rng.randrange(len(agents))]
        t = n * 2.4 + rng.random()
        for k in range(1 + rng.randrange(3)):
            out.append(login(t + k * 7, ip, f"leaked{tried}@mail.example", ok=False, ua=ua))
            tried += 1
        if n % 50 == 25:  # a real customer's reused password works
            winners.append(customer(100 + n // 50))
            out.append(login(t + 30, ip, winners[-1], ok=True, ua=ua))
    return out, [bot(n) for n in range(1000)], winners


@cache
def scenario() -> tuple[list[Incident], list[str], list[str]]:
    rng = random.Random(9)  # noqa: S311 - a reproducible scenario, not a secret
    attack, bots, winners = _stuffing(rng)
    events = [*_customers(rng), *_office(rng), *_canary(), *_token_theft(), *attack]
    events.sort(key=lambda e: e.timestamp)
    engine = Engine(load_rules([builtin_dir()]), lateness=0)
    engine.feed_all(events)
    engine.flush()
    return engine.incidents(), bots, winners


def _named() -> set[str]:
    return {ip for incident in scenario()[0] for ip in incident.attackers}


def test_a_distributed_run_over_a_thousand_addresses_is_attributed() -> None:
    """At least 95 % of 1,000 addresses with one to three tries each are named attackers."""
    _, bots, _ = scenario()
    assert len(_named() & set(bots)) >= 950


def test_ordinary_users_who_mistype_are_never_attackers() -> None:
    """Customers who mistype a password and then log in are never named."""
    assert not {home(n) for n in range(300)} & _named()


def test_an_office_nat_is_never_an_attacker() -> None:
    """A NAT with sixty real users (one of them mistyping a dozen times) is never named."""
    assert NAT not in _named()


def test_an_uptime_canary_is_never_a_stuffing_participant() -> None:
    """A monitor whose canary login fails every minute is not part of the stuffing run."""
    stuffing = [i for i in scenario()[0] if "credential-stuffing-distributed" in i.rules]
    assert stuffing
    assert all(CANARY not in incident.attackers for incident in stuffing)


def test_the_victim_of_a_replayed_token_is_never_an_attacker() -> None:
    """The token's owner's address is not named; the addresses replaying it are."""
    (reuse,) = [i for i in scenario()[0] if "token-many-ips" in i.rules]
    assert VICTIM_HOME not in reuse.attackers
    assert set(THIEVES) <= set(reuse.attackers)


def test_compromised_accounts_are_exactly_those_an_attacker_got_into() -> None:
    """The twenty accounts the stuffing run got into, and the account whose token is replayed
    while its owner uses it, are named, and no other account."""
    incidents, _, winners = scenario()
    compromised = {a for incident in incidents for a in incident.accounts_compromised}
    assert len(winners) == 20
    assert compromised == {*winners, "victim@example.com"}


def test_every_attacker_carries_its_evidence() -> None:
    """Each attacker of a stuffing incident has a human-readable list of why."""
    (stuffing,) = [i for i in scenario()[0] if "credential-stuffing-distributed" in i.rules]
    assert set(stuffing.attacker_evidence) == set(stuffing.attackers)
    why = stuffing.attacker_evidence[bot(1)]
    assert any("never logged into from here" in line for line in why), why
    assert any("no successful login" in line for line in why), why
    for account in stuffing.accounts_compromised:
        assert "an attacking address" in stuffing.account_evidence[account][0]


def test_a_distinct_count_rule_says_what_it_counted() -> None:
    """A value_count rule's evidence names what it counted distinct values of (an access-log
    scraper: distinct owners), not a number of events."""
    walk = [
        event(15.0 * n, ip="203.0.113.83", ua=BROWSER, path=f"/api/v1/users/{900 - n}/orders",
              status=404 if n % 4 == 0 else 200)
        for n in range(70)
    ]  # fmt: skip
    engine = Engine(load_rules([builtin_dir()]), lateness=0)
    engine.feed_all(walk)
    engine.flush()
    (scraping,) = [i for i in engine.incidents() if "object-scraping-source" in i.rules]
    why = scraping.attacker_evidence["203.0.113.83"]
    assert why[0] == (
        "object-scraping-source: 50 distinct apiwatch.owner_id values from this address"
    )
