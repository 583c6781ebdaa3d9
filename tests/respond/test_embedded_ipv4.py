"""IPv4 inside IPv6 (mapped, translated, compatible, NAT64, 6to4, Teredo) is guarded as the IPv4
address it carries: on the automatic path, the manual guard and the ban list exporters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from apiwatch.model import AllowEntry, Decision
from apiwatch.respond import (
    AllowEntries,
    DecisionRefusedError,
    Responder,
    check_decidable,
    parse_config,
    render_ipset,
    render_nftables,
    render_nginx,
)

from .helpers import NOW, incident, policy

# One address per way of carrying an internal IPv4 address (loopback, RFC 1918, link-local,
# CGNAT) inside IPv6, and the NAT64 local-use prefix, whose embedding is the operator's choice.
EMBEDDED_INTERNAL = [
    "::ffff:10.0.0.1",  # IPv4-mapped
    "::ffff:0:192.168.1.20",  # IPv4-translated (SIIT)
    "::10.0.0.1",  # IPv4-compatible
    "64:ff9b::127.0.0.1",  # NAT64 well-known prefix
    "64:ff9b:1::a00:1",  # NAT64 local-use prefix (RFC 8215)
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2002:a9fe:1::9",  # 6to4 of 169.254.0.1
    "2001:0:a00:1::1",  # Teredo, server 10.0.0.1
    "2001:0:cb00:7105::9bbf:fffe",  # Teredo, public server, client 100.64.0.1 (inverted)
]
EMBEDDED_INTERNAL_RANGES = [
    "2002:a00::/24",  # 6to4 of 10.0.0.0/8
    "2002:c0a8::/32",  # 6to4 of 192.168.0.0/16
    "64:ff9b::/64",  # NAT64: every IPv4 address
    "64:ff9b::a00:0/104",  # NAT64 of 10.0.0.0/8
    "::ffff:10.0.0.0/104",
    "2001:0:cb00:7105::/64",  # every Teredo client of one server
]
PUBLIC = "203.0.113.5"
EMBEDDED_PUBLIC = ["2002:cb00:7105::1", "64:ff9b::cb00:7105", "2001:0:cb00:7105::3400:8efa"]


def responder(*policies: dict[str, Any], allow: list[AllowEntry] | None = None) -> Responder:
    return Responder(parse_config({"policy": list(policies)}), allow=allow or [])


def entry(value: str, scope: str = "Ip") -> AllowEntry:
    return AllowEntry(scope=scope, value=value, reason="office", created=NOW)


def ban(value: str, scope: str = "Ip") -> Decision:
    return Decision(id=1, type="ban", scope=scope, value=value,
                    created=NOW - timedelta(minutes=1), until=NOW + timedelta(hours=1))  # fmt: skip


@pytest.mark.parametrize("address", EMBEDDED_INTERNAL)
def test_automatic_bans_never_act_on_an_embedded_internal_address(address: str) -> None:
    """ban_ip skips an attacker whose IPv6 address carries an internal IPv4 address."""
    decided = responder(policy()).decide(incident(attackers=[address]), now=NOW)
    assert decided.decisions == []
    assert len(decided.skipped) == 1
    assert decided.skipped[0][1].startswith("protected internal range")


@pytest.mark.parametrize("attacker", ["2002:a00:1::1", "64:ff9b::cb00:7105", "2001:0:a00:1::1"])
def test_automatic_range_bans_never_cover_an_embedded_internal_network(attacker: str) -> None:
    """ban_range skips a /64 carrying an internal address (6to4, Teredo) or every IPv4 address
    (NAT64's /64 is the whole IPv4 Internet)."""
    chosen = responder(policy(action="ban_range", min_range_attackers=1))
    decided = chosen.decide(incident(attackers=[attacker]), now=NOW)
    assert decided.decisions == []
    assert decided.skipped[0][1].startswith("protected internal range")


@pytest.mark.parametrize("address", EMBEDDED_PUBLIC)
def test_an_embedded_public_address_is_banned_as_given(address: str) -> None:
    """A 6to4, NAT64 or Teredo address carrying a public IPv4 address is banned as the IPv6
    address it is (enforcement points see that address, not the IPv4 one)."""
    decided = responder(policy()).decide(incident(attackers=[address]), now=NOW)
    assert [(d.scope, d.value) for d in decided.decisions] == [("Ip", address)]


@pytest.mark.parametrize("address", EMBEDDED_PUBLIC)
def test_an_allowlisted_address_is_protected_in_every_embedding(address: str) -> None:
    """An allowlisted IPv4 address carried inside IPv6 is allowlisted too."""
    decided = responder(policy(), allow=[entry(PUBLIC)]).decide(
        incident(attackers=[address]), now=NOW
    )
    assert decided.decisions == []
    assert decided.skipped == [(address, "allowlisted (office)")]


@pytest.mark.parametrize(
    ("scope", "value"),
    [*(("Ip", v) for v in EMBEDDED_INTERNAL), *(("Range", v) for v in EMBEDDED_INTERNAL_RANGES)],
)
def test_the_manual_guard_refuses_embedded_internal_values(scope: str, value: str) -> None:
    """A decision by hand on an address or range carrying internal IPv4 is refused, naming
    the internal network."""
    with pytest.raises(DecisionRefusedError, match="internal network") as caught:
        check_decidable(AllowEntries([]), scope, value)
    assert "\n" not in str(caught.value)


def test_the_manual_guard_refuses_an_allowlisted_address_in_any_embedding() -> None:
    """An allowlisted IPv4 address is refused through 6to4, naming the entry."""
    with pytest.raises(DecisionRefusedError, match="allowlisted") as caught:
        check_decidable(AllowEntries([entry("203.0.113.0/24", "Range")]), "Ip", EMBEDDED_PUBLIC[0])
    assert "by the entry 203.0.113.0/24" in str(caught.value)
    assert "203.0.113.5" in str(caught.value)


@pytest.mark.parametrize("value", EMBEDDED_PUBLIC)
def test_the_manual_guard_accepts_embedded_public_addresses(value: str) -> None:
    """An IPv6 address carrying a public, not allowlisted IPv4 address may be decided on."""
    check_decidable(AllowEntries([]), "Ip", value)


@pytest.mark.parametrize("render", [render_nginx, render_nftables, render_ipset])
def test_embedded_internal_bans_never_reach_a_ban_list(render: Any) -> None:
    """Defence in depth: a stored ban on an embedded internal value (from an older version, or
    written around the guard) is left out of every export file; the public one stays."""
    stored = [ban(v) for v in EMBEDDED_INTERNAL]
    stored += [ban(v, "Range") for v in EMBEDDED_INTERNAL_RANGES]
    text = render([*stored, ban(EMBEDDED_PUBLIC[0])], now=NOW)
    assert EMBEDDED_PUBLIC[0] in text
    for value in [*EMBEDDED_INTERNAL, *EMBEDDED_INTERNAL_RANGES]:
        assert value.split("/")[0] not in text
    for marker in ("a00:", "ffff", "ff9b", "2001:0"):
        assert marker not in text


def test_exports_follow_protect_internal() -> None:
    """With protect_internal off (protected=()) an internal ban is exported like any other."""
    assert "deny 2002:a00:1::1;" in render_nginx([ban("2002:a00:1::1")], now=NOW, protected=())
