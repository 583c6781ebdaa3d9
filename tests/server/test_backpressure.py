"""Bounded ingest concurrency: bodies in flight are held in memory, so their number is capped."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx

from apiwatch.server import ServerSettings
from tests._wait import wait_for
from tests.server.conftest import StoreFactory, collector_with
from tests.server.helpers import NDJSON, event, ndjson


def test_one_request_over_the_cap_is_told_to_retry(make_store: StoreFactory) -> None:
    """With max_concurrent_ingest=1, a second ingest that waits longer than ingest_wait_seconds
    for the slot held by a slow body gets 503 with Retry-After (a sender retries it); the slow one
    is stored once it completes, and the next one goes through."""
    settings = ServerSettings(max_concurrent_ingest=1, ingest_wait_seconds=0.2)
    with collector_with(make_store, settings) as collector:
        release = threading.Event()
        slow_answer: list[httpx.Response] = []

        def slow_body() -> Iterator[bytes]:
            yield ndjson([event()])
            release.wait(timeout=10)
            yield ndjson([event()])

        def send_slow() -> None:
            with collector.client() as client:
                slow_answer.append(client.post("/v1/events", content=slow_body(), headers=NDJSON))

        def refused_while_the_slow_one_holds_the_slot() -> httpx.Response | None:
            with collector.client() as client:
                answer = client.post("/v1/events", content=ndjson([event()]), headers=NDJSON)
            assert answer.status_code in {202, 503}, answer.text  # 202: the slot was still free
            return answer if answer.status_code == 503 else None

        sender = threading.Thread(target=send_slow)
        sender.start()
        refused = wait_for(refused_while_the_slow_one_holds_the_slot, "a request refused")
        release.set()
        sender.join(timeout=30)
        with collector.client() as client:
            later = client.post("/v1/events", content=ndjson([event()]), headers=NDJSON)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert "retry" in refused.json()["error"]
    assert slow_answer[0].status_code == 202
    assert slow_answer[0].json()["accepted"] == 2
    assert later.status_code == 202
