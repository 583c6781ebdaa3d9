"""Every attack is in the truth with the size the brief promises, and the truth matches the data."""

from __future__ import annotations

import ipaddress
import itertools
from collections import Counter

import pytest

from apiwatch.simulate import ATTACK_TYPES, Request, Scenario, token_fingerprint
from apiwatch.simulate.records import LOGIN_PATH
from tests.simulate.conftest import origin

MINUTE = 60 * 1_000_000
SEEDS = [1, 2, 3]


def _span(requests: list[Request]) -> int:
    return requests[-1].time_us - requests[0].time_us


def _logins(requests: list[Request]) -> list[Request]:
    return [r for r in requests if r.is_login]


def test_every_attack_type_is_in_the_truth(scenario: Scenario) -> None:
    """The truth lists each attack type, and each attack's requests agree with its entry."""
    assert {a.type for a in scenario.truth.attacks} == set(ATTACK_TYPES)
    for attack in scenario.truth.attacks:
        if attack.type == "logging_stopped":
            continue
        made = origin(scenario, f"attack:{attack.id}")
        assert len(made) == attack.requests, attack.id
        assert list(dict.fromkeys(r.ip for r in made)) == attack.attackers
        assert made[0].time_us == pytest.approx(attack.first_seen.timestamp() * 1e6, abs=1)


def test_brute_force_hammers_one_account_from_one_ip_then_gets_in(scenario: Scenario) -> None:
    """At least 30 failed logins on one account from one IP within 10 minutes, then a success."""
    attack = scenario.truth.attack("brute_force")
    logins = _logins(origin(scenario, "attack:brute_force"))
    failed = [r for r in logins if r.status == 401]
    assert len(failed) >= 30 and _span(failed) < 10 * MINUTE
    assert (
        {r.user for r in logins}
        == set(attack.accounts_targeted)
        == set(attack.accounts_compromised)
    )
    assert len(attack.attackers) == 1 and logins[-1].status == 200
    assert scenario.accounts[logins[-1].user or ""] == logins[-1].password


def test_brute_force_variant_comes_from_five_ips(scenario: Scenario) -> None:
    """The variant spreads at least 30 failures on one account over five IPs in 10 minutes."""
    attack = scenario.truth.attack("brute_force_multi_ip")
    logins = _logins(origin(scenario, "attack:brute_force_multi_ip"))
    assert attack.type == "brute_force" and attack.distributed
    assert len(attack.attackers) == 5 and len({r.user for r in logins}) == 1
    assert len(logins) >= 30 and _span(logins) < 10 * MINUTE
    assert all(r.status == 401 for r in logins)


@pytest.mark.parametrize("seed", SEEDS)
def test_credential_stuffing_tries_many_accounts_at_most_twice(seed: int) -> None:
    """One IP, at least 60 attempts over at least 40 accounts, two tries at most, 15 minutes."""
    from apiwatch.simulate import generate

    scenario = generate(seed=seed, users=120)
    attack = scenario.truth.attack("credential_stuffing")
    logins = _logins(origin(scenario, "attack:credential_stuffing"))
    tries = Counter(r.user for r in logins)
    assert len(logins) >= 60 and len(tries) >= 40 and max(tries.values()) <= 2
    assert _span(logins) < 15 * MINUTE and len(attack.attackers) == 1
    assert len({r.user_agent for r in logins}) == 1
    assert any(name not in scenario.accounts for name in tries)  # some accounts do not exist
    winners = [r.user for r in logins if r.status == 200]
    assert winners == attack.accounts_compromised and len(winners) == 2


def test_distributed_stuffing_comes_from_hundreds_of_ips_in_two_networks(
    scenario: Scenario,
) -> None:
    """300 IPs, 1-3 attempts each, 400 accounts, 20 minutes, one user agent, mostly two /16s."""
    attack = scenario.truth.attack("distributed_credential_stuffing")
    logins = _logins(origin(scenario, "attack:distributed_credential_stuffing"))
    per_ip = Counter(r.ip for r in logins)
    assert len(per_ip) == 300 and set(per_ip.values()) <= {1, 2, 3}
    assert len({r.user for r in logins}) >= 400 and _span(logins) <= 20 * MINUTE
    assert len({r.user_agent for r in logins}) == 1
    networks = Counter(str(ipaddress.ip_network(f"{ip}/16", strict=False)) for ip in per_ip)
    assert sum(count for _, count in networks.most_common(2)) >= 0.9 * len(per_ip)
    assert attack.distributed and len(attack.accounts_compromised) == 3
    assert {r.user for r in logins if r.status == 200} == set(attack.accounts_compromised)


def test_password_spraying_tries_each_account_once_evenly_over_two_hours(
    scenario: Scenario,
) -> None:
    """One IP, 30 accounts, one try each, spread evenly over about two hours."""
    logins = _logins(origin(scenario, "attack:password_spraying"))
    assert len(logins) == 30 == len({r.user for r in logins})
    assert len({r.ip for r in logins}) == 1 and all(r.status == 401 for r in logins)
    assert 100 * MINUTE <= _span(logins) <= 130 * MINUTE
    gaps = [b.time_us - a.time_us for a, b in itertools.pairwise(logins)]
    assert max(gaps) < 3 * (sum(gaps) / len(gaps))


def test_object_enumeration_walks_consecutive_ids_and_exposes_five(scenario: Scenario) -> None:
    """At least 200 consecutive order ids in 10 minutes, mostly 403/404, five others' answer 200."""
    attack = scenario.truth.attack("object_enumeration")
    walk = [r for r in origin(scenario, "attack:object_enumeration") if r.route == "/orders/{id}"]
    ids = [int(r.path.rsplit("/", 1)[1]) for r in walk]
    assert len(ids) >= 200 and ids == list(range(ids[0], ids[0] + len(ids)))
    assert _span(walk) < 10 * MINUTE and len({r.token for r in walk}) == 1
    assert sum(r.status in (403, 404) for r in walk) >= 0.9 * len(walk)
    exposed = [
        f"/orders/{{id}}={i}"
        for r, i in zip(walk, ids, strict=True)
        if r.status == 200 and scenario.orders[i] != r.user
    ]
    assert exposed == attack.objects_exposed and len(exposed) == 5


def test_scanner_probes_secrets_traversal_and_injections(scenario: Scenario) -> None:
    """One IP with nikto/sqlmap, ~150 requests, mostly 404, the well-known probes included."""
    probes = origin(scenario, "attack:scanner")
    targets = {r.target for r in probes}
    assert len(probes) == 150 and len({r.ip for r in probes}) == 1
    assert {r.tool for r in probes} == {"nikto", "sqlmap"}
    assert sum(r.status == 404 for r in probes) > len(probes) / 2
    for wanted in (
        "/.env",
        "/.git/config",
        "/wp-login.php",
        "/admin/",
        "/phpmyadmin/",
        "/../../etc/passwd",
    ):
        assert wanted in targets
    joined = " ".join(targets)
    for fragment in ("%2e%2e%2f", "OR%201%3D1", "UNION%20SELECT", "%3Cscript%3Ealert%281%29"):
        assert fragment in joined


def test_error_flood_is_hundreds_of_errors_in_five_minutes(scenario: Scenario) -> None:
    """One IP, at least 300 requests answered 401/403/404 within 5 minutes."""
    flood = origin(scenario, "attack:error_flood")
    assert len(flood) >= 300 and len({r.ip for r in flood}) == 1
    assert all(r.status in (401, 403, 404) for r in flood) and _span(flood) < 5 * MINUTE


def test_token_reuse_is_one_token_from_many_ips(scenario: Scenario) -> None:
    """One token fingerprint is used from at least 8 IPs within 20 minutes."""
    reuse = origin(scenario, "attack:token_reuse")
    assert len({token_fingerprint(r.token or "") for r in reuse}) == 1
    assert len({r.ip for r in reuse}) >= 8 and _span(reuse) < 20 * MINUTE
    assert scenario.tokens[reuse[0].token or ""] == reuse[0].user


def test_billing_logs_steadily_then_stops_for_the_last_hour(scenario: Scenario) -> None:
    """The billing service logs about every 30 s, then nothing for the last 60+ minutes."""
    billing = [r for r in scenario.requests if r.service == "billing"]
    gaps = [b.time_us - a.time_us for a, b in itertools.pairwise(billing)]
    assert max(gaps) < 60 * 1_000_000
    end = int(scenario.end.timestamp() * 1e6)
    assert end - billing[-1].time_us >= 60 * MINUTE
    assert scenario.requests[-1].service == "shop" and end - scenario.requests[-1].time_us < MINUTE
    attack = scenario.truth.attack("logging_stopped")
    assert attack.service == "billing" and attack.attackers == [] and attack.formats == ["ecs"]


def test_compromised_accounts_logged_in_from_an_attacker(scenario: Scenario) -> None:
    """Every compromised account has a 200 login from one of its attack's IPs."""
    for attack in scenario.truth.attacks:
        ips = set(attack.attackers)
        for account in attack.accounts_compromised:
            assert any(
                r.is_login and r.status == 200 and r.user == account and r.ip in ips
                for r in scenario.requests
            ), (attack.id, account)


def test_formats_say_which_output_can_show_each_attack(scenario: Scenario) -> None:
    """Attacks needing accounts, tokens or services are ECS-only; the rest show in nginx too."""
    formats = {a.id: a.formats for a in scenario.truth.attacks}
    for name in ("object_enumeration", "scanner", "error_flood"):
        assert formats[name] == ["ecs", "nginx"]
    for name in (
        "brute_force",
        "credential_stuffing",
        "distributed_credential_stuffing",
        "password_spraying",
        "token_reuse",
        "logging_stopped",
    ):
        assert formats[name] == ["ecs"]


def test_logins_use_the_login_route(scenario: Scenario) -> None:
    """Every login attempt is a POST to the login route with an account and a password."""
    logins = _logins(scenario.requests)
    assert logins and all(r.path == LOGIN_PATH and r.user and r.password for r in logins)
