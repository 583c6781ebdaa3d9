"""``GET /v1/events``, ``/v1/sources`` and ``/v1/reads``: filters, pages, formats, the audit."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.server.conftest import Collector
from tests.server.helpers import NDJSON, T0, event, minutes, ndjson

EVENTS = [
    event("authn_login_fail", ip="203.0.113.5", user="alice", path="/login", status=401,
          outcome="failure", at=T0),
    event("authn_login_fail", ip="203.0.113.77", user="bob", path="/login", status=401,
          outcome="failure", at=T0 + minutes(1)),
    event("authn_login_success", ip="198.51.100.1", user="alice", path="/login", status=200,
          at=T0 + minutes(2)),
    event("http_request", ip="2001:db8::1", path="/api/users/7", status=200, at=T0 + minutes(3)),
    event("authz_fail", ip="10.9.8.7", user="mallory", path="/api/admin", status=403,
          outcome="failure", at=T0 + minutes(4)),
]  # fmt: skip


@pytest.fixture
def loaded(collector: Collector) -> Collector:
    with collector.client() as client:
        response = client.post("/v1/events", content=ndjson(EVENTS), headers=NDJSON)
    assert response.json()["accepted"] == len(EVENTS)
    return collector


def users(collector: Collector, **params: str) -> list[Any]:
    with collector.client("read") as client:
        response = client.get("/v1/events", params=params)
    assert response.status_code == 200, response.text
    return [(e.get("user") or {}).get("name") for e in response.json()["events"]]


FILTER_CASES = [
    ({}, ["alice", "bob", "alice", None, "mallory"]),
    ({"since": "2024-05-01T12:01:00Z"}, ["bob", "alice", None, "mallory"]),
    ({"until": "2024-05-01T12:02:00+00:00"}, ["alice", "bob"]),
    ({"since": "2024-05-01T12:01:00", "until": "2024-05-01T12:03:00Z"}, ["bob", "alice"]),
    ({"source.ip": "203.0.113.0/24"}, ["alice", "bob"]),
    ({"source_ip": "203.0.113.77"}, ["bob"]),
    ({"source.ip": "2001:db8::/32"}, [None]),
    ({"user.name": "alice"}, ["alice", "alice"]),
    ({"event.action": "authn_login_fail"}, ["alice", "bob"]),
    ({"event.outcome": "failure"}, ["alice", "bob", "mallory"]),
    ({"url.path": "/api/"}, [None, "mallory"]),
    ({"status": "401"}, ["alice", "bob"]),
    ({"event.outcome": "failure", "user.name": "alice"}, ["alice"]),
    ({"user.name": "nobody"}, []),
]


def test_filters_select_the_matching_events(loaded: Collector) -> None:
    """Each filter (time range, CIDR, account, action, outcome, path prefix, status) holds."""
    for params, expected in FILTER_CASES:
        assert users(loaded, **params) == expected, params


def test_cursor_pages_through_everything_once(loaded: Collector) -> None:
    """limit=2 gives three pages in order, then no cursor."""
    seen: list[str] = []
    cursors: list[str | None] = []
    cursor: str | None = None
    with loaded.client("read") as client:
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/events", params=params).json()
            seen += [e["event"]["id"] for e in page["events"]]
            cursor = page["next_cursor"]
            cursors.append(cursor)
            if cursor is None:
                break
    assert seen == [e["event"]["id"] for e in EVENTS]
    assert len(cursors) == 3


def test_ndjson_format_gives_one_event_per_line_and_the_cursor_in_a_header(
    loaded: Collector,
) -> None:
    """format=ndjson (or Accept: application/x-ndjson) answers NDJSON with X-Next-Cursor."""
    with loaded.client("read") as client:
        by_param = client.get("/v1/events", params={"format": "ndjson", "limit": "3"})
        by_accept = client.get(
            "/v1/events", params={"limit": "3"}, headers={"Accept": "application/x-ndjson"}
        )
        rest = client.get(
            "/v1/events", params={"format": "ndjson", "cursor": by_param.headers["x-next-cursor"]}
        )
    for response in (by_param, by_accept):
        assert response.headers["content-type"] == "application/x-ndjson"
        events = [json.loads(line) for line in response.text.splitlines()]
        assert [e["event"]["id"] for e in events] == [e["event"]["id"] for e in EVENTS[:3]]
        assert response.headers["x-next-cursor"]
    assert len(rest.text.splitlines()) == 2
    assert "x-next-cursor" not in rest.headers


BAD_PARAMETERS = [
    ({"since": "yesterday"}, "since"),
    ({"until": "2024-13-45"}, "until"),
    ({"source.ip": "10.0.0.300"}, "source.ip"),
    ({"source_ip": "not-an-ip"}, "source.ip"),
    ({"limit": "0"}, "limit"),
    ({"limit": "100000"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"status": "abc"}, "status"),
    ({"format": "xml"}, "format"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": "9" * 40}, "cursor"),
]


def test_a_bad_parameter_is_400_naming_it(collector: Collector) -> None:
    """An invalid parameter gets 400 with a JSON error that names it."""
    with collector.client("read") as client:
        for params, named in BAD_PARAMETERS:
            response = client.get("/v1/events", params=params)
            assert response.status_code == 400, params
            assert response.json()["error"].startswith(f"{named}:"), response.json()


def test_reading_needs_the_read_scope(loaded: Collector) -> None:
    """An ingest-only key may not read events or sources (403); no key at all is 401."""
    with loaded.client("ingest") as client:
        assert client.get("/v1/events").status_code == 403
        assert client.get("/v1/sources").status_code == 403
        assert client.get("/v1/reads").status_code == 403
    with loaded.client("read") as client:
        assert client.get("/v1/reads").status_code == 403
    assert httpx.get(f"{loaded.url}/v1/events").status_code == 401


def test_every_read_is_in_the_read_audit(loaded: Collector) -> None:
    """Each successful read is recorded with the key name, the criteria and the count returned."""
    users(loaded, **{"user.name": "alice"})
    users(loaded, **{"source.ip": "203.0.113.0/24", "status": "401"})
    with loaded.client("read") as client:
        client.get("/v1/sources")
    with loaded.client("admin") as client:
        client.get("/v1/events", params={"limit": "1"})
        reads = client.get("/v1/reads").json()["reads"]
    assert [(r["key_name"], r["what"], r["returned"]) for r in reads] == [
        ("admin", "events", 1),
        ("read", "sources", 1),
        ("read", "events", 2),
        ("read", "events", 2),
    ]
    assert reads[2]["criteria"] == "source.ip=203.0.113.0/24 http.response.status_code=401"
    assert reads[3]["criteria"] == "user.name=#" + loaded.store.keyring.blind_index("alice").hex()
    assert reads[0]["criteria"] == "all"


def test_read_audit_never_holds_an_account_name(loaded: Collector) -> None:
    """A query by user.name is audited as the name's blind index, never the name in clear."""
    users(loaded, **{"user.name": "alice"})
    with loaded.client("admin") as client:
        reads = client.get("/v1/reads").json()["reads"]
    assert "alice" not in json.dumps(reads)
    assert reads[0]["criteria"].startswith("user.name=#")


def test_sources_list_each_sender_with_counts(collector: Collector) -> None:
    """Each (key, service.name, host.name) is a source with its event counts and times."""
    with collector.client("ingest") as client:
        client.post("/v1/events", content=ndjson([event(), event()]), headers=NDJSON)
        client.post("/v1/events", content=ndjson([event(host="web-2")]), headers=NDJSON)
    with collector.client("other-ingest") as client:
        client.post("/v1/events", content=ndjson([event(service="billing")]), headers=NDJSON)
    with collector.client("read") as client:
        sources = client.get("/v1/sources").json()["sources"]
    found = {(s["key_name"], s["service"], s["host"]): s for s in sources}
    assert set(found) == {
        ("ingest", "shop", "web-1"),
        ("ingest", "shop", "web-2"),
        ("other-ingest", "billing", "web-1"),
    }
    shop = found[("ingest", "shop", "web-1")]
    assert shop["events"] == 2
    assert shop["events_last_hour"] == 2
    assert shop["first_seen"] <= shop["last_seen"]


NUL_PARAMETERS = [
    ("/v1/events", "user.name", "al\x00ice"),
    ("/v1/events", "event.action", "authn_login_fail\x00"),
    ("/v1/events", "event.outcome", "fail\x00ure"),
    ("/v1/events", "url.path", "/log\x00in"),
    ("/v1/events", "source.ip", "203.0.113.5\x00"),
    ("/v1/events", "since", "2024-05-01\x00"),
    ("/v1/events", "cursor", "1\x002"),
    ("/v1/alerts", "rule", "credential\x00stuffing"),
    ("/v1/incidents", "rule", "credential\x00stuffing"),
    ("/v1/incidents", "attacker.ip", "\x00"),
]


@pytest.mark.parametrize(("path", "name", "value"), NUL_PARAMETERS)
def test_a_nul_byte_in_a_filter_is_handled_not_a_503(
    loaded: Collector, path: str, name: str, value: str
) -> None:
    """A NUL in any read filter gets an answer (no match, or 400 naming the filter), never a
    503; a read that is answered is audited, with U+FFFD where the NUL was."""
    with loaded.client("admin") as client:
        response = client.get(path, params={name: value})
        assert response.status_code in (200, 400), response.text
        if response.status_code == 400:
            assert response.json()["error"].startswith(f"{name}:"), response.json()
            return
        reads = client.get("/v1/reads").json()["reads"]
    assert "\x00" not in json.dumps(reads, ensure_ascii=False)
    if name != "user.name":  # an account is audited as its blind index
        assert "\ufffd" in reads[0]["criteria"]
