"""Ordinary customers: people who log in (sometimes mistyping once), browse, buy and log out,
returning users whose session is remembered, users on IPv6 whose address rotates inside their
own /64, families behind one router, and API clients polling with their tokens."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from tests.adversarial.population import (
    Addresses,
    account_name,
    app_agent,
    browser_agent,
    search_query,
)
from tests.adversarial.records import Request
from tests.adversarial.shop import Account, Client, Shop

__all__ = ["DURATION", "Person", "api_client", "crowd", "fixed", "new_person", "session"]

DURATION = 7200.0
"""Length of the log in seconds."""


@dataclass(slots=True)
class Person:
    """A customer: their account, device and a way to get the address they use right now."""

    account: Account
    agent: str
    address: Callable[[], str]
    app: bool
    typo: float


def new_person(
    shop: Shop, rng: random.Random, address: Callable[[], str], *, typo: float = 0.06
) -> Person:
    """A fresh customer account on a browser or the mobile app; a third use a password manager
    and never mistype."""
    account = shop.open_account(account_name(rng))
    app = rng.random() < 0.35
    agent = app_agent(rng) if app else browser_agent(rng)
    return Person(account, agent, address, app, 0.0 if rng.random() < 0.33 else typo)


def session(
    shop: Shop,
    rng: random.Random,
    person: Person,
    start: float,
    scenario: str,
    *,
    returning: bool | None = None,
) -> list[Request]:
    """One visit: a login (unless the session is remembered), a few pages at a human pace, and
    sometimes a logout."""
    if returning is None:
        returning = rng.random() < 0.45
    out: list[Request] = []
    ip, at = person.address(), start
    if not returning:
        at = _log_in(shop, rng, person, ip, at, scenario, out)
    client = Client(shop, ip, person.agent, scenario, person.account, session=shop.token())
    for _ in range(rng.randint(2, 14)):
        at += 2 + rng.expovariate(1 / 25)
        out.append(_page(client, rng, at))
    if rng.random() < 0.3:
        at += 3 + rng.expovariate(1 / 20)
        email, cookie = person.account.email, client.session or ""
        out.append(shop.logout(at, ip, person.agent, email, cookie, scenario))
    return [request for request in out if request.at < DURATION]


def _log_in(
    shop: Shop, rng: random.Random, person: Person, ip: str, at: float, scenario: str,
    out: list[Request],
) -> float:  # fmt: skip
    email = person.account.email
    login = shop.mobile_login if person.app else shop.login
    if rng.random() < person.typo:  # one mistyped password, then the right one
        out.append(login(at, ip, person.agent, email, False, scenario))
        at += rng.uniform(4, 25)
    out.append(login(at, ip, person.agent, email, True, scenario))
    return at


def _page(client: Client, rng: random.Random, at: float) -> Request:
    """One thing a signed-in customer does: search, look at a product, their orders, the cart."""
    account = client.account
    assert account is not None
    pick = rng.random()
    if pick < 0.3:
        return client.get(at, "/api/v1/products", query=search_query(rng))
    if pick < 0.55:
        status = 404 if rng.random() < 0.03 else 200  # a stale link to a product now gone
        return client.get(at, f"/api/v1/products/{rng.randint(10_000, 99_999)}", status=status)
    if pick < 0.7:
        return client.get(at, f"/api/v1/users/{account.uid}/orders", query="status=all&limit=20")
    if pick < 0.8 and account.orders:
        return client.get(at, f"/api/v1/orders/{rng.choice(account.orders)}")
    if pick < 0.9:
        return client.send(at, "POST", "/api/v1/cart/items", status=201)
    return client.get(at, "/api/v1/me")


_SCRIPTS = (
    "python-requests/2.32.3", "Go-http-client/2.0", "axios/1.7.7", "curl/8.5.0",
    "PostmanRuntime/7.42.0",
)  # fmt: skip


def api_client(
    shop: Shop, rng: random.Random, addresses: Addresses, scenario: str
) -> list[Request]:
    """A customer's script polling its own orders with a bearer token every few minutes."""
    account = shop.open_account(account_name(rng), orders=rng.randint(5, 30))
    client = Client(shop, addresses.hosting(), rng.choice(_SCRIPTS), scenario, account,
                    token=shop.token())  # fmt: skip
    out, at = [], rng.uniform(0, 300)
    while at < DURATION:
        query = f"updated_since={int(at) // 60}m&limit=50"
        out.append(client.get(at, f"/api/v1/users/{account.uid}/orders", query=query))
        at += rng.uniform(120, 360)
    return out


def crowd(
    shop: Shop, rng: random.Random, addresses: Addresses, people: int, scenario: str
) -> tuple[list[Request], list[Person]]:
    """``people`` customers, one to three visits each, plus a few API clients."""
    out: list[Request] = []
    folks: list[Person] = []
    household: Callable[[], str] | None = None
    for _ in range(people):
        if household is not None and rng.random() < 0.08:
            address = household  # a second account behind the same home router
        elif rng.random() < 0.15:
            address = _privacy_v6(addresses)
        else:
            address = fixed(addresses.residential())
        household = address
        person = new_person(shop, rng, address)
        if rng.random() < 0.01:
            out += forgot_then_reset(shop, rng, person, rng.uniform(0, 6000), scenario)
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            out += session(shop, rng, person, rng.uniform(0, DURATION - 60), scenario)
        folks.append(person)
    for _ in range(max(3, people // 200)):
        out += api_client(shop, rng, addresses, scenario)
    return out, folks


def forgot_then_reset(
    shop: Shop, rng: random.Random, person: Person, at: float, scenario: str
) -> list[Request]:
    """Someone who forgot their password: two or three failures, a reset, then a login."""
    ip, email = person.address(), person.account.email
    out = []
    for _ in range(rng.randint(2, 3)):
        out.append(shop.login(at, ip, person.agent, email, False, scenario))
        at += rng.uniform(6, 30)
    out.append(shop.forgot(at, ip, person.agent, email, scenario))
    at += rng.uniform(60, 400)  # reading the mail
    out.append(shop.reset(at, ip, person.agent, email, scenario))
    at += rng.uniform(5, 30)
    out.append(shop.login(at, ip, person.agent, email, True, scenario))
    return [request for request in out if request.at < DURATION]


def fixed(address: str) -> Callable[[], str]:
    """A customer who always uses the one address (a home line, an office)."""
    return lambda: address


def _privacy_v6(addresses: Addresses) -> Callable[[], str]:
    """An IPv6 customer: a stable /64, a new temporary address now and then (RFC 8981)."""
    prefix = addresses.v6_prefix()
    return lambda: addresses.in_prefix(prefix)
