"""Live detection in a real collector: events posted become incidents readable over the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from apiwatch.server import ServerSettings
from tests._wait import wait_for
from tests.server.conftest import Collector, StoreFactory, collector_with
from tests.server.helpers import NDJSON, event, ndjson

ATTACKER = "203.0.113.66"
VICTIM = "victim-07"


def stuffing_batch(ip: str = ATTACKER) -> list[dict[str, Any]]:
    """One source failing logins for 20 accounts, then logging into one of them."""
    start = datetime.now(UTC) - timedelta(seconds=60)
    failures = [
        event("authn_login_fail", ip=ip, user=f"victim-{n:02}", path="/login", status=401,
              outcome="failure", at=start + timedelta(seconds=n))
        for n in range(20)
    ]  # fmt: skip
    success = event("authn_login_success", ip=ip, user=VICTIM, path="/login", status=200,
                    at=start + timedelta(seconds=21))  # fmt: skip
    return [*failures, success]


def metric(collector: Collector, name: str) -> float:
    text = httpx.get(f"{collector.url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not in /metrics")


def stuffing_incident(collector: Collector) -> dict[str, Any] | None:
    with collector.client("read") as client:
        response = client.get("/v1/incidents", params={"attacker.ip": ATTACKER})
    assert response.status_code == 200, response.text
    found = [i for i in response.json()["items"] if i["accounts_compromised"]]
    return found[0] if found else None


def post(collector: Collector, events: list[dict[str, Any]], **headers: str) -> dict[str, Any]:
    with collector.client() as client:
        response = client.post("/v1/events", content=ndjson(events), headers={**NDJSON, **headers})
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


def test_credential_stuffing_becomes_an_incident_naming_the_compromised_account(
    collector: Collector,
) -> None:
    """A stuffing run posted to the collector shows up at /v1/incidents with its extent and
    each attacker's and compromised account's evidence."""
    post(collector, stuffing_batch())
    incident = wait_for(lambda: stuffing_incident(collector), "the stuffing incident")
    assert incident["accounts_compromised"] == [VICTIM]
    assert incident["attackers"] == [ATTACKER]
    why = incident["attacker_evidence"][ATTACKER]
    assert any("19 accounts never logged into from here" in line for line in why), why
    assert incident["account_evidence"][VICTIM]
    assert "credential-stuffing-source" in incident["rules"]
    assert len(incident["accounts_targeted"]) == 20
    assert incident["severity"] == "critical"
    with collector.client("read") as client:
        one = client.get(f"/v1/incidents/{incident['id']}")
        alerts = client.get("/v1/alerts", params={"rule": "credential-stuffing-source"})
    assert one.status_code == 200
    assert one.json() == incident
    assert [a["attackers"] for a in alerts.json()["items"]] == [[ATTACKER]]


def test_replayed_events_are_not_fed_to_detection_twice(collector: Collector) -> None:
    """Posting the same batch again (same event ids, or the same Idempotency-Key) stores
    nothing and leaves the incident's counts as they were."""
    batch = stuffing_batch()
    post(collector, batch, **{"Idempotency-Key": "run-1"})
    before = wait_for(lambda: stuffing_incident(collector), "the stuffing incident")
    assert post(collector, batch)["duplicates"] == len(batch)
    assert post(collector, batch, **{"Idempotency-Key": "run-1"})["replayed"]
    # A later, unrelated event: detection takes events in the order they were stored, so once
    # it has processed this one and counted nothing else, it has fed nothing of the above again
    # (and had nothing new to change the incident with).
    post(collector, [event(ip="198.51.100.200", at=datetime.now(UTC) - timedelta(seconds=30))])
    wait_for(lambda: metric(collector, "apiwatch_detect_events_total") == len(batch) + 1,
             "detection processed the sentinel event")  # fmt: skip
    assert stuffing_incident(collector) == before


def test_detection_reads_need_the_read_scope(collector: Collector) -> None:
    """No key gets 401, an ingest-only key 403, a read or admin key 200, on every route."""
    for path in ("/v1/alerts", "/v1/incidents", "/v1/incidents/inc-0000"):
        assert httpx.get(f"{collector.url}{path}", timeout=10).status_code == 401
        with collector.client("ingest") as client:
            denied = client.get(path)
        assert denied.status_code == 403
        assert "read" in denied.json()["error"]
        for key in ("read", "admin"):
            with collector.client(key) as client:
                assert client.get(path).status_code in {200, 404}


def test_an_unknown_incident_is_a_404_with_a_json_error(collector: Collector) -> None:
    """GET /v1/incidents/{id} for an id nobody stored answers 404 {"error": ...}."""
    with collector.client("read") as client:
        response = client.get("/v1/incidents/inc-does-not-exist")
    assert response.status_code == 404
    assert response.json() == {"error": "no incident has this id"}


def test_detection_reads_are_audited(collector: Collector) -> None:
    """Listing incidents and reading one are in the read audit, with their criteria."""
    with collector.client("read") as client:
        client.get("/v1/incidents", params={"severity": "high", "rule": "scanner"})
        client.get("/v1/incidents/inc-x")
    with collector.client("admin") as client:
        reads = client.get("/v1/reads").json()["reads"]
    seen = {(r["what"], r["criteria"], r["key_name"]) for r in reads}
    assert ("incidents", "severity>=high rule=scanner", "read") in seen
    assert ("incident", "id=inc-x", "read") in seen


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"severity": "urgent"}, "severity"),
        ({"attacker.ip": "nope"}, "attacker.ip"),
        ({"cursor": "garbage"}, "cursor"),
        ({"since": "yesterday"}, "since"),
        ({"attacker": "1.2.3.4"}, "attacker"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    collector: Collector, params: dict[str, str], message: str
) -> None:
    """A bad filter value, a foreign cursor or an unknown parameter is a 400 that names it."""
    with collector.client("read") as client:
        response = client.get("/v1/alerts", params=params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


def test_metrics_show_the_engine(collector: Collector) -> None:
    """/metrics has the detection counters and gauges, and they move with the traffic."""
    post(collector, stuffing_batch())
    wait_for(lambda: stuffing_incident(collector), "the stuffing incident")
    # The counters move just after the incident is saved, on the detection thread.
    wait_for(lambda: metric(collector, "apiwatch_detect_events_total") == 21, "21 events counted")
    wait_for(lambda: metric(collector, "apiwatch_detect_incidents_total") >= 1, "incident counted")
    wait_for(lambda: metric(collector, "apiwatch_detect_alerts_total") >= 1, "alerts counted")
    assert metric(collector, "apiwatch_detect_state_keys") > 0
    for name in ("apiwatch_detect_evicted_total", "apiwatch_detect_queue_events",
                 "apiwatch_detect_skipped_events_total"):  # fmt: skip
        assert metric(collector, name) == 0


def test_a_full_detection_queue_skips_events_and_ingest_goes_on(
    make_store: StoreFactory,
) -> None:
    """With room for 5 events, a batch of 21 is stored (202) but not fed; the skip is counted."""
    with collector_with(make_store, ServerSettings(detect_queue_events=5)) as collector:
        assert post(collector, stuffing_batch())["accepted"] == 21
        wait_for(lambda: metric(collector, "apiwatch_detect_skipped_events_total") == 21,
                 "the skipped events counted")  # fmt: skip
        assert post(collector, [event()])["accepted"] == 1
        wait_for(lambda: metric(collector, "apiwatch_detect_events_total") == 1,
                 "the small batch processed")  # fmt: skip


def test_without_detection_the_routes_still_answer(make_store: StoreFactory) -> None:
    """With detect off nothing is detected, and the read routes answer with empty pages."""
    with collector_with(make_store, ServerSettings(detect=False)) as collector:
        post(collector, stuffing_batch())
        with collector.client("read") as client:
            assert client.get("/v1/incidents").json() == {"items": [], "next": None}
        assert metric(collector, "apiwatch_detect_events_total") == 0
