"""The answer to a full pull (``startup=true``): built once per state of the decisions, and
streamed to every bouncer that asks.

A `Snapshot` holds, for one set of stream filters, every decision in force as of one change
number of the store (`DecisionStore.change`), each pre-encoded as its wire JSON up to the
``duration`` (the time left, which depends on when it is served: it is written last). Serving
it (`Snapshot.body`) writes each decision still in force at the pull's time (``until`` after
it) with its duration counted then, a chunk at a time: a pull holds one chunk of its answer,
never the whole, and any number of pulls at once share one snapshot.

`Snapshots` keeps the latest snapshot per filter set (the few most recently used sets) and
builds a new one when the store's change number has moved past it. Every add and every delete
of decisions takes a new change number, so a snapshot never serves a decision deleted since,
nor misses one added since; expiry is a matter of time, applied when serving. Building is
single-flight per filter set: pulls arriving during a build wait for it instead of building
their own.

The answer is ``{"new": [...] | null, "deleted": null}``, as `_decisions_api` answers a pull.
"""

from __future__ import annotations

import asyncio
from array import array
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

import msgspec
from starlette.concurrency import run_in_threadpool

from apiwatch.model import Decision, go_duration
from apiwatch.store import Store

__all__ = ["Snapshot", "SnapshotFilter", "Snapshots"]

_PAGE: Final = 2000  # decisions read (and decrypted) per store query while building
_CHUNK: Final = 1000  # decisions per chunk of an answer (~200 kB)
_KEPT: Final = 4  # filter sets whose snapshot is kept
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class SnapshotFilter:
    """Which decisions a full pull wants: the store's filters and a scenario test."""

    scopes: tuple[str, ...]
    origins: tuple[str, ...]
    keep: Callable[[Decision], bool]
    key: Hashable  # what identifies these filters (``keep`` is a closure)


@dataclass(slots=True)
class Snapshot:
    """What was in force at change number ``change``, ready to serve (see the module doc)."""

    change: int
    until: array[int] = field(default_factory=lambda: array("q"))  # µs since the epoch
    records: list[bytes] = field(default_factory=list)  # `{"id":..., "duration":"` each

    def add(self, decision: Decision) -> None:
        until = decision.until.astimezone(UTC)
        record = _encode({
            "id": decision.id,
            "origin": decision.origin,
            "type": decision.type,
            "scope": decision.scope,
            "value": decision.value,
            "until": until.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "scenario": decision.scenario,
            "simulated": False,
        })  # fmt: skip
        self.until.append(_micros(until))
        self.records.append(record[:-1] + b',"duration":"')

    async def body(self, now: datetime, served: Callable[[int], None]) -> AsyncIterator[bytes]:
        """The answer at ``now``, in chunks; ``served`` is told how many decisions it held."""
        now_us = _micros(now)
        count = 0
        yield b'{"new":'
        for start in range(0, len(self.records), _CHUNK):
            chunk, held = self._chunk(start, now_us, first=count == 0)
            if held:
                count += held
                yield chunk
            await asyncio.sleep(0)  # other pulls and requests get the loop between chunks
        yield (b"]" if count else b"null") + b',"deleted":null}'
        served(count)

    def _chunk(self, start: int, now_us: int, *, first: bool) -> tuple[bytes, int]:
        """Records ``start`` to ``start + _CHUNK`` still in force at ``now_us``, and how many."""
        parts: list[bytes] = []
        held = 0
        end = start + _CHUNK
        for until, record in zip(self.until[start:end], self.records[start:end], strict=True):
            if until <= now_us:
                continue  # expired since the snapshot was built
            parts += (b"[" if first and not held else b",", record,
                      go_duration((until - now_us) / 1e6).encode(), b'"}')  # fmt: skip
            held += 1
        return b"".join(parts), held


def build(store: Store, wanted: SnapshotFilter) -> Snapshot:
    """A snapshot of what is in force now, for ``wanted`` (reads the store a page at a time)."""
    now = datetime.now(UTC)
    snapshot = Snapshot(store.decisions.change())
    after = 0
    while True:
        page = store.decisions.as_of(snapshot.change, now=now, scopes=wanted.scopes,
                                     origins=wanted.origins, after=after, limit=_PAGE)  # fmt: skip
        for decision in page:
            if wanted.keep(decision):
                snapshot.add(decision)
        if len(page) < _PAGE:
            return snapshot
        after = page[-1].id


class Snapshots:
    """The latest snapshot per filter set, built when the store has moved past it."""

    def __init__(self) -> None:
        self._latest: OrderedDict[Hashable, Snapshot] = OrderedDict()
        self._building: dict[Hashable, asyncio.Lock] = {}

    async def at_least(
        self, store: Store, wanted: SnapshotFilter, change: int, *, built: Callable[[], None]
    ) -> Snapshot:
        """A snapshot of ``store`` for ``wanted`` as of ``change`` or later (built in a worker
        thread when there is none, calling ``built``)."""
        latest = self._fresh(wanted.key, change)
        if latest is not None:
            return latest
        lock = self._building.setdefault(wanted.key, asyncio.Lock())
        async with lock:
            latest = self._fresh(wanted.key, change)  # built while this pull waited
            if latest is None:
                latest = await run_in_threadpool(build, store, wanted)
                built()
                self._keep(wanted.key, latest)
        return latest

    def _fresh(self, key: Hashable, change: int) -> Snapshot | None:
        latest = self._latest.get(key)
        if latest is None or latest.change < change:
            return None
        self._latest.move_to_end(key)
        return latest

    def _keep(self, key: Hashable, snapshot: Snapshot) -> None:
        self._latest[key] = snapshot
        self._latest.move_to_end(key)
        while len(self._latest) > _KEPT:
            dropped, _ = self._latest.popitem(last=False)
            self._building.pop(dropped, None)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND
