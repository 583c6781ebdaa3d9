"""The NATS server itself SIGKILLed while the scale-out collector works: a ``nats-server -js`` of
this test's own (its file store in the test's directory), killed mid-stream and started again on
the same port and store, with ingest, the writer and two detect shards running throughout."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from apiwatch.simulate import generate
from tests._wait import wait_for
from tests.bus.cluster import Cluster, NatsServer, postgres_database
from tests.bus.test_detect_shards import settled
from tests.bus.test_shards import SCENARIO, check_same_incidents, without_incident

pytestmark = pytest.mark.slow

BATCH = 1000


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats")
    server.directory.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.kill()


class Sender(threading.Thread):
    """Sends the simulated log in batches, each until it is answered 202 (a 503 or a lost
    connection while NATS is down is retried, as senders do); counts the refusals."""

    def __init__(self, url: str, key: str) -> None:
        super().__init__()
        self.url, self.key = url, key
        self.lines = list(generate(SCENARIO).ecs_lines())
        self.acknowledged = 0
        self.refused = 0

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/x-ndjson"}
        with httpx.Client(timeout=30) as client:
            for start in range(0, len(self.lines), BATCH):
                content = b"\n".join(self.lines[start : start + BATCH]) + b"\n"
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    try:
                        response = client.post(f"{self.url}/v1/events", content=content,
                                               headers=headers)  # fmt: skip
                    except httpx.HTTPError:
                        response = None
                    if response is not None and response.status_code == 202:
                        self.acknowledged += len(self.lines[start : start + BATCH])
                        break
                    self.refused += 1
                    time.sleep(0.3)
                else:
                    return


def test_nats_killed_mid_stream_loses_nothing_and_detection_is_undisturbed(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """SIGKILL of the NATS server while the attack log streams in, then the server started again
    on its store: every event is acknowledged in the end and stored once, the chain verifies,
    and the two detect shards (which rebuild their state from the stream when they reconnect)
    store exactly the alerts, and the same incidents, of one detect process run afterwards on
    the whole stream."""
    with ExitStack() as stack:
        cluster = Cluster(stack.enter_context(postgres_database()), tmp_path, bus=nats_server.url)
        stack.callback(cluster.stop_all)
        key = cluster.setup()
        cluster.start("writer")
        url = cluster.start("ingest")[1]
        for index in (1, 2):
            cluster.start("detect", "--shard", f"{index}/2")
        sender = Sender(url, key)
        sender.start()
        wait_for(lambda: len(cluster.stored_ids()) >= 5 * BATCH, "five batches stored", 120, 0.05)
        nats_server.kill()
        time.sleep(12.0)  # longer than ingest waits for JetStream: requests are refused (503)
        assert sender.is_alive()  # killed mid-stream
        nats_server.start()
        sender.join(timeout=400)
        assert sender.acknowledged == len(sender.lines)
        assert sender.refused > 0  # the senders did see NATS gone
        stored = cluster.wait_stored(len(sender.lines), timeout=180)
        time.sleep(1.0)
        stored = cluster.stored_ids()
        assert len(stored) == len(set(stored)) == len(sender.lines)
        result = cluster.verify()
        assert result.returncode == 0, result.stdout + result.stderr
        sharded = settled(cluster, cluster.db)
        single_db = stack.enter_context(postgres_database())
        cluster.open_store(single_db).close()
        cluster.start("detect", config=cluster.config_for(single_db))
        single = settled(cluster, single_db)
    assert "credential-stuffing-distributed" in {a.rule for a in single.alerts.values()}
    assert without_incident(sharded.alerts) == without_incident(single.alerts)
    check_same_incidents(single, sharded)
