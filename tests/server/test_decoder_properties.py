"""Properties of the ingest decoder (`apiwatch.server.ingest.decode_body`) on arbitrary input."""

from __future__ import annotations

import json

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from apiwatch.model import decode_event
from apiwatch.server.ingest import decode_body

LIMIT = 4096

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
# Objects that look like events: ECS keys (nested or dotted) with arbitrary JSON values.
ecs_keys = st.sampled_from(
    ["@timestamp", "event", "event.action", "event.id", "source", "source.ip", "user.name",
     "http", "http.response.status_code", "labels", "cloud.region", "message", "url"]
)  # fmt: skip
event_like = st.dictionaries(ecs_keys | st.text(max_size=8), json_values, max_size=6)
lines = st.one_of(
    st.binary(max_size=200),
    event_like.map(lambda doc: json.dumps(doc).encode()),
    st.just(b'{"@timestamp": "2024-05-01T12:00:00Z", "event": {"action": "x", "id": "1"}}'),
)


def numbered_non_blank(body: bytes) -> list[int]:
    return [n for n, text in enumerate(body.split(b"\n"), start=1) if text.strip(b" \t\r")]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise_and_every_line_is_accounted_for(body: bytes) -> None:
    """Any bytes: no exception, and each non-blank line is accepted or rejected, never both."""
    result = decode_body(body, max_line_bytes=LIMIT)
    rejected = [r.line for r in result.rejected]
    assert len(result.accepted) + len(rejected) == len(numbered_non_blank(body))
    assert set(rejected) <= set(numbered_non_blank(body))
    assert all(r.error for r in result.rejected)


@settings(max_examples=300, deadline=None)
@given(st.lists(lines, max_size=8))
def test_event_like_lines_are_accepted_or_rejected_by_number(parts: list[bytes]) -> None:
    """Event-like lines: each accepted payload is one JSON line that decodes to the same event."""
    body = b"\n".join(parts)
    result = decode_body(body, max_line_bytes=LIMIT)
    rejected = [r.line for r in result.rejected]
    assert rejected == sorted(set(rejected))
    assert len(result.accepted) + len(rejected) == len(numbered_non_blank(body))
    for stored in result.accepted:
        assert b"\n" not in stored.payload
        again = decode_event(stored.payload)
        # The fast path keeps unmodelled fields in the payload only; the modelled ones agree.
        assert msgspec.structs.replace(again, extra={}) == msgspec.structs.replace(
            stored.event, extra={}
        )
