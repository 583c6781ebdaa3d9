"""What every scenario gets: the shop, the address allocator, the ordinary customers (victims
and bystanders are drawn from them) and the scale of the run."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.adversarial.crowd import Person
from tests.adversarial.population import Addresses, account_name
from tests.adversarial.records import Request, Truth
from tests.adversarial.shop import Shop

__all__ = ["Scenario", "World"]


@dataclass(slots=True)
class World:
    """Shared state of one generated log."""

    shop: Shop
    addresses: Addresses
    scale: float
    people: list[Person] = field(default_factory=list)

    def count(self, full: int, least: int = 3) -> int:
        """``full`` scaled to this run, never below ``least``."""
        return max(least, round(full * self.scale))

    def combo_list(self, rng: random.Random, size: int, known_share: float) -> list[str]:
        """A leaked e-mail list: ``known_share`` of it are customers of this shop."""
        known = [person.account.email for person in self.people]
        return [
            rng.choice(known) if rng.random() < known_share else account_name(rng)
            for _ in range(size)
        ]


Scenario = Callable[[World, random.Random], tuple[list[Request], list[Truth]]]
"""A scenario adds its requests to the log and says what really happened."""
