"""`apiwatch.bus.Claims` on the local NATS: first come, first claimed, across connections; the
ingest role gives a claim back when JetStream did not take its request."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from apiwatch.bus import Bus, BusError, Claims
from apiwatch.server.bus_roles import BusPublisher
from apiwatch.server.ingest import decode_body
from apiwatch.store import AppendResult, Batch, StoreUnavailableError, open_store
from tests.bus.cluster import NATS_URL, body, new_ids


def test_the_first_claim_of_a_name_wins_across_connections(stream: str) -> None:
    """Two processes' claims of one name agree on the first value; other names are free."""

    async def run() -> None:
        buses = [await Bus.connect(NATS_URL, stream) for _ in range(2)]
        try:
            one, two = [
                Claims(await bus.key_value(f"{stream}-idempotency", ttl=60)) for bus in buses
            ]
            first = await one.claim("sender\x1fbatch-1", b"A")
            same = await two.claim("sender\x1fbatch-1", b"A")
            other = await two.claim("sender\x1fbatch-1", b"B")
            free = await two.claim("sender\x1fbatch-2", b"B")
            assert (first.ours, first.value) == (True, b"A")
            assert (same.ours, same.value, same.wanted) == (False, b"A", b"A")
            assert (other.ours, other.value, other.wanted) == (False, b"A", b"B")
            assert (free.ours, free.value) == (True, b"B")
        finally:
            for bus in buses:
                await bus.close()

    asyncio.run(run())


def test_a_released_claim_can_be_made_again_with_another_value(stream: str) -> None:
    """After `release` (a request that was not acknowledged), the name is free again."""

    async def run() -> None:
        bus = await Bus.connect(NATS_URL, stream)
        try:
            claims = Claims(await bus.key_value(f"{stream}-idempotency", ttl=60))
            first = await claims.claim("k\x1fbatch-1", b"A")
            await claims.release("k\x1fbatch-1", first)
            again = await claims.claim("k\x1fbatch-1", b"B")
            assert (again.ours, again.value) == (True, b"B")
        finally:
            await bus.close()

    asyncio.run(run())


def test_a_request_jetstream_did_not_acknowledge_gives_its_key_back(
    stream: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 503 (JetStream did not acknowledge) withdraws the key's claim: the sender may then
    send other content under it, and that is accepted, not answered as a replay."""
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")

    def batch() -> Batch:
        lines = decode_body(body(new_ids(3)), max_line_bytes=1 << 20).accepted
        return Batch(store.events.seal(lines, "sender"), "sender", "batch-1")

    async def refuse(*_args: object, **_kwargs: object) -> bool:
        raise BusError("bus: JetStream did not acknowledge: timeout")

    async def run() -> None:
        publisher = BusPublisher(NATS_URL, stream)
        await publisher.open()
        try:
            with monkeypatch.context() as patch:
                patch.setattr(Bus, "publish", refuse)
                with pytest.raises(StoreUnavailableError):
                    await publisher.submit(batch())
            assert await publisher.submit(batch()) == AppendResult(3, 0)
        finally:
            await publisher.close()

    try:
        asyncio.run(run())
    finally:
        store.close()
