"""Attacks past or around the login: account enumeration, object-level authorisation abuse
(BOLA), a stolen token, and scanning, each written from how it is done in the wild."""

from __future__ import annotations

import random

from tests.adversarial.crowd import DURATION, fixed, new_person
from tests.adversarial.population import browser_agent
from tests.adversarial.records import Request, Truth
from tests.adversarial.shop import Client
from tests.adversarial.world import World

__all__ = ["reset_enumeration", "scanner", "token_scrape", "token_theft"]


def reset_enumeration(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """Finding which e-mails have accounts through the password-reset form, which answers 404
    for unknown ones: many distinct names from a handful of servers, most unknown."""
    truth = Truth("reset_enumeration", True, "account enumeration through password reset")
    ips = [world.addresses.hosting() for _ in range(4)]
    agent = browser_agent(rng)
    out: list[Request] = []
    at = rng.uniform(900, 1800)
    for email in world.combo_list(rng, world.count(900), 0.2):
        at += rng.uniform(1, 8)
        ip = rng.choice(ips)
        out.append(world.shop.forgot(at, ip, agent, email, truth.name))
        truth.attacker_ips.add(ip)
        truth.targeted_accounts.add(email)
    return out, [truth]


def token_scrape(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """A customer with a valid token walks other customers' ids (BOLA) at a human pace, one
    read every 8-25 seconds, mixing in reads of their own orders."""
    truth = Truth("token_scrape", True, "a token holder reading other users' objects")
    shop = world.shop
    ip = world.addresses.residential()
    person = new_person(shop, rng, fixed(ip), typo=0.0)
    me = person.account
    truth.attacker_ips.add(ip)
    truth.own_objects |= {str(me.uid), *map(str, me.orders)}
    client = Client(shop, ip, person.agent, truth.name, me, token=shop.token())
    at = rng.uniform(600, 1200)
    out = [shop.login(at, ip, person.agent, me.email, True, truth.name)]
    uid = me.uid
    while at < DURATION - 600:
        at += rng.uniform(8, 25)
        if rng.random() < 0.1 and me.orders:
            out.append(client.get(at, f"/api/v1/orders/{rng.choice(me.orders)}"))
        else:
            uid -= 1
            out += _read_other(client, truth, uid, at)
    return out, [truth]


def _read_other(client: Client, truth: Truth, uid: int, at: float) -> list[Request]:
    """The orders of customer ``uid`` (404 for an id that does not exist), then the first
    order found there."""
    victim = client.shop.by_uid.get(uid)
    out = [client.get(at, f"/api/v1/users/{uid}/orders", status=200 if victim else 404)]
    if victim is None:
        return out
    truth.exposed_objects.add(str(uid))
    truth.targeted_accounts.add(victim.email)
    if victim.orders:
        out.append(client.get(at + 3, f"/api/v1/orders/{victim.orders[0]}"))
        truth.exposed_objects.add(str(victim.orders[0]))
    return out


_PROBES = (
    "/.env",
    "/.git/config",
    "/.git/HEAD",
    "/wp-login.php",
    "/wp-admin/",
    "/xmlrpc.php",
    "/phpmyadmin/",
    "/pma/",
    "/admin",
    "/administrator/",
    "/actuator/env",
    "/actuator/health",
    "/server-status",
    "/.aws/credentials",
    "/config.json",
    "/backup.zip",
    "/db.sql",
    "/api/swagger.json",
    "/v2/api-docs",
    "/graphql",
    "/.DS_Store",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/cgi-bin/luci/;stok=/locale",
    "/owa/auth/logon.aspx",
    "/.well-known/security.txt",
    "/api/v1/../../../../etc/passwd",
    "/debug/pprof/",
    "/console",
    "/solr/admin/info/system",
    "/_profiler/phpinfo",
    "/telescope/requests",
    "/.svn/entries",
    "/web.config",
    "/info.php",
)


def scanner(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """A vulnerability scanner announcing itself, and a quieter path fuzzer that wears a
    browser's user agent and takes its time."""
    truth = Truth("scanner", True, "vulnerability scanning and path probing")
    loud, quiet = world.addresses.hosting(), world.addresses.hosting()
    truth.attacker_ips |= {loud, quiet}
    nuclei = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/74.0.3729.169 Safari/537.36 Nuclei - Open-source project (github.com/projectdiscovery/nuclei)"  # noqa: E501
    out: list[Request] = []
    at = rng.uniform(1000, 5000)
    for _ in range(world.count(900, 60)):
        at += rng.uniform(0.1, 0.6)
        out.append(_probe(world, rng, loud, nuclei, at, truth.name))
    at, agent = rng.uniform(300, 900), browser_agent(rng)
    for _ in range(world.count(600, 60)):
        at += rng.uniform(3, 10)
        out.append(_probe(world, rng, quiet, agent, at, truth.name))
    return [request for request in out if request.at < DURATION], [truth]


def _probe(world: World, rng: random.Random, ip: str, agent: str, at: float, sc: str) -> Request:
    path = rng.choice(_PROBES)
    if rng.random() < 0.5:
        path = f"/{rng.choice(('api', 'app', 'old', 'v1', 'static', 'backup'))}{path}"
    status = 200 if path.endswith(("security.txt", "/health")) else 403 if "status" in path else 404
    return Client(world.shop, ip, agent, sc).get(at, path, status=status)


def token_theft(world: World, rng: random.Random) -> tuple[list[Request], list[Truth]]:
    """A customer's app token leaks (malware on the phone); the thief replays it from two
    servers abroad to read the account and buy gift cards while the owner keeps using the app
    from home with the same token."""
    shop = world.shop
    home = world.addresses.residential()
    owner = new_person(shop, rng, fixed(home), typo=0.0)
    account, token = owner.account, shop.token()
    # An access log carries neither the token nor the account: the thieves' reads look like the
    # owner's own second device, so the theft is told apart only where the token is logged.
    theft = Truth(
        "token_theft", True, "a stolen token replayed from elsewhere", formats=_CREDENTIAL_LOGGED
    )
    victim = Truth("token_victim", False, "the stolen token's owner, at home")
    app = Client(shop, home, owner.agent, victim.name, account, token=token)
    out: list[Request] = []
    at = rng.uniform(0, 200)
    while at < DURATION:  # the owner's app refreshes every few minutes, all session long
        out.append(app.get(at, f"/api/v1/users/{account.uid}/orders"))
        at += rng.uniform(90, 420)
    agent = browser_agent(rng)
    thieves = [
        Client(shop, world.addresses.hosting(), agent, theft.name, account, token=token)
        for _ in range(2)
    ]
    theft.attacker_ips |= {thief.ip for thief in thieves}
    theft.targeted_accounts.add(account.email)
    theft.compromised_accounts.add(account.email)
    at = rng.uniform(2400, 3600)
    for method, path in _LOOT * 3:
        at += rng.uniform(5, 60)
        status = 201 if method == "POST" else 200
        out.append(
            rng.choice(thieves).send(at, method, path.format(uid=account.uid), status=status)
        )
    return out, [theft, victim]


_CREDENTIAL_LOGGED = frozenset({"ecs"})  # `apiwatch audit` calls these impossible in `combined`

_LOOT = (
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/users/{uid}/addresses"),
    ("GET", "/api/v1/users/{uid}/payment-methods"),
    ("POST", "/api/v1/orders"),
)
