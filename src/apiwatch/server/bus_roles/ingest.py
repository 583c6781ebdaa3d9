"""`BusPublisher`: the ingest role's hand-off of accepted batches, in place of the `Committer`."""

from __future__ import annotations

import asyncio
import hashlib
import logging

from starlette.concurrency import run_in_threadpool

from apiwatch.bus import MAX_AGE_SECONDS, Bus, BusError, Claim, Claims
from apiwatch.server.bus_roles.wire import encode_batch
from apiwatch.store import AppendResult, Batch, StoreUnavailableError

__all__ = ["BusPublisher"]

logger = logging.getLogger("apiwatch.server.ingest")


class BusPublisher:
    """Publishes each request's sealed rows to the bus; `submit` returns once JetStream has
    acknowledged all of them (a `apiwatch.server.committer.BatchSink`).

    The result counts as ``stored`` the events handed to the bus (the writer stores them), as
    ``duplicates`` those of messages JetStream recognised as repeats (``replayed`` when that is
    all of them). `StoreUnavailableError` (503, which senders retry) when the bus is down or does
    not acknowledge in time: nothing is acknowledged to the sender that JetStream has not stored.

    A request with an ``Idempotency-Key`` first claims it (key name and idempotency key) for a
    digest of its lines, in a JetStream key-value bucket that every ingest process shares. Only
    the content that claimed the key first is published: the writer stores the first message
    of a key and skips later ones, so a different body under a key already claimed is answered
    as the single-process collector answers it, a replay (nothing accepted), and not published.
    """

    def __init__(self, url: str, stream: str, *, timeout: float = 10.0) -> None:
        self._url = url
        self._stream = stream
        self._timeout = timeout
        self._bus: Bus | None = None
        self._claims: Claims | None = None

    async def open(self) -> None:
        bus = await Bus.connect(self._url, self._stream, name="apiwatch-ingest")
        try:
            # As long as the stream keeps a message: a claim outlives what it may still stop.
            bucket = await bus.key_value(f"{self._stream}-idempotency", ttl=MAX_AGE_SECONDS)
        except BaseException:
            await bus.close()
            raise
        self._bus, self._claims = bus, Claims(bucket)

    async def close(self) -> None:
        bus, self._bus = self._bus, None
        if bus is not None:
            await bus.close()

    @property
    def running(self) -> bool:
        return self._bus is not None and self._bus.connected

    async def submit(self, batch: Batch) -> AppendResult:
        bus = self._bus
        if bus is None:
            raise StoreUnavailableError("the collector is shutting down")
        claim = await self._claim(batch)
        if claim is not None and not claim.ours and claim.value != claim.wanted:
            return AppendResult(0, len(batch.lines), replayed=True)
        try:
            return await self._publish(bus, batch)
        except StoreUnavailableError:
            if claim is not None and claim.ours:
                await self._release(batch, claim)
            raise

    async def _claim(self, batch: Batch) -> Claim | None:
        if self._claims is None or not batch.idempotency_key:
            return None
        digest = await run_in_threadpool(_content_digest, batch)
        try:
            return await self._claims.claim(_claim_name(batch), digest)
        except BusError as exc:
            raise StoreUnavailableError(str(exc)) from None

    async def _release(self, batch: Batch, claim: Claim) -> None:
        """Give back the key of a request that was not acknowledged, so that a sender may use
        it for other content; if the bus is down too, the claim stays (a later different body
        under the key is then answered as a replay)."""
        if self._claims is None:
            return
        try:
            await self._claims.release(_claim_name(batch), claim)
        except BusError as exc:
            logger.warning("an idempotency key stays claimed: %s", exc)

    async def _publish(self, bus: Bus, batch: Batch) -> AppendResult:
        messages = await run_in_threadpool(encode_batch, batch, bus.max_message_bytes)
        try:
            repeats = await asyncio.gather(
                *(bus.publish(data, message_id, timeout=self._timeout)
                  for message_id, data in messages)
            )  # fmt: skip
        except BusError as exc:
            raise StoreUnavailableError(str(exc)) from None
        total = len(batch.lines)
        if all(repeats):
            return AppendResult(0, total, replayed=True)
        # Parts are of about equal size; a partial repeat (a retry split the same way) is rare.
        duplicates = round(total * sum(repeats) / len(repeats))
        return AppendResult(total - duplicates, duplicates)


def _claim_name(batch: Batch) -> str:
    return f"{batch.key_name}\x1f{batch.idempotency_key}"


def _content_digest(batch: Batch) -> bytes:
    """A digest of the request's accepted lines as the sender wrote them (an event without an
    ``event.id`` gets a new one each time it is sent, so such a body never matches itself)."""
    digest = hashlib.sha256()
    for line in batch.lines:
        digest.update(len(line.payload).to_bytes(4, "big"))
        digest.update(line.payload)
    return digest.digest()
