"""The benign traps: legitimate traffic shaped like an attack, which no rule may report.

Each trap returns its requests and its `TrapTruth`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from apiwatch.simulate._benign import browse, session
from apiwatch.simulate._traffic import MINUTE, ORDER, PROFILE, SECOND, Traffic
from apiwatch.simulate._vocab import (
    BROWSER_AGENTS,
    CRAWLER_AGENT,
    CRAWLER_DEAD_PATHS,
    FIRST_NAMES,
    LEAKED_PASSWORDS,
    MOBILE_AGENTS,
    MONITOR_AGENT,
)
from apiwatch.simulate._world import World
from apiwatch.simulate.records import Request
from apiwatch.simulate.truth import TrapTruth

__all__ = ["TRAPS"]

Trap = Callable[[World], tuple[list[Request], TrapTruth]]
_ALL_DAY = 1_000_000  # "until the scenario ends": browse stops at the end of the scenario


def _at(world: World, fraction: float, rng: random.Random) -> int:
    """A moment ``fraction`` into the scenario (plus a random fraction of a second)."""
    return world.start_us + int((world.end_us - world.start_us) * fraction) + rng.randrange(SECOND)


def office_nat(world: World) -> tuple[list[Request], TrapTruth]:
    """Dozens of colleagues behind one NAT address log in each morning (a few typos) and work."""
    traffic = Traffic("trap:office_nat", world.rng("trap:office_nat"))
    rng = traffic.rng
    ip = world.addresses.documentation(rng, 0)
    people = [
        world.persona(rng, ip, rng.choice(BROWSER_AGENTS)) for _ in range(world.config.office_users)
    ]
    mistyping = rng.sample(range(len(people)), min(world.config.office_typos, len(people)))
    arrivals = min(50 * MINUTE, (world.end_us - world.start_us) // 5)
    for index, person in enumerate(people):
        t = world.start_us + MINUTE + rng.randrange(arrivals)
        session(
            traffic, world, person, t, count=_ALL_DAY, mistype=index in mistyping, mean_gap_s=70
        )
    names = [p.name for p in people]
    description = f"{len(people)} colleagues behind one office NAT address"
    return traffic.requests, TrapTruth.of("office_nat", description, traffic.requests, names)


def monitoring_probe(world: World) -> tuple[list[Request], TrapTruth]:
    """An uptime monitor: ``GET /health`` every 5 to 10 seconds, all day."""
    traffic = Traffic("trap:monitoring_probe", world.rng("trap:monitoring_probe"))
    rng = traffic.rng
    ip = world.addresses.public(rng)
    t = world.start_us + rng.randrange(10 * SECOND)
    while t < world.end_us:
        traffic.health(t, ip, MONITOR_AGENT)
        t += int(rng.uniform(5, 10) * SECOND)
    description = "an uptime monitor polling /health every 5-10 s"
    return traffic.requests, TrapTruth.of("monitoring_probe", description, traffic.requests, ())


def crawler(world: World) -> tuple[list[Request], TrapTruth]:
    """Googlebot crawls product searches all day, and meets ~40 dead links in two minutes."""
    traffic = Traffic("trap:crawler_404_burst", world.rng("trap:crawler_404_burst"))
    rng = traffic.rng
    ip = world.addresses.claim(f"66.249.66.{rng.randint(1, 254)}")  # Googlebot's own range
    t = world.start_us + rng.randrange(5 * MINUTE)
    while t < world.end_us:
        traffic.search(t, ip, CRAWLER_AGENT)
        t += rng.randint(40, 160) * SECOND
    t = _at(world, 0.45, rng)
    for _ in range(40):
        target = rng.choice(CRAWLER_DEAD_PATHS).format(n=rng.randint(10, 9999))
        path, _, query = target.partition("?")
        traffic.get(t, ip, CRAWLER_AGENT, path, status=404, query=query)
        t += rng.randint(1, 5) * SECOND
    description = "a search-engine crawler, with a burst of 40 404s on dead links"
    return traffic.requests, TrapTruth.of("crawler_404_burst", description, traffic.requests, ())


def password_reset(world: World) -> tuple[list[Request], TrapTruth]:
    """A user fails five logins, resets the password, logs in and shops."""
    traffic = Traffic("trap:password_reset", world.rng("trap:password_reset"))
    rng = traffic.rng
    person = world.persona(rng, world.addresses.public(rng), rng.choice(BROWSER_AGENTS))
    t = _at(world, 0.35, rng)
    for guess in rng.sample(LEAKED_PASSWORDS, 5):  # old passwords, remembered wrong
        traffic.login(
            t, person.ip, person.agent, person.name, guess, ok=False, referer=person.referer
        )
        t += rng.randint(15, 45) * SECOND
    traffic.reset(t, person.ip, person.agent, person.name, referer=person.referer)
    t += rng.randint(2, 6) * MINUTE
    session(traffic, world, person, t, count=30)
    description = "five failed logins, a password reset, then a successful login"
    return traffic.requests, TrapTruth.of(
        "password_reset", description, traffic.requests, [person.name]
    )


def support_agent(world: World) -> tuple[list[Request], TrapTruth]:
    """A support agent reads one order (and often the profile) of each of 150 customers."""
    traffic = Traffic("trap:support_agent", world.rng("trap:support_agent"))
    rng = traffic.rng
    ip = world.addresses.documentation(rng, 1)
    person = world.persona(rng, ip, BROWSER_AGENTS[0], name=f"support.{rng.choice(FIRST_NAMES)}")
    t = world.start_us + rng.randint(2, 8) * MINUTE + rng.randrange(SECOND)
    traffic.login(
        t, ip, person.agent, person.name, person.password, ok=True, referer=person.referer
    )
    token = world.token(rng, person.name)
    customers = rng.sample(world.regular, min(world.config.support_reads, len(world.regular)))
    step = (world.end_us - 5 * MINUTE - t) // (len(customers) + 1)
    for number, customer in enumerate(customers, start=1):
        at = t + number * step + rng.randrange(step // 2)
        if rng.random() < 0.4:
            traffic.read(
                PROFILE,
                at,
                ip,
                person.agent,
                customer.user_id,
                token=token,
                user=person.name,
                referer=person.referer,
            )
            at += rng.randint(3, 20) * SECOND
        traffic.read(
            ORDER,
            at,
            ip,
            person.agent,
            rng.choice(customer.orders),
            token=token,
            user=person.name,
            referer=person.referer,
        )
    description = f"a support agent reading {len(customers)} customers' orders (all 200)"
    return traffic.requests, TrapTruth.of(
        "support_agent", description, traffic.requests, [person.name]
    )


def mobile_roaming(world: World) -> tuple[list[Request], TrapTruth]:
    """A phone keeps one token all day while its address changes three times."""
    traffic = Traffic("trap:mobile_roaming", world.rng("trap:mobile_roaming"))
    rng = traffic.rng
    person = world.persona(rng, world.addresses.public(rng), MOBILE_AGENTS[3])
    addresses = [person.ip] + [world.addresses.public(rng) for _ in range(3)]
    changes = [
        _at(world, fraction, rng) + rng.randrange(-10 * MINUTE, 10 * MINUTE)
        for fraction in (0.25, 0.5, 0.75)
    ]
    t = world.start_us + rng.randint(3, 15) * MINUTE + rng.randrange(SECOND)
    traffic.login(t, person.ip, person.agent, person.name, person.password, ok=True)
    token = world.token(rng, person.name)
    while t < world.end_us:
        ip = addresses[sum(t >= change for change in changes)]
        t = browse(
            traffic,
            person,
            t,
            until=world.end_us,
            count=rng.randint(5, 15),
            token=token,
            ip=ip,
            mean_gap_s=8,
        )
        t += rng.randint(8, 25) * MINUTE
    description = "a phone whose address changes three times, with the same token"
    return traffic.requests, TrapTruth.of(
        "mobile_roaming", description, traffic.requests, [person.name]
    )


TRAPS: dict[str, Trap] = {
    "office_nat": office_nat,
    "monitoring_probe": monitoring_probe,
    "crawler_404_burst": crawler,
    "password_reset": password_reset,
    "support_agent": support_agent,
    "mobile_roaming": mobile_roaming,
}
