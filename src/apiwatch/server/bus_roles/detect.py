"""`DetectRole`: live detection fed from the bus instead of the group committer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence

import msgspec

from apiwatch.bus import Bus, Consumer, Delivery
from apiwatch.model import Event, EventDecodeError, decode_event
from apiwatch.model import printable_text as safe
from apiwatch.server._detection import Detector
from apiwatch.server.bus_roles.metrics import RoleMetrics
from apiwatch.server.bus_roles.wire import WireError, decode_message
from apiwatch.store import AppendResult, SealedBatch
from apiwatch.store.crypto import DecryptError, Keyring

__all__ = ["DURABLE", "DetectRole"]

logger = logging.getLogger("apiwatch.server.detect")

#: The detection consumer (one shard: see docs/scaling.md for partitioning).
DURABLE = "detect"
# Event ids remembered to feed an event once when the bus delivers it again (a sender's retry
# after JetStream's duplicate window, a redelivery after a restart of this role).
_REMEMBERED = 1_000_000
_typed = msgspec.json.Decoder(Event)


class DetectRole:
    """Decrypts and decodes each row, skips events already fed, hands the rest to ``detector``
    (whose thread runs the engine, saves alerts and incidents, and responds), and acknowledges.

    Backpressure instead of skipping: while the detector holds ``max_backlog`` events or more,
    no more are fetched (the bus keeps them), so a slow engine delays detection but loses no
    event from it. What it does is counted in ``metrics`` (for ``/metrics``; give it the
    detector's, so that one registry holds both).
    """

    def __init__(self, detector: Detector, keyring: Keyring, *, max_backlog: int = 50_000,
                 max_messages: int = 64, metrics: RoleMetrics | None = None) -> None:  # fmt: skip
        self.detector = detector
        self.keyring = keyring
        self.max_backlog = max_backlog
        self.max_messages = max_messages
        self.metrics = metrics or RoleMetrics("detect")
        self.fed = 0
        self._seen: dict[tuple[str, bytes], None] = {}

    async def run(self, bus: Bus, stop: asyncio.Event) -> None:
        consumer = await bus.consumer(DURABLE, ack_wait=120.0)
        self.detector.start()
        try:
            while not stop.is_set():
                await self.step(consumer)
        finally:
            await asyncio.to_thread(self.detector.stop)

    async def step(self, consumer: Consumer, timeout: float = 1.0) -> int:
        """Fetch, feed and acknowledge one group; returns how many messages it took."""
        while self.detector.backlog >= self.max_backlog:
            await asyncio.sleep(0.05)
        deliveries = await consumer.fetch(self.max_messages, timeout=timeout)
        self.metrics.bus_pending.set(consumer.pending)
        if not deliveries:
            return 0
        events = await asyncio.to_thread(self._events, deliveries)
        if events:
            self.detector.offer([AppendResult(len(events), 0, events=events)])
            self.fed += len(events)
            self.metrics.bus_events_fed.inc(len(events))
        for delivery in deliveries:
            await delivery.ack()
        self.metrics.bus_messages.inc(len(deliveries))
        return len(deliveries)

    def _events(self, deliveries: Sequence[Delivery]) -> list[Event]:
        events: list[Event] = []
        for delivery in deliveries:
            try:
                batch = decode_message(delivery.data)
            except WireError as exc:
                self.metrics.bus_messages_refused.inc()
                logger.warning("a bus message was not fed to detection: %s", safe(str(exc)))
                continue
            events.extend(self._fresh(batch))
        return events

    def _fresh(self, batch: SealedBatch) -> Iterator[Event]:
        """The events of ``batch`` not fed before; a row that does not decrypt or decode is
        skipped (logged and counted as refused)."""
        for row in batch.rows:
            event_id = row.columns[0]
            assert isinstance(event_id, bytes)  # noqa: S101 - the wire format's type
            key = (batch.key_name, event_id)
            if key in self._seen:
                self.metrics.bus_events_duplicate.inc()
                continue
            event = self._event(row.key_id, row.payload, event_id)
            if event is None:
                self.metrics.bus_rows_refused.inc()
                continue
            self._remember(key)
            yield event

    def _event(self, key_id: int, payload: bytes, event_id: bytes) -> Event | None:
        try:
            plaintext = self.keyring.decrypt(key_id, payload, event_id)
        except DecryptError as exc:
            logger.warning("a row was not fed to detection: %s", exc)
            return None
        try:
            return _typed.decode(plaintext)
        except msgspec.MsgspecError:
            pass
        try:
            return decode_event(plaintext)  # a line the ingest fast path did not take
        except (EventDecodeError, msgspec.MsgspecError, ValueError) as exc:
            logger.warning("a row was not fed to detection: %s", safe(str(exc)))
            return None

    def _remember(self, key: tuple[str, bytes]) -> None:
        if len(self._seen) >= _REMEMBERED:
            for old in list(self._seen)[: _REMEMBERED // 10]:  # the oldest tenth
                del self._seen[old]
        self._seen[key] = None
