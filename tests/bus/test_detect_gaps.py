"""A detect role feeds the stream in order although its durable consumer delivered some messages
elsewhere (a SIGKILLed detect process's last fetch, a fetch lost with the NATS server): it reads
them from the stream in their place instead of waiting an ack wait for them, when they would be
hours of event time late in a fast backlog and skipped as too old. Real NATS JetStream."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from apiwatch.bus import Bus, BusError
from apiwatch.detect import Engine, builtin_dir, load_rules
from apiwatch.server._detection import Detector
from apiwatch.server.bus_roles import DetectRole
from apiwatch.server.bus_roles.detect import DURABLE
from apiwatch.server.bus_roles.metrics import RoleMetrics
from apiwatch.server.bus_roles.wire import encode_batch
from apiwatch.server.ingest import decode_body
from apiwatch.store import Batch, SqlStore, open_store
from tests.bus.cluster import NATS_URL, NatsServer, body, new_ids

PER_MESSAGE = 20
START = datetime.now(UTC) - timedelta(hours=8)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    yield opened
    opened.close()


async def _publish(bus: Bus, store: SqlStore, hours: range) -> None:
    """One message per hour of event time, ``PER_MESSAGE`` login failures each."""
    for hour in hours:
        content = body(new_ids(PER_MESSAGE), at=START + timedelta(hours=hour))
        lines = decode_body(content, max_line_bytes=1 << 20).accepted
        batch = Batch(store.events.seal(lines, "sender"), "sender")
        for message_id, data in encode_batch(batch, 1 << 20):
            await bus.publish(data, message_id)


def _role(store: SqlStore, replay: float) -> tuple[DetectRole, Engine, RoleMetrics]:
    """A detect role over the built-in pack, its engine skipping events an hour behind."""
    metrics = RoleMetrics("detect")
    engine = Engine(load_rules([builtin_dir()]), max_lag=3600.0)
    detector = Detector(engine, store.detections.save, metrics)
    return DetectRole(detector, store.keyring, metrics=metrics, replay=replay), engine, metrics


def _run(role: DetectRole, work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` with the role's detector thread going; stopped (queue fed) afterwards."""
    role.detector.start()
    try:
        asyncio.run(work)
    finally:
        role.detector.stop()


def test_messages_delivered_to_a_dead_process_are_read_from_the_stream_in_order(
    store: SqlStore, stream: str
) -> None:
    """Messages 3 and 4 go to another process of the same consumer that dies holding them; the
    role's next fetch (5, 6) reads 3 and 4 from the stream first: every event fed once, in
    stream order (none late, none too old); when the consumer delivers 3 and 4 again after
    its ack wait, they are acknowledged without being fed again."""
    role, engine, metrics = _role(store, replay=3600.0)

    async def run() -> None:
        bus = await Bus.connect(NATS_URL, stream)
        dead = await Bus.connect(NATS_URL, stream, name="dead")
        try:
            consumer = await bus.consumer(DURABLE, ack_wait=2.0)
            await role.rebuild(bus, consumer, asyncio.Event())
            await _publish(bus, store, range(2))
            assert await role.step(consumer) == 2
            await _publish(bus, store, range(2, 6))
            taken = await (await dead.consumer(DURABLE, ack_wait=2.0)).fetch(2, timeout=5)
            assert [delivery.sequence for delivery in taken] == [3, 4]
            await dead.close()  # dies holding them, unacknowledged
            assert await role.step(consumer) == 2  # 5 and 6, after 3 and 4 from the stream
            assert role.fed == 6 * PER_MESSAGE
            await asyncio.sleep(2.5)  # the ack wait: the consumer delivers 3 and 4 again
            assert await role.step(consumer, timeout=5) == 2
            assert await role.step(consumer, timeout=0.5) == 0  # all acknowledged now
        finally:
            await dead.close()
            await bus.close()

    _run(role, run())
    assert (engine.stats.events, engine.stats.late, engine.stats.too_old) == (120, 0, 0)
    assert role.fed == 120
    sample = metrics.registry.get_sample_value
    assert sample("apiwatch_bus_messages_read_again_total") == 2
    assert sample("apiwatch_bus_messages_redelivered_total") == 2  # by sequence, not decoded
    assert sample("apiwatch_bus_events_duplicate_total") == 0


def test_a_fetch_of_large_messages_stays_far_below_the_servers_pending_limit(stream: str) -> None:
    """A fetch brings at most 16 MiB of max-size messages: 64 messages of about 1 MiB (an
    ingest request of 1,000 events) exceeded the 64 MiB the NATS server lets wait for a busy
    client, which closed the connection and lost the fetch until the ack wait."""

    async def run() -> None:
        bus = await Bus.connect(NATS_URL, stream)
        try:
            large = secrets.token_bytes(bus.max_message_bytes)
            for number in range(20):
                await bus.publish(large, f"m{number}")
            consumer = await bus.consumer(DURABLE)
            first = await consumer.fetch(64, timeout=5)
            rest = await consumer.fetch(64, timeout=5)
        finally:
            await bus.close()
        assert len(first) * bus.max_message_bytes <= 16 << 20
        assert len(first) + len(rest) == 20

    asyncio.run(run())


def test_no_fetch_is_asked_while_the_nats_server_is_down(tmp_path: Path) -> None:
    """Fetches while NATS is down return nothing and ask nothing: nats-py would have kept each
    request and sent them all on reconnecting, and the server would have delivered every one
    at once (64 MiB and more of messages after a 12 s outage, and the connection was closed as
    a slow consumer). After the restart the server holds at most the one request asked since."""
    server = NatsServer(tmp_path / "nats")
    server.directory.mkdir(parents=True)
    server.start()

    async def run() -> None:
        bus = await Bus.connect(server.url, "GAPS")
        try:
            consumer = await bus.consumer(DURABLE)
            server.kill()
            while bus.connected:
                await asyncio.sleep(0.05)
            for _ in range(5):
                assert await consumer.fetch(16, timeout=1.0) == []
            server.start()
            while not bus.connected:
                await asyncio.sleep(0.05)
            fetching = asyncio.ensure_future(consumer.fetch(16, timeout=3.0))
            await asyncio.sleep(0.5)
            info = await consumer._subscription.consumer_info()
            assert info.num_waiting <= 1
            assert await fetching == []
        finally:
            await bus.close()

    try:
        asyncio.run(run())
    finally:
        server.kill()


def test_a_fetch_on_a_closed_connection_fails_instead_of_waiting(stream: str) -> None:
    """A closed connection will not come back: the fetch raises `BusError` (a role reconnects)
    rather than returning nothing for ever."""

    async def run() -> None:
        bus = await Bus.connect(NATS_URL, stream)
        consumer = await bus.consumer(DURABLE)
        await bus.close()
        with pytest.raises(BusError):
            await consumer.fetch(16, timeout=0.5)

    asyncio.run(run())


def test_a_role_without_replay_starts_in_order_from_the_first_unacknowledged_message(
    store: SqlStore, stream: str
) -> None:
    """With no replay (``detect_replay = 0``), a role that starts after another died holding
    messages 1 and 2 feeds them first, read from the stream, then 3 and 4: from the consumer's
    first unacknowledged message, in order, none late."""
    role, engine, metrics = _role(store, replay=0.0)

    async def run() -> None:
        bus = await Bus.connect(NATS_URL, stream)
        dead = await Bus.connect(NATS_URL, stream, name="dead")
        try:
            await _publish(bus, store, range(4))
            taken = await (await dead.consumer(DURABLE)).fetch(2, timeout=5)
            assert [delivery.sequence for delivery in taken] == [1, 2]
            await dead.close()
            consumer = await bus.consumer(DURABLE)
            await role.rebuild(bus, consumer, asyncio.Event())
            assert role.next_seq == 1
            assert await role.step(consumer) == 2  # 3 and 4, after 1 and 2 from the stream
        finally:
            await dead.close()
            await bus.close()

    _run(role, run())
    assert (engine.stats.events, engine.stats.late, engine.stats.too_old) == (80, 0, 0)
    assert metrics.registry.get_sample_value("apiwatch_bus_messages_read_again_total") == 2
