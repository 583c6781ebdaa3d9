"""Ship events to the apiwatch collector, buffering them on disk while it is away.

`Shipper` is a sensor output. ``shipper(event, line)`` appends the line to a bounded in-memory
queue and returns: it never touches the network or the disk and never raises. One daemon thread
per shipper does the rest.

Batches
    Up to ``batch_size`` lines (and about ``max_batch_bytes``) are sent together, at least every
    ``flush_interval`` seconds. A caller wakes the thread only when the queue reaches a multiple of
    ``batch_size``; otherwise the thread wakes on its own timer, so the request path costs a deque
    append.

Wire
    ``POST {collector}/v1/events`` with gzip'd NDJSON (one ``\\n``-terminated line per event),
    ``Authorization: Bearer <key>`` and ``Idempotency-Key``: the sha256 hex of the uncompressed
    body. A batch that is sent again carries the same bytes and so the same key, which lets the
    collector discard a batch it committed although its answer was lost (a timeout, say).

Outcomes
    2xx: shipped; the lines the collector lists as ``rejected`` are counted as rejected.
    400 and 413: the collector refuses the batch itself, so it is dropped, counted and warned
    about. Everything else (connection or TLS error, timeout, 5xx, 429, 401/403, other 4xx) keeps
    the batch and retries it after an exponential backoff with full jitter: a key or a URL can be
    fixed, and the events must still be there when it is.

Spool and order
    A batch that could not be delivered is written to the spool, a directory of segment files
    (one gzip'd NDJSON batch each), and the spool is replayed oldest first. While it holds
    anything, new batches are appended behind it instead of being sent, so the collector receives
    one process's events in the order they were emitted, at least once (exactly once once it
    deduplicates on ``Idempotency-Key`` or ``event.id``). A segment is written to a temporary file,
    fsync'd and renamed (then the directory is fsync'd): a crash leaves whole segments or none.
    Files are private (0600, directories 0700): events are sensitive data.

Slots
    Several processes (gunicorn workers) may share one ``spool_dir``. Each claims the lowest free
    slot: ``slot-N/`` guarded by an exclusive ``fcntl.flock`` on ``slot-N.lock``. No two live
    processes write the same files, and the kernel releases a dead process's lock, so its
    leftovers are replayed by whichever process claims that slot next, including a restart of the
    same service. Orphaned slots above the number of live processes wait for a process to claim
    them.

Bounds and drop policy
    The queue holds at most ``max_queue`` lines (a few more under heavy contention); each slot of
    the spool holds at most ``max_spool_bytes`` on disk. When either is full, the *newest* events
    are dropped and counted (``dropped``), never the oldest: during a flood, the start of the attack
    (the first probes, the first accounts tried) is what an investigation needs, and a flood must
    not be able to push that evidence out.

Shutdown
    ``close(timeout)`` (called by the sensor at ASGI lifespan shutdown, and by an ``atexit`` hook)
    sends what it can within the timeout and writes anything left to the spool. In a child process
    forked after the shipper was made (gunicorn ``--preload``), the first event starts a fresh
    thread, claims the child's own slot, and the parent's queued events stay with the parent.

Reporting
    `Shipper.stats` returns counters; problems are logged on ``apiwatch.shipper`` at most once per
    ``log_interval`` per kind, with the collector's host but never the key nor event contents.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import gzip
import hashlib
import logging
import os
import random
import re
import threading
import time
import weakref
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from apiwatch.model import ConfigError, Event
from apiwatch.sensor._collector import check_key, endpoint, ssl_context

__all__ = ["Shipper", "default_spool_dir"]

_log = logging.getLogger("apiwatch.shipper")

_REFUSED = frozenset({400, 413})  # the batch itself is unacceptable: sending it again cannot help
_MAX_SLOTS = 1024
_SEGMENT = re.compile(r"\d{20}\.ndjson\.gz")
_COUNTERS = (
    "shipped",
    "spooled",
    "dropped",
    "rejected",
    "refused",
    "retries",
    "send_failures",
    "bad_segments",
)


def default_spool_dir(collector_url: str) -> Path:
    """``$XDG_STATE_HOME`` (or ``~/.local/state``) ``/apiwatch/spool/<host>_<port>``.

    One directory per collector, so apps shipping to different collectors never replay each
    other's events.
    """
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    url = httpx.URL(collector_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    return base / "apiwatch" / "spool" / re.sub(r"[^A-Za-z0-9.-]", "_", f"{url.host}_{port}")


@dataclass(frozen=True, slots=True)
class _Batch:
    """One request's worth of events: the gzip'd body as sent, its key and its line count."""

    body: bytes
    key: str
    lines: int

    @classmethod
    def of_lines(cls, lines: list[bytes]) -> _Batch:
        raw = b"\n".join(lines) + b"\n"
        return cls(gzip.compress(raw, mtime=0), hashlib.sha256(raw).hexdigest(), len(lines))

    @classmethod
    def of_segment(cls, body: bytes) -> _Batch:
        """Raises OSError, EOFError or zlib.error for a damaged segment."""
        raw = gzip.decompress(body)
        return cls(body, hashlib.sha256(raw).hexdigest(), raw.count(b"\n"))


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What a POST achieved: ``delivered`` (2xx), ``refused`` (400/413) or neither (retry)."""

    delivered: bool = False
    refused: bool = False
    rejected: int = 0
    retry_after: float = 0.0
    problem: str = ""


class _Spool:
    """One process's slot of the spool directory: a FIFO of segment files.

    Only the shipper's thread changes it; `release` gives the slot back (the files stay).
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.slot, self._lock_fd = self._claim(root)
        self.path = root / f"slot-{self.slot}"
        self._segments: deque[tuple[Path, int]] = deque()
        self.bytes = 0
        try:
            self.path.mkdir(mode=0o700, exist_ok=True)
            self._next_seq = self._scan()
        except OSError:
            self.release()
            raise

    @staticmethod
    def _claim(root: Path) -> tuple[int, int]:
        """The lowest slot whose lock file no live process holds, and the locked descriptor."""
        for slot in range(_MAX_SLOTS):
            fd = os.open(root / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return slot, fd
        raise OSError(f"all {_MAX_SLOTS} spool slots are taken")

    def _scan(self) -> int:
        """Adopt the segments a previous owner left, delete its half-written temporary files."""
        last = -1
        for entry in sorted(self.path.iterdir()):
            if entry.name.endswith(".tmp"):
                entry.unlink(missing_ok=True)
            elif _SEGMENT.fullmatch(entry.name):
                size = entry.stat().st_size
                self._segments.append((entry, size))
                self.bytes += size
                last = int(entry.name[:20])
        return last + 1

    @property
    def segments(self) -> int:
        return len(self._segments)

    def fits(self, size: int) -> bool:
        return self.bytes + size <= self.max_bytes

    def append(self, body: bytes) -> None:
        """Write one segment atomically: temporary file, fsync, rename, fsync of the directory."""
        final = self.path / f"{self._next_seq:020d}.ndjson.gz"
        tmp = final.with_name(final.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            os.rename(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._next_seq += 1
        self._segments.append((final, len(body)))
        self.bytes += len(body)
        with contextlib.suppress(OSError):  # the segment is complete; this only hastens durability
            dir_fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def oldest(self) -> bytes:
        """The contents of the oldest segment; OSError when it cannot be read."""
        return self._segments[0][0].read_bytes()

    def remove_oldest(self) -> None:
        path, size = self._segments.popleft()
        self.bytes -= size
        path.unlink(missing_ok=True)

    def release(self) -> None:
        """Close the lock descriptor; idempotent. The slot is free once no process holds it."""
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


class _Throttle:
    """Logs each kind of problem at most once per interval."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}

    def __call__(self, kind: str, level: int, message: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(kind)
        if last is None or now - last >= self.interval:
            self._last[kind] = now
            _log.log(level, "apiwatch shipper: " + message, *args)


class Shipper:
    """A sensor output sending events to an apiwatch collector, with a bounded disk spool.

    Callers may rely on: ``shipper(event, line)`` never blocks on the network and never raises;
    a process's events reach the collector at least once, in emission order, unless counted in
    ``stats()["dropped"]``; `close` loses nothing (what it cannot send goes to the spool, which
    the next shipper on the same ``spool_dir`` replays first).

    Options: ``api_key`` (the bearer token), ``ca_file`` (a PEM CA bundle trusted instead of
    certifi's, for a private CA; certificates are always verified), ``spool_dir`` (default:
    `default_spool_dir`), ``max_spool_bytes`` (per slot), ``max_queue`` (lines in memory),
    ``batch_size`` and ``max_batch_bytes`` (per request), ``flush_interval`` (longest wait of a
    queued line), ``timeout`` (per request), ``backoff_base`` and ``backoff_cap`` (retry delays
    grow from one to the other), ``log_interval`` (between two warnings of one kind) and
    ``transport`` (an httpx transport, e.g. to go through a proxy).
    """

    def __init__(
        self,
        collector_url: str,
        *,
        api_key: str,
        ca_file: str | os.PathLike[str] | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        max_spool_bytes: int = 256 * 1024 * 1024,
        max_queue: int = 10_000,
        batch_size: int = 500,
        max_batch_bytes: int = 4 * 1024 * 1024,
        flush_interval: float = 1.0,
        timeout: float = 10.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 60.0,
        log_interval: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = _events_url(collector_url)
        self._where = f"{self._url.host}:{self._url.port}" if self._url.port else self._url.host
        self._headers = _headers(api_key)
        self._verify = ssl_context(ca_file)
        _check_positive(
            max_spool_bytes=max_spool_bytes,
            max_queue=max_queue,
            batch_size=batch_size,
            max_batch_bytes=max_batch_bytes,
            flush_interval=flush_interval,
            timeout=timeout,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
        )
        self._collector_url = collector_url
        self._spool_dir = spool_dir
        self._max_spool_bytes = max_spool_bytes
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._max_batch_bytes = max_batch_bytes
        self._flush_interval = flush_interval
        self._timeout = timeout
        self._backoff = (backoff_base, backoff_cap)
        self._transport = transport
        self._warn = _Throttle(log_interval)
        self._queue: deque[bytes] = deque()
        self._closed = False
        self._reset_runtime()
        self._spool = self._open_spool()
        _open_shippers.add(self)
        self._start()

    def _reset_runtime(self) -> None:
        """Counters, locks and thread state; made anew in a forked child."""
        self._lock = threading.Lock()  # guards the counters
        self._progress = threading.Condition(threading.Lock())  # flush() waits on it
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._queue_drops = self._queue_drops_reported = 0
        self._failures = 0  # consecutive failed attempts: drives the backoff
        self._next_attempt = self._deadline = 0.0
        self._flush_requested = self._flush_seen = 0
        self._drained = False
        self._thread: threading.Thread | None = None

    def _open_spool(self) -> _Spool | None:
        try:
            root = Path(self._spool_dir or default_spool_dir(self._collector_url))
            return _Spool(root, self._max_spool_bytes)
        except (OSError, RuntimeError) as exc:  # RuntimeError: no home directory
            self._warn(
                "no-spool",
                logging.WARNING,
                "no spool (%s); events the collector does not take at once will be dropped",
                type(exc).__name__,
            )
            return None

    def _start(self) -> None:
        name = f"apiwatch-shipper-{self._where}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- the caller's side -----------------------------------------------------------------------

    def __call__(self, event: Event, line: bytes) -> None:
        """Queue the event's line; when the queue is full (or closed), drop and count it."""
        queue = self._queue
        if len(queue) >= self._max_queue or self._closed:
            with self._lock:
                self._counts["dropped"] += 1
                self._queue_drops += 1
            return
        queue.append(line)
        if len(queue) % self._batch_size == 0:
            self._wake.set()
        if self._thread is None:
            self._start_in_child()

    def _start_in_child(self) -> None:
        """First event in a forked child: claim the child's own slot and start its thread."""
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._spool = self._open_spool()
            try:
                self._start()
            except RuntimeError as exc:  # "can't start new thread": events queue, then drop
                self._warn("thread", logging.ERROR, "cannot start the shipper thread (%s)", exc)

    def flush(self, timeout: float = 5.0) -> bool:
        """Send everything queued or spooled now; True once nothing is left unsent.

        Cuts a backoff wait short once. False when ``timeout`` passes first: the events stay
        queued or spooled and the thread keeps trying.
        """
        deadline = time.monotonic() + timeout
        with self._progress:
            self._flush_requested += 1
            wanted = self._flush_requested
            self._wake.set()
            while not (self._flush_seen >= wanted and self._drained):
                remaining = deadline - time.monotonic()
                if self._thread is None or not self._thread.is_alive():
                    return not self._queue and not self._backlog()
                if remaining <= 0:
                    return False
                self._progress.wait(remaining)
            return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread, sending what it can within ``timeout``; the rest goes to the spool.

        Idempotent. Events given to the shipper afterwards are dropped and counted.
        """
        if self._closed:
            return
        self._closed = True
        _open_shippers.discard(self)
        self._deadline = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        if self._thread is None:
            self._release()
            return
        self._thread.join(timeout + 1.0)
        if self._thread.is_alive():
            _log.warning("apiwatch shipper: still sending after %.1fs; left running", timeout)

    def stats(self) -> dict[str, int]:
        """Counters since this shipper started, in events unless named otherwise.

        ``shipped``: accepted by the collector; ``rejected``: refused by it line by line;
        ``dropped``: lost and counted (queue full, spool full, batch refused with 400/413, or
        given after `close`); ``refused``: batches refused whole; ``spooled``: written to the
        spool; ``retries``: attempts made while failing; ``send_failures``: failed attempts;
        ``bad_segments``: unreadable spool files discarded; ``queued``, ``spool_bytes`` and
        ``spool_segments``: current sizes; ``slot``: this process's slot (-1 without a spool).
        """
        with self._lock:
            counts = dict(self._counts)
        spool = self._spool
        counts["queued"] = len(self._queue)
        counts["spool_bytes"] = spool.bytes if spool is not None else 0
        counts["spool_segments"] = spool.segments if spool is not None else 0
        counts["slot"] = self.slot
        return counts

    @property
    def slot(self) -> int:
        """This process's spool slot number, or -1 when there is no spool."""
        return self._spool.slot if self._spool is not None else -1

    @property
    def spool_path(self) -> Path | None:
        """The directory holding this process's spool segments (None without a spool)."""
        return self._spool.path if self._spool is not None else None

    def __repr__(self) -> str:
        return f"<Shipper to {self._where} slot={self.slot}>"

    # -- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        client = httpx.Client(verify=self._verify, timeout=self._timeout, transport=self._transport)
        try:
            while not self._stop.is_set():
                self._wake.wait(self._idle_wait())
                self._wake.clear()
                self._guarded(self._cycle, client)
            self._guarded(self._final_cycle, client)
        finally:
            client.close()
            self._release()
            self._publish_progress()

    def _guarded(self, step: Callable[[httpx.Client], None], client: httpx.Client) -> None:
        """Run one step; an unexpected error is reported and the thread lives on."""
        try:
            step(client)
        except Exception as exc:  # noqa: BLE001 - the thread must outlive a bug in one cycle
            self._warn("bug", logging.ERROR, "internal error %r", exc)
            time.sleep(min(self._flush_interval, 1.0))
        self._publish_progress()

    def _backlog(self) -> bool:
        """True while the spool holds segments: new batches must queue up behind them."""
        return self._spool is not None and self._spool.segments > 0

    def _idle_wait(self) -> float:
        if self._backlog():
            return max(0.0, min(self._flush_interval, self._next_attempt - time.monotonic()))
        return self._flush_interval

    def _cycle(self, client: httpx.Client) -> None:
        with self._progress:
            if self._flush_requested > self._flush_seen:
                self._next_attempt = 0.0  # a flush cuts the backoff short, once
            self._flush_seen = self._flush_requested
            self._drained = False
        if self._backlog() and self._due():
            self._replay(client)
        self._drain_queue(client)
        self._report_queue_drops()

    def _final_cycle(self, client: httpx.Client) -> None:
        self._drain_queue(client, final=True)
        self._report_queue_drops()

    def _publish_progress(self) -> None:
        with self._progress:
            self._drained = not self._queue and not self._backlog()
            self._progress.notify_all()

    def _due(self) -> bool:
        return time.monotonic() >= self._next_attempt

    def _replay(self, client: httpx.Client) -> None:
        """Send spooled segments oldest first until one fails or the spool is empty."""
        spool = self._spool
        while spool is not None and spool.segments and not self._stop.is_set():
            batch = self._read_oldest(spool)
            if batch is not None and not self._deliver(client, batch, self._timeout):
                return
            spool.remove_oldest()
            self._drain_queue(client, full_only=True)  # keeps the memory queue from overflowing

    def _read_oldest(self, spool: _Spool) -> _Batch | None:
        try:
            return _Batch.of_segment(spool.oldest())
        except (OSError, EOFError, zlib.error) as exc:
            self._add("bad_segments", 1)
            self._warn(
                "segment",
                logging.WARNING,
                "unreadable spool segment discarded (%s)",
                type(exc).__name__,
            )
            return None

    def _drain_queue(
        self, client: httpx.Client, *, full_only: bool = False, final: bool = False
    ) -> None:
        """Send queued batches, or spool them when behind a backlog, backing off or out of time."""
        for batch in self._batches(full_only=full_only):
            timeout = self._send_timeout(final)
            behind = self._backlog() or not self._due() or timeout is None
            if behind or not self._deliver(client, batch, timeout or self._timeout):
                self._to_spool(batch)

    def _send_timeout(self, final: bool) -> float | None:
        """The request timeout; at close, what is left of its deadline (None: no time left)."""
        if not final:
            return self._timeout
        remaining = self._deadline - time.monotonic()
        return min(self._timeout, remaining) if remaining > 0.05 else None

    def _batches(self, *, full_only: bool) -> Iterator[_Batch]:
        queue = self._queue
        while queue and (len(queue) >= self._batch_size or not full_only):
            lines: list[bytes] = []
            size = 0
            while queue and len(lines) < self._batch_size and size < self._max_batch_bytes:
                line = queue.popleft()
                lines.append(line)
                size += len(line) + 1
            yield _Batch.of_lines(lines)

    def _to_spool(self, batch: _Batch) -> None:
        """Append the batch to the spool; when it has no room, drop it (the newest) and count."""
        spool = self._spool
        if spool is None or not spool.fits(len(batch.body)):
            self._spool_failed(batch, "full" if spool is not None else "unavailable")
            return
        try:
            spool.append(batch.body)
        except OSError as exc:
            self._spool_failed(batch, f"not writable ({exc.strerror or type(exc).__name__})")
            return
        self._add("spooled", batch.lines)

    def _spool_failed(self, batch: _Batch, reason: str) -> None:
        self._add("dropped", batch.lines)
        self._warn(
            "spool", logging.WARNING, "spool %s; dropped the newest %d events", reason, batch.lines
        )

    def _deliver(self, client: httpx.Client, batch: _Batch, timeout: float) -> bool:
        """POST one batch; True when it is done with (delivered or refused), False to keep it."""
        if self._failures:
            self._add("retries", 1)
        outcome = self._post(client, batch, timeout)
        if outcome.delivered:
            self._succeeded(batch, outcome.rejected)
            return True
        self._add("send_failures", 1)
        if not outcome.refused:
            self._back_off(outcome)
            return False
        self._add("dropped", batch.lines)
        self._add("refused", 1)
        self._warn(
            "refused",
            logging.WARNING,
            "collector %s refused a batch of %d events (%s); dropped",
            self._where,
            batch.lines,
            outcome.problem,
        )
        return True

    def _post(self, client: httpx.Client, batch: _Batch, timeout: float) -> _Outcome:
        headers = {**self._headers, "Idempotency-Key": batch.key}
        try:
            response = client.post(self._url, content=batch.body, headers=headers, timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - any failure to deliver keeps the batch
            return _Outcome(problem=type(exc).__name__)
        status = response.status_code
        if 200 <= status < 300:
            return _Outcome(delivered=True, rejected=_rejected_count(response))
        if status in _REFUSED:
            return _Outcome(refused=True, problem=f"HTTP {status}")
        return _Outcome(retry_after=_retry_after(response), problem=f"HTTP {status}")

    def _succeeded(self, batch: _Batch, rejected: int) -> None:
        rejected = min(rejected, batch.lines)
        self._add("shipped", batch.lines - rejected)
        self._add("rejected", rejected)
        if self._failures:
            self._warn("recovered", logging.INFO, "collector %s reachable again", self._where)
        self._failures = 0
        self._next_attempt = 0.0

    def _back_off(self, outcome: _Outcome) -> None:
        """Full jitter: a random delay up to base * 2**failures, capped; Retry-After honoured."""
        base, cap = self._backoff
        ceiling = min(cap, base * 2 ** min(self._failures, 32))
        delay = random.uniform(0.0, ceiling)  # noqa: S311 - jitter, not a secret
        self._next_attempt = time.monotonic() + max(delay, min(outcome.retry_after, cap))
        self._failures += 1
        self._warn(
            "send",
            logging.WARNING,
            "cannot deliver to collector %s (%s); events are kept in the spool and retried",
            self._where,
            outcome.problem,
        )

    def _report_queue_drops(self) -> None:
        with self._lock:
            new = self._queue_drops - self._queue_drops_reported
            self._queue_drops_reported = self._queue_drops
        if new:
            self._warn(
                "queue",
                logging.WARNING,
                "queue full (%d events); dropped the newest %d",
                self._max_queue,
                new,
            )

    def _add(self, counter: str, n: int) -> None:
        with self._lock:
            self._counts[counter] += n

    def _release(self) -> None:
        if self._spool is not None:
            self._spool.release()

    def _after_fork_in_child(self) -> None:
        """The parent keeps its thread, queue and slot; this child starts afresh on first use."""
        self._release()  # closes the child's copy only: the parent's lock stays held
        self._spool = None
        self._queue.clear()
        self._reset_runtime()


def _events_url(collector_url: str) -> httpx.URL:
    url = endpoint(collector_url, "collector", "/v1/events")
    if url.scheme == "http" and url.host not in ("127.0.0.1", "::1", "localhost"):
        _log.warning(
            "apiwatch shipper: collector %s is plain HTTP: the key and the events "
            "travel in clear; use https",
            url.host,
        )
    return url


def _headers(api_key: str) -> dict[str, str]:
    check_key(api_key, "api_key: give the collector's ingest key (visible ASCII, no spaces)")
    return {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/x-ndjson",
        "Content-Encoding": "gzip",
        "User-Agent": "apiwatch-shipper",
    }


def _check_positive(**options: float) -> None:
    for name, value in options.items():
        if not value > 0:
            raise ConfigError(f"{name}: must be greater than 0, got {value!r}")


def _rejected_count(response: httpx.Response) -> int:
    """Lines the collector refused one by one (``{"rejected": [...]}``); 0 when it does not say."""
    try:
        rejected = response.json().get("rejected", [])
    except (ValueError, AttributeError):
        return 0
    return len(rejected) if isinstance(rejected, list) else 0


def _retry_after(response: httpx.Response) -> float:
    """Retry-After in seconds (the HTTP-date form is ignored)."""
    with contextlib.suppress(ValueError):
        return max(0.0, float(response.headers.get("retry-after", "0")))
    return 0.0


# Shippers not closed yet: closed at interpreter exit, restarted lazily in forked children.
_open_shippers: weakref.WeakSet[Shipper] = weakref.WeakSet()


def _close_all() -> None:
    for shipper in list(_open_shippers):
        shipper.close()


def _after_fork_in_child() -> None:
    for shipper in list(_open_shippers):
        shipper._after_fork_in_child()


atexit.register(_close_all)
os.register_at_fork(after_in_child=_after_fork_in_child)
