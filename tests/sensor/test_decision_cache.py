"""The decision cache: exact addresses, v4/v6 ranges, accounts, expiry, deltas."""

from __future__ import annotations

import ipaddress
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from apiwatch.sensor._decisions import DecisionCache, WireDecision

NOW = 1_700_000_000.0


def wire(id: int, scope: str, value: str, duration: str = "1h", type: str = "ban") -> WireDecision:
    return WireDecision(id=id, type=type, scope=scope, value=value, duration=duration)


def cache_of(*decisions: WireDecision) -> DecisionCache:
    cache = DecisionCache()
    assert cache.replace(decisions, NOW) == 0
    return cache


def hit_id(cache: DecisionCache, address: str, now: float = NOW + 1) -> int | None:
    hit = cache.ip(address, now)
    return hit.id if hit is not None else None


# -- addresses and ranges ---------------------------------------------------------------------


def test_exact_addresses_match_in_canonical_form() -> None:
    """Ip decisions match the canonical text source.ip has (v6 compressed, v4-mapped unwrapped)."""
    cache = cache_of(
        wire(1, "Ip", "203.0.113.7"),
        wire(2, "Ip", "2001:0DB8:0000::0001"),
        wire(3, "ip", "::ffff:198.51.100.9"),
    )
    assert hit_id(cache, "203.0.113.7") == 1
    assert hit_id(cache, "2001:db8::1") == 2
    assert hit_id(cache, "198.51.100.9") == 3
    assert hit_id(cache, "203.0.113.8") is None
    assert hit_id(cache, "2001:db8::2") is None


def test_v4_ranges_match_their_whole_block_and_nothing_outside() -> None:
    """A /16, a /24 and a /31 match their first and last address and not the neighbours."""
    cache = cache_of(
        wire(1, "Range", "10.1.0.0/16"),
        wire(2, "Range", "192.0.2.0/24"),
        wire(3, "Range", "198.51.100.6/31"),
        wire(4, "Range", "203.0.113.9/32"),
    )
    assert [hit_id(cache, a) for a in ("10.1.0.0", "10.1.255.255", "10.0.255.255", "10.2.0.0")] == [
        1,
        1,
        None,
        None,
    ]
    assert [hit_id(cache, a) for a in ("192.0.2.0", "192.0.2.255", "192.0.3.0")] == [2, 2, None]
    assert [hit_id(cache, a) for a in ("198.51.100.6", "198.51.100.7", "198.51.100.8")] == [
        3,
        3,
        None,
    ]
    assert hit_id(cache, "203.0.113.9") == 4
    assert hit_id(cache, "203.0.113.10") is None


def test_v6_ranges_match_and_v4_mapped_ranges_apply_to_v4_clients() -> None:
    """A /32 and a /64 of IPv6 match inside only; ::ffff:192.0.2.0/120 bans 192.0.2.0/24."""
    cache = cache_of(
        wire(1, "Range", "2001:db8::/32"),
        wire(2, "Range", "2a00:1450:4001:81c::/64"),
        wire(3, "Range", "::ffff:192.0.2.0/120"),
    )
    assert hit_id(cache, "2001:db8:ffff::1") == 1
    assert hit_id(cache, "2001:db9::1") is None
    assert hit_id(cache, "2a00:1450:4001:81c:ffff::1") == 2
    assert hit_id(cache, "2a00:1450:4001:81d::1") is None
    assert hit_id(cache, "192.0.2.77") == 3
    assert hit_id(cache, "192.0.3.1") is None


def test_garbage_client_text_is_a_miss() -> None:
    """A source.ip that is not an address (should never happen) is a miss, not an error."""
    cache = cache_of(wire(1, "Range", "10.0.0.0/8"), wire(2, "Range", "2001:db8::/32"))
    assert hit_id(cache, "not-an-ip") is None
    assert hit_id(cache, "zz::1") is None


@settings(max_examples=60, deadline=None)
@given(
    networks=st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(8, 32)), min_size=1, max_size=40
    ),
    probes=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=20),
)
def test_range_lookup_agrees_with_ipaddress(
    networks: list[tuple[int, int]], probes: list[int]
) -> None:
    """For any set of v4 ranges, an address is a hit exactly when ipaddress says it is inside."""
    nets = [ipaddress.ip_network((n, p), strict=False) for n, p in networks]
    cache = cache_of(*(wire(i, "Range", str(net)) for i, net in enumerate(nets, 1)))
    inside = [ipaddress.ip_network(net) for net in nets]
    for number in probes + [int(net.network_address) for net in nets]:
        address = ipaddress.IPv4Address(number)
        expected = any(address in net for net in inside)
        assert (cache.ip(str(address), NOW + 1) is not None) is expected, (address, nets)


# -- time -------------------------------------------------------------------------------------


def test_a_decision_stops_applying_at_its_until() -> None:
    """A 10 s decision received at NOW applies just before NOW+10 and not from NOW+10 on."""
    cache = cache_of(wire(1, "Ip", "203.0.113.7", "10s"), wire(2, "Range", "10.0.0.0/8", "10s"))
    assert hit_id(cache, "203.0.113.7", NOW + 9.999) == 1
    assert hit_id(cache, "203.0.113.7", NOW + 10) is None
    assert hit_id(cache, "10.9.9.9", NOW + 9.999) == 2
    assert hit_id(cache, "10.9.9.9", NOW + 10) is None


def test_an_expired_narrow_range_does_not_hide_a_live_wide_one() -> None:
    """An address in an expired /24 inside a live /16 is still matched by the /16."""
    cache = cache_of(wire(1, "Range", "10.1.2.0/24", "5s"), wire(2, "Range", "10.1.0.0/16", "1h"))
    assert hit_id(cache, "10.1.2.3", NOW + 1) in (1, 2)
    assert hit_id(cache, "10.1.2.3", NOW + 60) == 2


def test_negative_durations_are_not_applied_and_remove_a_held_copy() -> None:
    """A decision sent with a negative duration is expired: it is not added, and replaces none."""
    cache = cache_of(wire(1, "Ip", "203.0.113.7"))
    cache.apply([wire(1, "Ip", "203.0.113.7", "-3s"), wire(2, "Ip", "203.0.113.8", "-1s")], [], NOW)
    assert len(cache) == 0
    assert hit_id(cache, "203.0.113.7") is None


def test_prune_forgets_expired_decisions() -> None:
    """`prune` drops what has expired and keeps the rest."""
    cache = cache_of(wire(1, "Ip", "203.0.113.7", "5s"), wire(2, "Range", "10.0.0.0/8", "1h"))
    assert cache.prune(NOW + 6) == 1
    assert len(cache) == 1
    assert cache.get(1) is None
    assert hit_id(cache, "10.1.1.1") == 2


# -- deltas -----------------------------------------------------------------------------------


def test_deleted_decisions_are_removed_by_id() -> None:
    """A delta's ``deleted`` removes by id, whatever scope or value it carries."""
    cache = cache_of(wire(1, "Ip", "203.0.113.7"), wire(2, "Range", "10.0.0.0/8"))
    cache.apply([wire(3, "Range", "2001:db8::/32")], [wire(1, "Ip", ""), wire(2, "Ip", "")], NOW)
    assert hit_id(cache, "203.0.113.7") is None
    assert hit_id(cache, "10.1.1.1") is None
    assert hit_id(cache, "2001:db8::5") == 3
    assert len(cache) == 1


def test_two_decisions_on_one_address_the_longest_applies_and_deleting_one_keeps_the_other() -> (
    None
):
    """Two bans of one address: the longer one is reported; deleting it leaves the shorter."""
    cache = cache_of(wire(1, "Ip", "203.0.113.7", "1h"), wire(2, "Ip", "203.0.113.7", "2h"))
    assert hit_id(cache, "203.0.113.7") == 2
    cache.apply([], [wire(2, "Ip", "")], NOW)
    assert hit_id(cache, "203.0.113.7") == 1
    cache.apply([], [wire(1, "Ip", "")], NOW)
    assert hit_id(cache, "203.0.113.7") is None


def test_startup_sync_replaces_everything_held() -> None:
    """`replace` forgets what the previous snapshot held."""
    cache = cache_of(wire(1, "Ip", "203.0.113.7"), wire(2, "Username", "alice"))
    cache.replace([wire(5, "Range", "10.0.0.0/8")], NOW)
    assert hit_id(cache, "203.0.113.7") is None
    assert cache.account("alice", NOW) is None
    assert hit_id(cache, "10.2.3.4") == 5


def test_malformed_decisions_are_counted_and_the_rest_applied() -> None:
    """Bad values, scopes and durations are skipped and counted; good ones still apply."""
    cache = DecisionCache()
    bad = [
        wire(1, "Ip", "not-an-ip"),
        wire(2, "Range", "10.0.0.0/33"),
        wire(3, "Country", "FR"),
        wire(4, "Ip", "203.0.113.1", "forever"),
        wire(5, "Username", "  "),
    ]
    assert cache.apply([*bad, wire(6, "Ip", "203.0.113.7")], [], NOW) == 5
    assert hit_id(cache, "203.0.113.7") == 6
    assert len(cache) == 1


def test_readers_see_whole_snapshots_while_a_writer_applies_deltas() -> None:
    """Lookups from another thread during many deltas never fail and see each ban or not."""
    cache = cache_of(wire(1, "Range", "10.0.0.0/8"))
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                assert hit_id(cache, "10.1.2.3") == 1
                cache.ip("192.0.2.1", NOW + 1)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    for n in range(2, 300):
        cache.apply([wire(n, "Range", f"192.0.{n % 250}.0/24")], [wire(n - 1, "Ip", "")], NOW)
        cache.apply([wire(1, "Range", "10.0.0.0/8")], [], NOW)
    stop.set()
    reader.join()
    assert errors == []


# -- accounts ---------------------------------------------------------------------------------


def test_flagged_accounts_match_case_insensitively_until_they_expire() -> None:
    """A Username decision flags that account (any case) until its until; others are not."""
    cache = cache_of(wire(7, "Username", "Alice@Example.com", "30s", type="flag"))
    assert cache.has_accounts
    hit = cache.account("alice@example.com", NOW + 1)
    assert hit is not None
    assert (hit.id, hit.type) == (7, "flag")
    assert cache.account("bob", NOW + 1) is None
    assert cache.account("alice@example.com", NOW + 30) is None


def test_account_decisions_do_not_block_addresses_and_vice_versa() -> None:
    """An account named like an address is not an address ban, nor an address ban an account."""
    cache = cache_of(wire(1, "Username", "203.0.113.7"), wire(2, "Ip", "198.51.100.1"))
    assert hit_id(cache, "203.0.113.7") is None
    assert cache.account("198.51.100.1", NOW + 1) is None
