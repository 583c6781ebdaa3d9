"""Addresses and networks as decisions see them: parsed once, the same way, on every path.

- `parse_address` / `parse_network`: the standard ``ipaddress`` parse, with surrounding blanks
  ignored and an IPv6 zone (``fe80::1%eth0``) refused. ``ipaddress`` takes *any* text after
  ``%`` (``;``, spaces, line breaks) and keeps it in ``str()``, where it would reach nginx and
  nft files and bouncers; no decision, allowlist entry or ban needs one. Both raise ValueError
  with a one-line message.
- `unmapped` / `unmapped_network`: an IPv4-mapped IPv6 address (``::ffff:10.0.0.1``, what a
  dual-stack socket reports for an IPv4 client) as the IPv4 address it is.
- `canonical_address` / `canonical_network`: both of the above in one call — the one form in
  which the responder, the guard and the sensor's decision tables compare addresses.
- `embedded_ipv4`: the IPv4 networks an IPv6 address or network carries inside it — IPv4-mapped
  (``::ffff:0:0/96``), IPv4-translated (``::ffff:0:0:0/96``, RFC 2765), IPv4-compatible
  (``::/96`` without ``::`` and ``::1``, deprecated), NAT64's well-known prefix
  (``64:ff9b::/96``, RFC 6052), 6to4 (``2002::/16``, RFC 3056) and Teredo (``2001::/32``,
  RFC 4380: the server's address and the client's, stored inverted). Whoever checks a value
  against internal or allowlisted IPv4 networks checks these too: ``2002:a00:1::`` is 10.0.0.1
  seen through 6to4. A network wider than an embedding prefix (``2000::/3``) carries every
  IPv4 address (``0.0.0.0/0``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Final, TypeAlias, TypeVar

__all__ = [
    "canonical_address",
    "canonical_network",
    "embedded_ipv4",
    "parse_address",
    "parse_network",
    "unmapped",
    "unmapped_network",
]

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
_Parsed = TypeVar("_Parsed", Address, Network)

_V4_BITS: Final = 32
_V4_MASK: Final = 0xFFFF_FFFF
_MAPPED: Final = ipaddress.IPv6Network("::ffff:0:0/96")
_COMPATIBLE: Final = ipaddress.IPv6Network("::/96")
_NOT_COMPATIBLE: Final = (ipaddress.IPv6Network("::/128"), ipaddress.IPv6Network("::1/128"))

# (prefix, bit offset of the IPv4 address from the left, XOR applied to it). Teredo appears
# twice: its server address (bits 32-63) and its client address (bits 96-127, inverted).
_EMBEDDINGS: Final = (
    (_MAPPED, 96, 0),
    (ipaddress.IPv6Network("::ffff:0:0:0/96"), 96, 0),
    (_COMPATIBLE, 96, 0),
    (ipaddress.IPv6Network("64:ff9b::/96"), 96, 0),
    (ipaddress.IPv6Network("2002::/16"), 16, 0),
    (ipaddress.IPv6Network("2001::/32"), 32, 0),
    (ipaddress.IPv6Network("2001::/32"), 96, _V4_MASK),
)
# The same as integer bounds: ban lists check every entry, and integers compare much faster.
_EMBEDDING_BOUNDS: Final = tuple(
    (int(prefix.network_address), int(prefix.broadcast_address), offset, xor)
    for prefix, offset, xor in _EMBEDDINGS
)


def _no_zone(text: str) -> str:
    if "%" in text:
        msg = f"an address with an IPv6 zone (%...) cannot be decided on: {text!r}"
        raise ValueError(msg)
    return text.strip()


def parse_address(text: str) -> Address:
    """``text`` as an address (blanks around it ignored); ValueError for anything else,
    including an address with an IPv6 zone."""
    return _parsed(text, ipaddress.ip_address, "not an IP address")


def parse_network(text: str) -> Network:
    """``text`` as a network (an address is its own /32 or /128; host bits are cleared);
    ValueError for anything else, including a network with an IPv6 zone."""
    return _parsed(text, _network, "not a network (CIDR)")


def canonical_address(text: str) -> Address:
    """``text`` as the address a decision is about: `parse_address`, and an IPv4-mapped
    address as its IPv4 address (a dual-stack socket's view of an IPv4 client)."""
    return unmapped(parse_address(text))


def canonical_network(text: str) -> Network:
    """``text`` as the network a decision is about: `parse_network`, and a network inside
    ``::ffff:0:0/96`` as the IPv4 network it is."""
    return unmapped_network(parse_network(text))


def _network(text: str) -> Network:
    return ipaddress.ip_network(text, strict=False)


def _parsed(text: str, parse: Callable[[str], _Parsed], problem: str) -> _Parsed:
    try:
        return parse(_no_zone(text))
    except ValueError as exc:
        if "zone" in str(exc):
            raise
        msg = f"{problem}: {text!r}"
        raise ValueError(msg) from None


def unmapped(address: Address) -> Address:
    """An IPv4-mapped IPv6 address as its IPv4 address; any other address unchanged."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def unmapped_network(network: Network) -> Network:
    """A network inside ``::ffff:0:0/96`` as the IPv4 network it is; any other unchanged."""
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        return _carried(network, 96, 0)
    return network


def embedded_ipv4(network: Network | Address) -> tuple[ipaddress.IPv4Network, ...]:
    """The IPv4 networks ``network`` (or one address) carries: one per embedding prefix it
    overlaps (see the module docstring), ``0.0.0.0/0`` for a prefix it contains whole; none
    for an IPv4 value or an IPv6 value outside every embedding prefix."""
    if isinstance(network, ipaddress.IPv4Network | ipaddress.IPv4Address):
        return ()
    if isinstance(network, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network(network)
    if network in _NOT_COMPATIBLE:
        return ()
    found: list[ipaddress.IPv4Network] = []
    first, last = int(network.network_address), int(network.broadcast_address)
    for its_first, its_last, offset, xor in _EMBEDDING_BOUNDS:
        if first <= its_last and its_first <= last:
            carried = _carried(network, offset, xor)
            if carried not in found:
                found.append(carried)
    return tuple(found)


def _carried(network: ipaddress.IPv6Network, offset: int, xor: int) -> ipaddress.IPv4Network:
    """The IPv4 network found at bit ``offset`` of ``network``: as many leading bits of it as
    the network fixes (none when its prefix ends before ``offset``)."""
    fixed = min(max(network.prefixlen - offset, 0), _V4_BITS)
    bits = (int(network.network_address) >> (128 - offset - _V4_BITS)) & _V4_MASK
    return ipaddress.IPv4Network(((bits ^ xor) & ~(_V4_MASK >> fixed) & _V4_MASK, fixed))
