"""Benign crowds that look alarming: none of their addresses or accounts may ever be flagged."""

from __future__ import annotations

import random

from tests.adversarial.crowd import (
    DURATION,
    Person,
    fixed,
    forgot_then_reset,
    new_person,
    session,
)
from tests.adversarial.population import app_agent, browser_agent
from tests.adversarial.records import Request, Truth
from tests.adversarial.shop import SSO_LOGIN, Client
from tests.adversarial.world import World

__all__ = [
    "QA_RANGE",
    "carrier_cgnat",
    "office_nat",
    "partner_integration",
    "qa_load_test",
    "reset_wave",
    "sso_bridge",
    "uptime_monitor",
]

QA_RANGE = "147.28.190.0/27"
"""The address range the QA team declared for its load tests."""


def _benign(name: str, description: str) -> Truth:
    return Truth(name, False, description)


def carrier_cgnat(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """A mobile carrier's CGNAT: thousands of phones share a handful of public addresses, and a
    phone may come out of another one on its next visit. Ordinary logins, ordinary typos."""
    truth = _benign("carrier_cgnat", "thousands of phones behind a few carrier addresses")
    hosts = (3, 17, 33, 41, 58, 70)[: world.count(6, 1)]
    gateways = [world.addresses.claim(f"46.114.{rng.randint(0, 255)}.{n}") for n in hosts]
    out: list[Request] = []
    # A smaller run has fewer gateways, never emptier ones: the crowd per address is the trap.
    for _ in range(330 * len(gateways)):
        person = new_person(world.shop, rng, lambda: rng.choice(gateways))
        if rng.random() < 0.6 and not person.app:
            person.app, person.agent = True, app_agent(rng)
        if rng.random() < 0.01:
            out += forgot_then_reset(world.shop, rng, person, rng.uniform(0, 6000), truth.name)
        for _ in range(rng.choice((1, 1, 2))):
            out += session(world.shop, rng, person, rng.uniform(0, DURATION - 60), truth.name)
    return out, [truth]


def office_nat(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """A company whose staff all shop from one office address during the working day."""
    truth = _benign("office_nat", "hundreds of employees behind one office address")
    office = world.addresses.claim(f"195.145.{rng.randint(0, 255)}.34")
    out: list[Request] = []
    for _ in range(300):  # one office at every scale: its crowd is the trap
        person = new_person(world.shop, rng, fixed(office))
        person.app, person.agent = False, _corporate_agent(rng)
        if rng.random() < 0.02:
            out += forgot_then_reset(world.shop, rng, person, rng.uniform(0, 6000), truth.name)
        for _ in range(rng.choice((1, 2, 2, 3))):
            out += session(world.shop, rng, person, rng.uniform(0, DURATION - 60), truth.name)
    return out, [truth]


def _corporate_agent(rng: random.Random) -> str:
    agent = browser_agent(rng)
    while "Windows" not in agent:
        agent = browser_agent(rng)
    return agent


def sso_bridge(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """A company's single-sign-on bridge logs its employees into their shop accounts from its
    one server, hundreds of accounts, most at the start of the working day; a few employees
    have left and their accounts are disabled (401)."""
    truth = _benign("sso_bridge", "an SSO bridge logging in hundreds of accounts")
    shop = world.shop
    ip = world.addresses.claim(f"52.29.{rng.randint(0, 255)}.118")
    agent = "corp-sso-bridge/2.4.1 (+https://idp.northwind-traders.example/sso; python-httpx/0.27)"
    out: list[Request] = []
    for n in range(500):  # one bridge with its whole staff at every scale
        email = f"employee{n:04d}@northwind-traders.example"
        if rng.random() < 0.97:
            shop.open_account(email)
        at = rng.expovariate(1 / 900) if rng.random() < 0.6 else rng.uniform(0, DURATION)
        at = min(at, DURATION - 5)
        login = shop.login(at, ip, agent, email, True, truth.name, path=SSO_LOGIN)
        out.append(login)
        if login.status == 200:
            client = Client(shop, ip, agent, truth.name, shop.accounts[email], token=shop.token())
            out.append(client.get(at + 0.4, "/api/v1/me"))
    return out, [truth]


def reset_wave(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """After a breach notice at 09:00 asks everyone to change their password, hundreds of
    customers request a reset within half an hour; a few mistype their e-mail first."""
    truth = _benign("reset_wave", "a forced password-reset wave after an announcement")
    notice = 3000.0
    out: list[Request] = []
    for _ in range(world.count(600, 30)):
        home = world.addresses.residential()
        person = new_person(world.shop, rng, fixed(home))
        out += _reset(world, rng, person, notice + rng.expovariate(1 / 600), truth.name)
    return [request for request in out if request.at < DURATION], [truth]


def _reset(world: World, rng: random.Random, person: Person, at: float, sc: str) -> list[Request]:
    shop, ip, email = world.shop, person.address(), person.account.email
    out = []
    if rng.random() < 0.05:  # "gmial.com": the form says no such account
        out.append(shop.forgot(at, ip, person.agent, email.replace("@", "@x"), sc))
        at += rng.uniform(8, 30)
    out.append(shop.forgot(at, ip, person.agent, email, sc))
    at += rng.uniform(40, 900)
    out.append(shop.reset(at, ip, person.agent, email, sc))
    at += rng.uniform(3, 20)
    login = shop.mobile_login if person.app else shop.login
    out.append(login(at, ip, person.agent, email, True, sc))
    return out


def uptime_monitor(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """Three monitoring locations check /healthz every minute and log in with a canary account
    every five minutes, to the second; the canary's password was rotated and nobody updated
    the monitor, so every canary login fails."""
    truth = _benign("uptime_monitor", "a strictly periodic monitor with a failing canary login")
    canary = "synthetic-canary@shop.example.com"
    world.shop.open_account(canary, orders=0)
    agent = "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"
    out: list[Request] = []
    for offset in (7.0, 27.0, 47.0):
        monitor = Client(world.shop, world.addresses.hosting(), agent, truth.name)
        for minute in range(int(DURATION // 60)):
            at = offset + 60 * minute
            out.append(monitor.get(at, "/healthz"))
            if minute % 5 == 0:
                out.append(world.shop.login(at + 1, monitor.ip, agent, canary, False, truth.name))
    return out, [truth]


def partner_integration(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """A fulfilment partner syncs its own orders: it pages through its order list and then reads
    every order in it, one after another, with its API token."""
    truth = _benign("partner_integration", "a partner paging deeply through its own orders")
    shop = world.shop
    partner = shop.open_account("integrations@acme-logistics.example", orders=world.count(3000))
    agent = (
        "acme-fulfilment-sync/3.4.1 (+https://acme-logistics.example/bot) Python/3.12 "
        "aiohttp/3.10.10"
    )
    client = Client(shop, world.addresses.hosting(), agent, truth.name, partner, token=shop.token())
    truth.own_objects |= {str(partner.uid), *map(str, partner.orders)}
    out: list[Request] = []
    at = rng.uniform(1200, 2400)
    for page, first in enumerate(range(0, len(partner.orders), 100), 1):
        at += rng.uniform(0.3, 1.0)
        query = f"page={page}&per_page=100"
        out.append(client.get(at, f"/api/v1/users/{partner.uid}/orders", query=query))
        for order in partner.orders[first : first + 100]:
            at += rng.uniform(0.3, 1.2)
            out.append(client.get(at, f"/api/v1/orders/{order}"))
    return [request for request in out if request.at < DURATION], [truth]


def qa_load_test(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """The QA team's k6 load test from its declared range: for twenty minutes, a hundred test
    accounts log in and browse as fast as they can; one login in ten uses a wrong password on
    purpose (the negative test)."""
    truth = _benign("qa_load_test", "a load test from the QA team's declared range")
    shop = world.shop
    ips = [world.addresses.claim(f"147.28.190.{n}") for n in range(1, 31)]
    agent = "k6/0.54.0 (https://k6.io/)"
    accounts = [
        shop.open_account(f"qa-load-{n:04d}@shop-staging.example", orders=3)
        for n in range(world.count(100, 10))
    ]
    out: list[Request] = []
    start = rng.uniform(4200, 4800)
    for _ in range(world.count(2400, 100)):
        at, ip, account = start + rng.uniform(0, 1200), rng.choice(ips), rng.choice(accounts)
        out.append(shop.login(at, ip, agent, account.email, rng.random() > 0.1, truth.name))
        client = Client(shop, ip, agent, truth.name, account, token=shop.token())
        out.append(client.get(at + 0.2, "/api/v1/products", query="q=load-test&page=1"))
    return out, [truth]
