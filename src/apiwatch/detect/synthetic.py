"""Synthetic traffic: uptime monitors, test accounts and load tests are never an attack.

`SyntheticTraffic` holds what an operator declared (``apiwatch.toml``: ``monitor_accounts``,
``monitor_agents``, ``monitor_networks``, ``test_accounts``, ``loadtest_networks``) and learns one
thing by itself: a **strictly periodic single-account failure** — one source failing one account
and no other, at least six times, every interval the same within 2 % (at least 2 s) and at least
30 s long — is a canary whose password expired, not a brute force. From its sixth failure on its
events are synthetic.

A synthetic event is not matched by any rule and extends no incident (the engine counts it in
``stats.synthetic``). A monitor is recognised by its account or its user agent, *and* by its
network when ``monitor_networks`` is given: a user agent alone is the client's to choose, so give
the networks whenever the monitor has fixed ones. Account and agent patterns may hold ``*``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

from apiwatch.model import ConfigError

__all__ = ["SyntheticTraffic"]

_PERIODIC_RUNS: Final = 5  # intervals, so six failures
_MIN_PERIOD: Final = 30.0
_TOLERANCE: Final = 0.02
_MIN_TOLERANCE: Final = 2.0
_MAX_TRACKED: Final = 100_000

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _patterns(values: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive regex for wildcard patterns (``*`` any text), None for no patterns."""
    parts = [".*".join(re.escape(p) for p in value.split("*")) for value in values if value]
    return re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE) if parts else None


def _networks(values: Iterable[str], name: str) -> tuple[Network, ...]:
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ConfigError(f"{name}: {value!r} is not an address or network") from None
    return tuple(out)


@dataclass
class SyntheticTraffic:
    """What is synthetic (see the module docstring); `classify` says so per event."""

    monitor_accounts: tuple[str, ...] = ()
    monitor_agents: tuple[str, ...] = ()
    monitor_networks: tuple[str, ...] = ()
    test_accounts: tuple[str, ...] = ()
    loadtest_networks: tuple[str, ...] = ()
    learn_periodic: bool = True
    _accounts: re.Pattern[str] | None = field(init=False, repr=False)
    _agents: re.Pattern[str] | None = field(init=False, repr=False)
    _tests: re.Pattern[str] | None = field(init=False, repr=False)
    _monitor_nets: tuple[Network, ...] = field(init=False, repr=False)
    _load_nets: tuple[Network, ...] = field(init=False, repr=False)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SyntheticTraffic:
        """What ``options`` (the loaded settings, by name) declare synthetic; the others keep
        their defaults."""
        return cls(**{f.name: options[f.name] for f in fields(cls) if f.init and f.name in options})

    def __post_init__(self) -> None:
        self._accounts = _patterns(self.monitor_accounts)
        self._agents = _patterns(self.monitor_agents)
        self._tests = _patterns(self.test_accounts)
        self._monitor_nets = _networks(self.monitor_networks, "monitor_networks")
        self._load_nets = _networks(self.loadtest_networks, "loadtest_networks")
        self._in_net: dict[tuple[str, int], bool] = {}
        self._failures: dict[tuple[str, str], tuple[float, ...]] = {}
        self._source_account: dict[str, str | None] = {}
        self._periodic: set[tuple[str, str]] = set()
        self.declared = bool(
            self._accounts or self._agents or self._tests or self._load_nets or self._monitor_nets
        )

    def classify(self, values: dict[str, Any], t: float) -> str | None:
        """``monitor``, ``test``, ``loadtest`` or ``periodic`` for synthetic traffic, else None."""
        ip = values.get("source.ip")
        user = values.get("user.name")
        if self.declared:
            kind = self._declared(ip, user, values.get("user_agent.original"))
            if kind is not None:
                return kind
        login = values.get("apiwatch.login")
        if login is None or not self.learn_periodic or ip is None or user is None:
            return None
        return self._periodic_failure(ip, user, login, t)

    def _declared(self, ip: str | None, user: str | None, agent: str | None) -> str | None:
        if ip is not None and self._load_nets and self._within(ip, self._load_nets, 0):
            return "loadtest"
        if user is not None and self._tests is not None and self._tests.fullmatch(user):
            return "test"
        named = user is not None and self._accounts is not None and self._accounts.fullmatch(user)
        named = named or (
            agent is not None and self._agents is not None and self._agents.fullmatch(agent)
        )
        if not named:
            return None
        if not self._monitor_nets or (ip is not None and self._within(ip, self._monitor_nets, 1)):
            return "monitor"
        return None

    def _within(self, ip: str, networks: tuple[Network, ...], which: int) -> bool:
        key = (ip, which)
        known = self._in_net.get(key)
        if known is None:
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                known = False
            else:
                known = any(address in net for net in networks)
            if len(self._in_net) >= _MAX_TRACKED:
                self._in_net.clear()
            self._in_net[key] = known
        return known

    def _periodic_failure(self, ip: str, user: str, login: str, t: float) -> str | None:
        key = (ip, user)
        if key in self._periodic:
            return "periodic"
        if login != "fail":
            return None
        first = self._source_account.setdefault(ip, user)
        if first != user:  # one source failing several accounts is no canary
            self._source_account[ip] = None
            return None
        if first is None:
            return None
        times = self._failures.get(key)
        if times is None:
            if len(self._failures) >= _MAX_TRACKED:
                self._failures.clear()
                self._source_account.clear()
            times = ()
        # A tuple of the last few times: a deque would cost ~600 bytes per source and account.
        times = self._failures[key] = (*times, t)[-(_PERIODIC_RUNS + 1) :]
        if len(times) <= _PERIODIC_RUNS or not _strictly_periodic(times):
            return None
        if len(self._periodic) >= _MAX_TRACKED:
            self._periodic.clear()
        self._periodic.add(key)
        return "periodic"


def _strictly_periodic(times: tuple[float, ...]) -> bool:
    gaps = [b - a for a, b in zip(times, list(times)[1:], strict=False)]
    mean = sum(gaps) / len(gaps)
    if mean < _MIN_PERIOD:
        return False
    slack = max(_MIN_TOLERANCE, _TOLERANCE * mean)
    return all(abs(gap - mean) <= slack for gap in gaps)
