"""What ingest refuses beyond malformed JSON: duplicate keys, values ECS does not allow, and
lines outside what a bound key may report; and the ``ecs.version`` every stored event carries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from apiwatch.model.event import ECS_VERSION
from apiwatch.server import ServerSettings
from apiwatch.server.ingest import Admission, decode_body
from apiwatch.store import ApiKey
from tests.server.conftest import Collector, StoreFactory, collector_with
from tests.server.helpers import NDJSON, T0, event, ndjson


def compact(doc: dict[str, Any]) -> bytes:
    """One line as the sensor writes it (no spaces: the decoder's fast path takes it)."""
    return json.dumps(doc, separators=(",", ":")).encode()


def errors(body: bytes, admission: Admission | None = None) -> list[tuple[int, str, str]]:
    decoded = decode_body(body, max_line_bytes=1 << 20, admission=admission)
    return [(r.line, r.reason, r.error) for r in decoded.rejected]


# -- duplicate keys --------------------------------------------------------------------------------

_HEAD = '{"@timestamp":"2024-05-01T12:00:00Z",'
DUPLICATES = [
    (_HEAD + '"event":{"action":"http_request","action":"authn_login_success","id":"e1"}}',
     "event.action"),
    (_HEAD + '"event":{"action":"http_request","id":"e1"},"source":{"ip":"10.0.0.1"},'
     '"source":{"ip":"198.51.100.7"}}', "source"),
    (_HEAD + '"event":{"action":"http_request","id":"e1"},"cloud":{"region":"a","region":"b"}}',
     "cloud.region"),
    (_HEAD + '"event":{"\\u0061ction":"x","action":"http_request","id":"e1"}}', "event.action"),
    (_HEAD + '"event":{"action":"http_request","id":"e1"},"tags":[{"a":1,"a":2}]}', "tags.a"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "path"), DUPLICATES)
@pytest.mark.parametrize("spacing", ["", " "])
def test_a_line_with_a_key_given_twice_is_rejected_naming_the_key(
    text: str, path: str, spacing: str
) -> None:
    """A key given twice in one object (however spelt) is rejected with its dotted path, on the
    fast path (compact lines) and on the full codec's path alike."""
    line = text.replace(",", "," + spacing).encode()
    json.loads(line)  # valid JSON: only the repeat is wrong
    assert errors(line) == [(1, "duplicate_key", f"duplicate key: {path} is given more than once")]


def test_lines_without_a_repeated_key_are_not_taken_for_duplicates() -> None:
    """The same key name in different objects (event.id, trace.id) is no repeat."""
    doc = event(trace={"id": "t1"}, labels={"id": "x", "name": "y"})
    doc["http"]["request"]["id"] = "r1"
    assert errors(compact(doc) + b"\n" + json.dumps(doc).encode()) == []


# -- ECS allowed values --------------------------------------------------------------------------

INVALID = [
    ({"kind": "happening"}, "event.kind: 'happening' is not an ECS value"),
    ({"category": ["web", "webz"]}, "event.category: 'webz' is not an ECS value"),
    ({"category": "login"}, "event.category: 'login' is not an ECS value"),
    ({"type": ["access", "grant"]}, "event.type: 'grant' is not an ECS value"),
    ({"outcome": "failed"}, "event.outcome: 'failed' is not an ECS value"),
]


@pytest.mark.parametrize(("meta", "message"), INVALID)
def test_a_categorization_value_ecs_does_not_allow_is_rejected(
    meta: dict[str, Any], message: str
) -> None:
    """event.kind, category, type and outcome must be ECS's allowed values (fast path and full
    codec alike); the reason names the field and the value."""
    doc = event()
    doc["event"].update(meta)
    for line in (compact(doc), json.dumps(doc).encode()):
        ((number, reason, error),) = errors(line)
        assert (number, reason) == (1, "ecs") and error.startswith(message)


@pytest.mark.parametrize("ip", ["not-an-ip", "10.0.0.256", "fe80::1%eth0", "", "::ffff:1.2.3"])
def test_a_source_ip_that_is_not_an_address_is_rejected(ip: str) -> None:
    """source.ip must be an IPv4 or IPv6 address (no zone); the reason says so."""
    ((_, reason, error),) = errors(compact(event(ip=ip)))
    assert reason == "ecs" and error.startswith(f"source.ip: {ip!r} is not an IP address")


def test_allowed_values_and_addresses_are_accepted() -> None:
    """Every allowed value combination the sensor writes, IPv4 and IPv6, is accepted."""
    doc = event(ip="2001:db8::7")
    doc["event"].update(kind="event", category=["web", "api"], type=["access", "denied"],
                        outcome="unknown")  # fmt: skip
    assert errors(compact(doc) + b"\n" + compact(event(ip="203.0.113.9"))) == []


# -- ecs.version ---------------------------------------------------------------------------------


def test_every_stored_line_carries_ecs_version_and_a_given_one_is_kept() -> None:
    """A line without ecs.version is stored with apiwatch's; a line with one keeps it."""
    plain = event()
    versioned = {**event(), "ecs": {"version": "1.12.0"}}
    empty = {**event(), "ecs": {}}
    body = b"\n".join([compact(plain), json.dumps(plain).encode(), compact(versioned),
                       compact(empty)])  # fmt: skip
    decoded = decode_body(body, max_line_bytes=1 << 20)
    assert not decoded.rejected
    stored = [json.loads(line.payload)["ecs"]["version"] for line in decoded.accepted]
    assert stored == [ECS_VERSION, ECS_VERSION, "1.12.0", ECS_VERSION]
    assert [line.event.ecs.version for line in decoded.accepted] == stored


# -- key binding ---------------------------------------------------------------------------------


def bound(services: frozenset[str] = frozenset(), networks: tuple[str, ...] = ()) -> Admission:
    key = ApiKey("k1", "shop-sensor", frozenset({"ingest"}), T0, services=services,
                 networks=networks)  # fmt: skip
    return Admission.at(datetime.now(UTC), future_skew=300, max_age=1e10, key=key)


def test_a_key_bound_to_services_may_report_only_those() -> None:
    """Lines of another service, or of none, are rejected naming the key and its services."""
    doc_none = event()
    del doc_none["service"]
    body = ndjson([event(service="shop"), event(service="api"), event(service="bank"), doc_none])
    assert errors(body, bound(services=frozenset({"shop", "api"}))) == [
        (3, "binding", "service.name 'bank': key 'shop-sensor' may report only for api, shop"),
        (4, "binding", "no service.name: key 'shop-sensor' may report only for api, shop"),
    ]


def test_a_key_bound_to_networks_may_report_only_their_addresses() -> None:
    """A source.ip outside the key's networks is rejected; one inside, or none, is accepted."""
    no_ip = event()
    del no_ip["source"]
    body = ndjson([event(ip="10.1.2.3"), event(ip="198.51.100.7"), event(ip="2001:db8::1"), no_ip])
    assert errors(body, bound(networks=("10.0.0.0/8", "2001:db8::/32"))) == [
        (2, "binding", "source.ip '198.51.100.7': key 'shop-sensor' may report only addresses "
                       "in 10.0.0.0/8, 2001:db8::/32"),
    ]  # fmt: skip


def test_an_unbound_key_may_report_anything_valid() -> None:
    """An unbound key's lines are held only to validity and time."""
    body = ndjson([event(service="bank", ip="198.51.100.7"), event(service="shop")])
    assert errors(body, bound()) == []


def test_a_bound_key_cannot_get_an_outside_address_reported_through_the_collector(
    make_store: StoreFactory,
) -> None:
    """Through a real collector: a key made with services and networks has its other lines
    rejected with the reason, counted as ``binding``; its own lines are stored."""
    with collector_with(make_store, ServerSettings(detect=False)) as collector:
        _, secret = collector.store.keys.create("shop-sensor", ["ingest"], services=["shop"],
                                               networks=["10.0.0.0/8"])  # fmt: skip
        body = ndjson([event(service="shop", ip="10.0.0.9"), event(service="shop", ip="8.8.8.8"),
                       event(service="bank", ip="10.0.0.9")])  # fmt: skip
        response = httpx.post(f"{collector.url}/v1/events", content=body,
                              headers={**NDJSON, "Authorization": f"Bearer {secret}"})  # fmt: skip
        assert response.status_code == 202, response.text
        answer = response.json()
        assert answer["accepted"] == 1
        assert [(r["line"], r["error"].split(":")[0]) for r in answer["rejected"]] == [
            (2, "source.ip '8.8.8.8'"), (3, "service.name 'bank'"),
        ]  # fmt: skip
        assert _metric(collector, 'apiwatch_events_rejected_by_reason_total{reason="binding"}') == 2
        unbound = post(collector, [event(service="bank", ip="8.8.8.8")])
        assert unbound.status_code == 202 and unbound.json()["accepted"] == 1


def test_the_collector_rejects_duplicates_and_non_ecs_values_with_the_reason(
    collector: Collector,
) -> None:
    """Through a real collector: a duplicate key and a non-ECS value are each rejected with the
    reason in ``rejected`` and counted by reason; the valid line is stored with ecs.version."""
    good = event()
    duplicated = compact(event()).replace(b'"outcome":"success"',
                                          b'"outcome":"success","outcome":"failure"')  # fmt: skip
    wrong = event(ip="localhost")
    body = compact(good) + b"\n" + duplicated + b"\n" + compact(wrong) + b"\n"
    with collector.client() as client:
        response = client.post("/v1/events", content=body, headers=NDJSON)
    assert response.status_code == 202, response.text
    with collector.client("read") as client:
        (stored,) = client.get("/v1/events").json()["events"]
    assert response.json()["rejected"] == [
        {"line": 2, "error": "duplicate key: event.outcome is given more than once"},
        {"line": 3, "error": "source.ip: 'localhost' is not an IP address (other peers go in "
                             "source.address)"},
    ]  # fmt: skip
    assert stored["ecs"] == {"version": ECS_VERSION}
    for reason in ("duplicate_key", "ecs"):
        assert (
            _metric(collector, f'apiwatch_events_rejected_by_reason_total{{reason="{reason}"}}')
            == 1
        )


def post(collector: Collector, events: list[dict[str, Any]]) -> httpx.Response:
    with collector.client() as client:
        return client.post("/v1/events", content=ndjson(events), headers=NDJSON)


def _metric(collector: Collector, sample: str) -> float:
    for line in httpx.get(f"{collector.url}/metrics", timeout=10).text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[1])
    return 0.0
