"""An Idempotency-Key reused through the scale-out ingest role is answered as the single-process
collector answers it (tests/server/test_ingest.py): a replay, nothing accepted, nothing stored
of the second body; never a 202 that counts events the writer will not store."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.bus.cluster import Cluster, body, new_ids

pytestmark = pytest.mark.slow

COUNT = 5
# What the single-process collector answers for a committed key, whatever the body.
REPLAYED = {"accepted": 0, "duplicates": COUNT, "replayed": True, "rejected": []}


def _post(client: httpx.Client, url: str, key: str, content: bytes, idem: str) -> httpx.Response:
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/x-ndjson",
        "Idempotency-Key": idem,
    }
    return client.post(f"{url}/v1/events", content=content, headers=headers, timeout=30)


def _settled(cluster: Cluster, count: int) -> set[str]:
    cluster.wait_stored(count)
    time.sleep(1.5)  # anything more would arrive now
    return set(cluster.stored_ids())


def test_the_same_body_twice_is_stored_once_and_the_second_answer_is_a_replay(
    cluster: Cluster,
) -> None:
    """Same key and same body twice: both 202, the second a replay, the events stored once."""
    key = cluster.setup()
    cluster.start("writer")
    url = cluster.start("ingest")[1]
    ids = new_ids(COUNT)
    content = body(ids)
    with httpx.Client() as client:
        first = _post(client, url, key, content, "batch-1")
        second = _post(client, url, key, content, "batch-1")
    assert first.status_code == 202
    assert first.json()["accepted"] == COUNT
    assert (second.status_code, second.json()) == (202, REPLAYED)
    assert _settled(cluster, COUNT) == set(ids)


def test_a_different_body_under_a_used_key_is_a_replay_and_not_stored(cluster: Cluster) -> None:
    """Same key, other events: answered as a replay (accepted 0), none of them stored, even
    when the first request is already committed by the writer."""
    key = cluster.setup()
    cluster.start("writer")
    url = cluster.start("ingest")[1]
    first_ids, other_ids, later_ids = new_ids(COUNT), new_ids(COUNT), new_ids(COUNT)
    with httpx.Client() as client:
        assert _post(client, url, key, body(first_ids), "batch-1").status_code == 202
        other = _post(client, url, key, body(other_ids), "batch-1")
        assert (other.status_code, other.json()) == (202, REPLAYED)
        assert _settled(cluster, COUNT) == set(first_ids)
        later = _post(client, url, key, body(later_ids), "batch-1")  # after the commit
    assert (later.status_code, later.json()) == (202, REPLAYED)
    assert _settled(cluster, COUNT) == set(first_ids)


def test_two_ingest_processes_agree_on_which_body_a_key_belongs_to(cluster: Cluster) -> None:
    """The same key sent with different bodies to two ingest processes: one is accepted, the
    other is a replay, and only the accepted body is stored; the accepted body sent again
    through the other process is a replay too."""
    key = cluster.setup()
    cluster.start("writer")
    urls = [cluster.start("ingest")[1] for _ in range(2)]
    first_ids, other_ids = new_ids(COUNT), new_ids(COUNT)
    content = body(first_ids)
    with httpx.Client() as client:
        first = _post(client, urls[0], key, content, "batch-1")
        other = _post(client, urls[1], key, body(other_ids), "batch-1")
        again = _post(client, urls[1], key, content, "batch-1")
    assert first.json()["accepted"] == COUNT
    assert (other.status_code, other.json()) == (202, REPLAYED)
    assert again.status_code == 202
    assert again.json()["accepted"] == 0
    assert _settled(cluster, COUNT) == set(first_ids)


def test_other_senders_keep_their_own_idempotency_keys(cluster: Cluster) -> None:
    """Another API key using the same Idempotency-Key is not a replay (as single-process)."""
    key = cluster.setup()
    other_key = cluster.add_key("sender-b")
    cluster.start("writer")
    url = cluster.start("ingest")[1]
    ids, other_ids = new_ids(COUNT), new_ids(COUNT)
    with httpx.Client() as client:
        assert _post(client, url, key, body(ids), "batch-1").json()["accepted"] == COUNT
        other = _post(client, url, other_key, body(other_ids), "batch-1")
    assert other.json()["accepted"] == COUNT
    assert _settled(cluster, 2 * COUNT) == set(ids) | set(other_ids)
