"""What every live source shares: line decoding as ``scan`` does it, stable ids, counters.

A live source (a tailed file, journald, the syslog and OTLP receivers) hands the collector
`Delivery` batches: the events parsed from what it read, and a ``checkpoint`` to call once they
are durably stored (a file's offset, a journal cursor). A source restarted after a crash
resumes from its last checkpoint, so the lines after it are read again: their events carry
**stable ids** (`stable_id`, from the position of the line in its stream), which the store
refuses to store twice, so a replay adds nothing.

`LineDecoder` turns lines into events with the very parsers ``apiwatch scan`` uses: the format
is detected from the first lines of a stream (`apiwatch.sources.formats.detect`) unless given,
so a live source's events — and the detections on them — are those ``scan`` finds in the same
lines. A stream that mixes formats (a syslog receiver hears many programs) can ask for each
refused line to be detected on its own (``redetect``).

`SourceStats` counts, per source, the lines read, parsed and refused, the newest event time
and when the last line came (wall clock): the collector exports them as metrics.
"""

from __future__ import annotations

import hashlib
import operator
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from apiwatch.model import Event, EventDecodeError
from apiwatch.sources.formats import Detected, FormatUnknownError, detect
from apiwatch.sources.logins import DEFAULT_LOGINS, LoginPatterns

__all__ = ["Delivery", "LineDecoder", "SourceStats", "stable_id"]

_MAX_FORMATS = 16  # formats a redetecting decoder keeps parsers for


def stable_id(*parts: str | int) -> str:
    """An event id (32 hex characters) that only depends on ``parts`` (stream identity and
    position): the same line read twice gets the same id."""
    text = "\x1f".join(str(part) for part in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


@dataclass(slots=True)
class Delivery:
    """Events read from a source, and what to call once they are durably stored."""

    events: list[Event]
    checkpoint: Callable[[], None] = lambda: None
    lines: int = 0


@dataclass(slots=True)
class SourceStats:
    """One source's counters (read by the metrics at each scrape; written by one thread)."""

    name: str
    kind: str
    read: int = 0
    parsed: int = 0
    refused: int = 0
    stored: int = 0
    newest_event: float | None = None  # epoch seconds of the newest event parsed
    last_line: float | None = None  # wall-clock epoch seconds when the last line came
    backlog_bytes: int = 0  # file sources: bytes on disk not read yet
    started: float = field(default_factory=time.time)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, read: int, events: Sequence[Event], refused: int) -> None:
        """Record ``read`` lines that gave ``events`` and ``refused`` malformed lines."""
        with self._lock:
            self.read += read
            self.parsed += len(events)
            self.refused += refused
            if read:
                self.last_line = time.time()
            newest = _newest(events)
            if newest is not None and (self.newest_event is None or newest > self.newest_event):
                self.newest_event = newest

    def lag(self, now: float) -> float | None:
        """Seconds between ``now`` and the newest event time read (None before any)."""
        return None if self.newest_event is None else max(0.0, now - self.newest_event)

    def quiet(self, now: float) -> float:
        """Seconds since the last line came (or, before any, since the source started)."""
        return max(0.0, now - (self.started if self.last_line is None else self.last_line))


def _newest(events: Sequence[Event]) -> float | None:
    """The epoch seconds of the newest of ``events`` (None for none): one comparison of
    datetimes per event, one conversion, when every time has a zone (parsers give UTC)."""
    if not events:
        return None
    newest: datetime | None
    try:
        newest = max(map(_timestamp_of, events))
    except TypeError:  # times with and without a zone: compared as epoch seconds
        newest = None
    if newest is not None and newest.tzinfo is not None:
        return newest.timestamp()
    return max(event.timestamp.timestamp() for event in events)


_timestamp_of = operator.attrgetter("timestamp")


class LineDecoder:
    """Lines of one stream as events, with ``scan``'s format detection and parsers.

    ``format`` fixes the format (one of `apiwatch.sources.FORMATS`); else it is detected from
    the sample given to `prime` (or the first line). With ``redetect``, a line the current
    format refuses is detected on its own and parsed with what fits it.
    """

    def __init__(
        self,
        format: str | None = None,
        *,
        logins: LoginPatterns | None = DEFAULT_LOGINS,
        redetect: bool = False,
    ) -> None:
        self.format = format
        self.logins = logins
        self.redetect = redetect
        self.described: str | None = None
        self._parse: Callable[[str], Event | None] | None = None
        self._others: dict[str, Callable[[str], Event | None]] = {}

    @property
    def ready(self) -> bool:
        """Whether the format is known."""
        return self._parse is not None

    @property
    def line_parser(self) -> Callable[[str], Event | None]:
        """What parses one line as this decoder does, fastest: once the format is known (and
        without ``redetect``), the format's own parser; until then, the decoder itself."""
        if self._parse is None or self.redetect:
            return self
        return self._parse

    def prime(self, sample: Sequence[str]) -> None:
        """Detect the format from the first non-blank lines of the stream (`FormatUnknownError`
        when none fits); nothing happens once the format is known."""
        if self._parse is not None:
            return
        lines = [line for line in sample if line.strip()]
        if not lines:
            return
        found = self._detect(lines)
        self.described = found.describe()
        self._parse = found.parser(self.logins)

    def __call__(self, line: str) -> Event | None:
        """One line as an event (None: blank); `EventDecodeError` saying why not."""
        if self._parse is None:
            self.prime([line])
            if self._parse is None:
                return None
        try:
            return self._parse(line)
        except EventDecodeError:
            if not self.redetect:
                raise
        return self._other(line)

    def _detect(self, lines: list[str]) -> Detected:
        if self.format is None:
            return detect(lines)
        try:
            return detect(lines, (self.format,))
        except FormatUnknownError:
            return Detected((), (self.format,))

    def _other(self, line: str) -> Event | None:
        found = detect([line])  # FormatUnknownError (an EventDecodeError) when nothing fits
        key = found.describe()
        parse = self._others.get(key)
        if parse is None:
            if len(self._others) >= _MAX_FORMATS:
                self._others.clear()
            parse = self._others[key] = found.parser(self.logins)
        return parse(line)
