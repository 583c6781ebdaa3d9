"""What no decision may act on, decided in one place for every path that decides: the
`Responder` (automatic), ``apiwatch decisions add``, ``POST /v1/decisions`` and the console's
ban form (by hand: `apiwatch.respond.manual.manual_decision`, through `check_decidable`), and the
ban list exporters (defence in depth). Which networks are protected is `PROTECTED_NETWORKS`; the
configuration's ``protect_internal`` turns them off for the automatic path and the exporters
only (`apiwatch.respond.ResponseConfig.protected`).

A value is refused when it is allowlisted or overlaps a protected internal network — and so is
an IPv6 value that *carries* such an IPv4 address or network (IPv4-mapped, -translated and
-compatible, NAT64, 6to4, Teredo: `apiwatch.model.embedded_ipv4`), because ``2002:a00:1::`` is
10.0.0.1 seen through 6to4. A range is refused when any address in it would be. An embedded
public address stays decidable, as the IPv6 value given.

Exceptions (`apiwatch.model.ApiwatchError` is the root)::

    ApiwatchError
    └── DecisionRefusedError    a valid value that is allowlisted or in a protected network
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from apiwatch.model import (
    AllowEntry,
    ApiwatchError,
    canonical_network,
    embedded_ipv4,
    parse_network,
)

__all__ = [
    "PROTECTED_NETWORKS",
    "AllowEntries",
    "Allowlist",
    "DecisionRefusedError",
    "Guard",
    "Refusal",
    "check_decidable",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PROTECTED_NETWORKS: Final[tuple[Network, ...]] = tuple(
    ipaddress.ip_network(net)
    for net in (
        "127.0.0.0/8",  # loopback
        "10.0.0.0/8",  # RFC 1918
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",  # link-local
        "100.64.0.0/10",  # CGNAT (RFC 6598): one address is thousands of subscribers
        "::1/128",
        "fc00::/7",  # ULA
        "fe80::/10",  # link-local
        "64:ff9b:1::/48",  # NAT64 local use (RFC 8215): what it carries is the operator's choice
    )
)
"""Never banned while ``protect_internal`` is on: a ban here locks out your own proxies.
IPv6 values carrying an address in one of these IPv4 networks are protected the same way."""


class DecisionRefusedError(ApiwatchError):
    """No decision may act on this value: it is allowlisted, or in a protected network."""


class Allowlist(Protocol):
    """Where allowlist entries are looked up: the store, or `AllowEntries` in memory."""

    def allow_match(self, scope: str, value: str) -> AllowEntry | None:
        """The first entry equal to, containing or inside ``value`` (accounts caselessly)."""
        ...


class AllowEntries:
    """An `Allowlist` held in memory (the configuration's entries and the store's, loaded)."""

    def __init__(self, entries: Iterable[AllowEntry]) -> None:
        self._networks: list[tuple[Network, AllowEntry]] = []
        self._accounts: dict[str, AllowEntry] = {}
        for entry in entries:
            if entry.scope == "Username":
                self._accounts.setdefault(entry.value.strip().casefold(), entry)
            else:  # Ip or Range: an address is its own /32 or /128, ::ffff:a.b.c.d is a.b.c.d
                self._networks.append((canonical_network(entry.value), entry))

    def allow_match(self, scope: str, value: str) -> AllowEntry | None:
        """The first entry matching ``value``; ValueError for an address that is not one."""
        if scope == "Username":
            return self._accounts.get(value.strip().casefold())
        if not self._networks:
            return None
        network = canonical_network(value)
        for allowed, entry in self._networks:
            if network.version == allowed.version and network.overlaps(allowed):
                return entry
        return None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a value may not be decided on: ``reason`` is short (the responder's skip list),
    ``message`` one full line for the person who asked (CLI, admin API)."""

    reason: str
    message: str


class Guard:
    """The allowlist and the protected networks: `refusal` says whether, and why, no decision
    may act on a value. ``protected`` is empty when ``protect_internal`` is off."""

    def __init__(
        self, allowlist: Allowlist, *, protected: Iterable[Network] = PROTECTED_NETWORKS
    ) -> None:
        self.allowlist = allowlist
        self.protected = tuple(protected)
        # As integer bounds: the exporters check every ban on each rewrite, and comparing
        # integers is several times cheaper than ``ipaddress``'s ``overlaps``.
        self._bounds = [(net, *_bounds(net)) for net in self.protected]

    def refusal(self, scope: str, value: str) -> Refusal | None:
        """Why no decision may act on ``value`` in ``scope``, or None when one may."""
        if scope == "Username":
            entry = self.allowlist.allow_match(scope, value)
            return None if entry is None else _allowlisted(value, entry, None)
        try:
            network = parse_network(value)
        except ValueError as exc:
            return Refusal(str(exc), str(exc))
        return self._checked(scope, value, network)

    def network_refusal(self, network: Network) -> Refusal | None:
        """`refusal` for a parsed network (an address as its /32 or /128)."""
        single = network.prefixlen == network.max_prefixlen
        return self._checked("Ip" if single else "Range", _shown(network), network)

    def _checked(self, scope: str, value: str, network: Network) -> Refusal | None:
        carried = embedded_ipv4(network)
        return self._allowed(scope, value, carried) or self._internal(value, network, carried)

    def _allowed(
        self, scope: str, value: str, carried: tuple[ipaddress.IPv4Network, ...]
    ) -> Refusal | None:
        entry = self.allowlist.allow_match(scope, value)
        if entry is not None:
            return _allowlisted(value, entry, None)
        for inner in carried:
            entry = self.allowlist.allow_match("Range", str(inner))
            if entry is not None:
                return _allowlisted(value, entry, inner)
        return None

    def _internal(
        self, value: str, network: Network, carried: tuple[ipaddress.IPv4Network, ...]
    ) -> Refusal | None:
        for candidate in (network, *carried):
            version, first, last = _bounds(candidate)
            for internal, its_version, its_first, its_last in self._bounds:
                if version == its_version and first <= its_last and its_first <= last:
                    return _protected(value, internal, None if candidate is network else candidate)
        return None


def _bounds(network: Network) -> tuple[int, int, int]:
    return network.version, int(network.network_address), int(network.broadcast_address)


def _shown(network: Network) -> str:
    single = network.prefixlen == network.max_prefixlen
    return str(network.network_address) if single else str(network)


def _allowlisted(value: str, entry: AllowEntry, inner: ipaddress.IPv4Network | None) -> Refusal:
    shown = value.strip()
    reason = f"allowlisted ({entry.reason})" if entry.reason else "allowlisted"
    what = shown if inner is None else f"{shown} carries the IPv4 {_shown(inner)}, which"
    covered = "" if entry.value == shown else f" (by the entry {entry.value})"
    return Refusal(
        reason,
        f"{what} is allowlisted{covered}: {entry.reason}; no decision may act on it "
        "(remove the allowlist entry first if this is intended)",
    )


def _protected(value: str, internal: Network, inner: Network | None) -> Refusal:
    shown = value.strip()
    what = shown if inner is None else f"{shown} carries the IPv4 {_shown(inner)}, which"
    reason = f"protected internal range {internal}"
    if inner is not None:
        reason += f" (carried as {_shown(inner)})"
    return Refusal(
        reason,
        f"{what} is in the internal network {internal}: banning it could lock out your own "
        "proxies, load balancers or staff",
    )


def check_decidable(
    allowlist: Allowlist,
    scope: str,
    value: str,
    *,
    protected: Iterable[Network] = PROTECTED_NETWORKS,
) -> None:
    """Raise `DecisionRefusedError`, saying why in one line, when ``value`` (a canonical
    decision value) is allowlisted (an entry equal to it, containing it, or inside the range)
    or overlaps one of the ``protected`` networks — itself or through the IPv4 it carries."""
    refusal = Guard(allowlist, protected=protected).refusal(scope, value)
    if refusal is not None:
        raise DecisionRefusedError(refusal.message)
