"""`BusPublisher`: the ingest role's hand-off of accepted batches, in place of the `Committer`."""

from __future__ import annotations

import asyncio

from starlette.concurrency import run_in_threadpool

from apiwatch.bus import Bus, BusError
from apiwatch.server.bus_roles.wire import encode_batch
from apiwatch.store import AppendResult, Batch, StoreUnavailableError

__all__ = ["BusPublisher"]


class BusPublisher:
    """Publishes each request's sealed rows to the bus; `submit` returns once JetStream has
    acknowledged all of them (a `apiwatch.server.committer.BatchSink`).

    The result counts as ``stored`` the events handed to the bus (the writer stores them), as
    ``duplicates`` those of messages JetStream recognised as repeats (``replayed`` when that is
    all of them). `StoreUnavailableError` (503, which senders retry) when the bus is down or does
    not acknowledge in time: nothing is acknowledged to the sender that JetStream has not stored.
    """

    def __init__(self, url: str, stream: str, *, timeout: float = 10.0) -> None:
        self._url = url
        self._stream = stream
        self._timeout = timeout
        self._bus: Bus | None = None

    async def open(self) -> None:
        self._bus = await Bus.connect(self._url, self._stream, name="apiwatch-ingest")

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
