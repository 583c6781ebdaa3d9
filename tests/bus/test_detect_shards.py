"""Detect shards end to end: a simulated attack log through ingest, NATS JetStream and the
writer into PostgreSQL, then detected by two ``--role detect --shard I/2`` processes and, on a
database of its own, by one unsharded detect process over the same stream."""

from __future__ import annotations

import signal
import threading
import time
from contextlib import ExitStack
from typing import Any

import httpx
import msgspec
import pytest

from apiwatch.model.alert import Alert, Incident
from apiwatch.simulate import generate
from tests._wait import wait_for
from tests.bus.cluster import Cluster, all_records, postgres_database, scrape
from tests.bus.test_shards import SCENARIO, Run, check_same_incidents, without_incident

pytestmark = pytest.mark.slow

BATCH = 1000


def send_scenario(cluster: Cluster, key: str, url: str) -> int:
    """POST the simulated log (its own event ids and times) in batches; every batch 202."""
    lines = list(generate(SCENARIO).ecs_lines())
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    with httpx.Client(timeout=60) as client:
        for start in range(0, len(lines), BATCH):
            content = b"\n".join(lines[start : start + BATCH]) + b"\n"
            response = client.post(f"{url}/v1/events", content=content, headers=headers)
            assert response.status_code == 202, response.text
    return len(lines)


def stored_run(cluster: Cluster, db: str) -> Run:
    """Every alert and incident stored in ``db``."""
    store = cluster.open_store(db)
    try:
        alerts = {a.id: a for a in all_records(store.detections.alerts)}
        incidents = list({i.id: i for i in all_records(store.detections.incidents)}.values())
    finally:
        store.close()
    return Run(alerts, incidents)


def settled(cluster: Cluster, db: str, quiet: float = 10.0, timeout: float = 240.0) -> Run:
    """What ``db`` holds once it has not changed for ``quiet`` seconds (detection is done)."""
    deadline = time.monotonic() + timeout
    last, since = _fingerprint(stored_run(cluster, db)), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = _fingerprint(stored_run(cluster, db))
        if now != last:
            last, since = now, time.monotonic()
        elif now[0] and time.monotonic() - since >= quiet:
            break
    return stored_run(cluster, db)


def _fingerprint(run: Run) -> tuple[Any, ...]:
    return (
        len(run.alerts),
        # the whole alert: a surge's attackers and evidence settle after its count does
        sorted(msgspec.json.encode(a) for a in run.alerts.values()),
        sorted((i.id, i.requests, i.alerts) for i in run.incidents),
    )


def test_two_detect_shards_store_what_one_detect_process_stores(cluster: Cluster) -> None:
    """The same 20,000-event attack log (distributed credential stuffing among its attacks) in
    the stream: two detect shards store exactly the alerts one detect process stores, and the
    same incidents but for one engine's incident split across shard engines; no incident or
    alert is stored twice."""
    key = cluster.setup()
    cluster.start("writer")
    url = cluster.start("ingest")[1]
    sent = send_scenario(cluster, key, url)
    assert len(cluster.wait_stored(sent, timeout=180)) == sent
    with ExitStack() as stack:
        single_db = stack.enter_context(postgres_database())
        cluster.open_store(single_db).close()
        cluster.start("detect", config=cluster.config_for(single_db))
        for index in (1, 2):
            cluster.start("detect", "--shard", f"{index}/2")
        single = settled(cluster, single_db)
        sharded = settled(cluster, cluster.db)
    rules = {a.rule for a in single.alerts.values()}
    assert {"credential-stuffing-distributed", "brute-force-account"} <= rules
    assert without_incident(sharded.alerts) == without_incident(single.alerts)
    check_same_incidents(single, sharded)
    assert _unique(sharded.incidents) and _unique(list(sharded.alerts.values()))


def _unique(records: list[Alert] | list[Incident]) -> bool:
    ids = [record.id for record in records]
    return len(ids) == len(set(ids))


def test_a_detect_shard_killed_mid_stream_and_restarted_stores_what_it_would_have(
    cluster: Cluster,
) -> None:
    """SIGKILL of detect shard 2 of 2 while the attack log streams in, then a new shard 2: it
    feeds the stream again up to where the dead one had got, so the two shards end with exactly
    the alerts, and the same incidents, one undisturbed detect process stores; nothing twice."""
    key = cluster.setup()
    cluster.start("writer")
    url = cluster.start("ingest")[1]
    with ExitStack() as stack:
        single_db = stack.enter_context(postgres_database())
        cluster.open_store(single_db).close()
        cluster.start("detect", config=cluster.config_for(single_db))
        cluster.start("detect", "--shard", "1/2")
        victim, victim_url = cluster.start("detect", "--shard", "2/2")
        sender = threading.Thread(target=send_scenario, args=(cluster, key, url))
        sender.start()
        wait_for(lambda: scrape(victim_url)["apiwatch_bus_events_fed_total"] >= 4 * BATCH,
                 "shard 2 fed events", 120, 0.05)  # fmt: skip
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        assert sender.is_alive()  # killed mid-stream
        cluster.start("detect", "--shard", "2/2")
        sender.join(timeout=300)
        single = settled(cluster, single_db)
        sharded = settled(cluster, cluster.db)
    assert "credential-stuffing-distributed" in {a.rule for a in single.alerts.values()}
    assert without_incident(sharded.alerts) == without_incident(single.alerts)
    check_same_incidents(single, sharded)
