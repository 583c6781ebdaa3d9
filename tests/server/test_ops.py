"""Health, readiness, metrics, the OpenAPI document, and the JSON shape of every error."""

from __future__ import annotations

import httpx
import pytest

from apiwatch.server import create_app
from apiwatch.store import StoreUnavailableError
from tests.server.conftest import Collector, StoreFactory, add_keys, served
from tests.server.helpers import NDJSON, event, ndjson


def test_healthz_and_readyz_answer_without_a_key(collector: Collector) -> None:
    """/healthz is ok and /readyz ready while the store answers and the committer runs."""
    health = httpx.get(f"{collector.url}/healthz")
    ready = httpx.get(f"{collector.url}/readyz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


def test_readyz_is_503_when_the_store_does_not_answer(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that fails its probe makes /readyz 503 with a reason; /healthz stays 200."""
    store = make_store()

    def down(*args: object, **kwargs: object) -> object:
        raise StoreUnavailableError("connection refused")

    with served(create_app(store)) as url:
        monkeypatch.setattr(store.events, "query", down)
        ready = httpx.get(f"{url}/readyz")
        health = httpx.get(f"{url}/healthz")
    assert ready.status_code == 503
    assert "store" in ready.json()["error"]
    assert health.status_code == 200


def test_metrics_count_events_batches_commits_and_requests(collector: Collector) -> None:
    """/metrics (Prometheus text) counts accepted, rejected, duplicate; batch size; commits."""
    events = [event(), event()]
    with collector.client() as client:
        client.post("/v1/events", content=ndjson(events) + b"junk\n", headers=NDJSON)
        client.post("/v1/events", content=ndjson(events), headers=NDJSON)
    response = httpx.get(f"{collector.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for sample in (
        "apiwatch_events_accepted_total 2.0",
        "apiwatch_events_rejected_total 1.0",
        "apiwatch_events_duplicate_total 2.0",
        "apiwatch_ingest_batch_size_count 2.0",
        "apiwatch_ingest_batch_size_sum 5.0",
        "apiwatch_commit_seconds_count 2.0",
        "apiwatch_commit_group_size_count 2.0",
        'apiwatch_http_requests_total{route="/v1/events",status="202"} 2.0',
    ):
        assert sample in text, sample


def test_every_error_is_a_json_sentence(collector: Collector) -> None:
    """404, 405 and auth failures all answer {"error": "..."} and never a traceback."""
    with httpx.Client(base_url=collector.url) as client:
        responses = [
            client.get("/nowhere"),
            client.delete("/v1/events"),
            client.get("/v1/events"),
            client.post("/v1/events", content=b"{}", headers=NDJSON),
        ]
    assert [r.status_code for r in responses] == [404, 405, 401, 401]
    for response in responses:
        assert response.headers["content-type"] == "application/json"
        assert set(response.json()) == {"error"}
        assert "Traceback" not in response.text


def test_the_openapi_document_describes_the_whole_api(collector: Collector) -> None:
    """/openapi.json lists every route with its responses, the NDJSON body and bearer auth."""
    document = httpx.get(f"{collector.url}/openapi.json").json()
    paths = document["paths"]
    assert {
        "/v1/events",
        "/v1/sources",
        "/v1/reads",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= set(paths)
    ingest = paths["/v1/events"]["post"]
    assert "application/x-ndjson" in ingest["requestBody"]["content"]
    assert {"202", "400", "401", "403", "413", "415", "503", "507"} <= set(ingest["responses"])
    assert "422" not in ingest["responses"]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    search = paths["/v1/events"]["get"]
    names = {parameter["name"] for parameter in search["parameters"]}
    assert {"since", "until", "source.ip", "user.name", "url.path", "cursor", "limit"} <= names


def test_two_apps_keep_their_own_metrics(make_store: StoreFactory) -> None:
    """Each app has its own registry: creating a second one neither fails nor shares counts."""
    store = make_store()
    keys = add_keys(store)
    first, second = create_app(store), create_app(store)
    with served(first) as url_one, served(second) as url_two:
        httpx.post(
            f"{url_one}/v1/events",
            content=ndjson([event()]),
            headers={**NDJSON, "Authorization": f"Bearer {keys['ingest']}"},
        )
        assert "apiwatch_events_accepted_total 1.0" in httpx.get(f"{url_one}/metrics").text
        assert "apiwatch_events_accepted_total 0.0" in httpx.get(f"{url_two}/metrics").text
