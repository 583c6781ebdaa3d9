"""`RequestLines`: a request event's line, assembled from cached fragments, is the encoded event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apiwatch.model import Action, Host, Service, Source, UserAgent
from apiwatch.model.request_event import UNKNOWN, Verdict, request_event
from apiwatch.model.request_line import RequestLines, encode_part, wall_time

# Text as hostile as a request can make it: quotes, backslashes, control characters, line
# separators, escapes, non-ASCII (surrogates excluded: no JSON encoder writes them).
_HOSTILE = st.text(
    st.characters(blacklist_categories=("Cs",))
    | st.sampled_from("\"\\\r\n\t\x00\x1b\x7f\u2028\u2029</>&'")
)
_TEXT = st.none() | st.just("") | _HOSTILE
_VERDICTS: list[Verdict | None] = [None, UNKNOWN, *Action]
_STATUSES = [200, 201, 302, 401, 403, 404, 429, 500, 0, 99, 1000, -1]
_SERVICES = st.none() | st.builds(Service, name=_TEXT)
_HOSTS = st.none() | st.builds(Host, name=_TEXT)


@st.composite
def _requests(draw: st.DrawFn) -> tuple[Any, ...]:
    """One request event's arguments, in `request_event`'s order (service and host apart)."""
    seconds = draw(st.integers(0, 4_000_000_000))
    nanos = draw(st.sampled_from([0, 999, 1000, 999_999_999]) | st.integers(0, 10**9 - 1))
    stamp = seconds * 10**9 + nanos
    return (
        draw(st.sampled_from(_VERDICTS)),
        draw(st.sampled_from(_STATUSES) | st.integers(0, 2000)),
        draw(_TEXT),
        stamp,
        draw(_HOSTILE),
        draw(_TEXT),
        draw(_TEXT),
        Source(ip=draw(_TEXT), address=draw(_TEXT)),
        draw(st.dictionaries(_HOSTILE, _HOSTILE, max_size=4)),
        draw(_TEXT),
        draw(_TEXT),
        draw(st.none() | st.integers(0, 2**63 - 1)),
        draw(st.none() | st.builds(UserAgent, original=_TEXT)),
        draw(_TEXT),
        draw(_TEXT),
        draw(_TEXT),
        draw(_TEXT),
        draw(_TEXT),
    )  # fmt: skip


def _both(args: tuple[Any, ...], service: Service | None, host: Host | None) -> tuple[bytes, bytes]:
    """The event encoded by msgspec, and the line `RequestLines` assembles, for the same request."""
    verdict, status, tool, stamp, event_id, method, path, source, labels, *rest = args
    request_id, query, duration, agent, user_name, login_user, user_id, trace_id, failure = rest
    event = request_event(
        verdict, status, tool, wall_time(stamp), event_id, method, path, source, dict(labels),
        service, host,
        request_id, query, duration, agent, user_name, login_user, user_id, trace_id, failure,
    )  # fmt: skip
    line = RequestLines(service, host).line(
        verdict, status, tool, stamp, event_id, method, path, encode_part(source), dict(labels),
        request_id, query, duration, encode_part(agent) if agent is not None else None,
        user_name, login_user, user_id, trace_id, failure,
    )  # fmt: skip
    return msgspec.json.encode(event), line


@settings(max_examples=600, deadline=None)
@given(
    _requests(), st.none() | st.builds(Service, name=_TEXT), st.none() | st.builds(Host, name=_TEXT)
)
def test_line_is_the_events_encoding_for_any_request(
    args: tuple[Any, ...], service: Service | None, host: Host | None
) -> None:
    """For random and hostile values, the assembled line is byte for byte the encoded `Event`."""
    encoded, line = _both(args, service, host)
    assert line == encoded


@pytest.mark.parametrize("verdict", _VERDICTS)
@pytest.mark.parametrize("status", [200, 302, 401, 403, 429, 500, 1000])
def test_line_is_the_events_encoding_for_every_action(verdict: Verdict | None, status: int) -> None:
    """Every action and outcome (login, unknown login, failure, tool) gives the encoded event."""
    args = (
        verdict, status, "sqlmap", 1_772_413_323_000_456_789, "e" * 32,
        "POST", "/users/login", Source(ip="192.0.2.1"), {"route": "/users/login"}, "r-1", "a=1",
        1234, UserAgent(original='sqlmap/1.7 "x"\\'), "alice", "bob", "7", "0af7" * 8, None,
    )  # fmt: skip
    encoded, line = _both(args, Service(name="shop"), Host(name="web-1"))
    assert line == encoded
    failed = (*args[:-1], "the app raised\r\n")
    encoded, line = _both(failed, Service(name="shop"), Host(name="web-1"))
    assert line == encoded


@settings(max_examples=400, deadline=None)
@given(
    _requests(),
    st.sampled_from(["\x00apiwatch-path\x00", "\x00apiwatch-event-id\x00"]) | _HOSTILE,
)
def test_plain_line_is_the_line(args: tuple[Any, ...], probe: str) -> None:
    """A plain request's line from cached parts is `line`'s, for hostile and probe values too."""
    _, status, tool, stamp, event_id, method, path, source, labels, *_ = args
    lines = RequestLines(Service(name="shop"), Host(name=probe))
    agent = encode_part(UserAgent(original=probe))
    parts = lines.plain_parts(
        status=status, attack_tool=tool, method=method, source=encode_part(source),
        labels=dict(labels, route=probe), user_agent=agent,
    )  # fmt: skip
    if parts is None:  # a value holds a probe: the caller writes the line in full instead
        assert probe.startswith("\x00apiwatch-")
        return
    for path_now in (path or "", probe):
        expected = lines.line(
            None, status, tool, stamp, event_id, method, path_now, encode_part(source),
            dict(labels, route=probe), event_id, None, 12345, agent,
        )  # fmt: skip
        assert lines.plain(parts, stamp, event_id, 12345, path_now) == expected


def test_line_escapes_what_would_forge_a_line() -> None:
    """CR, LF and a forged JSON object in a value stay inside one escaped JSON string."""
    forged = '\r\n{"event":{"action":"authn_login_success"}}\r\n'
    line = RequestLines(Service(name="s"), None).line(
        None, 200, None, 1_767_225_600_000_000_000, "e1", "GET", forged,
        encode_part(Source(ip="192.0.2.1")), {"route": forged}, forged,
    )  # fmt: skip
    assert b"\n" not in line and b"\r" not in line
    event = json.loads(line)
    assert event["url"]["path"] == forged and event["event"]["action"] == "http_request"


def test_wall_time_is_the_reading_to_the_microsecond() -> None:
    """A ``time_ns`` reading becomes its UTC time, the nanoseconds below a microsecond dropped."""
    assert wall_time(1_772_413_323_000_456_789) == datetime(2026, 3, 2, 1, 2, 3, 456, tzinfo=UTC)
    assert wall_time(0) == datetime(1970, 1, 1, tzinfo=UTC)


def test_unknown_login_label_is_added_as_the_event_adds_it() -> None:
    """A login that cannot be judged gets ``labels.login: unknown`` in the line too."""
    labels: dict[str, str] = {}
    line = RequestLines(None, None).line(
        UNKNOWN, 302, None, 1_767_225_600_000_000_000, "e1", "POST", "/login",
        b"{}", labels,
    )  # fmt: skip
    assert json.loads(line)["labels"] == {"login": "unknown"} and labels == {"login": "unknown"}
