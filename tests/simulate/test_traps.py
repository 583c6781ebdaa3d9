"""The benign traps are present, shaped as promised, and kept apart from every attacker."""

from __future__ import annotations

import ipaddress
import itertools
from collections import Counter

from apiwatch.simulate import TRAP_KINDS, Scenario, token_fingerprint
from tests.simulate.conftest import origin

SECOND = 1_000_000
MINUTE = 60 * SECOND
PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


def test_every_trap_is_in_the_truth(scenario: Scenario) -> None:
    """The truth lists each trap kind, with the IPs and request counts of its traffic."""
    assert [t.kind for t in scenario.truth.traps] == list(TRAP_KINDS)
    for trap in scenario.truth.traps:
        made = origin(scenario, f"trap:{trap.kind}")
        assert len(made) == trap.requests and list(dict.fromkeys(r.ip for r in made)) == trap.ips


def test_office_nat_has_dozens_of_users_and_a_few_typos(scenario: Scenario) -> None:
    """One address, 40 accounts logging in, at most 4 failures, and work all day."""
    office = origin(scenario, "trap:office_nat")
    logins = [r for r in office if r.is_login]
    assert len({r.ip for r in office}) == 1
    assert len({r.user for r in logins}) == 40
    assert 1 <= sum(r.status == 401 for r in logins) <= 4
    assert office[-1].time_us - office[0].time_us > 3 * 60 * MINUTE


def test_monitoring_probe_polls_health_every_five_to_ten_seconds(scenario: Scenario) -> None:
    """``GET /health`` every 5-10 s from one address for the whole scenario."""
    probe = origin(scenario, "trap:monitoring_probe")
    gaps = [b.time_us - a.time_us for a, b in itertools.pairwise(probe)]
    assert {r.path for r in probe} == {"/health"} and len({r.ip for r in probe}) == 1
    assert min(gaps) >= 5 * SECOND and max(gaps) <= 10 * SECOND
    assert probe[-1].time_us - probe[0].time_us > 235 * MINUTE


def test_crawler_meets_forty_dead_links_in_a_couple_of_minutes(scenario: Scenario) -> None:
    """Googlebot gets ~40 404s within three minutes, and crawls normally otherwise."""
    crawl = origin(scenario, "trap:crawler_404_burst")
    missing = [r for r in crawl if r.status == 404]
    assert all("Googlebot" in r.user_agent for r in crawl)
    assert len(missing) == 40 and missing[-1].time_us - missing[0].time_us <= 3 * MINUTE
    assert sum(r.status == 200 for r in crawl) > 40


def test_password_reset_follows_five_failures(scenario: Scenario) -> None:
    """Five failed logins, a password reset, then a successful login of the same account."""
    steps = origin(scenario, "trap:password_reset")
    head = [(r.path, r.status) for r in steps[:7]]
    assert head == [("/users/login", 401)] * 5 + [
        ("/users/password-reset", 200),
        ("/users/login", 200),
    ]
    assert len({r.user for r in steps[:7]}) == 1


def test_support_agent_reads_150_customers_orders(scenario: Scenario) -> None:
    """One account from one IP reads 150 orders of 150 other customers, all answered 200."""
    support = origin(scenario, "trap:support_agent")
    orders = [r for r in support if r.route == "/orders/{id}"]
    owners = {scenario.orders[int(r.path.rsplit("/", 1)[1])] for r in orders}
    assert len(orders) == 150 and len(owners) == 150
    assert all(r.status == 200 for r in support)
    assert len({r.ip for r in support}) == 1 and len({r.user for r in support}) == 1
    assert support[0].user not in owners


def test_mobile_user_keeps_one_token_over_four_addresses(scenario: Scenario) -> None:
    """The roaming phone's IP changes three times; its token stays the same."""
    phone = [r for r in origin(scenario, "trap:mobile_roaming") if r.token]
    assert len({token_fingerprint(r.token or "") for r in phone}) == 1
    changes = sum(a.ip != b.ip for a, b in itertools.pairwise(phone))
    assert len({r.ip for r in phone}) == 4 and changes == 3


def test_trap_and_attacker_addresses_never_overlap(scenario: Scenario) -> None:
    """No address is both an attacker's and a trap's (or any benign user's)."""
    attackers = scenario.truth.attacker_ips
    assert not attackers & scenario.truth.trap_ips
    benign = {r.ip for r in scenario.requests if r.origin == "benign"}
    assert not attackers & benign


def test_clients_are_public_looking(scenario: Scenario) -> None:
    """No client of the shop is in 10/8, 172.16/12 or 192.168/16."""
    for ip in {r.ip for r in scenario.shop_requests()}:
        address = ipaddress.ip_address(ip)
        assert not any(address in network for network in PRIVATE), ip


def test_regular_users_mistype_at_most_twice(scenario: Scenario) -> None:
    """Each regular user has at most two failed logins, and some have one."""
    failures = Counter(
        r.user for r in scenario.requests if r.origin == "benign" and r.is_login and r.status == 401
    )
    assert failures and max(failures.values()) <= 2
    assert all(name in scenario.accounts for name in failures)


def test_regular_users_read_only_their_own_orders(scenario: Scenario) -> None:
    """A regular user's order reads are their own orders, all answered 200."""
    reads = [r for r in scenario.requests if r.origin == "benign" and r.route == "/orders/{id}"]
    assert reads and all(r.status == 200 for r in reads)
    assert all(scenario.orders[int(r.path.rsplit("/", 1)[1])] == r.user for r in reads)
