"""`generate`: a whole scenario in memory, sorted by time, with its ground truth.

A `Scenario` is the list of `Request` records both writers use, plus the shop's tables
(``accounts`` with passwords, ``tokens``, ``orders``) that an app needs to answer a replay the
way the simulation did.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

from apiwatch.model import ConfigError, Event
from apiwatch.simulate import _api_attacks as api
from apiwatch.simulate import _login_attacks as login
from apiwatch.simulate._benign import regular_users
from apiwatch.simulate._traps import TRAPS
from apiwatch.simulate._world import World
from apiwatch.simulate.config import ScenarioConfig
from apiwatch.simulate.formats import ecs_line, event_id, nginx_line, to_event
from apiwatch.simulate.records import Request
from apiwatch.simulate.truth import AttackTruth, GroundTruth, TrapTruth

__all__ = ["ATTACKS", "Scenario", "generate"]

Attack = Callable[[World], tuple[list[Request], list[AttackTruth]]]

ATTACKS: dict[str, Attack] = {
    "brute_force": login.brute_force,
    "credential_stuffing": login.credential_stuffing,
    "distributed_credential_stuffing": login.distributed_stuffing,
    "password_spraying": login.password_spraying,
    "object_enumeration": api.object_enumeration,
    "scanner": api.scanner,
    "error_flood": api.error_flood,
    "token_reuse": api.token_reuse,
    "logging_stopped": api.logging_stopped,
}
"""The generator of each attack type (one type may make several attacks)."""


@dataclass(frozen=True, eq=False)
class Scenario:
    """A generated scenario: its requests in time order, its truth, and the shop's tables.

    ``accounts`` maps every existing account to its password (what an app must accept for the
    scheduled logins to succeed); ``tokens`` maps every bearer token the scenario issues to its
    account (any other token is invalid); ``orders`` maps order ids to their owners.
    """

    config: ScenarioConfig
    requests: list[Request]
    truth: GroundTruth
    accounts: dict[str, str]
    tokens: dict[str, str]
    orders: dict[int, str]
    user_ids: dict[str, int]

    def __repr__(self) -> str:
        return (
            f"<Scenario seed={self.config.seed} requests={len(self.requests)} "
            f"attacks={len(self.truth.attacks)} traps={len(self.truth.traps)}>"
        )

    @property
    def passwords(self) -> dict[str, str]:
        """The same table as `accounts`: account name -> password."""
        return self.accounts

    @property
    def start(self) -> datetime:
        return self.truth.start

    @property
    def end(self) -> datetime:
        return self.truth.end

    def __len__(self) -> int:
        return len(self.requests)

    def __iter__(self) -> Iterator[Request]:
        return iter(self.requests)

    def shop_requests(self) -> Iterator[Request]:
        """The requests to the shop: the lines of ``access.log``, and what `replay` sends."""
        return (r for r in self.requests if r.service == "shop")

    def events(self) -> Iterator[Event]:
        """The ECS events of ``events.ndjson``, in order, built one at a time."""
        seed = self.config.seed
        return (to_event(r, event_id(seed, i)) for i, r in enumerate(self.requests))

    def ecs_lines(self) -> Iterator[bytes]:
        """``events.ndjson``'s lines (no newlines), built one at a time."""
        seed = self.config.seed
        return (ecs_line(r, event_id(seed, i)) for i, r in enumerate(self.requests))

    def nginx_lines(self) -> Iterator[str]:
        """``access.log``'s lines (no newlines), built one at a time."""
        return (nginx_line(r) for r in self.requests if r.service == "shop")


def generate(config: ScenarioConfig | None = None, **changes: Any) -> Scenario:
    """The scenario of ``config`` (default `ScenarioConfig()`, with ``changes`` applied).

    The same config always gives the same scenario, request for request.
    """
    config = config or ScenarioConfig()
    if changes:
        config = config.replace(**changes)
    if config.lines is None:
        return _build(config, round(config.users * config.scale))
    return _sized(config, config.lines)


@dataclass(frozen=True)
class _Draft:
    """Everything generated, before the optional trim and the counts."""

    world: World
    requests: list[Request]
    attacks: list[AttackTruth]
    traps: list[TrapTruth]

    @property
    def shop(self) -> int:
        return sum(r.service == "shop" for r in self.requests)


def _draft(config: ScenarioConfig, regular: int) -> _Draft:
    world = World(config, regular)
    requests: list[Request] = []
    traps: list[TrapTruth] = []
    if config.traps:
        for make_trap in TRAPS.values():
            made, trap = make_trap(world)
            requests.extend(made)
            traps.append(trap)
    attacks: list[AttackTruth] = []
    for name in config.attacks:
        made, truths = ATTACKS[name](world)
        requests.extend(made)
        attacks.extend(truths)
    requests.extend(regular_users(world))
    requests.sort(key=attrgetter("time_us"))  # stable: ties keep generation order
    _check_span(world, requests)
    return _Draft(world, requests, attacks, traps)


def _build(config: ScenarioConfig, regular: int) -> Scenario:
    return _finish(_draft(config, regular), None)


def _finish(draft: _Draft, lines: int | None) -> Scenario:
    world, config = draft.world, draft.world.config
    requests = draft.requests if lines is None else _trim(world, draft.requests, lines)
    truth = GroundTruth(
        seed=config.seed,
        config=config.to_dict(),
        start=config.start,
        end=config.end,
        counts={
            "shop_requests": sum(r.service == "shop" for r in requests),
            "ecs_events": len(requests),
            "benign_requests": sum(r.origin == "benign" for r in requests),
            "regular_users": len(world.regular),
        },
        attacks=draft.attacks,
        traps=draft.traps,
    )
    return Scenario(
        config, requests, truth, world.accounts, world.tokens, world.orders, world.user_ids
    )


def _sized(config: ScenarioConfig, lines: int) -> Scenario:
    """A scenario with exactly ``lines`` shop requests: enough regular users, then a trim.

    A draft at the configured population measures the requests per regular user; the population
    is sized 2% over the target and random benign searches are dropped to hit it exactly.
    """
    probe = _draft(config, config.users)
    fixed = sum(r.service == "shop" and r.origin != "benign" for r in probe.requests)
    per_user = sum(r.origin == "benign" for r in probe.requests) / config.users
    regular = max(20, math.ceil((lines - fixed) / per_user * 1.02))
    for _ in range(8):
        draft = _draft(config, regular)
        shop = draft.shop
        if shop >= lines:
            return _finish(draft, lines)
        regular = math.ceil(regular * lines / shop * 1.02)
    raise RuntimeError(f"could not size a scenario to {lines} lines")  # pragma: no cover


def _trim(world: World, requests: list[Request], lines: int) -> list[Request]:
    """Drop random benign product searches until exactly ``lines`` shop requests are left."""
    excess = sum(r.service == "shop" for r in requests) - lines
    if excess <= 0:
        return requests
    searches = [
        i for i, r in enumerate(requests) if r.origin == "benign" and r.route == "/products"
    ]
    if excess > len(searches):
        fewest = lines + excess - len(searches)
        raise ConfigError(
            f"lines: {lines:,} is too few: the attacks, the traps and the fewest regular users "
            f"(20) make {fewest:,} shop requests; give --lines {fewest:,} or more, or leave "
            "attacks or traps out (--attacks, --no-traps)"
        )
    dropped = set(world.rng("trim").sample(searches, excess))
    return [r for i, r in enumerate(requests) if i not in dropped]


def _check_span(world: World, requests: list[Request]) -> None:
    if requests and (requests[0].time_us < world.start_us or requests[-1].time_us >= world.end_us):
        raise RuntimeError("a simulated request fell outside the scenario")  # pragma: no cover
