"""The adversarial corpus: the generator's own invariants, the scorer's definitions, and a
ratchet on what the real engine achieves on it (issue 9)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from apiwatch.model import Event, decode_event
from apiwatch.sources.accesslog import parse_access_line
from tests.adversarial.generator import FORMATS, Corpus, generate, requests_for
from tests.adversarial.report import GOALS, as_json, meets, render, run, totals
from tests.adversarial.scorer import score
from tests.adversarial.shop import MOBILE_LOGIN

SMALL = 0.1
"""Scale of the invariant tests' logs (a few hundred customers; the traps keep their crowds)."""


@pytest.fixture(scope="module")
def ecs() -> Corpus:
    return generate(5, "ecs", SMALL)


@pytest.fixture(scope="module")
def nginx() -> Corpus:
    return generate(5, "nginx", SMALL)


@pytest.fixture(scope="module")
def events(ecs: Corpus) -> list[Event]:
    return [decode_event(line.encode()) for line in ecs.lines]


def _key(event: Event | None) -> tuple[object, ...]:
    """What both formats say of one request: time (to the second), client, request, status."""
    assert event is not None and event.http and event.http.request and event.http.response
    assert event.source and event.url
    return (
        event.timestamp.replace(microsecond=0), event.source.ip, event.http.request.method,
        event.url.path, event.url.query, event.http.response.status_code,
    )  # fmt: skip


def test_same_seed_gives_the_same_log() -> None:
    """A seed always gives the same lines in both formats, even after the cache is dropped."""
    first = {fmt: generate(9, fmt, SMALL).lines for fmt in FORMATS}
    requests_for.cache_clear()
    assert {fmt: generate(9, fmt, SMALL).lines for fmt in FORMATS} == first
    assert generate(10, "nginx", SMALL).lines != first["nginx"]


def test_both_formats_carry_the_same_requests(nginx: Corpus, events: list[Event]) -> None:
    """Every nginx line is one sensor request event (time, client, method, path, query, status)."""
    parsed = [parse_access_line(line, logins=None) for line in nginx.lines]
    from_nginx = Counter(_key(event) for event in parsed)
    from_ecs = Counter(_key(event) for event in events if event.http and event.http.response)
    assert len(parsed) == len(nginx.requests)
    assert from_nginx == from_ecs


def test_ecs_adds_only_the_apps_own_audit_events(ecs: Corpus, events: list[Event]) -> None:
    """Besides one event per request, the ECS log holds exactly the app's audit events."""
    audits = sum(len(request.audit) for request in ecs.requests)
    assert len(events) == len(ecs.requests) + audits
    assert audits > 0


def test_attack_truth_matches_the_lines(ecs: Corpus, events: list[Event]) -> None:
    """Each attack's addresses, accounts and exposed objects are what its requests show."""
    for truth in ecs.attacks:
        mine = [r for r in ecs.requests if r.scenario == truth.name]
        assert mine, truth.name
        assert {r.ip for r in mine} == truth.attacker_ips, truth.name
        from_attackers = [e for e in events if e.source and e.source.ip in truth.attacker_ips]
        users = {e.user.name for e in from_attackers if e.user}
        if not truth.exposed_objects:  # else the targets are the owners of the objects read
            assert truth.targeted_accounts <= users, truth.name
        # a successful login (the sensor's or the app's own), or a token used successfully
        won = {
            e.user.name
            for e in from_attackers
            if e.user
            and e.event.outcome == "success"
            and (e.event.action != "http_request" or "token_id" in e.labels)
        }
        assert truth.compromised_accounts <= won, truth.name
        read = {
            part
            for e in from_attackers
            if e.event.outcome == "success"
            for part in (e.url.path if e.url and e.url.path else "").split("/")
        }
        assert truth.exposed_objects <= read, truth.name
        assert not truth.exposed_objects & truth.own_objects, truth.name


def test_benign_sets_exclude_every_attacker(ecs: Corpus) -> None:
    """No benign address is an attacker's, no benign account was compromised; all are used."""
    attackers = set().union(*(t.attacker_ips for t in ecs.attacks))
    compromised = set().union(*(t.compromised_accounts for t in ecs.attacks))
    assert not ecs.benign_ips & attackers
    assert not ecs.benign_accounts & compromised
    assert ecs.benign_ips <= {r.ip for r in ecs.requests}
    assert {
        "carrier_cgnat",
        "office_nat",
        "sso_bridge",
        "reset_wave",
        "uptime_monitor",
        "partner_integration",
        "qa_load_test",
        "token_victim",
    } <= {t.name for t in ecs.truths if not t.attack and t.benign_ips}


def test_a_residential_proxy_exit_is_also_a_home(ecs: Corpus) -> None:
    """Every proxy exit carries its household's own successful logins during the attack."""
    (proxy,) = (t for t in ecs.attacks if t.name == "residential_proxy")
    homes = {r.ip for r in ecs.requests if r.scenario == "proxy_exit_households"}
    assert proxy.attacker_ips == homes


def test_stuffing_200_leaves_no_failure_in_the_access_log(nginx: Corpus) -> None:
    """The 200-with-a-failure-body attack shows only 200 answers to nginx."""
    lines = [r for r in nginx.requests if r.scenario == "stuffing_200"]
    assert lines and {(r.path, r.status) for r in lines} == {(MOBILE_LOGIN, 200)}


def test_uptime_monitor_is_strictly_periodic(nginx: Corpus) -> None:
    """Each monitor checks /healthz exactly every 60 s and fails its canary login every 300 s."""
    monitor = [r for r in nginx.requests if r.scenario == "uptime_monitor"]
    for ip in {r.ip for r in monitor}:
        for path, period in (("/healthz", 60.0), ("/api/v1/auth/login", 300.0)):
            times = [r.at for r in monitor if r.ip == ip and r.path == path]
            assert {b - a for a, b in itertools.pairwise(times)} == {period}
    assert {r.status for r in monitor if r.method == "POST"} == {401}


def test_the_carrier_gateways_carry_hundreds_of_customers(nginx: Corpus) -> None:
    """A CGNAT address is shared by hundreds of accounts at every scale."""
    by_ip: dict[str, set[str]] = {}
    for r in nginx.requests:
        if r.scenario == "carrier_cgnat" and r.user:
            by_ip.setdefault(r.ip, set()).add(r.user)
    assert by_ip and min(len(accounts) for accounts in by_ip.values()) >= 150


def test_unknown_format_is_refused() -> None:
    """Asking for a format the generator does not write names the ones it does."""
    with pytest.raises(ValueError, match="ecs, nginx"):
        generate(1, "syslog", SMALL)


def test_score_counts_by_overlap(ecs: Corpus) -> None:
    """The scorer credits a class by overlap and counts benign addresses, wrong compromises and
    wrong exposed objects exactly."""
    brute = next(t for t in ecs.attacks if t.name == "brute_force")
    scrape = next(t for t in ecs.attacks if t.name == "token_scrape")
    office = next(t for t in ecs.truths if t.name == "office_nat")
    innocent = sorted(office.benign_accounts)[0]
    own = sorted(scrape.own_objects)[0]
    incidents = [
        {
            "attackers": sorted(brute.attacker_ips | office.benign_ips),
            "accounts_compromised": sorted(brute.compromised_accounts | {innocent}),
        },
        {
            "attackers": sorted(scrape.attacker_ips),
            "objects_exposed": [f"/api/v1/users/{own}/orders", *sorted(scrape.exposed_objects)],
        },
    ]
    result = score(ecs, incidents)
    by_name = {one.name: one for one in result.classes}
    assert by_name["brute_force"].detected and by_name["token_scrape"].detected
    assert not by_name["takeover"].detected
    assert by_name["brute_force"].compromised_named == 1
    assert result.benign_flagged == {"office_nat": sorted(office.benign_ips)}
    assert result.wrongly_compromised == [innocent]
    assert result.wrong_objects == [f"/api/v1/users/{own}/orders"]


# Measured on 2026-12-04 (seeds 1 and 2, scale 0.15, both formats) after issue 9's attribution
# by behaviour and new attack classes; at a85e91d they were ECS 13 classes, recall 0.1726, 6
# benign, 306 wrongly compromised, compromised recall 0.3864; nginx 10, 0.1451, 4 benign.
# Issue 9's takeovers (hit and run once the owner shows up elsewhere, IPv6 judged at the /64)
# raised ECS compromised recall 0.75 -> 0.9091, login IP recall 0.9956 -> 1.0 (nginx 0.9665 ->
# 0.9699) on 2026-12-04. After token theft, access-log scraping and the ground truth that scores
# token theft and takeover in ECS only (access logs carry neither account nor token): ECS 22 of 22
# classes, compromised recall 0.9545; nginx 15 of 16 (at scale 0.15 one seed's reset
# enumeration is too small to see; at full scale all are found), recall 0.9699 (2026-12-04).
# These are floors and ceilings, not goals: an engine change may only move them towards GOALS.
# When the engine improves, tighten them to the new figures; a change to the generator changes
# the logs, so measure again and record the figures with the commit that changed it.
RATCHET = {
    "ecs": {
        "classes_detected": 22,  # of 22 (11 classes x 2 seeds)
        "login_ip_recall": 0.995,
        "benign_flagged": 0,
        "wrongly_compromised": 0,
        "compromised_recall": 0.95,
        "wrong_objects": 0,
    },
    "nginx": {
        "classes_detected": 15,  # of 16 (8 classes x 2 seeds scored in access logs)
        "login_ip_recall": 0.965,
        "benign_flagged": 0,
        "wrongly_compromised": 0,
        "wrong_objects": 0,
    },
}
_HIGHER = {"classes_detected", "login_ip_recall", "compromised_recall"}


@pytest.mark.slow
def test_engine_does_not_get_worse_on_the_corpus() -> None:
    """The real ``apiwatch scan`` keeps at least today's figures on the adversarial corpus."""
    results = run([1, 2], list(FORMATS), scale=0.15)
    worse = []
    for fmt, floors in RATCHET.items():
        measured = totals(results[fmt]).measures()
        for name, floor in floors.items():
            value = measured[name]
            if (value < floor) if name in _HIGHER else (value > floor):
                worse.append(f"{fmt} {name}: {value} (was {floor})")
    assert not worse, "engine got worse on the adversarial corpus: " + "; ".join(worse)


def test_report_prints_every_class_and_goal(ecs: Corpus) -> None:
    """The report's table names every attack class and each goal, and its JSON has totals."""
    brute = next(t for t in ecs.attacks if t.name == "brute_force")
    results = {"ecs": [score(ecs, [{"attackers": sorted(brute.attacker_ips)}])]}
    table = render(results)
    assert all(truth.name in table for truth in ecs.attacks)
    assert "login_ip_recall" in table and "(goal 0.95) MISSED" in table
    measured = as_json(results)["ecs"]["totals"]
    assert measured["classes_detected"] == 1 and measured["benign_flagged"] == 0


def test_goals_are_the_issues() -> None:
    """The goals the report prints against are issue 9's acceptance figures."""
    assert GOALS["ecs"]["login_ip_recall"] == 0.95 and GOALS["nginx"]["login_ip_recall"] == 0.90
    assert meets("ecs", "benign_flagged", 0) and not meets("ecs", "benign_flagged", 1)
    assert meets("ecs", "compromised_recall", 0.95) and not meets("ecs", "compromised_recall", 0.9)
