"""Ship events to the apiwatch collector from a journal on disk that outlives the process.

`Shipper` is a sensor output. ``shipper(event, line)`` appends the line to this process's
journal on disk with one ``write(2)`` and returns: it never touches the network and never
raises. One daemon thread per shipper sends the journal to the collector.

Why a journal
    A worker killed with SIGKILL (the OOM killer, gunicorn's timeout, an orchestrator) takes
    its memory with it. An append to a file is in the kernel's page cache when ``write``
    returns, and the page cache outlives the process, so an event is never only in memory. The
    adapters emit a request's event before the last byte of its response is handed to the
    server (WSGI: when the body reaches its ``Content-Length``; ASGI: at the final
    ``http.response.body``; Django: before the response leaves the middleware), so **every
    answered request's event is on the host's disk**, whatever happens to the worker after. A
    streamed WSGI body of unknown length is reported when it ends, right after its last chunk.
    Surviving a machine crash needs fsync: ``fsync="interval"`` (the default) has the thread
    fsync the journal every ``flush_interval``; ``"always"`` fsyncs each event before the call
    returns (a disk flush per request); ``"never"`` leaves it to the kernel.

Batches
    The thread sends complete lines from the position the collector last acknowledged: as soon
    as ``batch_size`` lines (or ``max_batch_bytes``) are waiting, and whatever is waiting every
    ``flush_interval`` seconds. Under load, requests therefore carry full batches; when idle an
    event waits at most about ``flush_interval``. A caller wakes the thread only when its count
    of written lines reaches a multiple of ``batch_size``.

Wire
    ``POST {collector}/v1/events`` with gzip'd NDJSON (one ``\\n``-terminated line per event),
    ``Authorization: Bearer <key>`` and ``Idempotency-Key``: the sha256 hex of the uncompressed
    body. A batch that is retried carries the same bytes and so the same key. After a crash, the
    batch that was in flight is read again from the journal, perhaps cut differently: the
    collector drops those lines as duplicates by ``event.id``.

Outcomes
    2xx: shipped, and the acknowledged position is saved beside the journal; the lines the
    collector lists as ``rejected`` are counted as rejected. 400 and 413: the collector refuses
    the batch itself, so it is skipped, counted and warned about. Everything else (connection or
    TLS error, timeout, 5xx, 429, 401/403, other 4xx) keeps the batch and retries it after an
    exponential backoff with full jitter, honouring ``Retry-After``: a key or a URL can be fixed,
    and the events are still in the journal when it is. One process's events reach the
    collector in the order they were emitted.

Slots and adoption
    Several processes (gunicorn workers) may share one ``spool_dir``. Each claims the lowest free
    slot: ``slot-N/`` guarded by an exclusive ``fcntl.flock`` on ``slot-N.lock`` (layout in
    `apiwatch.sensor._journal`). The kernel releases a dead process's lock, so every
    ``adopt_interval`` seconds (and at start) the thread tries each slot's lock without waiting
    and adopts any whose owner is gone and that holds segments: it sends their unacknowledged
    tail, then empties the slot and lets it go. Orphans are adopted whatever their number and
    however many processes are alive (a reload's old workers, a killed worker's slot).

Bounds and drop policy
    Each slot holds at most ``max_spool_bytes`` of journal on disk. When it is full, the
    *newest* events are dropped and counted (``dropped``), never the oldest: during a flood, the
    start of the attack is what an investigation needs. Without a usable spool directory,
    events are dropped, counted and reported (there is nowhere to keep them).

Shutdown
    ``close(timeout)`` (called by the sensor at ASGI lifespan shutdown, and by an ``atexit``
    hook) closes and fsyncs the journal first, so nothing is lost whatever follows, then sends
    what it can within ``timeout``. What is left stays in the spool for the next process on the
    same ``spool_dir`` (or a live one's adoption), and one warning says how many events that is.
    With the collector hung, close returns after about ``timeout`` (well within gunicorn's
    graceful timeout). In a child forked after the shipper was made (gunicorn ``--preload``),
    the first event claims the child's own slot and starts its thread; the parent keeps its own.

Reporting
    `Shipper.stats` returns counters; problems are logged on ``apiwatch.shipper`` at most once per
    ``log_interval`` per kind, with the collector's host but never the key nor event contents.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import random
import re
import stat
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from apiwatch.model import ConfigError, Event, plural
from apiwatch.model.throttle import Throttle
from apiwatch.sensor._collector import check_key, endpoint, ssl_context
from apiwatch.sensor._journal import Batch, JournalReader, JournalWriter, Slot, slot_numbers

__all__ = ["Shipper", "default_spool_dir"]

_log = logging.getLogger("apiwatch.shipper")

_REFUSED = frozenset({400, 413})  # the batch itself is unacceptable: sending it again cannot help
_FSYNC = ("interval", "always", "never")
_COUNTERS = (
    "journaled",
    "shipped",
    "dropped",
    "rejected",
    "refused",
    "retries",
    "send_failures",
    "bad_segments",
    "torn",
    "adopted",
)


def _fallback_spool_dir(collector_url: str) -> Path:
    """Where events are journaled when the configured (or default) spool cannot be used: a
    directory of this user's own under the system's temporary directory (``OSError`` when that
    path exists but is not a private directory of this user, so nobody can plant it)."""
    root = Path(tempfile.gettempdir()) / f"apiwatch-spool-{os.getuid()}"
    try:
        root.mkdir(mode=0o700)
    except FileExistsError:
        info = root.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise OSError(f"{root} is not a private directory of this user") from None
    return root / _spool_name(collector_url)


def default_spool_dir(collector_url: str) -> Path:
    """``$XDG_STATE_HOME`` (or ``~/.local/state``) ``/apiwatch/spool/<host>_<port>``.

    One directory per collector, so apps shipping to different collectors never replay each
    other's events.
    """
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "apiwatch" / "spool" / _spool_name(collector_url)


def _spool_name(collector_url: str) -> str:
    url = httpx.URL(collector_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    return re.sub(r"[^A-Za-z0-9.-]", "_", f"{url.host}_{port}")


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What a POST achieved: ``delivered`` (2xx), ``refused`` (400/413) or neither (retry)."""

    delivered: bool = False
    refused: bool = False
    rejected: int = 0
    retry_after: float = 0.0
    problem: str = ""


class _Source:
    """A slot the thread sends from: its own, or an orphan it adopted. Thread-only state."""

    __slots__ = ("adopted", "reader", "retry", "slot")

    def __init__(self, slot: Slot, reader: JournalReader, *, adopted: bool) -> None:
        self.slot = slot
        self.reader = reader
        self.adopted = adopted
        self.retry: Batch | None = None  # a batch that failed: sent again as it was

    def release(self) -> None:
        self.reader.close()
        self.slot.release()


class Shipper:
    """A sensor output sending events to an apiwatch collector from a journal on disk.

    Callers may rely on: ``shipper(event, line)`` never blocks on the network and never raises;
    once it returns, the event is on the host's disk (or counted in ``stats()["dropped"]``); a
    process's events reach the collector at least once, in emission order, even if the process
    is killed (another process on the same ``spool_dir`` adopts what it left); `close` loses
    nothing and returns within about ``timeout``.

    Options: ``api_key`` (the bearer token), ``ca_file`` (a PEM CA bundle trusted instead of
    certifi's, for a private CA; certificates are always verified), ``spool_dir`` (default:
    `default_spool_dir`), ``max_spool_bytes`` (per slot), ``fsync`` (``"interval"``,
    ``"always"`` or ``"never"``: see the module docstring), ``batch_size`` and
    ``max_batch_bytes`` (per request), ``flush_interval`` (longest wait of a line before it is
    sent), ``timeout`` (per request), ``backoff_base`` and ``backoff_cap`` (retry delays grow
    from one to the other), ``adopt_interval`` (between two looks for orphaned slots),
    ``log_interval`` (between two warnings of one kind) and ``transport`` (an httpx transport,
    e.g. to go through a proxy).
    """

    def __init__(
        self,
        collector_url: str,
        *,
        api_key: str,
        ca_file: str | os.PathLike[str] | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        max_spool_bytes: int = 256 * 1024 * 1024,
        fsync: str = "interval",
        batch_size: int = 1000,
        max_batch_bytes: int = 1024 * 1024,
        flush_interval: float = 0.5,
        timeout: float = 10.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 60.0,
        adopt_interval: float = 2.0,
        log_interval: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = _events_url(collector_url)
        self._where = f"{self._url.host}:{self._url.port}" if self._url.port else self._url.host
        self._headers = _headers(api_key)
        self._verify = ssl_context(ca_file)
        _check_positive(
            max_spool_bytes=max_spool_bytes,
            batch_size=batch_size,
            max_batch_bytes=max_batch_bytes,
            flush_interval=flush_interval,
            timeout=timeout,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            adopt_interval=adopt_interval,
        )
        if fsync not in _FSYNC:
            raise ConfigError(f"fsync: give one of {', '.join(_FSYNC)}, got {fsync!r}")
        self._collector_url = collector_url
        self._spool_dir = spool_dir
        self._max_spool_bytes = max_spool_bytes
        self._fsync = fsync
        self._batch_size = batch_size
        self._max_batch_bytes = max_batch_bytes
        self._flush_interval = flush_interval
        self._timeout = timeout
        self._backoff = (backoff_base, backoff_cap)
        self._adopt_interval = adopt_interval
        self._transport = transport
        self._log_interval = log_interval
        self._closed = False
        self._reset_runtime()
        _open_shippers.add(self)
        self._open()

    def _reset_runtime(self) -> None:
        """Counters, locks, journal and thread state; made anew in a forked child."""
        self._lock = threading.Lock()  # guards the counters and the lazy start in a child
        self._warnings = Throttle(self._log_interval)
        self._progress = threading.Condition(threading.Lock())  # flush() waits on it
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._full_drops = self._full_drops_reported = 0
        self._write_problem = ""
        self._root: Path | None = None
        self._slot: Slot | None = None
        self._writer: JournalWriter | None = None
        self._sources: list[_Source] = []
        # Lines a dead predecessor left in this slot, less those acknowledged since: with the
        # lines this process journaled, what is not delivered yet (kept by the thread).
        self._own_unsent = 0
        self._failures = 0  # consecutive failed attempts: drives the backoff
        self._next_attempt = self._deadline = 0.0
        self._partial_due = self._scan_due = self._sync_due = 0.0
        self._synced_seq = -1  # the journal segment fsync'd last (-1: none yet)
        self._synced_lines = 0
        self._flush_requested = self._flush_seen = 0
        self._drained = False
        self._thread: threading.Thread | None = None
        self._opened = False

    def _claim(self, root: Path) -> None:
        self._root = root
        self._slot = Slot.claim(root)
        self._writer = JournalWriter(
            self._slot.path,
            max_bytes=self._max_spool_bytes,
            segment_bytes=_segment_bytes(self._max_spool_bytes),
            sync_each=self._fsync == "always",
        )

    def _release_slot(self) -> None:
        if self._slot is not None:
            self._slot.release()
            self._slot = None

    def _open(self) -> None:
        """Claim a slot, open its journal and start the thread (once per process)."""
        self._opened = True
        preferred = self._spool_dir or None
        try:
            self._claim(Path(preferred or default_spool_dir(self._collector_url)))
        except (OSError, RuntimeError) as exc:  # RuntimeError: no home directory
            self._release_slot()
            fallback = _fallback_spool_dir(self._collector_url)
            try:
                self._claim(fallback)
            except OSError as again:
                self._release_slot()
                self._warn(
                    "no-spool",
                    logging.ERROR,
                    "no spool (%s: %s; fallback %s: %s); events are dropped: give a writable "
                    "spool_dir",
                    type(exc).__name__,
                    getattr(exc, "strerror", None) or exc,
                    fallback,
                    getattr(again, "strerror", None) or again,
                )
                return
            # A temporary directory may not survive a reboot, so say where events now wait.
            self._warn(
                "spool-fallback",
                logging.WARNING,
                "spool %s unusable (%s); journaling to %s instead: give a writable spool_dir",
                preferred or "(default)",
                getattr(exc, "strerror", None) or exc,
                fallback,
            )
        # Made here, not in the thread: imports it does lazily then happen in the caller's thread,
        # never half-done in a thread that a fork (gunicorn --preload) could copy mid-import.
        client = httpx.Client(verify=self._verify, timeout=self._timeout, transport=self._transport)
        name = f"apiwatch-shipper-{self._where}"
        self._thread = threading.Thread(target=self._run, args=(client,), name=name, daemon=True)
        try:
            self._thread.start()
        except RuntimeError as exc:  # "can't start new thread": the journal still keeps events
            self._thread = None
            self._warn("thread", logging.ERROR, "cannot start the shipper thread (%s)", exc)

    # -- the caller's side -----------------------------------------------------------------------

    def __call__(self, event: Event, line: bytes) -> None:
        """Append the event's line to the journal; when that cannot be done, drop and count it."""
        self.write_line(line)

    def write_line(self, line: bytes) -> None:
        """`__call__` without the event, which the shipper never needs (`LineOutput`)."""
        writer = self._writer
        if writer is None and not self._opened:
            writer = self._open_in_child()
        if writer is None or self._closed:
            self._add("dropped", 1)
            return
        try:
            written = writer.append(line)
        except OSError as exc:
            self._write_problem = exc.strerror or type(exc).__name__
            written = False
        if not written:
            with self._lock:
                self._counts["dropped"] += 1
                self._full_drops += 1
            return
        if writer.lines % self._batch_size == 0:
            self._wake.set()

    def _open_in_child(self) -> JournalWriter | None:
        """First event in a forked child: claim the child's own slot and start its thread."""
        with self._lock:
            if not self._opened and not self._closed:
                self._open()
        return self._writer

    def flush(self, timeout: float = 5.0) -> bool:
        """Send everything journaled now; True once the collector has all of it.

        Cuts a backoff wait short once. False when ``timeout`` passes first: the events stay in
        the journal and the thread keeps trying.
        """
        deadline = time.monotonic() + timeout
        with self._progress:
            self._flush_requested += 1
            wanted = self._flush_requested
            self._wake.set()
            while not (self._flush_seen >= wanted and self._drained):
                remaining = deadline - time.monotonic()
                if self._thread is None or not self._thread.is_alive():
                    return self._drained
                if remaining <= 0:
                    return False
                self._progress.wait(remaining)
            return True

    def close(self, timeout: float = 5.0) -> None:
        """Close the journal, send what can be sent within ``timeout``, leave the rest spooled.

        Idempotent. Events given to the shipper afterwards are dropped and counted.
        """
        if self._closed:
            return
        self._closed = True
        _open_shippers.discard(self)
        if self._writer is not None:
            self._writer.close()  # complete and fsync'd: nothing can be lost from here on
        self._deadline = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        if self._thread is None:
            if self._slot is not None:
                self._slot.release()
            return
        self._thread.join(timeout + 1.0)
        if self._thread.is_alive():
            # A request begun before close has not answered: the journal is complete, so the
            # process may go; its slots are adopted once the kernel releases their locks.
            left = sum(source.reader.unsent_lines() for source in list(self._sources))
            _log.warning(
                "apiwatch shipper: a send to %s was still in flight after %.1fs; %s left "
                "in the spool (%s) for the next process",
                self._where,
                timeout,
                plural(left, "event"),
                self._root,
            )

    def stats(self) -> dict[str, int]:
        """Counters since this shipper started, in events unless named otherwise.

        ``journaled``: written to this process's journal; ``shipped``: accepted by the
        collector (from this slot or an adopted one); ``rejected``: refused by it line by line;
        ``dropped``: lost and counted (spool full or unwritable, batch refused with 400/413, or
        given after `close`); ``refused``: batches refused whole; ``retries``: attempts made
        while failing; ``send_failures``: failed attempts; ``bad_segments``: unreadable legacy
        spool files discarded; ``torn``: partial lines a killed writer left, discarded;
        ``adopted``: orphaned slots taken over; ``queued``: lines of this process's slot not
        acknowledged yet; ``spool_bytes``: journal on disk in this slot; ``slot``: this
        process's slot (-1 without a spool).
        """
        with self._lock:
            counts = dict(self._counts)
        writer = self._writer
        counts["journaled"] = writer.lines if writer is not None else 0
        counts["queued"] = self._own_unsent + counts["journaled"]
        counts["spool_bytes"] = writer.bytes if writer is not None else 0
        counts["slot"] = self.slot
        return counts

    @property
    def slot(self) -> int:
        """This process's spool slot number, or -1 when there is no spool."""
        return self._slot.number if self._slot is not None else -1

    @property
    def spool_path(self) -> Path | None:
        """The directory holding this process's journal (None without a spool)."""
        return self._slot.path if self._slot is not None else None

    def __repr__(self) -> str:
        return f"<Shipper to {self._where} slot={self.slot}>"

    # -- the thread ------------------------------------------------------------------------------

    def _run(self, client: httpx.Client) -> None:
        try:
            self._guarded(self._adopt_own, client)
            while not self._stop.is_set():
                self._wake.wait(self._idle_wait())
                self._wake.clear()
                self._guarded(self._cycle, client)
            self._guarded(self._final_cycle, client)
        finally:
            client.close()
            self._guarded(self._finish, client)

    def _guarded(self, step: Callable[[httpx.Client], None], client: httpx.Client) -> None:
        """Run one step; an unexpected error is reported and the thread lives on."""
        try:
            step(client)
        except Exception as exc:  # noqa: BLE001 - the thread must outlive a bug in one cycle
            self._warn("bug", logging.ERROR, "internal error %r", exc)
            time.sleep(min(self._flush_interval, 1.0))
        self._publish_progress()

    def _adopt_own(self, client: httpx.Client) -> None:
        """Read this process's slot: a dead predecessor's leftovers first, then our journal."""
        slot, writer = self._slot, self._writer
        if slot is None or writer is None:
            return

        def complete_below() -> int:
            return sys.maxsize if writer.closed else writer.seq

        def note(kind: str, count: int) -> None:
            if kind == "freed":
                writer.freed(count)
            else:
                self._add(kind, count)

        reader = JournalReader(slot.path, complete_below, note)
        self._own_unsent = reader.unsent_lines(below=writer.first_seq)
        self._sources.append(_Source(slot, reader, adopted=False))
        self._scan_orphans()
        now = time.monotonic()
        self._scan_due = now + self._adopt_interval
        self._partial_due = now + self._flush_interval  # a start under load sends full batches

    def _idle_wait(self) -> float:
        now = time.monotonic()
        due = min(self._partial_due, self._scan_due)
        if self._failures:
            due = max(due, self._next_attempt)
        return min(self._flush_interval, max(0.0, due - now))

    def _cycle(self, client: httpx.Client) -> None:
        now = time.monotonic()
        with self._progress:
            flushing = self._flush_requested > self._flush_seen
            if flushing:
                self._next_attempt = 0.0  # a flush cuts the backoff short, once
            self._flush_seen = self._flush_requested
            self._drained = False  # until this cycle says otherwise
        if now >= self._scan_due:
            self._scan_due = now + self._adopt_interval
            self._scan_orphans()
        writer = self._writer
        if self._fsync == "interval" and now >= self._sync_due and writer is not None:
            self._sync_due = now + self._flush_interval
            if writer.lines != self._synced_lines:
                self._synced_lines = writer.lines
                self._synced_seq = writer.sync(self._synced_seq)
        partial = flushing or now >= self._partial_due
        if time.monotonic() >= self._next_attempt:
            self._send_all(client, full_only=not partial)
            if partial:
                self._partial_due = time.monotonic() + self._flush_interval
        self._report_drops()

    def _final_cycle(self, client: httpx.Client) -> None:
        if self._send_timeout() is not None:
            self._send_all(client, full_only=False, final=True)
        self._report_drops()

    def _send_timeout(self, *, final: bool = True) -> float | None:
        """The request timeout; at close, what is left of its deadline (None: no time left)."""
        if not final:
            return self._timeout
        remaining = self._deadline - time.monotonic()
        return min(self._timeout, remaining) if remaining > 0.05 else None

    def _send_all(self, client: httpx.Client, *, full_only: bool, final: bool = False) -> None:
        """Send every source's waiting batches; stop at the first failure (it backs off)."""
        drained = True
        for source in list(self._sources):
            done = self._send_source(client, source, full_only=full_only, final=final)
            if done is None:
                self._drained = False
                return
            if done and source.adopted and not final:
                self._let_go(source)
            drained = drained and done
        self._drained = drained and not full_only

    def _send_source(
        self, client: httpx.Client, source: _Source, *, full_only: bool, final: bool
    ) -> bool | None:
        """True: nothing left to send; False: left for later; None: a send failed."""
        reader = source.reader
        while not (self._stop.is_set() and not final):
            batch = source.retry or reader.next_batch(
                self._batch_size, self._max_batch_bytes, full_only=full_only
            )
            if batch is None:
                return not full_only
            timeout = self._send_timeout(final=final)
            if timeout is None:
                return False
            if not self._deliver(client, batch, timeout):
                source.retry = batch
                return None
            source.retry = None
            reader.ack(batch)
            if not source.adopted:
                self._own_unsent -= batch.lines
            if not batch.full:
                # All there was when it was read: what came in since waits for a full batch or
                # the next timer, or requests would carry whatever arrived during the last one.
                return True
        return False

    def _scan_orphans(self) -> None:
        """Adopt every slot whose owner is gone and that holds segments."""
        root = self._root
        if root is None or self._stop.is_set():
            return
        held = {source.slot.number for source in self._sources}
        for number in slot_numbers(root):
            if number not in held:
                with contextlib.suppress(OSError):
                    self._adopt(root, number)

    def _adopt(self, root: Path, number: int) -> None:
        slot = Slot.try_lock(root, number)
        if slot is None:
            return  # its owner is alive (or another process is adopting it)
        if not slot.has_leftovers():
            slot.release()
            return

        def note(kind: str, count: int) -> None:
            if kind != "freed":
                self._add(kind, count)

        reader = JournalReader(slot.path, lambda: sys.maxsize, note)
        self._sources.append(_Source(slot, reader, adopted=True))
        self._add("adopted", 1)
        self._warn(
            "adopted",
            logging.INFO,
            "adopted spool slot %d left by a process that is gone; sending what it left",
            number,
        )

    def _let_go(self, source: _Source) -> None:
        """An adopted slot is fully delivered: empty it and release it."""
        source.reader.remove_all()
        source.release()
        self._sources.remove(source)

    def _finish(self, client: httpx.Client) -> None:
        """At close: report what is left, tidy delivered slots, release every lock."""
        left = 0
        for source in self._sources:
            unsent = source.reader.unsent_lines()
            left += unsent
            if unsent == 0 and (source.adopted or self._closed):
                source.reader.remove_all()
            source.release()
        self._sources.clear()
        if left:
            _log.warning(
                "apiwatch shipper: %s left in the spool (%s) for the next process",
                plural(left, "event"),
                self._root,
            )

    def _publish_progress(self) -> None:
        with self._progress:
            self._progress.notify_all()

    # -- one request -----------------------------------------------------------------------------

    def _deliver(self, client: httpx.Client, batch: Batch, timeout: float) -> bool:
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
            "collector %s refused a batch of %s (%s); dropped",
            self._where,
            plural(batch.lines, "event"),
            outcome.problem,
        )
        return True

    def _post(self, client: httpx.Client, batch: Batch, timeout: float) -> _Outcome:
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

    def _succeeded(self, batch: Batch, rejected: int) -> None:
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

    def _report_drops(self) -> None:
        with self._lock:
            new = self._full_drops - self._full_drops_reported
            self._full_drops_reported = self._full_drops
        if new:
            why = self._write_problem or f"full ({self._max_spool_bytes} bytes)"
            self._warn("spool", logging.WARNING, "spool %s; dropped the newest %s", why,
                       plural(new, "event"))  # fmt: skip

    def _add(self, counter: str, n: int) -> None:
        with self._lock:
            self._counts[counter] += n

    def _warn(self, kind: str, level: int, message: str, *args: object) -> None:
        """Log ``message`` at ``level``, at most once per ``log_interval`` for each ``kind``."""
        if self._warnings(kind) is not None:
            _log.log(level, "apiwatch shipper: " + message, *args)

    def _after_fork_in_child(self) -> None:
        """The parent keeps its thread, journal and slots; this child starts afresh on first use."""
        for source in self._sources:
            source.release()  # the child's copies only: the parent's locks stay held
        if self._writer is not None:
            self._writer.forget()
        if self._slot is not None:
            self._slot.release()
        self._reset_runtime()


def _segment_bytes(max_spool_bytes: int) -> int:
    """Segments small enough that delivered ones are deleted well before the bound is reached."""
    return max(4096, min(8 * 1024 * 1024, max_spool_bytes // 8))


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
