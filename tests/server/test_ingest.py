"""``POST /v1/events`` against a live collector: what is stored, what is refused, and why."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from collections.abc import Iterator

import httpx

from apiwatch.model.event import ECS_VERSION
from apiwatch.server import ServerSettings, create_app
from tests.server.conftest import Collector, StoreFactory, add_keys, collector_with, served
from tests.server.helpers import NDJSON, event, ndjson


def stored(collector: Collector, **params: str) -> list[dict[str, object]]:
    with collector.client("read") as client:
        response = client.get("/v1/events", params={"limit": "1000", **params})
    assert response.status_code == 200, response.text
    events: list[dict[str, object]] = response.json()["events"]
    return events


def test_accepted_events_are_stored_and_queryable(collector: Collector) -> None:
    """A valid batch is answered 202 with its count, and every event can be read back."""
    events = [event(user=f"user{i}") for i in range(3)]
    with collector.client() as client:
        response = client.post("/v1/events", content=ndjson(events), headers=NDJSON)
    assert response.status_code == 202
    assert response.json() == {"accepted": 3, "duplicates": 0, "replayed": False, "rejected": []}
    assert [e["event"]["id"] for e in stored(collector)] == [e["event"]["id"] for e in events]  # type: ignore[index]
    assert collector.store.events.count() == 3


def test_gzip_body_is_inflated(collector: Collector) -> None:
    """A gzip body (Content-Encoding: gzip) is stored like the plain one, members concatenated."""
    body = gzip.compress(ndjson([event(), event()]))
    two_members = gzip.compress(ndjson([event()])) + gzip.compress(ndjson([event()]))
    with collector.client() as client:
        response = client.post(
            "/v1/events", content=body, headers={**NDJSON, "Content-Encoding": "gzip"}
        )
        concatenated = client.post(
            "/v1/events", content=two_members, headers={**NDJSON, "Content-Encoding": "gzip"}
        )
    assert response.status_code == 202
    assert response.json()["accepted"] == 2
    assert concatenated.json()["accepted"] == 2


def test_mixed_lines_store_the_valid_and_list_the_rest(collector: Collector) -> None:
    """Valid lines are stored although others are not; each rejection names its line and why."""
    good = [event(), event()]
    body = b"\n".join(
        [
            json.dumps(good[0]).encode(),
            b"{not json",
            b"",
            b"[1, 2]",
            json.dumps(good[1]).encode(),
            json.dumps(
                {"event": {"action": "x"}, "http": {"response": {"status_code": "x"}}}
            ).encode(),
        ]
    )
    with collector.client() as client:
        response = client.post("/v1/events", content=body, headers=NDJSON)
    assert response.status_code == 202
    answer = response.json()
    assert answer["accepted"] == 2
    rejected = {r["line"]: r["error"] for r in answer["rejected"]}
    assert set(rejected) == {2, 4, 6}
    assert "JSON" in rejected[2]
    assert "object" in rejected[4]
    assert "http.response.status_code" in rejected[6]
    assert collector.store.events.count() == 2


def test_a_body_with_no_valid_line_is_refused(collector: Collector) -> None:
    """A body whose every line is invalid gets 400 with the rejections, and nothing is stored."""
    with collector.client() as client:
        response = client.post("/v1/events", content=b"nope\n[]\n", headers=NDJSON)
        empty = client.post("/v1/events", content=b"\n\n", headers=NDJSON)
    assert response.status_code == 400
    assert [r["line"] for r in response.json()["rejected"]] == [1, 2]
    assert response.json()["error"] == "no valid event in the body"
    assert empty.status_code == 400
    assert collector.store.events.count() == 0


def test_unknown_ecs_fields_survive_the_round_trip(collector: Collector) -> None:
    """Fields apiwatch does not model come back from GET exactly as they were sent."""
    sent = event(
        cloud={"region": "eu-west-1", "provider": "aws"},
        source_extra=1,
        labels={"team": "payments"},
    )
    sent["source"]["geo"] = {"country_iso_code": "FR"}
    with collector.client() as client:
        assert client.post("/v1/events", content=ndjson([sent]), headers=NDJSON).status_code == 202
    (back,) = stored(collector)
    assert back == {**sent, "ecs": {"version": ECS_VERSION}}


def test_dotted_keys_are_accepted_and_indexed(collector: Collector) -> None:
    """A line with dotted keys is stored nested, and its fields can be filtered on."""
    line = {
        "@timestamp": "2024-05-01T12:00:00Z",
        "event.action": "authn_login_fail",
        "source.ip": "192.0.2.7",
        "user.name": "carol",
        "http.response.status_code": 401,
        "cloud.region": "eu-west-1",
    }
    with collector.client() as client:
        response = client.post("/v1/events", content=ndjson([line]), headers=NDJSON)
    assert response.json()["accepted"] == 1
    (back,) = stored(collector, **{"user.name": "carol", "status": "401"})
    assert back["source"] == {"ip": "192.0.2.7"}
    assert back["cloud"] == {"region": "eu-west-1"}
    assert back["event"]["action"] == "authn_login_fail"  # type: ignore[index]


def test_nested_dotted_key_of_a_modelled_field_is_indexed(collector: Collector) -> None:
    """A dotted key inside a nested object still reaches the indexed column (no fast-path loss)."""
    line = event(status=200)
    line["http"] = {"response.status_code": 503}
    with collector.client() as client:
        assert client.post("/v1/events", content=ndjson([line]), headers=NDJSON).status_code == 202
    assert len(stored(collector, status="503")) == 1


def test_a_line_without_id_or_timestamp_is_stored_with_the_ones_given_it(
    collector: Collector,
) -> None:
    """The event.id and @timestamp the collector fills in are in the stored event too."""
    with collector.client() as client:
        response = client.post(
            "/v1/events", content=b'{"event": {"action": "x"}}\n', headers=NDJSON
        )
    assert response.json()["accepted"] == 1
    (back,) = stored(collector)
    assert len(back["event"]["id"]) == 32  # type: ignore[index,arg-type]
    assert "@timestamp" in back


def test_retried_batch_with_the_same_idempotency_key_is_not_stored_twice(
    collector: Collector,
) -> None:
    """The second POST of a batch with the same Idempotency-Key stores nothing."""
    first = ndjson([event(), event()])
    retry = ndjson([event(), event()])  # new ids: only the key can tell it is a retry
    headers = {**NDJSON, "Idempotency-Key": "batch-0001"}
    with collector.client() as client:
        one = client.post("/v1/events", content=first, headers=headers)
        two = client.post("/v1/events", content=retry, headers=headers)
    assert one.json()["accepted"] == 2
    assert two.status_code == 202
    assert two.json() == {"accepted": 0, "duplicates": 2, "replayed": True, "rejected": []}
    assert collector.store.events.count() == 2


def test_retried_events_with_the_same_ids_are_not_stored_twice(collector: Collector) -> None:
    """Without an Idempotency-Key, events whose event.id is already stored count as duplicates."""
    events = [event(), event()]
    with collector.client() as client:
        client.post("/v1/events", content=ndjson(events), headers=NDJSON)
        again = client.post("/v1/events", content=ndjson([*events, event()]), headers=NDJSON)
    assert again.json()["accepted"] == 1
    assert again.json()["duplicates"] == 2
    assert collector.store.events.count() == 3


def test_a_bad_idempotency_key_is_refused(collector: Collector) -> None:
    """An Idempotency-Key over 200 characters is a 400, not silently truncated."""
    with collector.client() as client:
        response = client.post(
            "/v1/events",
            content=ndjson([event()]),
            headers={**NDJSON, "Idempotency-Key": "k" * 201},
        )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]


def test_other_content_types_and_encodings_are_415(collector: Collector) -> None:
    """text/plain and Content-Encoding: br are refused with 415 and a JSON error."""
    body = ndjson([event()])
    with collector.client() as client:
        text = client.post("/v1/events", content=body, headers={"Content-Type": "text/plain"})
        brotli = client.post(
            "/v1/events", content=body, headers={**NDJSON, "Content-Encoding": "br"}
        )
        json_type = client.post(
            "/v1/events", content=body, headers={"Content-Type": "application/json"}
        )
    assert text.status_code == 415
    assert "NDJSON" in text.json()["error"]
    assert brotli.status_code == 415
    assert "gzip" in brotli.json()["error"]
    assert json_type.status_code == 202


def test_missing_or_unknown_key_is_401_and_a_read_key_is_403(collector: Collector) -> None:
    """No key or a wrong key: 401 with WWW-Authenticate; a read-only key may not ingest: 403."""
    body = ndjson([event()])
    with httpx.Client(base_url=collector.url) as client:
        missing = client.post("/v1/events", content=body, headers=NDJSON)
        wrong = client.post(
            "/v1/events", content=body, headers={**NDJSON, "Authorization": "Bearer aw_nope"}
        )
        basic = client.post(
            "/v1/events", content=body, headers={**NDJSON, "Authorization": "Basic Zm9vOmJhcg=="}
        )
        read_only = client.post(
            "/v1/events", content=body, headers={**NDJSON, **collector.headers("read")}
        )
    for response in (missing, wrong, basic):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]
    assert read_only.status_code == 403
    assert "ingest" in read_only.json()["error"]
    assert collector.store.events.count() == 0


def test_a_revoked_key_is_refused_once_the_cache_expires(make_store: StoreFactory) -> None:
    """With the key cache off, revoking a key takes effect on the next request."""
    store = make_store()
    keys = add_keys(store)
    headers = {**NDJSON, "Authorization": f"Bearer {keys['ingest']}"}
    with (
        served(create_app(store, ServerSettings(auth_cache_seconds=0))) as url,
        httpx.Client(base_url=url) as client,
    ):
        assert client.post("/v1/events", content=ndjson([event()]), headers=headers).is_success
        store.keys.revoke("ingest")
        refused = client.post("/v1/events", content=ndjson([event()]), headers=headers)
    assert refused.status_code == 401


def test_a_body_over_the_limit_is_413_however_its_length_is_declared(
    make_store: StoreFactory,
) -> None:
    """Over max_body_bytes: 413 by Content-Length, and also when streamed without one."""
    settings = ServerSettings(max_body_bytes=64 * 1024)
    with collector_with(make_store, settings) as collector:
        body = ndjson([event(message="x" * 1000) for _ in range(100)])
        assert len(body) > settings.max_body_bytes

        def chunked() -> Iterator[bytes]:
            for start in range(0, len(body), 8192):
                yield body[start : start + 8192]

        with collector.client() as client:
            declared = client.post("/v1/events", content=body, headers=NDJSON)
            streamed = client.post("/v1/events", content=chunked(), headers=NDJSON)
        for response in (declared, streamed):
            assert response.status_code == 413
            assert "limit" in response.json()["error"]
        assert collector.store.events.count() == 0


def test_too_many_lines_in_one_request_is_413(make_store: StoreFactory) -> None:
    """More lines than max_batch_lines: 413 naming the limit, nothing stored."""
    with collector_with(make_store, ServerSettings(max_batch_lines=5)) as collector:
        with collector.client() as client:
            response = client.post(
                "/v1/events", content=ndjson([event() for _ in range(6)]), headers=NDJSON
            )
        assert response.status_code == 413
        assert "5" in response.json()["error"]
        assert collector.store.events.count() == 0


def gzip_bomb(megabytes: int) -> bytes:
    """That many MiB of zeros, gzipped a MiB at a time (the test never holds them whole)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    return b"".join([compressor.compress(zeros) for _ in range(megabytes)] + [compressor.flush()])


def test_a_gzip_bomb_is_413_without_inflating_it(collector: Collector) -> None:
    """50 MB of zeros gzipped to ~50 KB is refused with 413 and never inflated in full."""
    bomb = gzip_bomb(50)
    assert len(bomb) < 100 * 1024
    with collector.client() as client:
        tracemalloc.start()  # traces every thread, the server's included
        try:
            response = client.post(
                "/v1/events", content=bomb, headers={**NDJSON, "Content-Encoding": "gzip"}
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert response.status_code == 413
    assert "inflates" in response.json()["error"]
    assert peak < 30 * 1024 * 1024  # the 10 MiB cap and change, far from 50 MB


def test_corrupt_gzip_is_400(collector: Collector) -> None:
    """A body that claims gzip but is not (or is cut short) is a 400."""
    cut = gzip.compress(ndjson([event()]))[:-12]
    with collector.client() as client:
        garbage = client.post(
            "/v1/events", content=b"not gzip", headers={**NDJSON, "Content-Encoding": "gzip"}
        )
        truncated = client.post(
            "/v1/events", content=cut, headers={**NDJSON, "Content-Encoding": "gzip"}
        )
    assert garbage.status_code == 400
    assert truncated.status_code == 400
    assert "gzip" in truncated.json()["error"]
    assert collector.store.events.count() == 0
