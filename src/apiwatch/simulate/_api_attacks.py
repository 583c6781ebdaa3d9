"""Attacks on the rest of the API: enumeration, scanning, error floods, token reuse; and the
billing service that stops logging.

Each returns its requests and its `AttackTruth` list, like the login attacks.
"""

from __future__ import annotations

from apiwatch.model import ExposedObject
from apiwatch.simulate._login_attacks import Made, at, spaced
from apiwatch.simulate._traffic import MINUTE, ORDER, PROFILE, SECOND, Traffic
from apiwatch.simulate._vocab import (
    BROWSER_AGENTS,
    INJECTION_QUERIES,
    NIKTO_AGENT,
    PARTNER_AGENT,
    SCANNER_PATHS,
    SERVICE_AGENT,
    SQLMAP_AGENT,
    TRAVERSAL_PATHS,
)
from apiwatch.simulate._world import World
from apiwatch.simulate.records import Request
from apiwatch.simulate.truth import AttackTruth, from_us

__all__ = ["error_flood", "logging_stopped", "object_enumeration", "scanner", "token_reuse"]

_ANY_FORMAT = ("ecs", "nginx")
_BACKUP_STEMS = ("backup", "site", "db", "dump", "old", "test", "admin", "info", "shop", "www")
_BACKUP_EXTENSIONS = (".zip", ".tar.gz", ".sql", ".bak", ".php", ".old", "/", ".json", ".log")


def object_enumeration(world: World) -> Made:
    """A logged-in attacker walks ``/orders/{id}`` through consecutive ids; a few answer 200."""
    config = world.config
    traffic = Traffic("attack:object_enumeration", world.rng("attack:object_enumeration"))
    rng = traffic.rng
    ip = world.addresses.documentation(rng, 2)
    attacker = world.persona(rng, ip, BROWSER_AGENTS[5])
    world.taken.add(attacker.name)
    count = config.enumeration_ids
    space = world.order_ids
    first_id = rng.randrange(space.start, max(space.start + 1, space.stop - count))
    walk = range(first_id, first_id + count)
    others = [i for i in walk if world.orders.get(i, attacker.name) != attacker.name]
    exposed = set(rng.sample(others, min(config.enumeration_exposed, len(others))))
    start = at(world, rng, 0.54)
    traffic.login(start, ip, attacker.agent, attacker.name, attacker.password, ok=True)
    token = world.token(rng, attacker.name)
    times = spaced(rng, start + rng.randint(20, 90) * SECOND, 8 * MINUTE, count)
    for order_id, t in zip(walk, times, strict=True):
        owner = world.orders.get(order_id)
        if owner is None:
            status = 404
        else:
            status = 200 if owner == attacker.name or order_id in exposed else 403
        traffic.read(
            ORDER, t, ip, attacker.agent, order_id, status=status, token=token, user=attacker.name
        )
    objects = [str(ExposedObject("/orders/{id}", str(i))) for i in walk if i in exposed]
    description = (
        f"{attacker.name} walks /orders/{{id}} over {count} consecutive ids "
        f"({walk.start}-{walk.stop - 1}); {len(objects)} of other people's answer 200"
    )
    truth = AttackTruth.of(
        "object_enumeration",
        "object_enumeration",
        description,
        traffic.requests,
        objects_exposed=objects,
        formats=_ANY_FORMAT,
    )
    return traffic.requests, [truth]


def _probe_targets(traffic: Traffic, count: int) -> list[str]:
    """Nikto's probes: well-known sensitive files, traversal, then guessed backups."""
    rng = traffic.rng
    probes = list(SCANNER_PATHS) + list(TRAVERSAL_PATHS)
    while len(probes) < count:
        probes.append("/" + rng.choice(_BACKUP_STEMS) + rng.choice(_BACKUP_EXTENSIONS))
    rng.shuffle(probes)
    return probes[:count]


def scanner(world: World) -> Made:
    """Nikto probes for sensitive files and traversal, then sqlmap injects into the search."""
    config = world.config
    traffic = Traffic("attack:scanner", world.rng("attack:scanner"))
    rng = traffic.rng
    ip = world.addresses.documentation(rng, 2)
    injections = config.scanner_requests * 2 // 5
    probes = _probe_targets(traffic, config.scanner_requests - injections)
    times = iter(spaced(rng, at(world, rng, 0.29), 5 * MINUTE, config.scanner_requests))
    for target in probes:
        path, _, query = target.partition("?")
        traffic.get(next(times), ip, NIKTO_AGENT, path, status=404, query=query, tool="nikto")
    for number in range(injections):
        query = INJECTION_QUERIES[number % len(INJECTION_QUERIES)]
        status = rng.choice((200, 200, 400, 500))
        traffic.get(
            next(times),
            ip,
            SQLMAP_AGENT,
            "/products",
            status=status,
            route="/products",
            query=query,
            tool="sqlmap",
            sizes=(2, 400),
        )
    description = (
        f"nikto ({len(probes)} probes: secrets, admin pages, traversal) then sqlmap "
        f"({injections} SQLi/XSS payloads in /products?q=)"
    )
    truth = AttackTruth.of("scanner", "scanner", description, traffic.requests, formats=_ANY_FORMAT)
    return traffic.requests, [truth]


def error_flood(world: World) -> Made:
    """A partner's job retries a dozen calls with a revoked key: 401s and 404s, five minutes."""
    config = world.config
    traffic = Traffic("attack:error_flood", world.rng("attack:error_flood"))
    rng = traffic.rng
    ip = world.addresses.public(rng)
    revoked = f"{rng.getrandbits(160):040x}"  # never issued: the shop answers 401
    orders = rng.sample(world.order_ids, 12)
    count = config.error_flood_requests
    for t in spaced(rng, at(world, rng, 0.73), 4 * MINUTE, count):
        pick = rng.random()
        if pick < 0.7:
            traffic.read(ORDER, t, ip, PARTNER_AGENT, rng.choice(orders), status=401, token=revoked)
        elif pick < 0.9:
            traffic.read(
                PROFILE, t, ip, PARTNER_AGENT, rng.randint(1000, 1100), status=401, token=revoked
            )
        else:
            traffic.get(
                t, ip, PARTNER_AGENT, f"/v1/orders/{rng.choice(orders)}", status=404, token=revoked
            )
    description = f"{count} requests with a revoked API key within 4 minutes (401/404)"
    truth = AttackTruth.of(
        "error_flood", "error_flood", description, traffic.requests, formats=_ANY_FORMAT
    )
    return traffic.requests, [truth]


def token_reuse(world: World) -> Made:
    """A stolen bearer token is used from many IPs within a quarter of an hour."""
    config = world.config
    traffic = Traffic("attack:token_reuse", world.rng("attack:token_reuse"))
    rng = traffic.rng
    victim = world.victims(rng, 1)[0]
    token = world.token(rng, victim.name)
    start = at(world, rng, 0.83)
    for _ in range(config.token_reuse_ips):
        ip = world.addresses.public(rng)
        t = start + rng.randrange(12 * MINUTE)
        for _ in range(rng.randint(3, 8)):
            if rng.random() < 0.5:
                traffic.read(
                    PROFILE, t, ip, victim.agent, victim.user_id, token=token, user=victim.name
                )
            else:
                traffic.read(
                    ORDER,
                    t,
                    ip,
                    victim.agent,
                    rng.choice(victim.orders),
                    token=token,
                    user=victim.name,
                )
            t += rng.randint(2, 30) * SECOND
    description = (
        f"{victim.name}'s bearer token used from {config.token_reuse_ips} IPs within 15 minutes"
    )
    truth = AttackTruth.of(
        "token_reuse",
        "token_reuse",
        description,
        traffic.requests,
        accounts_targeted=[victim.name],
        formats=("ecs",),
    )
    return traffic.requests, [truth]


def logging_stopped(world: World) -> Made:
    """The billing service logs every ~30 s, then falls silent for the rest of the scenario."""
    config = world.config
    rng = world.rng("service:billing")
    ip = world.addresses.claim("10.20.0.5")  # the shop's backend, calling billing internally
    silent_from = world.end_us - int(config.billing_silence.total_seconds() * SECOND)
    interval = config.billing_interval.total_seconds() * SECOND
    requests: list[Request] = []
    t = world.start_us + rng.randrange(int(interval))
    invoice = 500_000
    while t < silent_from:
        invoice += rng.randint(1, 3)
        create = rng.random() < 0.6
        requests.append(
            Request(
                time_us=t,
                ip=ip,
                method="POST" if create else "GET",
                path="/invoices" if create else f"/invoices/{invoice}",
                status=201 if create else 200,
                size=rng.randint(120, 600),
                user_agent=SERVICE_AGENT,
                origin="service:billing",
                duration_us=rng.randint(4_000, 40_000),
                route="/invoices" if create else "/invoices/{id}",
                service="billing",
            )
        )
        t += int(interval * rng.uniform(0.7, 1.3))
    last = requests[-1].time_us
    truth = AttackTruth(
        id="logging_stopped",
        type="logging_stopped",
        description=f"the billing service logged every ~{config.billing_interval.seconds} s, "
        f"then nothing for the last {(world.end_us - last) // MINUTE} minutes",
        attackers=[],
        user_agents=[],
        accounts_targeted=[],
        accounts_compromised=[],
        objects_exposed=[],
        requests=0,
        first_seen=from_us(last),
        last_seen=from_us(world.end_us),
        formats=["ecs"],
        service="billing",
    )
    return requests, [truth]
