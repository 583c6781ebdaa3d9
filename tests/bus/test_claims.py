"""`apiwatch.bus.Claims` on the local NATS: first come, first claimed, across connections."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest

from apiwatch.bus import Bus, Claims
from tests.bus.cluster import NATS_URL, delete_stream


@pytest.fixture
def stream() -> Iterator[str]:
    name = f"T_{secrets.token_hex(6)}"
    yield name
    delete_stream(name)


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
