"""Group commit: one thread owns `EventStore.append` and commits concurrent requests together.

A request handler `Committer.submit`s its `Batch` and awaits the outcome. The thread takes every
batch queued (up to ``max_events`` events, waiting at most ``max_wait`` seconds for company),
commits them in one `EventStore.append` call, one transaction and one fsync, and then answers each
request with its own `AppendResult`. A store error (full, unavailable) is every request's answer;
any other failure may come from one request's data, so the group is retried one request at a
time and only the request that fails alone hears the error. Under load this turns many small
transactions into a few large ones, which is what a durable store is fast at.

Once a group's requests are answered, ``on_commit`` (live detection) is given the group's
results, whose ``events`` are what was stored: duplicates and replays are not in them. It must
not block; whatever it raises is logged and does not affect the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from apiwatch.store import AppendResult, Batch, StoreFullError, StoreUnavailableError

__all__ = ["BatchSink", "CommitObserver", "Committer"]

logger = logging.getLogger("apiwatch.server")


class BatchSink(Protocol):
    """Where ingest hands each request's accepted batch: the `Committer` (embedded), or the
    scale-out ingest role's `apiwatch.server.bus_roles.BusPublisher`."""

    @property
    def running(self) -> bool: ...

    async def submit(self, batch: Batch) -> AppendResult: ...


class CommitObserver(Protocol):
    """Told about every group commit (metrics)."""

    def __call__(self, batches: int, events: int, seconds: float) -> None: ...


def _ignore(batches: int, events: int, seconds: float) -> None:
    """No observer."""


@dataclass(slots=True)
class _Request:
    batch: Batch
    future: asyncio.Future[AppendResult]
    loop: asyncio.AbstractEventLoop


class Committer:
    """Commits submitted batches in groups on a dedicated thread; `stop` drains the queue first."""

    def __init__(
        self,
        append: Callable[[Sequence[Batch]], list[AppendResult]],
        *,
        max_events: int = 20_000,
        max_wait: float = 0.002,
        observer: CommitObserver = _ignore,
        on_commit: Callable[[Sequence[AppendResult]], None] | None = None,
    ) -> None:
        self._append = append
        self._on_commit = on_commit
        self._max_events = max_events
        self._max_wait = max_wait
        self._observer = observer
        # None asks the thread to stop once it has committed everything queued before it.
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._accepting = False
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        """Whether batches are being taken and the commit thread is alive."""
        return self._accepting and self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="apiwatch-committer")
            self._accepting = True
            self._thread.start()

    def stop(self) -> None:
        """Stop taking batches, commit every one already queued, and end the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._accepting = False
            self._queue.put(None)
        thread.join()

    async def submit(self, batch: Batch) -> AppendResult:
        """Commit ``batch`` (with whatever else is queued); returns once it is durable.

        Raises what the store raised for the group, or `StoreUnavailableError` when stopped.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AppendResult] = loop.create_future()
        with self._lock:
            if not self._accepting:
                raise StoreUnavailableError("the collector is shutting down")
            self._queue.put(_Request(batch, future, loop))
        return await future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            group, stopping = self._take_group()
            if group:
                self._commit(group)

    def _take_group(self) -> tuple[list[_Request], bool]:
        """Block for one batch, then gather more: everything queued, then what arrives in time."""
        first = self._queue.get()
        if first is None:
            return [], True
        group = [first]
        events = len(first.batch.lines)
        deadline = time.monotonic() + self._max_wait
        while events < self._max_events:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if item is None:
                return group, True
            group.append(item)
            events += len(item.batch.lines)
        return group, False

    def _commit(self, group: list[_Request]) -> None:
        started = time.perf_counter()
        try:
            results = self._append([request.batch for request in group])
        except (StoreFullError, StoreUnavailableError) as exc:
            for request in group:
                _answer(request, _fail, exc)
            return
        except Exception as exc:  # noqa: BLE001 - a request's own data may be what failed
            if len(group) == 1:
                _answer(group[0], _fail, exc)
                return
            # Commit the requests one by one, so one bad batch fails only its own request.
            for request in group:
                self._commit([request])
            return
        if len(results) != len(group):  # a store bug must not leave requests waiting forever
            wrong = StoreUnavailableError("the store answered for the wrong number of batches")
            for request in group:
                _answer(request, _fail, wrong)
            return
        elapsed = time.perf_counter() - started
        self._observer(len(group), sum(len(r.batch.lines) for r in group), elapsed)
        for request, result in zip(group, results, strict=True):
            _answer(request, _resolve, result)
        if self._on_commit is not None:
            try:
                self._on_commit(results)
            except Exception:
                logger.exception("the commit hook failed")


def _answer(request: _Request, settle: Callable[..., None], outcome: object) -> None:
    # A closed loop means nobody is waiting for this answer any more.
    with contextlib.suppress(RuntimeError):
        request.loop.call_soon_threadsafe(settle, request.future, outcome)


def _resolve(future: asyncio.Future[AppendResult], result: AppendResult) -> None:
    if not future.done():  # the request may have been cancelled (client gone): the data is stored
        future.set_result(result)


def _fail(future: asyncio.Future[AppendResult], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
