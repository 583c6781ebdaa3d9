"""`FileOutput`: events appended to a file in batches, by a writer thread off the request path.

A request only appends its line to an in-memory queue; a background thread writes what has
queued, in order, with one ``write`` per batch (every ``interval`` seconds, or as soon as
``batch`` lines wait). Writing a line per request through `logging` costs a lock, a formatter
call and a system call each; a batch pays one system call for hundreds of lines.

Nothing handed to the output is dropped without a count:

- **Full queue** (``max_pending`` lines waiting: the disk is slower than the app): the request
  that finds it full writes the queued lines itself, in order, before it returns. The app slows
  down to the disk's pace instead of losing events; each time is counted in
  ``stats.inline_writes``.
- **Shutdown**: `close` (the ASGI lifespan shutdown calls it through `Sensor.close`) writes what
  is queued and stops the thread; a line emitted after that is written at once.
- **Process exit**: an ``atexit`` hook closes every open `FileOutput`, so lines queued by a
  process that exits normally are written. A process killed with SIGKILL loses what is queued
  (at most ``interval`` seconds of events); use the shipper's journal for events that must
  survive that.
- **Write failure** (disk full, file removed from a read-only mount): the batch's lines are
  counted in ``stats.lost`` and reported on the ``apiwatch.sensor`` logger, at most once a minute.
- **Fork** (gunicorn ``--preload``): the child starts with an empty queue (the parent writes its
  own lines) and its own writer thread.

Lines from several processes appending to one file do not interleave: the file is opened with
``O_APPEND`` and each batch is one ``write`` of whole lines.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections import deque
from itertools import repeat
from operator import call

from apiwatch.model import Event
from apiwatch.model.throttle import Throttle

__all__ = ["FileOutput", "FileOutputStats"]

_report = logging.getLogger("apiwatch.sensor")
_open_outputs: weakref.WeakSet[FileOutput] = weakref.WeakSet()


class FileOutputStats:
    """Counters: lines written, batches, writes made by requests (full queue), lines lost."""

    __slots__ = ("batches", "inline_writes", "lost", "written")

    def __init__(self) -> None:
        self.written = 0
        self.batches = 0
        self.inline_writes = 0
        self.lost = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class FileOutput:
    """Appends each event's ECS JSON line (and a newline) to ``path``; see the module doc."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        interval: float = 0.05,
        batch: int = 256,
        max_pending: int = 65536,
        mode: int = 0o640,
    ) -> None:
        if not interval > 0 or batch < 1 or max_pending < batch:
            raise ValueError("FileOutput: interval > 0 and 1 <= batch <= max_pending")
        self.path = os.fspath(path)
        self.interval, self.batch, self.max_pending = interval, batch, max_pending
        self.stats = FileOutputStats()
        self._mode = mode
        self._fd: int | None = self._open()
        self._pending: deque[bytes] = deque()
        self._write_lock = threading.Lock()  # one drain at a time: batches leave in order
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._warnings = Throttle()
        _open_outputs.add(self)

    def __call__(self, event: Event, line: bytes) -> None:
        self.write_line(line)

    def write_line(self, line: bytes) -> None:
        """Queue one line (the event itself is never needed: see `apiwatch.sensor.LineOutput`)."""
        pending = self._pending
        pending.append(line)  # deque.append is atomic: no lock on the request path
        waiting = len(pending)
        if self._thread is None:
            self._start()
        elif waiting == self.batch:
            self._wake.set()
        elif waiting >= self.max_pending:
            self._write_full_queue()

    def flush(self) -> None:
        """Write every queued line now, in the calling thread."""
        with self._write_lock:
            self._drain()

    def _write_full_queue(self) -> None:
        """Back-pressure: the caller writes the queue itself (after any batch in progress)."""
        with self._write_lock:
            self.stats.inline_writes += 1
            self._drain()

    def close(self) -> None:
        """Write what is queued and stop the writer thread; lines emitted later are written at
        once (each opening the file). Idempotent."""
        if self._closing:
            return
        self._closing = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10.0)
        self._thread = None  # from now on every call writes at once (see _start)
        with self._write_lock:
            self._drain()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        _open_outputs.discard(self)

    # -- the writer ----------------------------------------------------------------------------

    def _start(self) -> None:
        if self._closing:
            self.flush()  # closed: nothing will write later, so write now
            return
        with self._write_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="apiwatch-file-output", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        wake = self._wake
        while not self._closing:
            wake.wait(self.interval)
            wake.clear()
            self.flush()

    def _drain(self) -> None:
        """Write the queued lines as one batch; the caller holds the write lock."""
        pending = self._pending
        count = len(pending)
        if not count:
            return
        # ``count`` poplefts, called from C (lines appended meanwhile wait for the next batch)
        lines = list(map(call, repeat(pending.popleft, count)))
        lines.append(b"")
        data = b"\n".join(lines)
        try:
            self._write(data)
        except OSError as exc:
            self.stats.lost += count
            self._warn(exc)
            return
        self.stats.written += count
        self.stats.batches += 1

    def _write(self, data: bytes) -> None:
        fd = self._fd
        close_after = fd is None  # after close(): open for this write only
        if fd is None:
            fd = self._open()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            if close_after:
                os.close(fd)

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, self._mode)

    def _warn(self, exc: OSError) -> None:
        if self._warnings() is None:
            return
        _report.warning(
            "apiwatch file output %s: cannot write (%s); %d lines lost so far",
            self.path,
            exc.strerror or type(exc).__name__,
            self.stats.lost,
        )

    def _after_fork(self) -> None:
        """In a forked child: the parent writes its own queued lines; start afresh."""
        self._pending.clear()
        self._write_lock = threading.Lock()
        self._warnings = Throttle()
        self._wake = threading.Event()
        self._thread = None


def _close_all() -> None:
    for output in list(_open_outputs):
        output.close()


def _after_fork_in_child() -> None:
    for output in list(_open_outputs):
        output._after_fork()  # the module's own fork hook


atexit.register(_close_all)
os.register_at_fork(after_in_child=_after_fork_in_child)
