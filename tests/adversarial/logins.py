"""Attacks on the login: credential stuffing in its disguises, brute force, password spraying
and account takeover, each written from a plain description of how it is done in the wild."""

from __future__ import annotations

import random

from tests.adversarial.crowd import DURATION, fixed, new_person, session
from tests.adversarial.population import app_agent, browser_agent
from tests.adversarial.records import Audit, Request, Truth
from tests.adversarial.shop import Client, Shop
from tests.adversarial.world import World

__all__ = [
    "brute_force",
    "distributed_stuffing",
    "ipv6_rotation",
    "residential_proxy",
    "spraying",
    "stuffing_200",
    "takeover",
]


def _check_account(shop: Shop, at: float, ip: str, agent: str, email: str, sc: str) -> Request:
    """What a stuffing tool does right after a hit: look at what the account is worth."""
    account = shop.accounts[email]
    client = Client(shop, ip, agent, sc, account, token=shop.token())
    return client.get(at, f"/api/v1/users/{account.uid}/orders", query="status=all&limit=20")


def _stuff(
    world: World,
    truth: Truth,
    ip: str,
    agent: str,
    email: str,
    at: float,
    hit_rate: float,
    rng: random.Random,
) -> list[Request]:
    """One credential tried from one address; a hit is checked at once."""
    shop, sc = world.shop, truth.name
    login = shop.login(at, ip, agent, email, rng.random() < hit_rate, sc)
    truth.attacker_ips.add(ip)
    truth.targeted_accounts.add(email)
    if login.status != 200:
        return [login]
    truth.compromised_accounts.add(email)
    return [login, _check_account(shop, at + rng.uniform(1, 4), ip, agent, email, sc)]


def distributed_stuffing(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """A botnet of home routers tries a leaked combo list low and slow: each of thousands of
    residential addresses makes one or two attempts over the two hours, each with another
    browser user agent; a few percent of the known accounts reuse their password."""
    truth = Truth(
        "distributed_stuffing",
        True,
        "low-and-slow stuffing from thousands of homes",
        login_attack=True,
    )
    out: list[Request] = []
    for _ in range(world.count(2500)):
        ip = world.addresses.residential()
        for email in world.combo_list(rng, rng.choice((1, 1, 2)), 0.3):
            at = rng.uniform(600, DURATION - 10)
            out += _stuff(world, truth, ip, browser_agent(rng), email, at, 0.05, rng)
    return out, [truth]


def ipv6_rotation(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """A stuffing tool on a rented server with a routed /64: every attempt comes from a fresh
    address inside the one /64, so no address ever repeats."""
    truth = Truth("ipv6_rotation", True, "stuffing rotating inside one /64", login_attack=True)
    prefix = world.addresses.v6_prefix()
    agent = browser_agent(rng)
    out: list[Request] = []
    at = rng.uniform(1200, 2400)
    for email in world.combo_list(rng, world.count(400), 0.3):
        at += rng.uniform(3, 9)
        ip = world.addresses.in_prefix(prefix)
        out += _stuff(world, truth, ip, agent, email, at, 0.04, rng)
    return out, [truth]


def residential_proxy(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """Stuffing through a residential proxy service: its exits are real customers' home lines
    (an SDK in a free app), so each exit carries that household's own logins and browsing at
    the same time as the attack's attempts."""
    truth = Truth(
        "residential_proxy",
        True,
        "stuffing through exits real customers also use",
        login_attack=True,
    )
    crowd = Truth("proxy_exit_households", False, "the customers whose lines are proxy exits")
    out: list[Request] = []
    for _ in range(world.count(60)):
        exit_ip = world.addresses.residential()
        person = new_person(world.shop, rng, fixed(exit_ip))
        crowd.benign_accounts.add(person.account.email)
        for _ in range(rng.randint(2, 3)):
            out += session(world.shop, rng, person, rng.uniform(0, DURATION - 300), crowd.name)
        for email in world.combo_list(rng, rng.randint(8, 15), 0.3):
            at = rng.uniform(300, DURATION - 10)
            out += _stuff(world, truth, exit_ip, browser_agent(rng), email, at, 0.05, rng)
    crowd.benign_accounts -= truth.compromised_accounts
    return out, [truth, crowd]


def stuffing_200(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """Stuffing the mobile login endpoint, which answers 200 to every attempt and says
    ``{"ok": false}`` in the body: only the app's own audit events tell failures from
    successes. The tool sends the app's user agent from a list of rented proxies."""
    truth = Truth(
        "stuffing_200",
        True,
        "stuffing an endpoint that answers 200 with a failure body",
        login_attack=True,
        formats=frozenset({"ecs"}),
    )
    ips = [world.addresses.hosting() for _ in range(world.count(30))]
    agent = app_agent(rng)
    shop, out = world.shop, []
    at = rng.uniform(2400, 3600)
    for email in world.combo_list(rng, world.count(700), 0.3):
        at += rng.uniform(0.5, 5)
        ip = rng.choice(ips)
        login = shop.mobile_login(at, ip, agent, email, rng.random() < 0.05, truth.name)
        truth.attacker_ips.add(ip)
        truth.targeted_accounts.add(email)
        out.append(login)
        if login.audit[0].action == "authn_login_success":
            truth.compromised_accounts.add(email)
    return out, [truth]


def takeover(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """Phished credentials used from a VPN: one clean login from a network the customer never
    used, then the e-mail and password are changed so the owner is locked out; the owner's
    later attempts from home fail."""
    # An access log names no account: a login followed by an e-mail and a password change is
    # what a new customer setting up does too, and nothing ties it to the account's history.
    truth = Truth(
        "takeover",
        True,
        "login from a new network, then e-mail and password changed",
        formats=frozenset({"ecs"}),
    )
    out: list[Request] = []
    victims = rng.sample(world.people, 3)
    for victim in victims:
        out += _take_over(world, truth, victim.account.email, rng)
        home = victim.address()
        at = max(request.at for request in out) + rng.uniform(600, 1500)
        for _ in range(2):
            out.append(
                world.shop.login(
                    at, home, victim.agent, victim.account.email, False, "takeover_victims"
                )
            )
            at += rng.uniform(10, 40)
    owners = Truth("takeover_victims", False, "the owners of taken-over accounts, at home")
    return [request for request in out if request.at < DURATION], [truth, owners]


def _take_over(world: World, truth: Truth, email: str, rng: random.Random) -> list[Request]:
    shop, sc = world.shop, truth.name
    account = shop.accounts[email]
    ip, agent = world.addresses.hosting(), browser_agent(rng)
    truth.attacker_ips.add(ip)
    truth.targeted_accounts.add(email)
    truth.compromised_accounts.add(email)
    at = rng.uniform(1800, 5000)
    client = Client(shop, ip, agent, sc, account, token=shop.token())
    changed_email = Audit("user_updated", email, "success", "e-mail changed")
    changed_password = Audit("authn_password_change", email, "success", "password changed")
    return [
        shop.login(at, ip, agent, email, True, sc),
        client.get(at + 6, "/api/v1/me"),
        client.send(at + 41, "PATCH", "/api/v1/me/email", audit=(changed_email,)),
        client.send(at + 77, "POST", "/api/v1/me/password", status=204, audit=(changed_password,)),
        client.get(at + 95, f"/api/v1/users/{account.uid}/orders"),
    ]


def brute_force(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """One server guesses one customer's password from a wordlist, every few seconds for half
    an hour, until it finds it."""
    truth = Truth(
        "brute_force", True, "one address, one account, hundreds of guesses", login_attack=True
    )
    victim = rng.choice(world.people).account.email
    ip, agent = world.addresses.hosting(), browser_agent(rng)
    truth.attacker_ips.add(ip)
    truth.targeted_accounts.add(victim)
    truth.compromised_accounts.add(victim)
    at, out = rng.uniform(3000, 4000), []
    for _ in range(world.count(300, 40)):
        at += rng.uniform(2, 8)
        out.append(world.shop.login(at, ip, agent, victim, False, truth.name))
    out.append(world.shop.login(at + 5, ip, agent, victim, True, truth.name))
    return out, [truth]


def spraying(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """Password spraying: one common password ("Winter2026!") tried once against each of many
    accounts from three servers, then a second round with another password an hour later."""
    truth = Truth("spraying", True, "one password across many accounts", login_attack=True)
    ips = [world.addresses.hosting() for _ in range(3)]
    agents = {ip: browser_agent(rng) for ip in ips}
    targets = sorted(set(world.combo_list(rng, world.count(500), 0.6)))
    rng.shuffle(targets)
    out: list[Request] = []
    for start in (rng.uniform(600, 1200), rng.uniform(4200, 4800)):
        at = start
        for email in targets:
            at += rng.uniform(0.3, 2.5)
            ip = rng.choice(ips)
            out += _stuff(world, truth, ip, agents[ip], email, at, 0.01, rng)
    return [request for request in out if request.at < DURATION], [truth]
