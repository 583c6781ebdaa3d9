"""`Writer`: the scale-out writer role, the single sequencer of one store's chain."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from apiwatch.bus import Bus, Consumer, Delivery
from apiwatch.model import printable_text as safe
from apiwatch.server.bus_roles.metrics import RoleMetrics
from apiwatch.server.bus_roles.wire import WireError, decode_message
from apiwatch.store import (
    Sealed,
    SealedBatch,
    SqlStore,
    StoreFullError,
    StoreUnavailableError,
    Tally,
    line_tally,
)
from apiwatch.store._rows import clear_text
from apiwatch.store.chain import row_digest
from apiwatch.store.crypto import DecryptError, Keyring

__all__ = ["DURABLE", "Writer", "WriterStats"]

logger = logging.getLogger("apiwatch.server.writer")

#: The writer's durable consumer (one per stream: one writer per store).
DURABLE = "writer"
_RETRY_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class _Group:
    """Messages fetched together, and the rows of theirs that passed the checks."""

    deliveries: Sequence[Delivery]
    batches: list[SealedBatch]


@dataclass(slots=True)
class WriterStats:
    """What the writer has done since it started."""

    commits: int = 0
    stored: int = 0
    duplicates: int = 0
    refused_rows: int = 0
    refused_messages: int = 0


class Writer:
    """Takes up to ``max_messages`` waiting messages at a time from the bus, checks their rows,
    commits them in one transaction with `SqlEventStore.append_sealed`, then acknowledges them all.

    A row is refused (logged and counted, never stored) when its payload does not authenticate
    under a data key of this store or its digest is not the one of its columns and plaintext: a
    publisher without the store's keys cannot put rows on the chain that `verify` would then
    fail on. A store error is retried (the messages stay unacknowledged) until it passes.
    What it does is also counted in ``metrics`` (for ``/metrics``).
    """

    def __init__(self, store: SqlStore, *, max_messages: int = 16,
                 metrics: RoleMetrics | None = None) -> None:  # fmt: skip
        self.store = store
        self.max_messages = max_messages
        self.stats = WriterStats()
        self.metrics = metrics or RoleMetrics("writer")

    async def run(self, bus: Bus, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set. The next group is fetched and checked while the
        current one commits (the commit waits on PostgreSQL, not on this process's CPU); what
        was fetched and not committed when it stops is delivered again later."""
        consumer = await bus.consumer(DURABLE, ack_wait=30.0)
        ahead: asyncio.Task[_Group] | None = None
        try:
            while not stop.is_set():
                group = await (ahead or self._take(consumer))
                ahead = None
                if group.deliveries:
                    ahead = asyncio.create_task(self._take(consumer))
                    await self._commit(group, stop)
        finally:
            if ahead is not None:
                ahead.cancel()

    async def step(self, consumer: Consumer, stop: asyncio.Event, timeout: float = 1.0) -> int:
        """Fetch, commit and acknowledge one group; returns how many messages it took."""
        group = await self._take(consumer, timeout)
        if group.deliveries:
            await self._commit(group, stop)
        return len(group.deliveries)

    async def _take(self, consumer: Consumer, timeout: float = 1.0) -> _Group:
        deliveries = await consumer.fetch(self.max_messages, timeout=timeout)
        self.metrics.bus_pending.set(consumer.pending)
        if not deliveries:
            return _Group([], [])
        return _Group(deliveries, await asyncio.to_thread(self._checked, deliveries))

    async def _commit(self, group: _Group, stop: asyncio.Event) -> None:
        while True:
            started = time.monotonic()
            try:
                results = await asyncio.to_thread(self.store.events.append_sealed, group.batches)
                break
            except (StoreUnavailableError, StoreFullError) as exc:
                logger.warning("writing failed, retrying in %.0f s: %s", _RETRY_SECONDS, exc)
                if stop.is_set():
                    return  # unacknowledged: delivered again to the next writer
                await asyncio.sleep(_RETRY_SECONDS)
        seconds = time.monotonic() - started
        for delivery in group.deliveries:
            await delivery.ack()
        stored = sum(result.stored for result in results)
        duplicates = sum(result.duplicates for result in results)
        self.stats.commits += 1
        self.stats.stored += stored
        self.stats.duplicates += duplicates
        self._observe(len(group.deliveries), stored, duplicates, seconds)

    def _observe(self, messages: int, stored: int, duplicates: int, seconds: float) -> None:
        metrics = self.metrics
        metrics.bus_messages.inc(messages)
        metrics.accepted.inc(stored)
        metrics.duplicates.inc(duplicates)
        metrics.observe_commit(messages, stored + duplicates, seconds)

    def _checked(self, deliveries: Sequence[Delivery]) -> list[SealedBatch]:
        batches = []
        for delivery in deliveries:
            try:
                batch = decode_message(delivery.data)
            except WireError as exc:
                self.stats.refused_messages += 1
                self.metrics.bus_messages_refused.inc()
                logger.warning("a bus message was refused: %s", safe(str(exc)))
                continue
            rows: list[Sealed] = []
            tallies: list[Tally | None] = []
            for row in batch.rows:
                plaintext = _authentic(self.store.keyring, row, batch)
                if plaintext is not None:
                    rows.append(row)
                    tallies.append(line_tally(plaintext, cast(int, row.columns[1])))
            refused = len(batch.rows) - len(rows)
            if refused:
                self.stats.refused_rows += refused
                self.metrics.bus_rows_refused.inc(refused)
                logger.warning("%d rows from key %s were refused: they do not authenticate under "
                             "this store's keys", refused, safe(batch.key_name))  # fmt: skip
            batches.append(SealedBatch(rows, batch.key_name, batch.idempotency_key, tallies))
        return batches


def _authentic(keyring: Keyring, row: Sealed, batch: SealedBatch) -> bytes | None:
    """The row's plaintext (its ECS line) when it is the batch key's and authentic, else None."""
    columns = row.columns
    if columns[2] != clear_text(batch.key_name):
        return None
    try:
        plaintext = keyring.decrypt(row.key_id, row.payload, columns[0])  # type: ignore[arg-type]
    except DecryptError:
        return None
    return plaintext if row_digest(columns, plaintext) == row.digest else None
