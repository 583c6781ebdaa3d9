"""Attacks on the login route: brute force, credential stuffing (single and distributed), spraying.

Each returns its requests and the `AttackTruth` of every attack it made. Accounts under attack
are regular users (never a trap's) plus, where attackers work from leaked lists, names that do
not exist. The scheduled successful logins are the account takeovers.
"""

from __future__ import annotations

import random

from apiwatch.simulate._traffic import MINUTE, ORDER, PROFILE, SECOND, Traffic
from apiwatch.simulate._vocab import (
    BOTNET_AGENT,
    BROWSER_AGENTS,
    LEAKED_PASSWORDS,
    SCRIPT_AGENT,
    SPOOFED_CHROME,
    SPRAY_PASSWORD,
)
from apiwatch.simulate._world import Persona, World
from apiwatch.simulate.records import Request
from apiwatch.simulate.truth import AttackTruth

__all__ = ["brute_force", "credential_stuffing", "distributed_stuffing", "password_spraying"]

Made = tuple[list[Request], list[AttackTruth]]
_ACCOUNTS_ONLY = ("ecs",)  # telling these apart needs the attempted account: not in nginx logs


def at(world: World, rng: random.Random, fraction: float) -> int:
    """A moment ``fraction`` into the scenario, give or take three minutes."""
    span = world.end_us - world.start_us
    return world.start_us + int(span * fraction) + rng.randrange(-3 * MINUTE, 3 * MINUTE)


def spaced(rng: random.Random, start: int, window: int, count: int) -> list[int]:
    """``count`` increasing times from ``start``, irregularly spaced, all within ``window``."""
    step = window / count
    times, t = [], float(start)
    for _ in range(count):
        times.append(int(t))
        t += step * rng.uniform(0.4, 1.5)
    # Irregular steps may overrun: squeeze the tail back into the window, order kept.
    last = times[-1] - start
    limit = window - SECOND
    return times if last <= limit else [start + (x - start) * limit // last for x in times]


def guesses(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct wrong passwords from a cracking dictionary."""
    pool = list(LEAKED_PASSWORDS)
    rng.shuffle(pool)
    number = 0
    while len(pool) < count:
        number += 1
        pool.append(f"{rng.choice(LEAKED_PASSWORDS)}{number}")
    return pool[:count]


def targets(
    world: World, rng: random.Random, count: int, existing_share: float
) -> tuple[list[Persona], list[str]]:
    """Accounts for a list-based attack: existing users (still free) and ghost names."""
    existing = world.sample(rng, round(count * existing_share))
    names = [p.name for p in existing] + world.ghost_names(rng, count - len(existing))
    rng.shuffle(names)
    return existing, names


def looted(traffic: Traffic, world: World, victim: Persona, *, t: int, ip: str, agent: str) -> None:
    """What an attacker does right after a successful login: the profile and some orders."""
    token = world.token(traffic.rng, victim.name)
    t += traffic.rng.randint(2, 10) * SECOND
    traffic.read(PROFILE, t, ip, agent, victim.user_id, token=token, user=victim.name)
    for order_id in victim.orders[:3]:
        t += traffic.rng.randint(1, 6) * SECOND
        traffic.read(ORDER, t, ip, agent, order_id, token=token, user=victim.name)


def brute_force(world: World) -> Made:
    """One account hammered from one IP (the last guess right), and another from a few IPs."""
    config = world.config
    traffic = Traffic("attack:brute_force", world.rng("attack:brute_force"))
    rng = traffic.rng
    ip = world.addresses.documentation(rng, 2)
    victim = world.victims(rng, 1)[0]
    count = config.brute_force_attempts
    times = spaced(rng, at(world, rng, 0.10), 8 * MINUTE, count)
    for number, (t, guess) in enumerate(zip(times, guesses(rng, count), strict=True), start=1):
        right = config.brute_force_succeeds and number == count
        password = victim.password if right else guess
        traffic.login(t, ip, SCRIPT_AGENT, victim.name, password, ok=right)
    if config.brute_force_succeeds:
        looted(traffic, world, victim, t=times[-1], ip=ip, agent=SCRIPT_AGENT)
    compromised = [victim.name] if config.brute_force_succeeds else []
    truths = [
        AttackTruth.of(
            "brute_force",
            "brute_force",
            f"{count} password guesses against one account from one IP"
            + (", the last one right" if compromised else ""),
            traffic.requests,
            accounts_targeted=[victim.name],
            accounts_compromised=compromised,
            formats=_ACCOUNTS_ONLY,
        )
    ]
    requests = list(traffic.requests)
    if config.brute_force_variant_ips:
        variant, target = _brute_force_from_several(world)
        requests.extend(variant.requests)
        truths.append(
            AttackTruth.of(
                "brute_force_multi_ip",
                "brute_force",
                f"password guesses against one account from "
                f"{config.brute_force_variant_ips} rotating IPs",
                variant.requests,
                accounts_targeted=[target],
                formats=_ACCOUNTS_ONLY,
                distributed=True,
            )
        )
    return requests, truths


def _brute_force_from_several(world: World) -> tuple[Traffic, str]:
    traffic = Traffic("attack:brute_force_multi_ip", world.rng("attack:brute_force_multi_ip"))
    rng = traffic.rng
    ips = [world.addresses.public(rng) for _ in range(world.config.brute_force_variant_ips)]
    victim = world.victims(rng, 1)[0]
    count = world.config.brute_force_variant_attempts
    times = spaced(rng, at(world, rng, 0.62), 9 * MINUTE, count)
    for number, (t, guess) in enumerate(zip(times, guesses(rng, count), strict=True)):
        traffic.login(t, ips[number % len(ips)], SPOOFED_CHROME, victim.name, guess, ok=False)
    return traffic, victim.name


def credential_stuffing(world: World) -> Made:
    """One IP replays a leaked list: one or two tries per account, a couple of them right."""
    config = world.config
    traffic = Traffic("attack:credential_stuffing", world.rng("attack:credential_stuffing"))
    rng = traffic.rng
    ip = world.addresses.documentation(rng, 2)
    existing, names = targets(world, rng, config.stuffing_accounts, 0.7)
    winners = {p.name: p for p in world.claim(rng, existing, config.stuffing_successes)}
    losers = [name for name in names if name not in winners]
    twice = rng.sample(losers, min(config.stuffing_attempts - len(names), len(losers)))
    plan = [(name, tries) for name in names for tries in range(1 + (name in twice))]
    times = spaced(rng, at(world, rng, 0.23), 12 * MINUTE, len(plan))
    wrong = iter(guesses(rng, len(plan)))
    for (name, _), t in zip(plan, times, strict=True):
        winner = winners.get(name)
        password = winner.password if winner else next(wrong)
        traffic.login(t, ip, SPOOFED_CHROME, name, password, ok=winner is not None)
        if winner:
            looted(traffic, world, winner, t=t, ip=ip, agent=SPOOFED_CHROME)
    description = f"{len(plan)} logins over {len(names)} accounts from one IP, {len(winners)} right"
    truth = AttackTruth.of(
        "credential_stuffing",
        "credential_stuffing",
        description,
        traffic.requests,
        accounts_targeted=names,
        accounts_compromised=list(winners),
        formats=_ACCOUNTS_ONLY,
    )
    return traffic.requests, [truth]


def distributed_stuffing(world: World) -> Made:
    """Hundreds of IPs, one to three logins each, one user agent, 20 minutes.

    All but ``distributed_outliers`` of the IPs are in 198.18.0.0/15 (two /16s); the rest are
    scattered public addresses.
    """
    config = world.config
    name = "distributed_credential_stuffing"
    traffic = Traffic(f"attack:{name}", world.rng(f"attack:{name}"))
    rng = traffic.rng
    outliers = round(config.distributed_ips * config.distributed_outliers)
    ips = [world.addresses.benchmarking(rng) for _ in range(config.distributed_ips - outliers)]
    ips += [world.addresses.public(rng) for _ in range(outliers)]
    rng.shuffle(ips)
    existing, names = targets(world, rng, config.distributed_accounts, 0.6)
    winners = {p.name: p for p in world.claim(rng, existing, config.distributed_successes)}
    per_ip = [rng.randint(1, 3) for _ in ips]
    while sum(per_ip) < len(names):
        slot = rng.randrange(len(per_ip))
        per_ip[slot] = min(3, per_ip[slot] + 1)
    losers = [n for n in names if n not in winners]
    attempts = names + [rng.choice(losers) for _ in range(sum(per_ip) - len(names))]
    rng.shuffle(attempts)
    start, window = at(world, rng, 0.40), 20 * MINUTE
    wrong = iter(guesses(rng, len(attempts)))
    queue = iter(attempts)
    for ip, count in zip(ips, per_ip, strict=True):
        t = start + rng.randrange(window - 5 * MINUTE)
        for _ in range(count):
            account = next(queue)
            winner = winners.get(account)
            password = winner.password if winner else next(wrong)
            traffic.login(t, ip, BOTNET_AGENT, account, password, ok=winner is not None)
            t += rng.randint(10, 90) * SECOND
    description = (
        f"{len(attempts)} logins from {len(ips)} IPs over {len(names)} accounts, "
        f"{len(winners)} right"
    )
    truth = AttackTruth.of(
        name,
        name,
        description,
        traffic.requests,
        accounts_targeted=names,
        accounts_compromised=list(winners),
        formats=_ACCOUNTS_ONLY,
        distributed=True,
    )
    return traffic.requests, [truth]


def password_spraying(world: World) -> Made:
    """One IP tries one common password once per account, evenly over about two hours."""
    config = world.config
    traffic = Traffic("attack:password_spraying", world.rng("attack:password_spraying"))
    rng = traffic.rng
    ip = world.addresses.documentation(rng, 2)
    agent = BROWSER_AGENTS[2]
    _, names = targets(world, rng, config.spraying_accounts, 0.8)
    span = int(config.spraying_span.total_seconds() * SECOND)
    step = span // len(names)
    start = at(world, rng, 0.17)
    for number, account in enumerate(names):
        t = start + number * step + rng.randrange(-step // 4, step // 4)
        traffic.login(t, ip, agent, account, SPRAY_PASSWORD, ok=False)
    description = f"one password ({SPRAY_PASSWORD}) tried once on each of {len(names)} accounts"
    truth = AttackTruth.of(
        "password_spraying",
        "password_spraying",
        description,
        traffic.requests,
        accounts_targeted=names,
        formats=_ACCOUNTS_ONLY,
    )
    return traffic.requests, [truth]
