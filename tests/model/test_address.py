"""Addresses and networks as decisions see them: parsing, mapped unwrapping, embedded IPv4."""

from __future__ import annotations

import ipaddress

import pytest

from apiwatch.model import (
    canonical_address,
    canonical_network,
    embedded_ipv4,
    parse_address,
    parse_network,
    unmapped,
    unmapped_network,
)


def nets(*texts: str) -> tuple[ipaddress.IPv4Network, ...]:
    return tuple(ipaddress.IPv4Network(text) for text in texts)


@pytest.mark.parametrize(
    ("value", "carried"),
    [
        ("::ffff:10.0.0.1", nets("10.0.0.1/32")),  # IPv4-mapped
        ("::ffff:0:10.0.0.1", nets("10.0.0.1/32")),  # IPv4-translated (SIIT)
        ("::10.0.0.1", nets("10.0.0.1/32")),  # IPv4-compatible (deprecated)
        ("64:ff9b::10.0.0.1", nets("10.0.0.1/32")),  # NAT64 well-known prefix
        ("2002:a00:1::1", nets("10.0.0.1/32")),  # 6to4
        # Teredo: the server (bits 32-63) and the client, inverted (bits 96-127).
        ("2001:0:cb00:7105::f5ff:fffe", nets("203.0.113.5/32", "10.0.0.1/32")),
        ("2001:db8::1", ()),
        ("203.0.113.5", ()),
        ("::", ()),
        ("::1", ()),
    ],
)
def test_every_embedding_form_yields_the_ipv4_address_it_carries(
    value: str, carried: tuple[ipaddress.IPv4Network, ...]
) -> None:
    """Each way IPv6 carries an IPv4 address is read back to that address; others carry none."""
    assert embedded_ipv4(parse_network(value)) == carried
    assert embedded_ipv4(parse_address(value)) == carried


@pytest.mark.parametrize(
    ("network", "carried"),
    [
        ("2002:a00::/24", nets("10.0.0.0/8")),  # 6to4 of 10.0.0.0/8
        ("2002:a00:1::/48", nets("10.0.0.1/32")),
        ("2002:a00:1:7::/64", nets("10.0.0.1/32")),
        ("64:ff9b::/64", nets("0.0.0.0/0")),  # wider than the prefix: every IPv4 address
        ("64:ff9b::c0a8:0/112", nets("192.168.0.0/16")),
        ("2001:0:cb00:7105::/64", nets("203.0.113.5/32", "0.0.0.0/0")),  # every Teredo client
        ("2000::/3", nets("0.0.0.0/0")),  # contains 6to4 and Teredo whole
        ("::ffff:192.0.2.0/120", nets("192.0.2.0/24")),
    ],
)
def test_networks_carry_the_ipv4_networks_they_span(
    network: str, carried: tuple[ipaddress.IPv4Network, ...]
) -> None:
    """A range carries the IPv4 bits it fixes; one that contains a whole prefix, every address."""
    assert embedded_ipv4(parse_network(network)) == carried


def test_mapped_addresses_and_networks_unwrap_to_ipv4() -> None:
    """::ffff:a.b.c.d is a.b.c.d, and ::ffff:a.b.c.0/120 is a.b.c.0/24; others stay as given."""
    assert unmapped(parse_address("::ffff:198.51.100.9")) == ipaddress.IPv4Address("198.51.100.9")
    assert unmapped(parse_address("2002:a00:1::1")) == ipaddress.IPv6Address("2002:a00:1::1")
    wrapped = parse_network("::ffff:192.0.2.0/120")
    assert unmapped_network(wrapped) == ipaddress.IPv4Network("192.0.2.0/24")
    assert unmapped_network(parse_network("2001:db8::/64")) == parse_network("2001:db8::/64")


@pytest.mark.parametrize("value", ["fe80::1%eth0", "2001:db8::1%x;\nallow all", " 10.0.0.300 "])
def test_zones_and_non_addresses_are_value_errors(value: str) -> None:
    """A zone or a non-address is a ValueError with a one-line message, from both parsers."""
    for parse in (parse_address, parse_network):
        with pytest.raises(ValueError, match=r"zone|not an IP address|not a network") as caught:
            parse(value)
        assert "\n" not in str(caught.value).replace("\\n", "")


@pytest.mark.parametrize(
    ("text", "address"),
    [(" ::ffff:10.0.0.1 ", "10.0.0.1"), ("2001:DB8::1", "2001:db8::1"), ("198.51.100.9", None)],
)
def test_canonical_address_parses_and_unwraps(text: str, address: str | None) -> None:
    """canonical_address is parse_address, then an IPv4-mapped address as its IPv4 address."""
    assert str(canonical_address(text)) == (address or text.strip())


def test_canonical_network_parses_and_unwraps() -> None:
    """canonical_network is parse_network, then a network in ::ffff:0:0/96 as IPv4."""
    assert canonical_network("::ffff:192.0.2.7/120") == ipaddress.IPv4Network("192.0.2.0/24")
    assert canonical_network("2001:db8::1") == ipaddress.IPv6Network("2001:db8::1/128")


def test_canonical_forms_refuse_zones() -> None:
    """Neither canonical form takes an IPv6 zone, even on an IPv4-mapped address."""
    for canonical in (canonical_address, canonical_network):
        with pytest.raises(ValueError, match="zone"):
            canonical("::ffff:10.0.0.1%eth0")
