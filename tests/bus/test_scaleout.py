"""The scale-out collector end to end: ingest processes, the writer and NATS JetStream, real
PostgreSQL, processes killed with SIGKILL mid-stream."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests._wait import wait_for
from tests.bus.cluster import Cluster, new_ids, post

pytestmark = pytest.mark.slow

BATCH = 1000


def test_events_through_two_ingest_processes_are_stored_once_and_verify(cluster: Cluster) -> None:
    """20,000 events sent through two ingest processes (half of them sent twice) are each
    stored exactly once by the writer, and the chain verifies."""
    key = cluster.setup()
    cluster.start("writer")
    urls = [cluster.start("ingest")[1] for _ in range(2)]
    batches = [new_ids(BATCH) for _ in range(20)]
    with httpx.Client() as client:
        for number, ids in enumerate(batches):
            assert post(client, urls[number % 2], key, ids).status_code == 202
        for ids in batches[::2]:  # a retry through the other process
            assert post(client, urls[1], key, ids).status_code == 202
    sent = {event_id for ids in batches for event_id in ids}
    stored = cluster.wait_stored(len(sent))
    time.sleep(1.0)  # anything more would arrive now
    stored = cluster.stored_ids()
    assert len(stored) == len(sent)
    assert set(stored) == sent
    result = cluster.verify()
    assert result.returncode == 0, result.stdout + result.stderr


def test_writer_killed_mid_stream_loses_and_repeats_nothing(cluster: Cluster) -> None:
    """SIGKILL of the writer while events stream in, then a new writer: every event acknowledged
    with 202 is stored, none twice, and the chain verifies."""
    key = cluster.setup()
    writer, _ = cluster.start("writer")
    url = cluster.start("ingest")[1]
    acknowledged: list[str] = []
    sender = threading.Thread(target=_send, args=(url, key, 20, acknowledged))
    sender.start()
    wait_for(lambda: len(cluster.stored_ids()) >= 5 * BATCH, "five batches stored", 60, 0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)
    time.sleep(1.0)
    cluster.start("writer")
    sender.join(timeout=120)
    assert len(acknowledged) == 20 * BATCH
    stored = cluster.wait_stored(len(acknowledged))
    time.sleep(1.0)
    stored = cluster.stored_ids()
    assert len(stored) == len(set(stored)) == len(acknowledged)
    assert set(stored) == set(acknowledged)
    result = cluster.verify()
    assert result.returncode == 0, result.stdout + result.stderr


def test_ingest_killed_mid_stream_every_acknowledged_event_is_stored(cluster: Cluster) -> None:
    """SIGKILL of an ingest process while a sender streams to it: every event it acknowledged
    with 202 before it died is stored (once), and the chain verifies."""
    key = cluster.setup()
    cluster.start("writer")
    ingest, url = cluster.start("ingest")
    acknowledged: list[str] = []
    sender = threading.Thread(target=_send, args=(url, key, 1000, acknowledged))
    sender.start()
    wait_for(lambda: len(acknowledged) >= 5 * BATCH, "five batches acknowledged", 60, 0.05)
    ingest.send_signal(signal.SIGKILL)
    sender.join(timeout=60)
    assert not sender.is_alive()
    stored = cluster.wait_stored(len(acknowledged))
    time.sleep(1.0)
    stored = cluster.stored_ids()
    assert set(acknowledged) <= set(stored)
    assert len(stored) == len(set(stored))
    # At most the request in flight when it died was stored without its 202.
    assert len(stored) - len(acknowledged) <= BATCH
    result = cluster.verify()
    assert result.returncode == 0, result.stdout + result.stderr


def _send(url: str, key: str, batches: int, acknowledged: list[str]) -> None:
    """POST ``batches`` batches one after the other; each batch answered 202 is acknowledged.
    Stops at the first connection error (the process is gone)."""
    with httpx.Client() as client:
        for _ in range(batches):
            ids = new_ids(BATCH)
            try:
                response = post(client, url, key, ids)
            except httpx.HTTPError:
                return
            if response.status_code == 202:
                acknowledged.extend(ids)


def test_detect_role_finds_the_incidents_one_engine_finds(cluster: Cluster) -> None:
    """Events through ingest, the bus and the detect role become the incidents (rules, attacker,
    compromised account) that one engine finds offline in the same events; they are stored."""
    from apiwatch.detect import Engine, builtin_dir, load_rules
    from apiwatch.model import decode_event
    from apiwatch.store import DetectionFilter, open_store

    key = cluster.setup()
    cluster.start("writer")
    cluster.start("detect")
    url = cluster.start("ingest")[1]
    lines = stuffing_lines()
    with httpx.Client() as client:
        response = client.post(
            f"{url}/v1/events", content="\n".join(lines).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"},
        )  # fmt: skip
    assert response.status_code == 202, response.text
    engine = Engine(load_rules([builtin_dir()]))
    for line in lines:
        engine.feed(decode_event(line.encode()))
    engine.flush()
    expected = {(tuple(sorted(i.rules)), tuple(i.accounts_compromised))
                for i in engine.take_incidents()}  # fmt: skip
    assert expected
    store = open_store(cluster.db, key_file=cluster.workdir / "store.keys",
                       signing_key_file=cluster.workdir / "store.signing")  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            page = store.detections.incidents(DetectionFilter(attacker_ip="203.0.113.66"),
                                              cursor=None, limit=100)  # fmt: skip
            found = {(tuple(sorted(i.rules)), tuple(i.accounts_compromised)) for i in page.items}
            if found == expected or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        store.close()
    assert found == expected


def stuffing_lines() -> list[str]:
    """A minute ago: one address failing 20 accounts, then getting into one of them."""
    start = datetime.now(UTC) - timedelta(seconds=60)
    lines = [
        stuffing_line(start + timedelta(seconds=n), f"victim-{n:02}", "authn_login_fail", 401)
        for n in range(20)
    ]
    lines.append(stuffing_line(start + timedelta(seconds=21), "victim-07",
                               "authn_login_success", 200))  # fmt: skip
    return lines


def stuffing_line(at: datetime, user: str, action: str, status: int) -> str:
    outcome = "failure" if status >= 400 else "success"
    return (
        f'{{"@timestamp":"{at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}","event":{{"action":"{action}",'
        f'"id":"{new_ids(1)[0]}","kind":"event","category":["authentication"],'
        f'"type":["start"],"outcome":"{outcome}"}},"source":{{"ip":"203.0.113.66"}},'
        f'"http":{{"request":{{"method":"POST"}},"response":{{"status_code":{status}}}}},'
        f'"url":{{"path":"/login"}},"user":{{"name":"{user}"}},"service":{{"name":"shop"}}}}'
    )
