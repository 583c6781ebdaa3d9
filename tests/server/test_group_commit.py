"""Group commit: concurrent requests share transactions, and each hears its own outcome."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from apiwatch.model import decode_event
from apiwatch.server.committer import Committer
from apiwatch.store import (
    AppendResult,
    Batch,
    StoredLine,
    StoreFullError,
    StoreUnavailableError,
    open_store,
)
from tests.server.conftest import Collector
from tests.server.helpers import NDJSON, event, ndjson

CLIENTS = 20
BATCHES = 5
EVENTS = 50


def test_concurrent_batches_are_all_stored_exactly_once_in_shared_commits(
    collector: Collector,
) -> None:
    """20 clients x 5 batches all get 202, every event is stored once, and commits were shared."""

    def send(client_number: int) -> list[str]:
        sent: list[str] = []
        with collector.client() as client:
            for _ in range(BATCHES):
                events = [event(user=f"c{client_number}") for _ in range(EVENTS)]
                response = client.post("/v1/events", content=ndjson(events), headers=NDJSON)
                assert response.status_code == 202, response.text
                assert response.json()["accepted"] == EVENTS
                sent += [e["event"]["id"] for e in events]
        return sent

    with ThreadPoolExecutor(CLIENTS) as pool:
        sent = [event_id for ids in pool.map(send, range(CLIENTS)) for event_id in ids]
    assert collector.store.events.count() == len(sent) == CLIENTS * BATCHES * EVENTS
    stored_ids = []
    with collector.client("read") as client:
        cursor = None
        while True:
            params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/events", params=params).json()
            stored_ids += [e["event"]["id"] for e in page["events"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert sorted(stored_ids) == sorted(sent)
    metrics = httpx.get(f"{collector.url}/metrics").text
    groups = _metric(metrics, "apiwatch_commit_group_size_count")
    requests = _metric(metrics, "apiwatch_commit_group_size_sum")
    assert requests == CLIENTS * BATCHES
    assert groups < requests  # some transactions carried more than one request
    assert _metric(metrics, "apiwatch_events_accepted_total") == len(sent)


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, name
    return float(match.group(1))


def lines(count: int) -> list[StoredLine]:
    """Stored lines of fresh events, as the ingest decoder would make them."""
    payloads = [ndjson([event()]).strip() for _ in range(count)]
    return [StoredLine(decode_event(payload), payload) for payload in payloads]


def test_stop_commits_everything_already_submitted(tmp_path: Path) -> None:
    """Batches submitted before stop() are all committed and answered; later ones are refused."""
    store = open_store(f"sqlite:///{tmp_path}/a.db", key_file=tmp_path / "keys")
    committer = Committer(store.events.append, max_wait=0.05)

    async def scenario() -> list[int]:
        committer.start()
        pending = [asyncio.ensure_future(committer.submit(Batch(lines(3), "k"))) for _ in range(10)]
        await asyncio.sleep(0)  # let every submit reach the queue
        stopping = asyncio.get_running_loop().run_in_executor(None, committer.stop)
        results = await asyncio.gather(*pending)
        await stopping
        with pytest.raises(StoreUnavailableError, match="shutting down"):
            await committer.submit(Batch(lines(1), "k"))
        return [result.stored for result in results]

    try:
        assert asyncio.run(scenario()) == [3] * 10
        assert store.events.count() == 30
        assert not committer.running
    finally:
        store.close()


def test_a_failed_commit_is_reported_to_every_request_of_the_group(tmp_path: Path) -> None:
    """When the store fails a group commit, each request in the group gets that error."""

    def full(batches: Sequence[Batch]) -> list[AppendResult]:
        raise StoreFullError("storage is full")

    committer = Committer(full, max_wait=0.05)

    async def scenario() -> list[BaseException | AppendResult]:
        committer.start()
        try:
            batch = Batch(lines(1), "k")
            return await asyncio.gather(
                *(committer.submit(batch) for _ in range(3)), return_exceptions=True
            )
        finally:
            committer.stop()

    outcomes = asyncio.run(scenario())
    assert len(outcomes) == 3
    assert all(isinstance(outcome, StoreFullError) for outcome in outcomes)


def test_one_bad_batch_fails_only_its_own_request(tmp_path: Path) -> None:
    """A batch the store chokes on is retried alone: the others of its group are still stored."""
    store = open_store(f"sqlite:///{tmp_path}/a.db", key_file=tmp_path / "keys")

    def picky(batches: Sequence[Batch]) -> list[AppendResult]:
        if any(batch.key_name == "poison" for batch in batches):
            raise OverflowError("int too large")
        return store.events.append(batches)

    committer = Committer(picky, max_wait=0.05)

    async def scenario() -> list[BaseException | AppendResult]:
        committer.start()
        try:
            names = ["good", "poison", "good", "good"]
            return await asyncio.gather(
                *(committer.submit(Batch(lines(2), name)) for name in names),
                return_exceptions=True,
            )
        finally:
            committer.stop()

    try:
        outcomes = asyncio.run(scenario())
        assert isinstance(outcomes[1], OverflowError)
        assert [o.stored for o in outcomes if isinstance(o, AppendResult)] == [2, 2, 2]
        assert store.events.count() == 6
    finally:
        store.close()
