"""Reading log files into `Event`s: plain or gzip, a path or stdin, format detected, with progress.

Opening (`open_log`, `LogFile`):

- ``"-"`` is stdin (never closed by apiwatch).
- gzip is recognised by its magic bytes (``1f 8b``), not by the name: rotated logs are called
  ``access.log.2.gz`` as often as ``access.log.2``. Concatenated gzip members (``cat a.gz b.gz``)
  are read as one stream.
- Text is UTF-8 decoded with ``errors="surrogateescape"``: scanners put invalid bytes in request
  lines, and this keeps each such byte recoverable (a lone surrogate U+DCNN) instead of collapsing
  it to U+FFFD; the access-log parser writes it back out as ``\\xNN``, as nginx does. The ECS codec
  rejects such a line (it is not valid JSON text), which is reported for that line only.
- Lines end at ``\\n`` only (a ``\\r`` before it is dropped by the parsers): a stray CR inside a
  line is data, not a line break.

Scanning (`read_events`, `LogFile.events`): the format is detected from the first
`SAMPLE_LINES` non-blank lines unless given (`detect_format`); events come out in file order;
a malformed line is reported as ``on_error(line_number, message)`` (1-based) and skipped — nothing
short of an unreadable file stops a scan. Damaged or truncated gzip data is reported the same way,
at the line where it was met, and ends that file.

Progress: a caller that wants a progress bar opens a `LogFile` itself and polls it between events::

    with LogFile(path) as log:
        for event in log.events(on_error=report):
            bar.update(log.position(), total=log.size)

`LogFile.size` is the file's size on disk (compressed bytes for gzip; None for a pipe) and
`LogFile.position` the bytes of it read so far, so the two compare directly whatever the
compression. Reading is buffered, so ``position`` runs ahead of the events by up to one buffer.
It is a plain attribute read, cheap enough to call for every event.
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import stat
import sys
import zlib
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, TextIO

from apiwatch.model import ConfigError, Event, EventDecodeError
from apiwatch.sources.formats import FORMATS, Detected, FormatUnknownError, detect
from apiwatch.sources.logins import DEFAULT_LOGINS, LoginPatterns

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "FORMATS",
    "SAMPLE_LINES",
    "LogFile",
    "OnError",
    "detect_format",
    "open_log",
    "read_events",
]

SAMPLE_LINES = 5
"""How many non-blank lines format detection looks at."""

OnError = Callable[[int, str], None]
"""Told of each malformed line: its 1-based number and what is wrong with it."""

_GZIP_MAGIC = b"\x1f\x8b"
_BUFFER = 1 << 16


class _CountingReader(io.RawIOBase):
    """A raw stream that counts the bytes read through it (the on-disk position, even for gzip)."""

    def __init__(self, read: Callable[[WriteableBuffer], int | None], owned: io.FileIO | None):
        super().__init__()
        self._read = read
        self._owned = owned
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        got = self._read(buffer) or 0
        self.count += got
        return got

    def close(self) -> None:
        try:
            if self._owned is not None:
                self._owned.close()
        finally:
            super().close()


class _GzipReader(gzip.GzipFile):
    """A `gzip.GzipFile` that closes the stream it reads (GzipFile leaves a given one open)."""

    def __init__(self, source: io.BufferedIOBase) -> None:
        super().__init__(fileobj=source, mode="rb")
        self._source = source

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._source.close()


def _readinto(stream: BinaryIO) -> Callable[[WriteableBuffer], int]:
    """``readinto`` for a binary stream that only has ``read``."""

    def readinto(buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = stream.read(len(view))
        view[: len(data)] = data
        return len(data)

    return readinto


def _disk_size(fd: int) -> int | None:
    try:
        info = os.fstat(fd)
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


class LogFile:
    """One log file opened for reading: ``"-"`` for stdin, gzip detected by magic bytes.

    A context manager; `text` is the decoded line stream, `events` parses it, `size` and
    `position` drive a progress bar (see the module docstring).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        name = os.fspath(path)
        if name == "-":
            stdin = sys.stdin.buffer
            self.name = "<stdin>"
            # readinto1: a pipe's data is passed on as it comes, not once 64 KiB have arrived
            read = stdin.readinto1 if isinstance(stdin, io.BufferedIOBase) else _readinto(stdin)
            counter = _CountingReader(read, None)
            try:
                self.size: int | None = _disk_size(stdin.fileno())
            except (OSError, ValueError):  # a replaced stdin (tests, embedding) has no descriptor
                self.size = None
        else:
            raw = io.FileIO(name, "rb")
            self.name = name
            counter = _CountingReader(raw.readinto, raw)
            self.size = _disk_size(raw.fileno())
        self._counter = counter
        buffered = io.BufferedReader(counter, _BUFFER)
        try:
            self.compressed = buffered.peek(2)[:2] == _GZIP_MAGIC
            binary = _GzipReader(buffered) if self.compressed else buffered
        except BaseException:
            buffered.close()
            raise
        self.text: TextIO = io.TextIOWrapper(
            binary, encoding="utf-8", errors="surrogateescape", newline="\n"
        )
        self.format: str | None = None
        """The format being read, once `events` has started (given or detected)."""

    def position(self) -> int:
        """Bytes of the file as stored (compressed, for gzip) read so far."""
        return self._counter.count

    def events(
        self,
        format: str | None = None,
        *,
        logins: LoginPatterns | None = DEFAULT_LOGINS,
        on_error: OnError | None = None,
    ) -> Iterator[Event]:
        """The file's events in order; see `read_events`."""
        lines = self._numbered_lines(on_error)
        if format is not None and format not in FORMATS:
            raise ConfigError(f"format: {format!r} is not one of {', '.join(FORMATS)}")
        head: list[tuple[int, str]] = []
        sample: list[str] = []
        for number, line in lines:
            head.append((number, line))
            if line.strip():
                sample.append(line)
                if len(sample) >= SAMPLE_LINES:
                    break
        if not sample:
            return
        found = _detected(sample, format)
        self.format = found.describe()
        parse = found.parser(logins)
        for number, line in itertools.chain(head, lines):
            try:
                event = parse(line)
            except EventDecodeError as exc:
                if on_error is not None:
                    on_error(number, exc.reason)
                continue
            if event is not None:
                yield event

    def _numbered_lines(self, on_error: OnError | None) -> Iterator[tuple[int, str]]:
        number = 0
        try:
            for number, line in enumerate(self.text, 1):
                yield number, line
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            if on_error is not None:
                on_error(
                    number + 1, f"compressed data damaged or cut short, reading stopped: {exc}"
                )

    def close(self) -> None:
        self.text.close()

    def __enter__(self) -> LogFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _detected(sample: list[str], format: str | None) -> Detected:
    """Detection over the sample; a given format is only looked for inside wrappers, and is
    used as is (every line then reported) when it fits no sample line."""
    if format is None:
        return detect(sample)
    try:
        return detect(sample, (format,))
    except FormatUnknownError:
        return Detected((), (format,))


def open_log(path: str | os.PathLike[str]) -> TextIO:
    """The file's text, gunzipped if it is gzip, UTF-8 with ``surrogateescape``; ``"-"``: stdin."""
    return LogFile(path).text


def read_events(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    logins: LoginPatterns | None = DEFAULT_LOGINS,
    on_error: OnError | None = None,
) -> Iterator[Event]:
    """The events of one log file, in file order.

    ``format`` is one of `FORMATS`, or None to detect it (`detect_format`; an empty file gives no
    events). Malformed lines go to ``on_error(line_number, message)`` (dropped silently without
    one) and the scan goes on. Raises `ConfigError` for an unknown format, `EventDecodeError` when
    the format cannot be detected, and `OSError` when the file cannot be opened — lazily, when
    iteration starts.
    """
    with LogFile(path) as log:
        yield from log.events(format, logins=logins, on_error=on_error)


def detect_format(sample_lines: list[str]) -> str:
    """The format of a file from its first lines, as `LogFile.format` names it (``nginx``,
    ``ecs``, ``nginx in syslog``, ...; see `apiwatch.sources.formats.detect`).

    Raises `FormatUnknownError` (an `EventDecodeError`) naming the formats tried and showing
    the first non-blank line when none fits.
    """
    return detect(sample_lines).describe()
