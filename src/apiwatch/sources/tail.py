"""Following log files as they grow: rotation, truncation, deletion, re-creation, restarts.

A `FileTailer` follows every file its glob patterns match (checked again at each poll, so a file
created later is picked up) and hands out the events of the complete lines written since the
last poll (`FileTailer.poll`, a `Delivery`). A line is read once it ends with ``\\n``; a partial
line waits for the rest, except when its file has been rotated away and has no more to give.

A file is known by its device and inode and by its **head**, its first bytes (up to
`HEAD_BYTES`). Each poll handles what happened to it:

- **rename rotation** (``access.log`` -> ``access.log.1``, a new ``access.log``): the renamed
  file is still open and is read to its end; the new one is read from its start.
- **copytruncate** and **truncation** (``> access.log``): the file is shorter than what was read,
  or its head changed: it is read again from the start, as a new *generation*. A copy made by
  copytruncate that the patterns match is recognised by its head and read from where the
  original had got to, so the lines written between the last poll and the truncation are read
  from the copy (when the patterns do not match the copy, those lines are lost).
- **deletion**: an open file is read to its end, then let go; **re-creation** is a new file.
- files starting with gzip's magic bytes (compressed rotations) are left alone: their lines
  were read before they were compressed.

Restarts: `Delivery.checkpoint` saves each file's position (device, inode, head, generation,
offset) to the source's `Positions` once the events are stored. A restart resumes each file
whose device, inode and head match from its saved offset; a file whose head changed while
apiwatch was down is read from its start. Each event's id is `line_id`: 64 bits of `stable_id`
of the file's identity (device, inode, generation and first line), then the line's offset, so
the lines read again after a crash (those past the last checkpoint) get the ids they had, and
the store does not keep them twice: every line is stored exactly once.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from apiwatch.model import Event, EventDecodeError
from apiwatch.sources._positions import Positions
from apiwatch.sources.live import Delivery, LineDecoder, SourceStats, stable_id
from apiwatch.sources.logins import DEFAULT_LOGINS, LoginPatterns

__all__ = ["HEAD_BYTES", "FileTailer", "line_id"]

HEAD_BYTES = 256
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_GHOSTS = 16
_SAMPLE = 5


@dataclass(slots=True)
class _File:
    """One followed file (one inode, one generation)."""

    path: str
    dev: int
    ino: int
    head: bytes
    generation: int = 0
    offset: int = 0
    basis: str = ""  # the id basis, set once the first line is known
    fd: int | None = None
    in_glob: bool = True
    size: int = 0
    mtime: float = 0.0
    decoder: LineDecoder | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        return f"{self.dev}:{self.ino}"

    def saved(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "head": self.head.hex(),
            "generation": self.generation,
            "offset": self.offset,
            "basis": self.basis,
        }


class FileTailer:
    """Follows the files ``patterns`` match (see the module docstring).

    ``format`` fixes the format, else it is detected per file from its first lines, as ``scan``
    does; ``positions`` keeps the offsets across restarts (None: start afresh each time);
    ``start_at`` is where a file found at the very first start begins (``beginning`` or
    ``end``; files that appear later are always read from their start). A poll reads at most
    ``max_lines`` lines.
    """

    def __init__(
        self,
        patterns: Sequence[str],
        *,
        stats: SourceStats,
        positions: Positions | None = None,
        format: str | None = None,
        logins: LoginPatterns | None = DEFAULT_LOGINS,
        start_at: str = "beginning",
        max_lines: int = 10_000,
        max_line_bytes: int = 1 << 20,
    ) -> None:
        self.patterns = tuple(patterns)
        self.stats = stats
        self.positions = positions
        self.format = format
        self.logins = logins
        self.max_lines = max_lines
        self.max_line_bytes = max_line_bytes
        self.files: dict[str, _File] = {}
        self._ghosts: list[tuple[bytes, int]] = []  # heads and offsets of truncated files
        saved = positions.load() if positions is not None else {}
        self._saved: dict[str, dict[str, Any]] = dict(saved.get("files", {}))
        self._ghosts = [(bytes.fromhex(h), int(o)) for h, o in saved.get("ghosts", [])]
        self._first_start = not saved and start_at == "end"
        self._last_saved: dict[str, Any] | None = None

    # -- polling -------------------------------------------------------------------------------

    def poll(self) -> Delivery:
        """The events of the complete lines written since the last poll (at most ``max_lines``
        lines), oldest files first; the checkpoint saves the positions reached."""
        self._discover()
        events: list[Event] = []
        lines = refused = 0
        for tracked in sorted(self.files.values(), key=lambda f: (f.in_glob, f.mtime, f.path)):
            got, bad, read = self._read(tracked, self.max_lines - lines)
            events += got
            refused += bad
            lines += read
            if lines >= self.max_lines:
                break
        self._let_go()
        self._first_start = False
        self.stats.count(lines, events, refused)
        self.stats.backlog_bytes = sum(max(0, f.size - f.offset) for f in self.files.values())
        snapshot = self._snapshot()
        return Delivery(events, lambda: self._save(snapshot), lines)

    def close(self) -> None:
        for tracked in self.files.values():
            _close(tracked)
        self.files.clear()

    # -- discovery -----------------------------------------------------------------------------

    def _discover(self) -> None:
        for tracked in self.files.values():  # first, so that a copy finds its original's offset
            self._check_truncation(tracked)
        seen: set[str] = set()
        for pattern in self.patterns:
            for path in sorted(glob.glob(pattern)):
                found = self._follow(path)
                if found is not None:
                    seen.add(found)
        for key, tracked in self.files.items():
            tracked.in_glob = key in seen

    def _follow(self, path: str) -> str | None:
        """Start following ``path`` if it is a new file; its key, None if it is not followed."""
        try:
            info = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        key = f"{info.st_dev}:{info.st_ino}"
        tracked = self.files.get(key)
        if tracked is not None:
            tracked.path = path
            return key
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        head = os.pread(fd, HEAD_BYTES, 0)
        if not head or head.startswith(_GZIP_MAGIC):
            os.close(fd)  # empty: looked at again next poll; gzip: a compressed rotation
            return None
        tracked = _File(
            path, info.st_dev, info.st_ino, head, fd=fd, size=info.st_size, mtime=info.st_mtime
        )
        self._place(tracked, self._saved.pop(key, None))
        self.files[key] = tracked
        return key

    def _place(self, tracked: _File, saved: dict[str, Any] | None) -> None:
        """Where a newly followed file starts: its saved offset when its head still matches,
        a copy's original offset, the end on a first start with ``start_at = "end"``, else 0."""
        if saved is not None:
            tracked.generation = int(saved.get("generation", 0))
            old_head = bytes.fromhex(saved.get("head", ""))
            offset = int(saved.get("offset", 0))
            if _same_head(old_head, tracked.head) and offset <= tracked.size:
                tracked.offset, tracked.basis = offset, str(saved.get("basis", ""))
                return
            tracked.generation += 1  # the file was truncated or replaced while we were away
            self._ghosts = [(old_head, offset), *self._ghosts][:_MAX_GHOSTS]
        for head, offset in self._ghosts:
            if _same_head(head, tracked.head) and offset <= tracked.size:
                tracked.offset = offset
                return
        if self._first_start:
            tracked.offset = tracked.size

    # -- reading -------------------------------------------------------------------------------

    def _read(self, tracked: _File, budget: int) -> tuple[list[Event], int, int]:
        """(events, refused lines, lines read) from ``tracked``'s offset, up to ``budget``."""
        if tracked.fd is None or budget <= 0:
            return [], 0, 0
        size = tracked.size
        if size <= tracked.offset:
            return [], 0, 0
        want = min(size - tracked.offset, budget * 512 + 65536)
        data = os.pread(tracked.fd, want, tracked.offset)
        end = data.rfind(b"\n") + 1
        if end == 0:
            if len(data) < self.max_line_bytes and (tracked.in_glob or len(data) < want):
                return [], 0, 0  # the rest of the line has not been written yet
            end = len(data)  # an over-long line, or the last of a rotated-away file
        return self._lines(tracked, data[:end], budget)

    def _check_truncation(self, tracked: _File) -> None:
        if tracked.fd is None:
            return
        try:
            info = os.fstat(tracked.fd)
        except OSError:
            tracked.size = tracked.offset
            return
        tracked.size, tracked.mtime = info.st_size, info.st_mtime
        head = os.pread(tracked.fd, HEAD_BYTES, 0) if tracked.size else b""
        shrunk = tracked.size < tracked.offset
        if not shrunk and (not tracked.head or not head or _same_head(tracked.head, head)):
            if len(head) > len(tracked.head):
                tracked.head = head
            return
        # copytruncate or "> file": a new generation, read from the start; the old head and
        # offset are kept so that a copy of the old content resumes where we were.
        self._ghosts = [(tracked.head, tracked.offset), *self._ghosts][:_MAX_GHOSTS]
        tracked.generation += 1
        tracked.head, tracked.offset, tracked.basis = head, 0, ""
        tracked.decoder = None

    def _lines(self, tracked: _File, data: bytes, budget: int) -> tuple[list[Event], int, int]:
        decoder = tracked.decoder
        if decoder is None:
            decoder = tracked.decoder = LineDecoder(self.format, logins=self.logins)
        if not tracked.basis:
            first = tracked.head.partition(b"\n")[0]
            tracked.basis = stable_id(
                tracked.key, tracked.generation, hashlib.sha256(first).hexdigest()
            )
        texts, sizes = _split(data, budget)
        if not decoder.ready:
            # A sample no format fits: each line is tried, and refused, on its own below.
            with contextlib.suppress(EventDecodeError):
                decoder.prime(texts[:_SAMPLE])
        parse = decoder.line_parser
        events: list[Event] = []
        refused = 0
        offset, prefix = tracked.offset, tracked.basis[:16]
        for text, size in zip(texts, sizes, strict=True):
            try:
                event = parse(text)
            except EventDecodeError:
                event = None
                refused += 1
            if event is not None:  # line_id(basis, offset), inlined: it runs for every line
                event.event.id = f"{prefix}{offset:016x}"
                events.append(event)
            offset += size
        tracked.offset = min(offset, tracked.offset + len(data))
        return events, refused, len(texts)

    # -- closing and saving --------------------------------------------------------------------

    def _let_go(self) -> None:
        """Close the files that left the patterns (renamed away, deleted), read to their end."""
        for key in [k for k, f in self.files.items() if not f.in_glob and f.offset >= f.size]:
            tracked = self.files.pop(key)
            with contextlib.suppress(OSError):
                tracked.size = os.fstat(tracked.fd).st_size  # type: ignore[arg-type]
            if tracked.offset < tracked.size:  # grew since: read the rest next poll
                self.files[key] = tracked
                continue
            self._saved[key] = tracked.saved()  # if it comes back into the patterns
            _close(tracked)

    def _snapshot(self) -> dict[str, Any]:
        files = {**self._saved, **{key: f.saved() for key, f in self.files.items()}}
        if len(files) > 4 * max(len(self.files), 16):  # forget long-gone files, oldest first
            files = dict(list(files.items())[-4 * max(len(self.files), 16) :])
        ghosts = [[head.hex(), offset] for head, offset in self._ghosts]
        return {"files": files, "ghosts": ghosts}

    def _save(self, snapshot: dict[str, Any]) -> None:
        """Save ``snapshot`` unless it is what was saved last (an idle poll writes nothing)."""
        if self.positions is not None and snapshot != self._last_saved:
            self.positions.save(snapshot)
            self._last_saved = snapshot


def line_id(basis: str, offset: int) -> str:
    """The id of the line at ``offset`` of the file generation whose id basis is ``basis``: 64
    bits of the basis, then the offset (32 hex digits). Stable, as `stable_id` is, and rising
    with the offset, so that the store's index of ids grows at one end per file instead of at
    random places (random ids made each commit rewrite pages all over an index that outgrew
    the cache: a store past a million lines took several times as long per line)."""
    return f"{basis[:16]}{offset:016x}"


def _split(data: bytes, budget: int) -> tuple[list[str], Sequence[int]]:
    """The first ``budget`` lines of ``data`` as text (UTF-8, ``surrogateescape``), and the
    bytes each takes in the file with its ``\\n``. ASCII, the usual case, is decoded in one
    piece, where a character is a byte; anything else line by line."""
    if data.isascii():
        texts = data.decode("ascii").split("\n")
        if texts and not texts[-1]:
            texts.pop()
        del texts[budget:]
        return texts, [len(text) + 1 for text in texts]
    raws = data.split(b"\n")
    if raws and not raws[-1]:
        raws.pop()
    del raws[budget:]
    return [raw.decode("utf-8", "surrogateescape") for raw in raws], [len(r) + 1 for r in raws]


def _same_head(old: bytes, new: bytes) -> bool:
    """Whether two heads read from one file at different times can be the same content."""
    shorter = min(len(old), len(new))
    return shorter > 0 and old[:shorter] == new[:shorter]


def _close(tracked: _File) -> None:
    if tracked.fd is not None:
        os.close(tracked.fd)
        tracked.fd = None
