"""Client IP resolution through trusted proxies only (X-Forwarded-For or RFC 7239 Forwarded).

Exactly one header is read: the one the proxies in front of the app write (``proxy_header``). Most
proxies append to X-Forwarded-For and pass a client's own ``Forwarded`` through untouched, so
believing whichever header is present would let a client choose its own ``source.ip``.

The header is read only when the direct peer is a trusted proxy. The address list is walked from
the right (the hop nearest to us) and the first address that is not itself a trusted proxy is the
client; a header sent by anyone else is ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache

from apiwatch.model import ConfigError, unmapped

__all__ = ["PROXY_HEADERS", "ProxyResolver", "parse_forwarded_for"]

#: The forwarding headers a sensor can be told to believe (``proxy_header``).
PROXY_HEADERS = ("x-forwarded-for", "forwarded")

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse_networks(cidrs: Iterable[str]) -> tuple[_Network, ...]:
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ConfigError(f"trusted_proxies: {cidr!r} is not an IP address or CIDR") from None
    return tuple(networks)


@lru_cache(maxsize=8192)  # peers repeat; ipaddress parsing costs microseconds per call
def _normal_ip(text: str) -> str | None:
    """The canonical form of an address (IPv4-mapped IPv6 unwrapped), or None if not one."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return str(unmapped(address))


def _strip_port(node: str) -> str:
    """``[2001:db8::1]:443`` -> ``2001:db8::1``; ``192.0.2.1:80`` -> ``192.0.2.1``."""
    node = node.strip().strip('"')
    if node.startswith("["):
        return node[1 : node.find("]")] if "]" in node else node
    if node.count(":") == 1:
        return node.split(":", 1)[0]
    return node


def parse_forwarded_for(header: str) -> list[str]:
    """The ``for=`` nodes of an RFC 7239 ``Forwarded`` header, nearest hop last."""
    nodes = []
    for element in header.split(","):
        for pair in element.split(";"):
            name, sep, value = pair.partition("=")
            if sep and name.strip().lower() == "for":
                nodes.append(_strip_port(value))
    return nodes


class ProxyResolver:
    """Resolve ``source.ip`` from the peer address and the one configured forwarding header."""

    def __init__(
        self, trusted_proxies: Iterable[str] = (), header: str = "x-forwarded-for"
    ) -> None:
        if header not in PROXY_HEADERS:
            raise ConfigError(f"proxy_header: expected one of {', '.join(PROXY_HEADERS)}")
        self.header = header
        self._networks = _parse_networks(trusted_proxies)
        self._is_trusted = lru_cache(maxsize=4096)(self._check)

    @property
    def enabled(self) -> bool:
        return bool(self._networks)

    def _check(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def __call__(self, peer: str | None, headers: Mapping[str, str]) -> str | None:
        """The client address; the peer itself unless it is a trusted proxy with the header.

        ``headers`` maps lower-case names to values; only ``self.header`` is looked at.
        """
        peer_ip = _normal_ip(peer) if peer else None
        if not self._networks or peer_ip is None or not self._is_trusted(peer_ip):
            return peer_ip
        value = headers.get(self.header)
        if not value:
            return peer_ip
        if self.header == "forwarded":
            hops = parse_forwarded_for(value)
        else:
            hops = [_strip_port(hop) for hop in value.split(",")]
        client = peer_ip
        for hop in reversed(hops):
            hop_ip = _normal_ip(hop)
            if hop_ip is None:
                break  # "unknown", an obfuscated name or garbage: the last good hop is all we know
            client = hop_ip
            if not self._is_trusted(hop_ip):
                break
        return client
