"""The shipper's spool on disk: slots, append-only journal segments, acknowledged positions.

Layout of a spool directory (directories 0700, files 0600: events are sensitive data)::

    slot-N.lock         flock'd (exclusive) by the process that owns slot N, or that adopted it
    slot-N/
        <seq>.ndjson    journal segments, 20-digit sequence numbers: one event per line, each
                        line appended with one write(2) while the event is emitted
        acked           "<seq> <offset>": everything before that position reached the collector
        <seq>.ndjson.gz whole gzip'd batches left by apiwatch versions before the journal

What a caller may rely on:

- `JournalWriter.append` has put the line in the kernel's page cache when it returns True: the
  line survives the death of the process (SIGKILL, the OOM killer), though not of the machine
  unless the segment was fsync'd (`JournalWriter.sync`, or ``sync_each``).
- Lines never interleave: each is one ``write(2)`` on an ``O_APPEND`` descriptor, under a lock.
  A process killed inside a write can leave a partial last line; readers only take lines ending
  in ``\\n``, and a partial line at the end of a segment that can grow no more is discarded and
  counted (``torn``).
- A segment is complete once a later one exists: the writer opens segment ``seq + 1`` only after
  its last write to ``seq``. A slot whose lock is free has no writer: all its segments are complete.
- `JournalReader` returns batches in journal order and moves on only when told the batch was
  acknowledged (`JournalReader.ack`), which persists the position and deletes segments wholly
  before it. Re-reading after a crash resends at most the batches that were in flight: the
  collector drops them as duplicates by ``event.id``.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import os
import re
import sys
import threading
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Batch", "JournalReader", "JournalWriter", "Slot", "slot_numbers"]

MAX_SLOTS = 1024
_SEGMENT = re.compile(r"(\d{20})\.ndjson")
_LEGACY = re.compile(r"\d{20}\.ndjson\.gz")
_LOCK = re.compile(r"slot-(\d+)\.lock")
_ACKED = "acked"
_ACKED_FORMAT = "{:020d} {:020d}\n"
_FILE_MODE = 0o600
_COMPRESS_LEVEL = 1  # sensor events: 1.5 us/event at level 1, 11.6 at 9, for a body ~20% smaller


@dataclass(frozen=True, slots=True)
class Batch:
    """Lines to send as one request: the gzip'd body, its key, its line count, where it ends.

    ``end`` is the journal position after the batch (segment, offset), or None for a legacy
    segment, which ``legacy`` names.
    """

    body: bytes
    key: str
    lines: int
    end: tuple[int, int] | None = None
    legacy: Path | None = None
    full: bool = True  # False: all there was to read; the next lines are not written yet

    @classmethod
    def of_raw(cls, raw: bytes, end: tuple[int, int], *, full: bool) -> Batch:
        """``raw`` is ``\\n``-terminated NDJSON; the key is the sha256 of it, uncompressed."""
        body = gzip.compress(raw, compresslevel=_COMPRESS_LEVEL, mtime=0)
        return cls(body, hashlib.sha256(raw).hexdigest(), raw.count(b"\n"), end, full=full)


class Slot:
    """One slot of a spool directory, held through an exclusive flock on ``slot-N.lock``."""

    def __init__(self, root: Path, number: int, lock_fd: int) -> None:
        self.root = root
        self.number = number
        self.path = root / f"slot-{number}"
        self._lock_fd = lock_fd
        try:
            self.path.mkdir(mode=0o700, exist_ok=True)
        except OSError:
            self.release()
            raise

    @classmethod
    def claim(cls, root: Path) -> Slot:
        """The lowest slot no live process holds; OSError when none is free or the disk refuses."""
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for number in range(MAX_SLOTS):
            slot = cls.try_lock(root, number)
            if slot is not None:
                return slot
        raise OSError(f"all {MAX_SLOTS} spool slots are taken")

    @classmethod
    def try_lock(cls, root: Path, number: int) -> Slot | None:
        """Slot ``number`` if its lock is free now (its owner is gone), else None; never waits."""
        fd = os.open(root / f"slot-{number}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return cls(root, number, fd)

    def has_leftovers(self) -> bool:
        """True when the slot holds a segment (possibly already sent: the reader will tell)."""
        with os.scandir(self.path) as entries:
            return any(_SEGMENT.fullmatch(e.name) or _LEGACY.fullmatch(e.name) for e in entries)

    def release(self) -> None:
        """Give the lock back; idempotent. In a forked child this closes only the child's copy."""
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def slot_numbers(root: Path) -> list[int]:
    """The numbers of every ``slot-N.lock`` in the spool directory, lowest first."""
    try:
        with os.scandir(root) as entries:
            found = (_LOCK.fullmatch(e.name) for e in entries)
            return sorted(int(m.group(1)) for m in found if m and int(m.group(1)) < MAX_SLOTS)
    except OSError:
        return []


def read_acked(slot: Path) -> tuple[int, int]:
    """The acknowledged position (segment, offset) of a slot; (0, 0) when there is none."""
    try:
        seq, offset = (slot / _ACKED).read_text("ascii").split()
        return int(seq), int(offset)
    except (OSError, ValueError):
        return 0, 0  # nothing acknowledged yet, or damaged: resend (the collector dedups)


def _segments(path: Path) -> list[tuple[int, Path]]:
    with os.scandir(path) as entries:
        found = ((_SEGMENT.fullmatch(e.name), e.path) for e in entries)
        return sorted((int(m.group(1)), Path(p)) for m, p in found if m)


def _segment_path(slot: Path, seq: int) -> Path:
    return slot / f"{seq:020d}.ndjson"


class JournalWriter:
    """Appends event lines to one slot's journal; safe to call from any thread.

    ``max_bytes`` bounds the slot's segments on disk (leftovers of a previous owner included): a
    line that does not fit is refused (the newest events go, never the oldest). A segment is
    rotated after ``segment_bytes``. ``sync_each`` fsyncs every line before `append` returns.
    """

    def __init__(self, slot: Path, *, max_bytes: int, segment_bytes: int, sync_each: bool) -> None:
        self.path = slot
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.sync_each = sync_each
        existing = _segments(slot)
        self.bytes = sum(_size(path) for _, path in existing)
        # A fresh segment, never a predecessor's (its partial last line stays where it is), and
        # never one below the acknowledged position: a reader would never come back for it.
        acked_seq, acked_offset = read_acked(slot)
        self.seq = max(existing[-1][0] + 1 if existing else 0, acked_seq + (acked_offset > 0))
        self.first_seq = self.seq  # segments before it are a previous owner's
        self.lines = 0  # lines this writer appended
        self.closed = False
        self._lock = threading.Lock()
        self._size = 0
        self._fd = self._open(self.seq)

    def _open(self, seq: int) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        return os.open(_segment_path(self.path, seq), flags, _FILE_MODE)

    def append(self, line: bytes) -> bool:
        """Write one line; False (nothing written) when closed or full. Raises OSError."""
        data = line + b"\n"
        with self._lock:
            if self.closed or self.bytes + len(data) > self.max_bytes:
                return False
            self._write(data)
            self.lines += 1
            if self._size >= self.segment_bytes:
                self._rotate()
        return True

    def _write(self, data: bytes) -> None:
        fd = self._fd
        try:
            done = os.write(fd, data)
            while done < len(data):  # a short write to a regular file: out of space, usually
                done += os.write(fd, data[done:])
            if self.sync_each:
                os.fdatasync(fd)
        except OSError:
            with contextlib.suppress(OSError):  # no partial line may stay in the middle
                os.ftruncate(fd, self._size)
            raise
        self._size += len(data)
        self.bytes += len(data)

    def _rotate(self) -> None:
        try:
            fd = self._open(self.seq + 1)
        except OSError:
            return  # keep appending to this segment; the byte bound still holds
        old, self._fd = self._fd, fd
        self.seq += 1  # after the last write to the old segment: readers now know it is complete
        self._size = 0
        os.close(old)

    def freed(self, size: int) -> None:
        """A reader deleted ``size`` bytes of this slot's segments."""
        with self._lock:
            self.bytes -= size

    def sync(self, since: int) -> int:
        """fsync segments ``since`` .. current (and the directory when new ones appeared);
        returns the current segment, the next call's ``since`` (-1 the first time)."""
        current = self.seq
        for seq in range(max(since, 0), current + 1):
            with contextlib.suppress(OSError):  # deleted meanwhile: it was delivered
                _fsync_path(_segment_path(self.path, seq), os.O_RDONLY)
        if current != since:
            with contextlib.suppress(OSError):
                _fsync_path(self.path, os.O_RDONLY | os.O_DIRECTORY)
        return current

    def close(self) -> None:
        """No more appends; the journal is fsync'd. Idempotent."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)

    def forget(self) -> None:
        """In a forked child: close this process's copy of the descriptor, write nothing more."""
        self.closed = True
        with contextlib.suppress(OSError):
            os.close(self._fd)


class JournalReader:
    """Reads one slot's journal from its acknowledged position (used by one thread only).

    ``complete_below()`` gives the first segment that may still grow: the live writer's current
    one, or a number past every segment for a slot without a writer.
    """

    def __init__(
        self, slot: Path, complete_below: Callable[[], int], note: Callable[[str, int], None]
    ) -> None:
        self.path = slot
        self.complete_below = complete_below
        # note("torn" | "bad_segments" | "freed", n): partial lines discarded at the end of
        # complete segments, unreadable legacy segments discarded, bytes of segments deleted.
        self.note = note
        for entry in slot.glob("*.tmp"):  # half-written legacy segment files
            entry.unlink(missing_ok=True)
        self.legacy = deque(sorted(p for p in slot.iterdir() if _LEGACY.fullmatch(p.name)))
        self.seq, self.offset = read_acked(slot)
        self._fd = -1

    # -- batches ----------------------------------------------------------------------------------

    def next_batch(
        self, max_lines: int, max_bytes: int, *, full_only: bool = False
    ) -> Batch | None:
        """The next batch of complete lines, or None when there is none yet.

        With ``full_only``, None too while fewer than ``max_lines`` lines (and ``max_bytes``
        bytes) wait in the current segment: under load, requests carry full batches.
        """
        while self.legacy:
            batch = self._legacy_batch()
            if batch is not None:
                return batch
        while True:
            if self._fd < 0 and not self._open_current():
                return None
            complete = self.seq < self.complete_below()  # asked before reading: see the module
            data = os.pread(self._fd, max_bytes, self.offset)
            cut = data.rfind(b"\n") + 1
            if cut == 0 and len(data) == max_bytes:
                data, cut = self._long_line(data)
            if cut:
                raw = _first_lines(data[:cut], max_lines)
                # A complete segment may be followed by more: only a growing one can run dry.
                full = complete or len(data) >= max_bytes or raw.count(b"\n") >= max_lines
                if full_only and not full:
                    return None
                return Batch.of_raw(raw, (self.seq, self.offset + len(raw)), full=full)
            if not complete:
                return None
            if data:
                self.note("torn", 1)
            self._next_segment()

    def _long_line(self, data: bytes) -> tuple[bytes, int]:
        """A line longer than a batch's byte budget: read it whole, it goes alone."""
        while True:
            more = os.pread(self._fd, len(data), self.offset + len(data))
            data += more
            cut = data.find(b"\n") + 1
            if cut or not more:
                return data, cut

    def _legacy_batch(self) -> Batch | None:
        path = self.legacy[0]
        try:
            body = path.read_bytes()
            raw = gzip.decompress(body)
        except (OSError, EOFError, zlib.error):  # gzip.BadGzipFile is an OSError
            self.note("bad_segments", 1)
            self._drop_legacy()
            return None
        return Batch(body, hashlib.sha256(raw).hexdigest(), raw.count(b"\n"), legacy=path)

    def _drop_legacy(self) -> None:
        self._delete(self.legacy.popleft())

    def _open_current(self) -> bool:
        """Open the segment holding the acknowledged position (or the next one there is)."""
        with contextlib.suppress(FileNotFoundError):
            self._fd = os.open(_segment_path(self.path, self.seq), os.O_RDONLY | os.O_CLOEXEC)
        if self._fd >= 0:
            return True
        later = [seq for seq, _ in _segments(self.path) if seq > self.seq]
        if not later:
            return False
        self._move_to(later[0])
        return self._open_current()

    def _next_segment(self) -> None:
        """The current segment is complete and wholly acknowledged: delete it, go to the next."""
        later = [seq for seq, _ in _segments(self.path) if seq > self.seq]
        self._close_fd()
        done = self.seq
        self._move_to(later[0] if later else self.seq + 1)
        self._delete(_segment_path(self.path, done))

    def _move_to(self, seq: int) -> None:
        self.seq, self.offset = seq, 0
        self._persist()

    # -- acknowledgements -------------------------------------------------------------------------

    def ack(self, batch: Batch) -> None:
        """The collector has the batch (or refused it for good): never read it again."""
        if batch.legacy is not None:
            self._drop_legacy()
        elif batch.end is not None:
            self.seq, self.offset = batch.end
            self._persist()

    def _persist(self) -> None:
        # Written in place, 42 bytes in one page: a killed process cannot tear it. A machine
        # crash can lose it; the batches after the older position are then sent again.
        fd = os.open(self.path / _ACKED, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
        try:
            os.pwrite(fd, _ACKED_FORMAT.format(self.seq, self.offset).encode(), 0)
        finally:
            os.close(fd)

    def unsent_lines(self, below: int = sys.maxsize) -> int:
        """Complete lines not acknowledged yet in segments before ``below`` (reads the files:
        for reports, not hot paths)."""
        count = sum(_legacy_lines(path) for path in self.legacy)
        for seq, path in _segments(self.path):
            if self.seq <= seq < below:
                with contextlib.suppress(OSError):
                    data = path.read_bytes()
                    count += data.count(b"\n", self.offset if seq == self.seq else 0)
        return count

    def remove_all(self) -> None:
        """Everything was delivered and no one writes here: leave an empty slot directory."""
        self._close_fd()
        for _, path in _segments(self.path):
            self._delete(path)
        (self.path / _ACKED).unlink(missing_ok=True)

    def _delete(self, path: Path) -> None:
        size = _size(path)
        path.unlink(missing_ok=True)
        self.note("freed", size)

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def close(self) -> None:
        self._close_fd()


def _first_lines(data: bytes, max_lines: int) -> bytes:
    """The first ``max_lines`` lines of ``\\n``-terminated ``data``."""
    if data.count(b"\n") <= max_lines:
        return data
    end = -1
    for _ in range(max_lines):
        end = data.index(b"\n", end + 1)
    return data[: end + 1]


def _legacy_lines(path: Path) -> int:
    try:
        return gzip.decompress(path.read_bytes()).count(b"\n")
    except (OSError, EOFError, zlib.error):
        return 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _fsync_path(path: Path, flags: int) -> None:
    fd = os.open(path, flags | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
