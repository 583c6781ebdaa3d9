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
from apiwatch.server.bus_roles.shards import Shard
from apiwatch.server.bus_roles.wire import WireError, decode_message
from apiwatch.store import AppendResult, SealedBatch
from apiwatch.store.crypto import DecryptError, Keyring

__all__ = ["DURABLE", "DetectRole"]

logger = logging.getLogger("apiwatch.server.detect")

#: The detection consumer of an unsharded run (shard I of M: ``detect-I-of-M``).
DURABLE = Shard().durable
# Event ids remembered to feed an event once when the bus delivers it again (a sender's retry
# after JetStream's duplicate window, a redelivery after a restart of this role).
_REMEMBERED = 1_000_000
_UNREAD = 100_000  # sequences remembered as not read again (see `DetectRole._in_order`)
_typed = msgspec.json.Decoder(Event)


class DetectRole:
    """Decrypts and decodes each row, skips events already fed, hands the rest to ``detector``
    (whose thread runs the engine, saves alerts and incidents, and responds), and acknowledges.

    Backpressure instead of skipping: while the detector holds ``max_backlog`` events or more,
    no more are fetched (the bus keeps them), so a slow engine delays detection but loses no
    event from it. What it does is counted in ``metrics`` (for ``/metrics``; give it the
    detector's, so that one registry holds both).

    As ``shard`` I of M (`apiwatch.server.bus_roles.shards`), it reads the whole stream through
    a durable consumer of its own and feeds ``detector`` the events whose source it owns
    (without decrypting the others); shard 1 also feeds every event to ``population``, the
    detector of the population rules.
    """

    def __init__(self, detector: Detector, keyring: Keyring, *, max_backlog: int = 50_000,
                 max_messages: int = 64, metrics: RoleMetrics | None = None,
                 shard: Shard | None = None, population: Detector | None = None,
                 replay: float = 0.0) -> None:  # fmt: skip
        self.detector = detector
        self.replay = replay
        self.population = population
        self.keyring = keyring
        self.max_backlog = max_backlog
        self.max_messages = max_messages
        self.metrics = metrics or RoleMetrics("detect")
        self.shard = shard or Shard()
        self.fed = 0
        #: The stream sequence after the last message fed in order (None: none fed yet).
        self.next_seq: int | None = None
        # Sequences before `next_seq` that could not be read again: fed when delivered.
        self._unread: set[int] = set()
        self._bus: Bus | None = None
        # Keyed by the sender's key name and the event id in one bytes object: a tuple of the
        # two took a third more memory (about 150 MB for the million remembered).
        self._seen: dict[bytes, None] = {}

    @property
    def _detectors(self) -> list[Detector]:
        return [self.detector] if self.population is None else [self.detector, self.population]

    async def run(self, bus: Bus, stop: asyncio.Event) -> None:
        """Rebuild the engines' state (`rebuild`), then consume until ``stop`` is set."""
        consumer = await bus.consumer(self.shard.durable, ack_wait=120.0)
        for detector in self._detectors:
            detector.start()
        try:
            await self.rebuild(bus, consumer, stop)
            while not stop.is_set():
                await self.step(consumer)
                # NATS down (the client reconnects meanwhile): the events are on their way.
                for detector in self._detectors:
                    detector.hold(not bus.connected)
        finally:
            for detector in self._detectors:  # the stream goes on: no end-of-stream verdicts
                await asyncio.to_thread(detector.stop, end=False)

    async def rebuild(self, bus: Bus, consumer: Consumer, stop: asyncio.Event) -> int:
        """Feed again what the consumer already delivered (to this role before a restart or
        a crash) in the last ``replay`` seconds: the engines start empty, and their windows,
        baselines and incidents are then what they were, so they save the alerts and incidents
        (same ids) they would have saved, and not new ones for attacks they had counted half.
        Returns how many events were fed again. `step` then reads from ``bus`` the messages
        the consumer delivered elsewhere (`_in_order`)."""
        self._bus = bus
        upto = await consumer.delivered() if self.replay > 0 else 0
        before = self.fed
        if upto:
            async for deliveries in bus.replay(self.replay, upto):
                await self._feed(deliveries)
                self.next_seq = deliveries[-1].sequence + 1
                if stop.is_set():
                    break
            logger.info("fed again %d events of the last %.0f s (up to stream message %d)",
                        self.fed - before, self.replay, upto)  # fmt: skip
        if self.next_seq is None:  # nothing replayed: in order from the first unacknowledged
            self.next_seq = await consumer.acknowledged() + 1
        return self.fed - before

    async def step(self, consumer: Consumer, timeout: float = 1.0) -> int:
        """Fetch, feed and acknowledge one group; returns how many messages it took."""
        deliveries = await consumer.fetch(self.max_messages, timeout=timeout)
        self.metrics.bus_pending.set(consumer.pending)
        if not deliveries:
            return 0
        await self._feed(await self._in_order(deliveries))
        for delivery in deliveries:
            await delivery.ack()
        self.metrics.bus_messages.inc(len(deliveries))
        return len(deliveries)

    async def _in_order(self, deliveries: list[Delivery]) -> list[Delivery]:
        """What to feed of ``deliveries``, in stream order.

        A message before `next_seq` was fed already (in order, read again, or replayed): the
        consumer delivers it again when its acknowledgement was lost or it was read again in
        its place, and it is acknowledged without being fed (`_unread` ones excepted). Before
        the rest come the messages between the last one fed and them that the consumer
        delivered elsewhere: to a process that died holding them (a SIGKILLed detect role's
        last fetch), or in a fetch lost with a NATS server. The consumer would deliver those
        again only after its ack wait, as late as that in event time or more, and the engines
        would skip them as too old; they are read from the stream in their place."""
        ordered = sorted(deliveries, key=lambda delivery: delivery.sequence)
        expected = self.next_seq
        if expected is None:  # the first fetch of a role that fed nothing yet
            self.next_seq = ordered[-1].sequence + 1
            return ordered
        fresh = [d for d in ordered if d.sequence >= expected or d.sequence in self._unread]
        if len(fresh) < len(ordered):
            self.metrics.bus_messages_redelivered.inc(len(ordered) - len(fresh))
        self._unread.difference_update(delivery.sequence for delivery in fresh)
        if not fresh or fresh[-1].sequence < expected:
            return fresh
        newest = fresh[-1].sequence
        self.next_seq = newest + 1
        have = {delivery.sequence for delivery in fresh if delivery.sequence >= expected}
        if len(have) == newest - expected + 1 or self._bus is None:
            return fresh
        missing = [
            delivery
            async for part in self._bus.between(expected, newest)
            for delivery in part
            if delivery.sequence not in have
        ]
        self.metrics.bus_messages_read_again.inc(len(missing))
        logger.info("read %d messages of the stream (%d to %d) delivered elsewhere",
                    len(missing), expected, newest)  # fmt: skip
        got = have | {delivery.sequence for delivery in missing}
        unread = [number for number in range(expected, newest + 1) if number not in got]
        if unread:  # expired from the stream, or the server did not answer in time
            logger.warning("%d messages of the stream between %d and %d could not be read "
                           "again; they are fed when the consumer delivers them again",
                           len(unread), expected, newest)  # fmt: skip
            if len(self._unread) + len(unread) > _UNREAD:
                self._unread.clear()  # long gone from the stream, most likely
            self._unread.update(unread[:_UNREAD])
        return sorted([*missing, *fresh], key=lambda delivery: delivery.sequence)

    async def _feed(self, deliveries: Sequence[Delivery]) -> None:
        """Hand the fresh events of ``deliveries`` to the detectors, ``max_backlog`` at most at
        a time, each part once neither holds ``max_backlog`` events: a detector's queue (twice
        that) never refuses one, however many events the messages hold (a replay's fetch takes
        256 messages)."""
        owned, everyone = await asyncio.to_thread(self._events, deliveries)
        part = max(self.max_backlog, 1)
        for start in range(0, max(len(owned), len(everyone)), part):
            while any(d.backlog >= self.max_backlog for d in self._detectors):
                await asyncio.sleep(0.05)
            mine = owned[start : start + part]
            if mine:
                self.detector.offer([AppendResult(len(mine), 0, events=mine)])
                self.fed += len(mine)
                self.metrics.bus_events_fed.inc(len(mine))
            if self.population is not None and start < len(everyone):
                every = everyone[start : start + part]
                self.population.offer([AppendResult(len(every), 0, events=every)])

    def _events(self, deliveries: Sequence[Delivery]) -> tuple[list[Event], list[Event]]:
        """The fresh events this shard owns, and (for the population shard) all of them."""
        owned: list[Event] = []
        everyone: list[Event] = []
        for delivery in deliveries:
            try:
                batch = decode_message(delivery.data)
            except WireError as exc:
                self.metrics.bus_messages_refused.inc()
                logger.warning("a bus message was not fed to detection: %s", safe(str(exc)))
                continue
            for event, mine in self._fresh(batch):
                if mine:
                    owned.append(event)
                everyone.append(event)
        return owned, everyone if self.population is not None else []

    def _fresh(self, batch: SealedBatch) -> Iterator[tuple[Event, bool]]:
        """The events of ``batch`` not fed before, each with whether this shard owns it; a row
        that does not decrypt or decode is skipped (logged and counted as refused), and one
        that concerns neither of its detectors is not decrypted."""
        sender = batch.key_name.encode("utf-8", "surrogatepass") + b"\x00"
        for row in batch.rows:
            event_id = row.columns[0]
            assert isinstance(event_id, bytes)  # noqa: S101 - the wire format's type
            mine = self.shard.owns(row.columns[5])  # type: ignore[arg-type]
            if not mine and self.population is None:
                continue
            key = sender + event_id
            if key in self._seen:
                self.metrics.bus_events_duplicate.inc()
                continue
            event = self._event(row.key_id, row.payload, event_id)
            if event is None:
                self.metrics.bus_rows_refused.inc()
                continue
            self._remember(key)
            yield event, mine

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

    def _remember(self, key: bytes) -> None:
        if len(self._seen) >= _REMEMBERED:
            for old in list(self._seen)[: _REMEMBERED // 10]:  # the oldest tenth
                del self._seen[old]
        self._seen[key] = None
