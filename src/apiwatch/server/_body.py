"""Reading a request body within limits: as sent, and inflated when it is gzip.

A body over ``max_body_bytes`` is refused however its length is declared (the bytes are counted
as they arrive), and gzip is inflated in bounded steps, so a bomb is refused once its output
passes ``max_decompressed_bytes`` without the rest of it ever being inflated. A body that stops
arriving is refused with 408 (`read_body`'s timeouts), so a stalled sender cannot hold the
memory and the ingest slot it was given for as long as it likes.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator

from apiwatch.model import ApiwatchError

__all__ = ["BodyError", "Inflater", "inflate", "read_body"]


class BodyError(ApiwatchError):
    """The body cannot be taken; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Inflater:
    """Incremental gzip decompression with a hard cap on the output (multi-member aware)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._parts: list[bytes] = []
        self._size = 0
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> None:
        """Inflate ``data``; `BodyError` (413) past the limit, (400) when it is not gzip."""
        try:
            while data:
                if self._inflater.eof:
                    # Another gzip member follows the last one (what `cat a.gz b.gz` makes).
                    self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._take(self._inflater.decompress(data, self.limit - self._size + 1))
                inflater = self._inflater
                data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
        except zlib.error:
            raise BodyError(400, "the body is not valid gzip") from None

    def finish(self) -> bytes:
        """The whole inflated body; `BodyError` (400) when the gzip stream is cut short."""
        if not self._inflater.eof:
            raise BodyError(400, "the gzip body ends before its end marker")
        return b"".join(self._parts)

    def _take(self, out: bytes) -> None:
        self._size += len(out)
        if self._size > self.limit:
            raise BodyError(
                413, f"the body inflates to more than {self.limit} bytes, over the limit"
            )
        self._parts.append(out)


def inflate(data: bytes, limit: int) -> bytes:
    """A whole gzip body inflated, never past ``limit`` bytes (`BodyError` 413 / 400)."""
    inflater = Inflater(limit)
    inflater.feed(data)
    return inflater.finish()


async def read_body(
    chunks: AsyncIterator[bytes],
    *,
    declared_length: str | None,
    max_body_bytes: int,
    idle_timeout: float | None = None,
    total_timeout: float | None = None,
) -> bytes:
    """The body as sent (still compressed, if it is); `BodyError` 413 past ``max_body_bytes``,
    whatever Content-Length claimed, and 408 when no byte came for ``idle_timeout`` seconds or
    the whole body was not there ``total_timeout`` seconds after the call (None: no limit)."""
    too_big = BodyError(413, f"the body is over the {max_body_bytes}-byte limit")
    if declared_length is not None:
        try:
            declared = int(declared_length)
        except ValueError:
            raise BodyError(400, "Content-Length is not a number") from None
        if declared > max_body_bytes:
            raise too_big
    parts: list[bytes] = []
    received = 0
    deadline = _Deadline(idle_timeout, total_timeout)
    iterator = aiter(chunks)
    while True:
        try:
            async with asyncio.timeout(deadline.next_wait()):
                chunk = await anext(iterator)
        except StopAsyncIteration:
            return b"".join(parts)
        except TimeoutError:
            raise deadline.error() from None
        received += len(chunk)
        if received > max_body_bytes:
            raise too_big
        parts.append(chunk)


class _Deadline:
    """How long the next read of a body may wait, and the 408 that says which limit bit."""

    def __init__(self, idle: float | None, total: float | None) -> None:
        self.idle = idle
        self.total = total
        self.end = None if total is None else time.monotonic() + total
        self.bit_total = False

    def next_wait(self) -> float | None:
        if self.end is None:
            return self.idle
        left = max(0.0, self.end - time.monotonic())
        self.bit_total = self.idle is None or left <= self.idle
        return left if self.bit_total else self.idle

    def error(self) -> BodyError:
        if self.bit_total:
            return BodyError(
                408, f"the body did not all arrive within {self.total:g} s; send it again"
            )
        return BodyError(
            408, f"the body stopped arriving (nothing for {self.idle:g} s); send it again"
        )
