"""Ordinary customers: sessions of a login, searches, their own orders and their profile.

Each regular user has one to four sessions over the scenario, each opened by a login (now and
then preceded by one mistyped password: at most two per user) and holding a fresh bearer token.
"""

from __future__ import annotations

from apiwatch.simulate._traffic import MINUTE, ORDER, PROFILE, SECOND, Traffic
from apiwatch.simulate._world import Persona, World
from apiwatch.simulate.records import Request

__all__ = ["browse", "regular_users", "typo"]

SESSION_REQUESTS = (32, 95)


def typo(password: str) -> str:
    """The password with its last character mistyped (always different from it)."""
    last = password[-1]
    return password[:-1] + ("x" if last != "x" else "y")


def gap(traffic: Traffic, mean_s: float, longest_s: float = 300) -> int:
    """A think time between two requests: at least one second, exponential around the mean."""
    return int(min(traffic.rng.expovariate(1 / mean_s), longest_s) * SECOND) + SECOND


def browse(
    traffic: Traffic,
    person: Persona,
    t: int,
    *,
    until: int,
    count: int,
    token: str,
    ip: str | None = None,
    mean_gap_s: float = 18,
) -> int:
    """``count`` requests of a logged-in person after ``t`` (none at or after ``until``).

    Returns the time of the last request sent (``t`` when none was).
    """
    rng = traffic.rng
    address = ip or person.ip
    for _ in range(count):
        step = t + gap(traffic, mean_gap_s)
        if step >= until:
            break
        t = step
        pick = rng.random()
        if pick < 0.55:
            traffic.search(
                t, address, person.agent, token=token, user=person.name, referer=person.referer
            )
        elif pick < 0.87:
            traffic.read(
                ORDER,
                t,
                address,
                person.agent,
                rng.choice(person.orders),
                token=token,
                user=person.name,
                referer=person.referer,
            )
        else:
            traffic.read(
                PROFILE,
                t,
                address,
                person.agent,
                person.user_id,
                token=token,
                user=person.name,
                referer=person.referer,
            )
    return t


def session(
    traffic: Traffic,
    world: World,
    person: Persona,
    t: int,
    *,
    count: int,
    mistype: bool = False,
    ip: str | None = None,
    mean_gap_s: float = 18,
) -> int:
    """A login (after one mistyped password when ``mistype``) and ``count`` requests."""
    address = ip or person.ip
    if mistype:
        traffic.login(
            t,
            address,
            person.agent,
            person.name,
            typo(person.password),
            ok=False,
            referer=person.referer,
        )
        t += traffic.rng.randint(4, 20) * SECOND
    traffic.login(
        t, address, person.agent, person.name, person.password, ok=True, referer=person.referer
    )
    token = world.token(traffic.rng, person.name)
    return browse(
        traffic,
        person,
        t,
        until=world.end_us,
        count=count,
        token=token,
        ip=address,
        mean_gap_s=mean_gap_s,
    )


def regular_users(world: World) -> list[Request]:
    """Every regular user's sessions, at random times over the scenario."""
    traffic = Traffic("benign", world.rng("benign"))
    rng = traffic.rng
    latest_start = world.end_us - 10 * MINUTE
    for person in world.regular:
        typos = rng.choices((0, 1, 2), weights=(70, 25, 5))[0]
        sessions = rng.choices((1, 2, 3, 4), weights=(2, 3, 3, 2))[0]
        for start in sorted(rng.randrange(world.start_us, latest_start) for _ in range(sessions)):
            mistype = typos > 0 and rng.random() < 0.5
            typos -= mistype
            session(
                traffic, world, person, start, count=rng.randint(*SESSION_REQUESTS), mistype=mistype
            )
    return traffic.requests
