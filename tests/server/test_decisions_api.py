"""The decision API on a live collector: CrowdSec-compatible stream and lookup for bouncers
(X-Api-Key, 403 as CrowdSec answers, ``null`` when empty, durations counting down), and the
admin routes for decisions and the allowlist."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from apiwatch.model import Decision
from apiwatch.model.duration import parse_go_duration
from apiwatch.server import ServerSettings, create_app

from .conftest import Collector, StoreFactory, add_keys, served

WIRE_FIELDS = {"id", "origin", "type", "scope", "value", "duration", "until", "scenario",
               "simulated"}  # fmt: skip
ACCOUNT = "dana.private-account"


class SkippingClock:
    """The wall clock, plus whatever time a test skipped: the collector's now in these tests."""

    def __init__(self) -> None:
        self.skipped = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.skipped

    def skip(self, seconds: float) -> None:
        self.skipped += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> SkippingClock:
    return SkippingClock()


@pytest.fixture
def collector(make_store: StoreFactory, clock: SkippingClock) -> Iterator[Collector]:
    """A collector with default settings whose decision routes read ``clock``."""
    store = make_store()
    keys = add_keys(store)
    with served(create_app(store, ServerSettings(), clock=clock)) as url:
        yield Collector(url, store, keys)


@pytest.fixture
def bouncer(collector: Collector) -> Iterator[httpx.Client]:
    """A client with a key of scope bouncer, sent as CrowdSec bouncers send it."""
    secret = collector.store.keys.create("bouncer", ["bouncer"])[1]
    collector.keys["bouncer"] = secret
    with httpx.Client(base_url=collector.url, headers={"X-Api-Key": secret}, timeout=30) as c:
        yield c


@pytest.fixture
def admin(collector: Collector) -> Iterator[httpx.Client]:
    with collector.client("admin") as client:
        yield client


def decision(
    value: str = "203.0.113.9",
    scope: str = "Ip",
    *,
    lasting: float = 3600,
    ago: float = 0,
    type: str = "ban",
    simulated: bool = False,
    origin: str = "apiwatch",
) -> Decision:
    created = datetime.now(UTC) - timedelta(seconds=ago)
    return Decision(
        id=0,
        type=type,
        scope=scope,
        value=value,
        created=created,
        until=created + timedelta(seconds=lasting),
        origin=origin,
        scenario="credential-stuffing-source",
        reason="a reason never served",
        simulated=simulated,
    )


def pull(client: httpx.Client, startup: bool = False, **params: str) -> dict[str, Any]:
    answer = client.get("/v1/decisions/stream", params={"startup": str(startup).lower(), **params})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"new", "deleted"}
    return body


def served_values(section: list[dict[str, Any]] | None) -> list[str]:
    return [item["value"] for item in section or []]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 403),
        ({"X-Api-Key": "aw_000000000000_unknown"}, 403),
        ({"Authorization": "Basic eDp5"}, 403),
    ],
)
def test_the_bouncer_routes_refuse_a_missing_or_unknown_key_with_403(
    collector: Collector, headers: dict[str, str], status: int
) -> None:
    """As CrowdSec's Local API: no key, an unknown key, or no usable header is a 403."""
    for path in ("/v1/decisions/stream", "/v1/decisions"):
        answer = httpx.get(collector.url + path, headers=headers)
        assert answer.status_code == status
        assert "key" in answer.json()["error"]


def test_a_key_without_the_bouncer_scope_is_refused(collector: Collector) -> None:
    """An ingest or read key may not pull decisions (403 naming the scope)."""
    for name in ("ingest", "read"):
        answer = httpx.get(collector.url + "/v1/decisions/stream",
                           headers={"X-Api-Key": collector.keys[name]})  # fmt: skip
        assert answer.status_code == 403
        assert "bouncer" in answer.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "params", "status"),
    [
        ("GET", "/v1/decisions/stream", {"startup": "maybe"}, 400),
        ("GET", "/v1/decisions", {"ip": "not an address"}, 400),
        ("PUT", "/v1/decisions/stream", {}, 405),
        ("GET", "/crowdsec/v1/decisions/stream", {}, 404),
    ],
)
def test_every_error_a_bouncer_can_meet_carries_crowdsecs_message_field(
    bouncer: httpx.Client, method: str, path: str, params: dict[str, str], status: int
) -> None:
    """CrowdSec's Go client panics on an error body without ``message``: every error a bouncer
    can get (bad parameter, wrong method, wrong URL prefix) has it, as CrowdSec's LAPI sends it."""
    answer = bouncer.request(method, path, params=params)
    assert answer.status_code == status
    body = answer.json()
    assert isinstance(body["message"], str) and body["message"] == body["error"]


def test_refused_keys_are_answered_with_crowdsecs_message_field(collector: Collector) -> None:
    """A missing, unknown, unscoped or revoked key gets 403 with ``message`` (CrowdSec's field,
    which its bouncers' client dereferences) as well as apiwatch's ``error``."""
    secret = collector.store.keys.create("revoked", ["bouncer"])[1]
    assert collector.store.keys.revoke("revoked")
    for headers in ({}, {"X-Api-Key": "aw_000000000000_unknown"}, {"X-Api-Key": secret},
                    {"X-Api-Key": collector.keys["read"]}):  # fmt: skip
        for path in ("/v1/decisions/stream", "/v1/decisions"):
            answer = httpx.get(collector.url + path, headers=headers)
            assert answer.status_code == 403
            assert answer.json()["message"] == answer.json()["error"]


def test_bearer_and_admin_keys_are_accepted_too(
    collector: Collector, bouncer: httpx.Client
) -> None:
    """Authorization: Bearer works as X-Api-Key does; an admin key may pull as well."""
    for secret in (collector.keys["bouncer"], collector.keys["admin"]):
        answer = httpx.get(collector.url + "/v1/decisions/stream",
                           headers={"Authorization": f"Bearer {secret}"})  # fmt: skip
        assert answer.status_code == 200


def test_nothing_to_say_is_json_null(bouncer: httpx.Client) -> None:
    """No decisions: the stream answers null sections and the lookup answers null."""
    assert pull(bouncer, startup=True) == {"new": None, "deleted": None}
    answer = bouncer.get("/v1/decisions", params={"ip": "203.0.113.9"})
    assert answer.status_code == 200
    assert answer.text == "null"
    assert answer.headers["content-type"] == "application/json"


def test_a_served_decision_has_exactly_the_crowdsec_fields(
    collector: Collector, bouncer: httpx.Client
) -> None:
    """id int, the CrowdSec fields, the Go duration left, until in RFC 3339, simulated false,
    and never the reason."""
    stored = collector.store.decisions.add([decision(lasting=3600, ago=100)])[0]
    item = pull(bouncer, startup=True)["new"][0]
    assert set(item) == WIRE_FIELDS
    assert item["id"] == stored.id
    assert isinstance(item["id"], int)
    assert (item["scope"], item["type"], item["value"]) == ("Ip", "ban", "203.0.113.9")
    assert (item["origin"], item["scenario"]) == ("apiwatch", "credential-stuffing-source")
    assert item["simulated"] is False
    assert re.fullmatch(r"58m\d+s", item["duration"])
    assert 3480 <= parse_go_duration(item["duration"]) <= 3500
    until = datetime.fromisoformat(item["until"].replace("Z", "+00:00"))
    assert abs((until - stored.until).total_seconds()) < 1


def test_durations_count_down_between_pulls(
    collector: Collector, bouncer: httpx.Client, clock: SkippingClock
) -> None:
    """The duration is the time left when served: later answers give less."""
    collector.store.decisions.add([decision(lasting=600)])
    first = parse_go_duration(pull(bouncer, startup=True)["new"][0]["duration"])
    clock.skip(2.1)
    later = parse_go_duration(bouncer.get("/v1/decisions").json()[0]["duration"])
    assert first - later >= 2


def test_the_stream_serves_addresses_and_ranges_by_default(
    collector: Collector, bouncer: httpx.Client
) -> None:
    """Like CrowdSec, only Ip and Range unless scopes= asks; simulated decisions never."""
    collector.store.decisions.add([
        decision("203.0.113.9"), decision("198.51.100.0/24", "Range"),
        decision(ACCOUNT, "Username", type="flag"), decision("203.0.113.10", simulated=True),
    ])  # fmt: skip
    assert served_values(pull(bouncer, startup=True)["new"]) == ["203.0.113.9",
                                                                 "198.51.100.0/24"]  # fmt: skip
    assert served_values(pull(bouncer, startup=True, scopes="username")["new"]) == [ACCOUNT]
    every = pull(bouncer, startup=True, scopes="ip,range,username")["new"]
    assert len(every) == 3


def test_origins_and_scenario_filters(collector: Collector, bouncer: httpx.Client) -> None:
    """origins= and scenarios_containing / scenarios_not_containing filter as CrowdSec's do."""
    collector.store.decisions.add([decision("203.0.113.9"),
                                   decision("203.0.113.10", origin="manual")])  # fmt: skip
    assert served_values(pull(bouncer, True, origins="manual")["new"]) == ["203.0.113.10"]
    assert pull(bouncer, True, scenarios_not_containing="stuffing")["new"] is None
    assert len(pull(bouncer, True, scenarios_containing="stuffing")["new"]) == 2


def test_deltas_follow_adds_deletes_and_expiry(
    collector: Collector, bouncer: httpx.Client, admin: httpx.Client, clock: SkippingClock
) -> None:
    """startup gives what is in force; then each add, delete and expiry shows once."""
    collector.store.decisions.add([decision("203.0.113.1"), decision("203.0.113.2", lasting=2)])
    assert len(pull(bouncer, startup=True)["new"]) == 2
    assert pull(bouncer) == {"new": None, "deleted": None}
    added = admin.post("/v1/decisions", json={"ip": "203.0.113.3", "duration": "1h",
                                              "reason": "by hand"})  # fmt: skip
    assert added.status_code == 201
    assert served_values(pull(bouncer)["new"]) == ["203.0.113.3"]
    assert admin.delete(f"/v1/decisions/{added.json()['id']}").status_code == 200
    assert served_values(pull(bouncer)["deleted"]) == ["203.0.113.3"]
    clock.skip(2.2)
    assert served_values(pull(bouncer)["deleted"]) == ["203.0.113.2"]
    assert pull(bouncer) == {"new": None, "deleted": None}


def test_each_instance_sharing_a_key_has_its_own_cursor(
    collector: Collector, bouncer: httpx.Client
) -> None:
    """Two processes with one key, told apart by X-Apiwatch-Instance, each get every change."""
    one, two = {"X-Apiwatch-Instance": "worker-1"}, {"X-Apiwatch-Instance": "worker-2"}
    for headers in (one, two):
        bouncer.get("/v1/decisions/stream", params={"startup": "true"}, headers=headers)
    collector.store.decisions.add([decision("203.0.113.5")])
    for headers in (one, two):
        body = bouncer.get("/v1/decisions/stream", headers=headers).json()
        assert served_values(body["new"]) == ["203.0.113.5"]


def test_a_first_delta_without_startup_gives_everything_in_force(
    collector: Collector, bouncer: httpx.Client
) -> None:
    """A key that never pulled gets every decision in force even without startup=true."""
    collector.store.decisions.add([decision("203.0.113.1")])
    assert served_values(pull(bouncer)["new"]) == ["203.0.113.1"]


def snapshots_built(collector: Collector) -> float:
    """How many full-pull answers the collector has built (its metric)."""
    metrics = httpx.get(collector.url + "/metrics").text
    found = re.search(r"^apiwatch_decision_snapshots_built_total ([0-9.]+)$", metrics, re.M)
    assert found is not None, "no apiwatch_decision_snapshots_built_total in /metrics"
    return float(found.group(1))


def test_a_full_pull_is_streamed_in_crowdsecs_shape(
    collector: Collector, bouncer: httpx.Client
) -> None:
    """A startup answer is sent as it is written (chunked, no Content-Length: never whole in
    memory), and is still exactly {"new": [...], "deleted": null} with CrowdSec's fields."""
    collector.store.decisions.add([decision(f"203.0.{n // 250}.{n % 250 + 1}")
                                   for n in range(2500)])  # fmt: skip
    answer = bouncer.get("/v1/decisions/stream", params={"startup": "true"})
    assert answer.status_code == 200
    assert answer.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in answer.headers
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["deleted"] is None
    assert [item["id"] for item in body["new"]] == list(range(1, 2501))
    assert all(set(item) == WIRE_FIELDS for item in body["new"])
    assert 3590 <= parse_go_duration(body["new"][0]["duration"]) <= 3600


def test_full_pulls_share_one_snapshot_until_the_decisions_change(
    collector: Collector, bouncer: httpx.Client, admin: httpx.Client, clock: SkippingClock
) -> None:
    """Full pulls with nothing changed in between are answered from one built snapshot; an
    add or a delete makes the next one build anew (never serving the deleted decision, never
    missing the new one); an expiry needs no rebuild to leave the answer."""
    collector.store.decisions.add([decision("203.0.113.1"), decision("203.0.113.2", lasting=2)])
    for _ in range(3):
        assert served_values(pull(bouncer, startup=True)["new"]) == ["203.0.113.1",
                                                                     "203.0.113.2"]  # fmt: skip
    assert snapshots_built(collector) == 1
    added = collector.store.decisions.add([decision("203.0.113.3")])[0]
    assert served_values(pull(bouncer, startup=True)["new"]) == ["203.0.113.1", "203.0.113.2",
                                                                 "203.0.113.3"]  # fmt: skip
    assert admin.delete(f"/v1/decisions/{added.id}").status_code == 200
    assert served_values(pull(bouncer, startup=True)["new"]) == ["203.0.113.1", "203.0.113.2"]
    assert snapshots_built(collector) == 3
    clock.skip(2.2)
    assert served_values(pull(bouncer, startup=True)["new"]) == ["203.0.113.1"]
    assert snapshots_built(collector) == 3
    assert served_values(pull(bouncer, startup=True, scopes="range")["new"]) == []
    assert snapshots_built(collector) == 4


def test_many_full_pulls_at_once_build_one_snapshot_and_keep_their_cursors(
    collector: Collector,
) -> None:
    """Ten bouncers pulling startup=true at once share one build, each gets every decision,
    and each one's next delta has exactly what changed after."""
    collector.store.decisions.add([decision(f"203.0.113.{n}") for n in range(1, 101)])
    secrets = [collector.store.keys.create(f"fw-{n}", ["bouncer"])[1] for n in range(10)]
    clients = [httpx.Client(base_url=collector.url, headers={"X-Api-Key": s}, timeout=30)
               for s in secrets]  # fmt: skip
    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            answers = list(pool.map(lambda c: pull(c, startup=True), clients))
        assert all(len(answer["new"]) == 100 for answer in answers)
        assert snapshots_built(collector) == 1
        collector.store.decisions.add([decision("198.51.100.7")])
        for client in clients:
            delta = pull(client)
            assert served_values(delta["new"]) == ["198.51.100.7"]
            assert delta["deleted"] is None
    finally:
        for client in clients:
            client.close()


def test_lookups_match_addresses_ranges_scopes_and_types(
    collector: Collector, bouncer: httpx.Client
) -> None:
    """ip= finds the ranges containing it; range=, scope=&value= and type= narrow as CrowdSec's."""
    collector.store.decisions.add([
        decision("198.51.100.0/24", "Range"), decision("198.51.100.7", type="captcha"),
        decision(ACCOUNT, "Username", type="flag"),
    ])  # fmt: skip

    def found(**params: str) -> list[str]:
        answer = bouncer.get("/v1/decisions", params=params)
        assert answer.status_code == 200, answer.text
        return served_values(answer.json())

    assert found(ip="198.51.100.7") == ["198.51.100.0/24", "198.51.100.7"]
    assert found(ip="198.51.100.7", type="captcha") == ["198.51.100.7"]
    assert found(range="198.51.100.0/24", contains="false") == ["198.51.100.0/24",
                                                                "198.51.100.7"]  # fmt: skip
    assert found(range="198.51.100.0/26") == ["198.51.100.0/24"]
    assert found(scope="ip", value="198.51.100.7") == ["198.51.100.7"]
    assert found(scope="username", value=ACCOUNT) == [ACCOUNT]
    assert found(ip="192.0.2.1") == []
    assert bouncer.get("/v1/decisions", params={"ip": "x"}).status_code == 400
    both = bouncer.get("/v1/decisions", params={"ip": "192.0.2.1", "range": "192.0.2.0/24"})
    assert both.status_code == 400


def test_a_lookup_lists_bans_first(collector: Collector, bouncer: httpx.Client) -> None:
    """A live-mode bouncer acts on the first decision: a ban comes before a captcha."""
    collector.store.decisions.add([decision("198.51.100.7", type="captcha"),
                                   decision("198.51.100.0/24", "Range")])  # fmt: skip
    found = bouncer.get("/v1/decisions", params={"ip": "198.51.100.7"}).json()
    assert [item["type"] for item in found] == ["ban", "captcha"]


def test_bouncer_usage_metrics_are_accepted(bouncer: httpx.Client) -> None:
    """Recent bouncers POST their own counters; apiwatch accepts them (201) instead of a 404."""
    answer = bouncer.post("/v1/usage-metrics", json={"remediation_components": []})
    assert answer.status_code == 201


def test_head_answers_without_a_body(bouncer: httpx.Client) -> None:
    """HEAD on both bouncer routes is an authenticated connectivity check."""
    for path in ("/v1/decisions/stream", "/v1/decisions"):
        answer = bouncer.head(path)
        assert answer.status_code == 200
        assert answer.content == b""


def test_an_admin_adds_a_decision_by_hand(admin: httpx.Client, bouncer: httpx.Client) -> None:
    """POST /v1/decisions answers 201 with the stored decision; bouncers get it."""
    answer = admin.post("/v1/decisions", json={"range": "198.51.100.77/24", "duration": "4h",
                                               "reason": "scanner network"})  # fmt: skip
    assert answer.status_code == 201
    body = answer.json()
    assert (body["scope"], body["value"], body["type"]) == ("Range", "198.51.100.0/24", "ban")
    assert (body["origin"], body["reason"], body["deleted"]) == ("manual", "scanner network", None)
    until = datetime.fromisoformat(body["until"].replace("Z", "+00:00"))
    created = datetime.fromisoformat(body["created"].replace("Z", "+00:00"))
    assert until - created == timedelta(hours=4)
    account = admin.post("/v1/decisions", json={"username": ACCOUNT, "duration": "1d",
                                                "reason": "takeover"})  # fmt: skip
    assert account.json()["type"] == "flag"
    assert served_values(pull(bouncer, startup=True)["new"]) == ["198.51.100.0/24"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"ip": "203.0.113.300", "duration": "4h", "reason": "x"}, "not an IP address"),
        ({"range": "10.0.0.0/40", "duration": "4h", "reason": "x"}, "not a network"),
        ({"ip": "203.0.113.9", "duration": "4 hours", "reason": "x"}, "duration"),
        ({"ip": "203.0.113.9", "duration": "0s", "reason": "x"}, "duration"),
        ({"ip": "203.0.113.9", "duration": "4h", "reason": "  "}, "reason"),
        ({"ip": "203.0.113.9", "range": "198.51.100.0/24", "duration": "4h", "reason": "x"},
         "exactly one"),
        ({"duration": "4h", "reason": "x"}, "exactly one"),
        ({"ip": "203.0.113.9", "duration": "4h", "reason": "x", "type": "nuke"}, "type"),
        ({"ip": "203.0.113.9", "duration": "4h", "reason": "x", "extra": 1}, "extra"),
    ],
)  # fmt: skip
def test_a_bad_manual_decision_is_a_400_naming_the_problem(
    admin: httpx.Client, body: dict[str, Any], message: str
) -> None:
    """Bad addresses, networks, durations, reasons, types or fields: 400 with a clear message."""
    answer = admin.post("/v1/decisions", json=body)
    assert answer.status_code == 400
    assert message in answer.json()["error"]


def test_allowlisted_and_internal_values_are_refused_with_409(admin: httpx.Client) -> None:
    """A value inside an allowlisted range, or in an internal network, cannot be banned."""
    entry = admin.post("/v1/allowlist", json={"range": "192.0.2.0/24", "reason": "office NAT"})
    assert entry.status_code == 201
    refused = admin.post("/v1/decisions", json={"ip": "192.0.2.7", "duration": "4h",
                                                "reason": "x"})  # fmt: skip
    assert refused.status_code == 409
    assert "allowlisted" in refused.json()["error"]
    assert "office NAT" in refused.json()["error"]
    internal = admin.post("/v1/decisions", json={"range": "10.1.0.0/16", "duration": "4h",
                                                 "reason": "x"})  # fmt: skip
    assert internal.status_code == 409
    assert "internal network 10.0.0.0/8" in internal.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"ip": "2001:db8::1%x;\nallow all", "duration": "4h", "reason": "x"},
        {"range": "2001:db8::%x; allow all/64", "duration": "4h", "reason": "x"},
    ],
)
def test_an_ipv6_zone_is_refused_with_400(admin: httpx.Client, body: dict[str, Any]) -> None:
    """An address or network with an IPv6 zone (text after %) is refused, never stored."""
    answer = admin.post("/v1/decisions", json=body)
    assert answer.status_code == 400
    assert "zone" in answer.json()["error"]
    entry = {key: value for key, value in body.items() if key != "duration"}
    assert admin.post("/v1/allowlist", json=entry).status_code == 400


def test_a_mapped_internal_address_is_refused_with_409(admin: httpx.Client) -> None:
    """An IPv4-mapped internal address (::ffff:10.0.0.1) is protected like 10.0.0.1 itself."""
    answer = admin.post("/v1/decisions", json={"ip": "::ffff:10.0.0.1", "duration": "4h",
                                               "reason": "x"})  # fmt: skip
    assert answer.status_code == 409
    assert "internal network 10.0.0.0/8" in answer.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"ip": "2002:a00:1::1"},  # 6to4 of 10.0.0.1
        {"ip": "64:ff9b::127.0.0.1"},  # NAT64
        {"ip": "::192.168.1.20"},  # IPv4-compatible
        {"ip": "2001:0:cb00:7105::9bbf:fffe"},  # Teredo client 100.64.0.1
        {"range": "2002:a00::/24"},  # 6to4 of 10.0.0.0/8
        {"range": "64:ff9b::/64"},  # NAT64 of every IPv4 address
    ],
)
def test_an_embedded_internal_address_or_range_is_refused_with_409(
    admin: httpx.Client, bouncer: httpx.Client, body: dict[str, str]
) -> None:
    """IPv4 carried inside IPv6 (6to4, NAT64, compatible, Teredo) is protected like the IPv4
    address itself; nothing is stored or served."""
    answer = admin.post("/v1/decisions", json={**body, "duration": "4h", "reason": "x"})
    assert answer.status_code == 409
    assert "internal network" in answer.json()["error"]
    assert pull(bouncer, startup=True) == {"new": None, "deleted": None}


def test_an_embedded_public_address_is_decided_as_given(
    admin: httpx.Client, bouncer: httpx.Client
) -> None:
    """A 6to4 address carrying a public IPv4 address is banned as that IPv6 address."""
    body = {"ip": "2002:cb00:7105::1", "duration": "4h", "reason": "x"}
    answer = admin.post("/v1/decisions", json=body)
    assert answer.status_code == 201, answer.text
    assert served_values(pull(bouncer, startup=True)["new"]) == ["2002:cb00:7105::1"]


def test_only_admins_may_change_decisions(collector: Collector, bouncer: httpx.Client) -> None:
    """A bouncer or read key may not add or delete decisions or touch the allowlist."""
    body = {"ip": "203.0.113.9", "duration": "4h", "reason": "x"}
    for name in ("bouncer", "read"):
        with collector.client(name) as client:
            assert client.post("/v1/decisions", json=body).status_code == 403
            assert client.delete("/v1/decisions/1").status_code == 403
            assert client.get("/v1/allowlist").status_code == 403
    assert httpx.post(collector.url + "/v1/decisions", json=body).status_code == 401


def test_deleting_a_decision(collector: Collector, admin: httpx.Client) -> None:
    """DELETE answers the decision with its deleted time; again, or an unknown id, is 404."""
    stored = collector.store.decisions.add([decision()])[0]
    answer = admin.delete(f"/v1/decisions/{stored.id}")
    assert answer.status_code == 200
    assert answer.json()["id"] == stored.id
    assert answer.json()["deleted"] is not None
    assert admin.delete(f"/v1/decisions/{stored.id}").status_code == 404
    assert admin.delete("/v1/decisions/999999").status_code == 404
    assert admin.delete("/v1/decisions/abc").status_code == 400


def test_the_allowlist_routes(admin: httpx.Client) -> None:
    """Add (twice: the reason is replaced), list, and delete by value; 404 when absent."""
    first = admin.post("/v1/allowlist", json={"ip": "203.0.113.10", "reason": "partner"})
    again = admin.post("/v1/allowlist", json={"ip": "203.0.113.10", "reason": "partner scan"})
    assert first.json()["id"] == again.json()["id"]
    admin.post("/v1/allowlist", json={"username": ACCOUNT, "reason": "monitoring"})
    items = admin.get("/v1/allowlist").json()["items"]
    assert [(i["scope"], i["value"], i["reason"]) for i in items] == [
        ("Ip", "203.0.113.10", "partner scan"), ("Username", ACCOUNT, "monitoring")]  # fmt: skip
    assert admin.delete("/v1/allowlist", params={"ip": "203.0.113.10"}).json() == {"deleted": 1}
    assert admin.delete("/v1/allowlist", params={"ip": "203.0.113.10"}).status_code == 404
    assert admin.delete("/v1/allowlist").status_code == 400
    assert admin.post("/v1/allowlist", json={"ip": "nope", "reason": "x"}).status_code == 400


def test_metrics_count_active_decisions_and_pulls(
    collector: Collector, bouncer: httpx.Client
) -> None:
    """/metrics has the decisions in force by scope and the stream pulls by kind."""
    collector.store.decisions.add([decision("203.0.113.1"), decision("203.0.113.2"),
                                   decision("198.51.100.0/24", "Range")])  # fmt: skip
    pull(bouncer, startup=True)
    pull(bouncer)
    text = httpx.get(collector.url + "/metrics").text
    assert 'apiwatch_decisions_active{scope="Ip"} 2.0' in text
    assert 'apiwatch_decisions_active{scope="Range"} 1.0' in text
    assert 'apiwatch_decisions_active{scope="Username"} 0.0' in text
    assert 'apiwatch_decision_stream_requests_total{startup="true"} 1.0' in text
    assert 'apiwatch_decision_stream_requests_total{startup="false"} 1.0' in text


def test_the_openapi_document_describes_the_decision_routes(collector: Collector) -> None:
    """Every decision and allowlist operation is documented; bouncer routes take X-Api-Key."""
    document = httpx.get(collector.url + "/openapi.json").json()
    paths = document["paths"]
    assert set(paths["/v1/decisions"]) == {"get", "post"}
    assert set(paths["/v1/decisions/stream"]) == {"get"}
    assert set(paths["/v1/decisions/{decision_id}"]) == {"delete"}
    assert set(paths["/v1/allowlist"]) == {"get", "post", "delete"}
    assert {"APIKeyHeader": []} in paths["/v1/decisions/stream"]["get"]["security"]
    assert document["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-Api-Key"
    assert "Decision" in document["components"]["schemas"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/decisions/stream", {"startup": "true", "scopes": "ip\x00"}),
        ("/v1/decisions/stream", {"startup": "true", "origins": "manual\x00"}),
        ("/v1/decisions/stream", {"startup": "true", "scenarios_containing": "a\x00b"}),
        ("/v1/decisions", {"scope": "Ip\x00"}),
        ("/v1/decisions", {"scopes": "ip,\x00"}),
        ("/v1/decisions", {"value": "a\x00b"}),
        ("/v1/decisions", {"type": "ban\x00"}),
        ("/v1/decisions", {"ip": "203.0.113.9\x00"}),
        ("/v1/decisions", {"scenarios_not_containing": "\x00"}),
    ],
)
def test_a_nul_byte_in_a_decision_filter_is_never_a_503(
    bouncer: httpx.Client, path: str, params: dict[str, str]
) -> None:
    """A NUL in a bouncer's filter gets an answer (nothing matches, or 400), never a 503."""
    answer = bouncer.get(path, params=params)
    assert answer.status_code in (200, 400), answer.text
