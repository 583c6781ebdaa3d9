"""ECS NDJSON lines (apiwatch's own wire format, or any ECS producer's) as `Event`s.

Decoding is `apiwatch.model.decode_event`'s: nested or dotted keys, unknown fields kept in
`Event.extra`, errors naming the field. One thing is stricter here: a line without
``@timestamp`` is an error, because the codec would give it the current time, and an offline scan
runs on event time — a replay must not depend on when it runs. String values are taken as the
producer wrote them (the codec does not escape control characters).
"""

from __future__ import annotations

from apiwatch.model import Event, EventDecodeError, decode_event

__all__ = ["parse_ecs_line"]


def parse_ecs_line(line: str) -> Event | None:
    """One line of ECS NDJSON as an `Event`; None for a blank line.

    Raises `EventDecodeError` for a line that is not a JSON object, not a valid event, holds
    invalid UTF-8 (lone surrogates from ``surrogateescape``), or has no ``@timestamp``.
    """
    if not line or line.isspace():
        return None
    # A cheap substring test: the key is always spelt this way, nested or dotted.
    if "@timestamp" not in line:
        raise EventDecodeError("no @timestamp: an offline scan needs the time of each event")
    return decode_event(line)
