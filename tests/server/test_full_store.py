"""A full store: the sender hears 507 and why, nothing acknowledged is lost, ingest resumes."""

from __future__ import annotations

from pathlib import Path

import httpx

from apiwatch.server import create_app
from apiwatch.store import open_store
from tests.server.conftest import add_keys, served
from tests.server.helpers import NDJSON, event, ndjson


def test_a_full_store_answers_507_loses_nothing_and_recovers(tmp_path: Path) -> None:
    """Ingest into a size-capped SQLite store until 507; count == accepted; more space resumes."""
    url = f"sqlite:///{tmp_path}/full.db"
    store = open_store(url, key_file=tmp_path / "keys", max_bytes=256 * 1024)
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
            ready = client.get("/readyz")
        assert refused is not None, "the capped store never filled up"
        assert refused.status_code == 507
        assert refused.json() == {
            "error": "the event store is full; nothing of this request was stored"
        }
        assert int(refused.headers["retry-after"]) > 0
        assert ready.status_code == 200  # full is not down: reads and probes still work
        assert accepted > 0
        assert store.count() == accepted
    finally:
        store.close()

    roomy = open_store(url, key_file=tmp_path / "keys")
    try:
        assert roomy.count() == accepted
        with served(create_app(roomy)) as base, httpx.Client(base_url=base) as client:
            response = client.post(
                "/v1/events", content=ndjson([event() for _ in range(50)]), headers=headers
            )
        assert response.status_code == 202
        assert roomy.count() == accepted + 50
        assert roomy.verify().ok
    finally:
        roomy.close()
