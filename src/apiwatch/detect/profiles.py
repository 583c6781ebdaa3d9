"""What the engine learns from the stream itself, before rules see an event.

- `LoginTiming` — the login timing side channel. An app that checks a password only for an
  account that exists answers an unknown name much faster. Once 20 successful logins have been
  seen, a failed login answered in less than half the time of the fastest tenth of the last 100
  successful ones gets ``apiwatch.unknown_user: true``.
- `AccountOrigins` — for each account, the countries, networks and devices it was used from
  (successful logins, authenticated requests answered below 400, audit events). A successful
  login of an account seen at least twice before gets ``apiwatch.new_origin``: the words
  ``country``, ``network``, ``device`` for what is new; the account's first sighting gets
  ``first`` (nothing is known about it).
  Country and network (``AS<number>``) come from the event's ``source.geo``/``source.as`` or the
  engine's ``geo`` lookup (a MaxMind database the user supplies); without either the network is
  the /16 (IPv4) or /48 (IPv6). The device is the user agent with its version numbers dropped.
- `NetworkCrowds` — for each IPv6 /64, the accounts that logged in successfully from it in the
  last hour and its login successes and failures: a /64 with five or more such accounts and at
  least as many successes as failures is a *crowd* (an office, a household), and the /64
  aggregates of per-source rules do not fire for it.

Bounded: each table forgets its oldest half past 100,000 keys; per key a few values.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections import deque
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final

__all__ = ["AccountOrigins", "GeoLookup", "LoginTiming", "NetworkCrowds"]

GeoLookup = Callable[[str], tuple[str | None, int | None]]
"""``lookup(ip) -> (country ISO code, autonomous system number)``, each None when unknown."""

_MAX_KEYS: Final = 100_000
_PER_ACCOUNT: Final = 24  # countries, networks and devices together
_DIGITS = re.compile(r"\d+(?:[._]\d+)*")


def _bounded(table: dict[Any, Any]) -> None:
    if len(table) >= _MAX_KEYS:
        for key in list(table)[: _MAX_KEYS // 2]:
            del table[key]


class LoginTiming:
    """Marks failed logins answered too fast to have checked a password (module docstring)."""

    samples: Final = 100
    min_samples: Final = 20

    def __init__(self) -> None:
        self.recent: deque[int] = deque()
        self.ordered: list[int] = []

    def __call__(self, values: dict[str, Any], login: str) -> None:
        duration = values.get("event.duration")
        if not isinstance(duration, int):
            return
        if login == "success":
            self._learn(duration)
        elif len(self.ordered) >= self.min_samples:
            fastest = self.ordered[len(self.ordered) // 10]
            if duration * 2 < fastest:
                values["apiwatch.unknown_user"] = True

    def _learn(self, duration: int) -> None:
        self.recent.append(duration)
        bisect.insort(self.ordered, duration)
        if len(self.recent) > self.samples:
            old = self.recent.popleft()
            del self.ordered[bisect.bisect_left(self.ordered, old)]


@lru_cache(maxsize=65536)
def network_of(ip: str) -> str | None:
    """The /16 (IPv4) or /48 (IPv6) an address belongs to: its network when no AS is known."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 16 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@lru_cache(maxsize=4096)
def device_of(agent: str) -> str:
    """A user agent without its version numbers: a browser update is not a new device."""
    return _DIGITS.sub("#", agent)


class _Known:
    """Where one account was used from: its countries, networks and devices in one set (they
    cannot collide: two letters, ``AS<n>`` or a prefix with ``/``, a user agent); how often;
    and the address and agent of its last use (a repeat of which needs no new look)."""

    __slots__ = ("agent", "ip", "seen", "uses")

    def __init__(self) -> None:
        self.seen: tuple[str, ...] = ()  # a handful: a tuple is a quarter of a set's size
        self.uses = 0
        self.ip = ""
        self.agent: str | None = None


class AccountOrigins:
    """Where each account is used from (module docstring).

    Called for every event naming an account that is not a failure (a successful login, an
    authenticated request answered below 400, an audit event): all of them teach where the
    account is used; a successful login is also judged against what was known before it.
    """

    def __init__(self, geo: GeoLookup | None = None) -> None:
        self.geo = geo
        self.accounts: dict[str, _Known] = {}

    def __call__(self, values: dict[str, Any], account: str, *, login: bool) -> None:
        ip = values.get("source.ip")
        if ip is None:
            return
        known = self.accounts.get(account)
        if known is None:
            _bounded(self.accounts)
            known = self.accounts[account] = _Known()
        agent = values.get("user_agent.original")
        if not login and known.ip == ip and known.agent == agent:
            known.uses += 1
            return
        known.ip, known.agent = ip, agent
        origin = self._origin(values, ip)
        seen = known.seen
        if login and not known.uses:
            values["apiwatch.new_origin"] = "first"
        elif login and known.uses >= 2:
            new = [
                word
                for word, value in zip(("country", "network", "device"), origin, strict=True)
                if value is not None
                and value not in seen
                and (word != "network" or _comparable(value, seen))
            ]
            if new:
                values["apiwatch.new_origin"] = " ".join(new)
        if len(seen) < _PER_ACCOUNT:
            new_values = (value for value in origin if value is not None and value not in seen)
            known.seen = (*seen, *dict.fromkeys(new_values))
        known.uses += 1

    def _origin(self, values: dict[str, Any], ip: str) -> tuple[str | None, str | None, str | None]:
        country = values.get("source.geo.country_iso_code")
        number = values.get("source.as.number")
        if self.geo is not None and (country is None or number is None):
            looked_country, looked_number = self.geo(ip)
            country = country or looked_country
            number = number if number is not None else looked_number
            if country is not None:
                values.setdefault("source.geo.country_iso_code", country)
            if number is not None:
                values.setdefault("source.as.number", number)
        network = f"AS{number}" if number is not None else network_of(ip)
        agent = values.get("user_agent.original")
        return country, network, device_of(agent) if agent else None


def _comparable(network: str, seen: tuple[str, ...]) -> bool:
    """Whether ``network`` can be told new against ``seen``: an AS number against AS numbers,
    a prefix against prefixes (an event without geo fields is no move to a new network)."""
    if "/" in network:
        return any("/" in known for known in seen)
    return any(known.startswith("AS") and len(known) > 2 for known in seen)


class NetworkCrowds:
    """Which IPv6 /64s carry a crowd of ordinary users (module docstring)."""

    hour: Final = 3600.0
    min_accounts: Final = 5

    def __init__(self) -> None:
        self.nets: dict[str, tuple[dict[str, float], list[float]]] = {}

    def __call__(self, net: str, values: dict[str, Any], login: str, t: float) -> None:
        entry = self.nets.get(net)
        if entry is None:
            _bounded(self.nets)
            entry = self.nets[net] = ({}, [t, 0.0, 0.0])
        accounts, counts = entry
        if t - counts[0] > self.hour:  # a new hour: halve what the last one counted
            counts[0], counts[1], counts[2] = t, counts[1] / 2, counts[2] / 2
        account = values.get("user.name")
        if login == "success":
            counts[1] += 1
            if account is not None:
                accounts.pop(account, None)
                accounts[account] = t
                if len(accounts) > 64:
                    del accounts[next(iter(accounts))]
        else:
            counts[2] += 1

    def crowded(self, net: str, t: float) -> bool:
        entry = self.nets.get(net)
        if entry is None:
            return False
        accounts, counts = entry
        recent = sum(1 for seen in accounts.values() if t - seen <= self.hour)
        return recent >= self.min_accounts and counts[1] >= counts[2]
