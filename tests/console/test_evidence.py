"""The incident page reads per-attacker and per-account evidence in the shapes detection gives
it, and does without it."""

from __future__ import annotations

from apiwatch.server.console._data import account_evidence, attacker_evidence, network_of


def test_attacker_evidence_as_a_map_of_reasons() -> None:
    """``attacker_evidence`` (address -> reasons), as incidents carry it, is read per address."""
    data = {"attackers": ["203.0.113.9"],
            "attacker_evidence": {"203.0.113.9": ["30 failed logins for 28 accounts",
                                                  "logged into chen from here"]}}  # fmt: skip
    assert attacker_evidence(data) == {
        "203.0.113.9": ["30 failed logins for 28 accounts", "logged into chen from here"]
    }


def test_attacker_records_with_an_evidence_list() -> None:
    """Attackers given as records with an ``evidence`` list are read too."""
    data = {"attackers": [{"ip": "198.51.100.2", "evidence": ["scanner user agent"]}]}
    assert attacker_evidence(data) == {"198.51.100.2": ["scanner user agent"]}


def test_no_evidence_is_no_evidence() -> None:
    """An incident without evidence (older detection) gives none, and no error."""
    assert attacker_evidence({"attackers": ["192.0.2.1"]}) == {}
    assert account_evidence({"accounts_compromised": ["bob"]}) == {}
    assert account_evidence({"account_evidence": {"bob": ["login after 12 failures"]}}) == {
        "bob": ["login after 12 failures"]
    }


def test_network_of_an_address() -> None:
    """An attacker's network is its /24 (IPv4) or /48 (IPv6)."""
    assert network_of("203.0.113.77") == "203.0.113.0/24"
    assert network_of("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert network_of("not an address") == "not an address"
