"""The simulated shop's state: accounts and passwords, users, orders, tokens, IP addresses.

Generators draw from their own `random.Random` (`World.rng`, seeded from the scenario seed and
the generator's name), so switching one attack off or resizing it leaves the others unchanged.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apiwatch.simulate._vocab import BROWSER_AGENTS, FIRST_NAMES, LAST_NAMES, MOBILE_AGENTS
from apiwatch.simulate.config import ScenarioConfig

__all__ = ["AddressBook", "Persona", "World", "to_us"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# First octets of public-looking home and mobile addresses: many /8s, none of the private,
# shared, loopback, documentation or benchmarking ranges (those are checked again below).
_PUBLIC_FIRST_OCTETS = (
    2, 5, 24, 31, 37, 45, 46, 47, 50, 62, 67, 68, 71, 73, 76, 77, 78, 79, 80, 81, 82, 83, 84,
    85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 104, 107, 108, 109, 151, 154,
    176, 178, 185, 188, 193, 194, 195, 212, 213, 217,
)  # fmt: skip
_DOCUMENTATION = ("192.0.2.", "198.51.100.", "203.0.113.")
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105


def to_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch (exact, no float rounding)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class AddressBook:
    """Hands out IPv4 addresses, each at most once per scenario."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def claim(self, address: str) -> str:
        if address in self._used:
            raise ValueError(f"{address} is already in use")
        self._used.add(address)
        return address

    def public(self, rng: random.Random) -> str:
        """A global unicast address in a random /16 (never private, shared or reserved)."""
        while True:
            first = rng.choice(_PUBLIC_FIRST_OCTETS)
            text = f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"
            if text not in self._used and ipaddress.IPv4Address(text).is_global:
                return self.claim(text)

    def documentation(self, rng: random.Random, net: int) -> str:
        """An address of TEST-NET ``net`` (0: 192.0.2/24, 1: 198.51.100/24, 2: 203.0.113/24)."""
        for _ in range(10_000):
            text = f"{_DOCUMENTATION[net]}{rng.randint(2, 254)}"
            if text not in self._used:
                return self.claim(text)
        raise ValueError(f"TEST-NET {_DOCUMENTATION[net]}0/24 is exhausted")

    def benchmarking(self, rng: random.Random) -> str:
        """An address of 198.18.0.0/15, the two /16s reserved for benchmarking networks."""
        while True:
            text = f"198.{rng.choice((18, 19))}.{rng.randrange(256)}.{rng.randint(1, 254)}"
            if text not in self._used:
                return self.claim(text)


@dataclass(slots=True)
class Persona:
    """An account holder: name, password, numeric id, home address, device and orders."""

    name: str
    password: str
    user_id: int
    ip: str
    agent: str
    orders: list[int] = field(default_factory=list)

    @property
    def referer(self) -> str:
        """Browsers send the shop's page as referer; the mobile app sends none."""
        return "-" if self.agent.startswith("ShopApp/") else "https://shop.example/"


class World:
    """The accounts, orders and tokens of one scenario, and the shared address book."""

    def __init__(self, config: ScenarioConfig, regular_users: int) -> None:
        self.config = config
        self.start_us = to_us(config.start)
        self.end_us = to_us(config.end)
        self.addresses = AddressBook()
        self.accounts: dict[str, str] = {}
        self.user_ids: dict[str, int] = {}
        self.personas: dict[str, Persona] = {}
        self.orders: dict[int, str] = {}
        self.tokens: dict[str, str] = {}
        self._ghosts: set[str] = set()
        self._next_user_id = 1000
        # Order ids are drawn from a space about twice the number of orders, so that a walk over
        # consecutive ids meets other people's orders and missing ids in similar numbers.
        people = regular_users + config.office_users + 16
        self._order_ids = (100_000, 100_000 + 9 * people)
        self.taken: set[str] = set()
        """Accounts already given a role (trap, victim, attacker): never picked twice."""
        rng = self.rng("population")
        self.regular = [self.persona(rng, self.addresses.public(rng)) for _ in range(regular_users)]

    def rng(self, part: str) -> random.Random:
        """A generator of its own for one part of the scenario, seeded by the seed and the name."""
        # Reproducible simulated data, not secrets: a seeded Mersenne Twister is what is wanted.
        return random.Random(f"apiwatch.simulate:{self.config.seed}:{part}")  # noqa: S311

    def _name(self, rng: random.Random) -> str:
        for attempt in range(1000):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            style = rng.random()
            if style < 0.5:
                name = f"{first}.{last}"
            elif style < 0.7:
                name = f"{first[0]}{last}"
            elif style < 0.85:
                name = f"{first}{last[0]}{rng.randint(1, 99)}"
            else:
                name = f"{first}_{last}{rng.randint(70, 99)}"
            if attempt > 20:
                name += str(rng.randint(100, 9999))
            if name not in self.accounts and name not in self._ghosts:
                return name
        raise RuntimeError("no free account name")  # pragma: no cover - 1000 draws

    def persona(
        self, rng: random.Random, ip: str, agent: str | None = None, *, name: str | None = None
    ) -> Persona:
        """A new account with a password, an id, a device and one to eight orders (ids spread
        over the whole order space, interleaved with everyone else's)."""
        if name is None or name in self.accounts:
            name = self._name(rng)
        password = "".join(rng.choice(_PASSWORD_ALPHABET) for _ in range(14))
        self._next_user_id += rng.randint(1, 9)
        if agent is None:
            agents = MOBILE_AGENTS if rng.random() < 0.35 else BROWSER_AGENTS
            agent = rng.choice(agents)
        person = Persona(name, password, self._next_user_id, ip, agent)
        self.accounts[name] = password
        self.user_ids[name] = person.user_id
        self.personas[name] = person
        low, high = self._order_ids
        count = rng.randint(1, 8)
        while len(person.orders) < count:
            order_id = rng.randrange(low, high)
            if order_id not in self.orders:
                self.orders[order_id] = name
                person.orders.append(order_id)
        return person

    @property
    def order_ids(self) -> range:
        """The ids orders are drawn from (about half of them exist)."""
        return range(*self._order_ids)

    def ghost_names(self, rng: random.Random, count: int) -> list[str]:
        """Account names that do not exist (and never will in this scenario)."""
        names = []
        for _ in range(count):
            name = self._name(rng)
            self._ghosts.add(name)
            names.append(name)
        return names

    def token(self, rng: random.Random, account: str) -> str:
        """A new bearer token valid for ``account``."""
        token = f"{rng.getrandbits(160):040x}"
        self.tokens[token] = account
        return token

    def victims(self, rng: random.Random, count: int) -> list[Persona]:
        """``count`` regular users given a role now (victims): never picked again by anyone."""
        return self.claim(rng, self.regular, count)

    def claim(self, rng: random.Random, pool: list[Persona], count: int) -> list[Persona]:
        """``count`` of ``pool`` without a role yet, given one now (fewer when too few are left)."""
        free = [p for p in pool if p.name not in self.taken]
        chosen = rng.sample(free, min(count, len(free)))
        self.taken.update(p.name for p in chosen)
        return chosen

    def sample(self, rng: random.Random, count: int) -> list[Persona]:
        """``count`` regular users without a role, for a list of targets (they stay free)."""
        free = [p for p in self.regular if p.name not in self.taken]
        return rng.sample(free, min(count, len(free)))
