r"""Decoding an ingest body (NDJSON of ECS events) into lines to store and per-line rejections.

`decode_body` never raises for what a sender wrote: each non-blank line is either accepted (an
`apiwatch.store.StoredLine`) or rejected with its 1-based line number, one clear reason and the
kind of reason (`Rejection.reason`, the label of ``apiwatch_events_rejected_by_reason_total``):
``invalid`` (not an event), ``duplicate_key`` (a key given twice in one object: the indexes would
read one value, the stored line holds both), ``ecs`` (a categorization value ECS does not allow,
a ``source.ip`` that is not an address), and, with an `Admission`, ``future`` / ``past`` (event
time out of bounds) and ``binding`` (outside what the sending key may report).

Every stored event carries ``ecs.version``: a line without one is stored with `ECS_VERSION` added.

Most lines take a fast path: a typed ``msgspec`` decode straight into `Event`, keeping the
sender's own bytes as the payload so fields apiwatch does not model are stored verbatim. A line
the fast path cannot vouch for (dotted keys, ``\u`` escapes, deep nesting, a missing
``@timestamp`` or ``event.id``, a time without a zone, loose types such as
``"category": "web"``) goes through the full codec, `apiwatch.model.decode_event`, and is
stored as that codec re-encodes it. A line that is exactly the canonical encoding of its event
(what the sensor writes) needs no further look for duplicate keys; any other is checked with
`apiwatch.model.ecs.duplicate_key`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from apiwatch.model import (
    ApiwatchError,
    Event,
    EventDecodeError,
    decode_event,
    encode_event,
    plural,
)
from apiwatch.model.ecs import duplicate_key, ecs_problem
from apiwatch.model.event import ECS_VERSION
from apiwatch.server._admission import Admission
from apiwatch.server.settings import ServerSettings
from apiwatch.store import ApiKey, StoredLine

__all__ = [
    "Admission",
    "BatchTooLargeError",
    "DecodedBody",
    "Rejection",
    "admission_for",
    "decode_body",
]

# A ``{`` count past this (the codec's own nesting bound) sends a line to the full codec, which
# rejects objects nested deeper than that; braces inside strings only cost the slow path.
_MAX_BRACES = 64
# A dot in a key: a dot, then no quote up to a quote that a colon follows (in valid JSON only a
# key's closing quote is followed by a colon). Lines with ``\u`` escapes never take the fast
# path, so an escaped dot cannot hide a dotted key from this.
_DOTTED_KEY = re.compile(rb'\.[^"]*"[ \t\r\n]*:')
_WHITESPACE = b" \t\r"
_MAX_STATUS = 999
# Appended to a fast-path line that has no "ecs" key: where `Event` encodes it, last.
_ECS_SUFFIX = b',"ecs":{"version":"' + ECS_VERSION.encode() + b'"}}'


class _EventId(msgspec.Struct):
    id: str | None = None


class _Given(msgspec.Struct):
    """Whether the sender gave ``@timestamp`` and ``event.id`` (the model would fill them in,
    and then the sender's own line would not be the event stored)."""

    timestamp: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw, name="@timestamp")
    event: _EventId | None = None
    ecs: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)


_given = msgspec.json.Decoder(_Given)
_typed = msgspec.json.Decoder(Event)
_canonical = msgspec.json.Encoder()


class BatchTooLargeError(ApiwatchError, ValueError):
    """The body holds more lines than one request may carry."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """A line that was not stored: its 1-based number, why, and the kind of reason."""

    line: int
    error: str
    reason: str = "invalid"


@dataclass(slots=True)
class DecodedBody:
    """The accepted lines, in order, and the rejected ones."""

    accepted: list[StoredLine] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


def admission_for(settings: ServerSettings, key: ApiKey) -> Admission:
    """What a request with ``key`` arriving now is held to, under ``settings``."""
    return Admission.at(datetime.now(UTC), future_skew=settings.future_skew,
                        max_age=settings.max_event_age, key=key)  # fmt: skip


def decode_body(
    body: bytes,
    *,
    max_line_bytes: int,
    max_lines: int | None = None,
    admission: Admission | None = None,
) -> DecodedBody:
    """Split ``body`` on newlines and decode each non-blank line (see the module docstring);
    with ``admission``, also check each event's time and the sending key's binding.

    Raises `BatchTooLargeError` when there are more than ``max_lines`` non-blank lines.
    """
    result = DecodedBody()
    all_utf8 = _is_utf8(body)
    seen = 0
    for number, raw in enumerate(body.split(b"\n"), start=1):
        line = raw.strip(_WHITESPACE)
        if not line:
            continue
        seen += 1
        if max_lines is not None and seen > max_lines:
            raise BatchTooLargeError(f"more than {plural(max_lines, 'line')} in one request")
        outcome = _decode_line(line, max_line_bytes, checked_utf8=all_utf8)
        if isinstance(outcome, StoredLine):
            if admission is not None:
                refused = admission.problem(outcome.event)
                if refused is not None:
                    result.rejected.append(Rejection(number, refused[1], refused[0]))
                    continue
            result.accepted.append(outcome)
        else:
            result.rejected.append(Rejection(number, outcome[1], outcome[0]))
    return result


def _decode_line(
    line: bytes, max_line_bytes: int, *, checked_utf8: bool
) -> StoredLine | tuple[str, str]:
    """The line to store, or (the kind of reason, the reason) it is rejected."""
    if len(line) > max_line_bytes:
        return "invalid", f"line is {len(line)} bytes, over the {max_line_bytes}-byte limit"
    if not checked_utf8 and not _is_utf8(line):
        return "invalid", "not valid UTF-8"
    fast = _fast(line)
    if fast is not None:
        accepted, canonical = fast
        twice = None if canonical else duplicate_key(accepted.payload)
    else:
        decoded = _full(line)
        if not isinstance(decoded, StoredLine):
            return "invalid", decoded
        accepted, twice = decoded, duplicate_key(line)
    if twice is not None:
        return "duplicate_key", f"duplicate key: {twice} is given more than once"
    problem = ecs_problem(accepted.event)
    if problem is not None:
        return "ecs", problem
    unstorable = _unstorable(accepted.event)
    return ("invalid", unstorable) if unstorable is not None else accepted


def _full(line: bytes) -> StoredLine | str:
    """The line decoded by the full codec and stored as it re-encodes it, or why it is not an
    event."""
    try:
        event = decode_event(line)
        return StoredLine(event, encode_event(event))
    except EventDecodeError as exc:
        return exc.reason
    except (msgspec.MsgspecError, ValueError, TypeError, RecursionError) as exc:
        # The codec says what it knows; anything else about the line is the line's fault.
        return f"not a valid event: {exc}"


def _unstorable(event: Event) -> str | None:
    """Why an otherwise valid event cannot go into the indexed columns, if it cannot.

    Checked here, per line, because one such row would fail the whole group commit it is in.
    """
    response = event.http.response if event.http else None
    status = response.status_code if response else None
    if status is not None and not 0 <= status <= _MAX_STATUS:
        return f"http.response.status_code: {status} is not an HTTP status code"
    return None


def _fast(line: bytes) -> tuple[StoredLine, bool] | None:
    """The line decoded by the typed fast path, and whether it is exactly the canonical encoding
    of its event (as the sensor writes it, ``ecs`` perhaps left out); None when the full codec
    must look at it."""
    if b"\\u" in line or line.count(b"{") > _MAX_BRACES or _DOTTED_KEY.search(line):
        return None
    try:
        event = _typed.decode(line)
    except (msgspec.MsgspecError, RecursionError, UnicodeError):
        return None
    if event.timestamp.tzinfo is None:
        return None  # stored re-encoded, in UTC, so every stored time names its zone
    # A canonical line gave @timestamp and event.id (had the model made them up, its encoding
    # would differ) and each key once: nothing more to check.
    canonical = _canonical.encode(event)
    if canonical == line:
        return StoredLine(event, line), True
    if canonical.endswith(_ECS_SUFFIX) and canonical == line[:-1] + _ECS_SUFFIX:
        return StoredLine(event, canonical), True
    payload = _as_sent(line)
    return (StoredLine(event, payload), False) if payload is not None else None


def _as_sent(line: bytes) -> bytes | None:
    """The sender's line to store (with ``ecs.version`` added when it has none), or None when
    it left out ``@timestamp`` or ``event.id`` (the model would fill them in, and then the line
    would not be the event stored)."""
    try:
        given = _given.decode(line)
    except (msgspec.MsgspecError, RecursionError, UnicodeError):
        return None
    if not given.timestamp or given.event is None or given.event.id is None:
        return None
    if given.ecs:
        return line
    # Where `Event` writes it: last. A valid object ends with its closing brace.
    return line[:-1] + _ECS_SUFFIX if line.endswith(b"}") else None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
