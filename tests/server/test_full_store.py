"""A full store: the sender hears 507 and why, /readyz says not ready until writes succeed again,
nothing acknowledged is lost, ingest resumes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from apiwatch.server import create_app
from apiwatch.store import open_store
from tests.server.conftest import add_keys, served
from tests.server.helpers import NDJSON, event, ndjson


def test_a_full_store_answers_507_loses_nothing_and_recovers(tmp_path: Path) -> None:
    """Ingest into a size-capped SQLite store until 507; count == accepted; more space resumes."""
    url = f"sqlite:///{tmp_path}/full.db"
    store = open_store(url, key_file=tmp_path / "keys", max_bytes=384 * 1024)
    keys = add_keys(store)
    headers = {**NDJSON, "Authorization": f"Bearer {keys['ingest']}"}
    accepted = 0
    refused = None
    try:
        with served(create_app(store)) as base, httpx.Client(base_url=base) as client:
            for _ in range(200):
                batch = ndjson([event(message="m" * 200) for _ in range(50)])
                response = client.post("/v1/events", content=batch, headers=headers)
                if response.status_code != 202:
                    refused = response
                    break
                accepted += response.json()["accepted"]
        assert refused is not None, "the capped store never filled up"
        assert refused.status_code == 507
        assert refused.json() == {
            "error": "the event store is full; nothing of this request was stored"
        }
        assert int(refused.headers["retry-after"]) > 0
        assert accepted > 0
        assert store.events.count() == accepted
    finally:
        store.close()

    roomy = open_store(url, key_file=tmp_path / "keys")
    try:
        assert roomy.events.count() == accepted
        with served(create_app(roomy)) as base, httpx.Client(base_url=base) as client:
            response = client.post(
                "/v1/events", content=ndjson([event() for _ in range(50)]), headers=headers
            )
        assert response.status_code == 202
        assert roomy.events.count() == accepted + 50
        assert roomy.verify().ok
    finally:
        roomy.close()


def fill(client: httpx.Client, headers: dict[str, str]) -> None:
    """Post batches, then single events, until even one event no longer fits."""
    for size in (50, 1):
        for _ in range(500):
            batch = ndjson([event(message="m" * 200) for _ in range(size)])
            if client.post("/v1/events", content=batch, headers=headers).status_code == 507:
                break
        else:
            raise AssertionError("the capped store never filled up")


def test_a_full_store_is_not_ready_until_writes_succeed_again(tmp_path: Path) -> None:
    """Once a write failed for lack of space, /readyz answers 503 saying the store is full (a
    load balancer stops sending), and 200 again as soon as there is room (here: retention)."""
    store = open_store(f"sqlite:///{tmp_path}/full.db", key_file=tmp_path / "keys",
                       max_bytes=384 * 1024)  # fmt: skip
    keys = add_keys(store)
    headers = {**NDJSON, "Authorization": f"Bearer {keys['ingest']}"}
    try:
        with served(create_app(store)) as base, httpx.Client(base_url=base) as client:
            assert client.get("/readyz").status_code == 200
            fill(client, headers)
            for _ in range(2):  # and it stays so: the probe does not clear it by itself
                full = client.get("/readyz")
                assert full.status_code == 503
                assert full.json()["error"].startswith("not ready: the event store is full")
                assert "\n" not in full.json()["error"]
            assert store.events.expire(datetime.now(UTC) + timedelta(days=1)) > 0
            assert client.get("/readyz").json() == {"status": "ready"}
            response = client.post("/v1/events", content=ndjson([event()]), headers=headers)
            assert response.status_code == 202
    finally:
        store.close()
