"""`generate(seed, fmt)`: the whole two-hour log with its ground truth.

Every scenario draws from its own random stream (seeded by the run's seed and its name), so
adding a scenario does not change the others. Benign scenarios' addresses and accounts are
collected from their requests; anything an attack also used is taken out of the benign sets.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from functools import lru_cache

from tests.adversarial import abuse, logins, traps
from tests.adversarial.crowd import crowd
from tests.adversarial.population import Addresses
from tests.adversarial.records import Request, Truth
from tests.adversarial.render import EcsRenderer, nginx_line
from tests.adversarial.shop import Shop
from tests.adversarial.world import Scenario, World

__all__ = ["FORMATS", "SCENARIOS", "Corpus", "generate", "requests_for"]

FORMATS = ("ecs", "nginx")

SCENARIOS: tuple[Scenario, ...] = (
    logins.distributed_stuffing,
    logins.ipv6_rotation,
    logins.residential_proxy,
    abuse.reset_enumeration,
    abuse.token_scrape,
    logins.stuffing_200,
    logins.takeover,
    logins.brute_force,
    logins.spraying,
    abuse.scanner,
    abuse.token_theft,
    traps.carrier_cgnat,
    traps.office_nat,
    traps.sso_bridge,
    traps.reset_wave,
    traps.uptime_monitor,
    traps.partner_integration,
    traps.qa_load_test,
)


@dataclass(slots=True)
class Corpus:
    """One rendered log and what really happened in it."""

    seed: int
    fmt: str
    lines: list[str]
    truths: list[Truth]
    requests: list[Request]
    benign_ips: set[str] = field(default_factory=set)
    benign_accounts: set[str] = field(default_factory=set)

    @property
    def attacks(self) -> list[Truth]:
        return [truth for truth in self.truths if truth.attack]

    def text(self) -> str:
        return "".join(f"{line}\n" for line in self.lines)


@lru_cache(maxsize=8)
def requests_for(seed: int, scale: float = 1.0) -> tuple[tuple[Request, ...], tuple[Truth, ...]]:
    """Every request of the log, in time order, and every scenario's truth (cached)."""
    shop = Shop(random.Random(f"{seed}:shop"))  # noqa: S311 (seeded, not for secrets)
    world = World(shop, Addresses(random.Random(f"{seed}:addresses")), scale)  # noqa: S311
    people_rng = random.Random(f"{seed}:crowd")  # noqa: S311
    base, world.people = crowd(shop, people_rng, world.addresses, world.count(3000, 80), "crowd")
    requests = list(base)
    truths = [Truth("crowd", False, "ordinary customers and API clients")]
    for scenario in SCENARIOS:
        rng = random.Random(f"{seed}:{scenario.__name__}")  # noqa: S311
        made, said = scenario(world, rng)
        requests += made
        truths += said
    requests.sort(key=lambda request: request.at)
    _fill_benign(truths, requests)
    return tuple(requests), tuple(truths)


def _fill_benign(truths: list[Truth], requests: list[Request]) -> None:
    """Benign truths get the addresses and accounts their requests used, minus any an attack
    used or compromised (a residential-proxy exit is an attacker address)."""
    by_name = {truth.name: truth for truth in truths}
    for request in requests:
        truth = by_name[request.scenario]
        if not truth.attack:
            truth.benign_ips.add(request.ip)
            truth.benign_accounts |= {request.user} if request.user else set()
            truth.benign_accounts |= {audit.user for audit in request.audit}
    attackers = set().union(*(truth.attacker_ips for truth in truths))
    compromised = set().union(*(truth.compromised_accounts for truth in truths))
    for truth in truths:
        truth.benign_ips -= attackers
        truth.benign_accounts -= compromised


def generate(seed: int, fmt: str, scale: float = 1.0) -> Corpus:
    """The log of ``seed`` in ``fmt`` (``"ecs"`` or ``"nginx"``); ``scale`` shrinks every
    population and attack (1.0: a few thousand customers over two hours)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    requests, truths = requests_for(seed, scale)
    if fmt == "nginx":
        lines = [nginx_line(request) for request in requests]
    else:
        render = EcsRenderer(seed)
        lines = [line for request in requests for line in render(request)]
    copies = [copy.deepcopy(truth) for truth in truths]  # callers may change their copy
    corpus = Corpus(seed, fmt, lines, copies, list(requests))
    for truth in copies:
        if not truth.attack:
            corpus.benign_ips |= truth.benign_ips
            corpus.benign_accounts |= truth.benign_accounts
    return corpus
