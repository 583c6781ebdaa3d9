"""`RequestLines`: a request event's ECS JSON line, assembled without building the `Event`.

The line is byte for byte what encoding `request_event`'s `Event` with msgspec gives (a test pins
it for random and hostile values): the same judgement (`judge`), the same keys in the same order,
the same omissions, and every value that varies per request encoded by msgspec itself, so its
escaping is msgspec's own. What does not vary is encoded once and kept as bytes: an action's
kind, category, type, severity and log; each status code's ``http.response``; the service, host
and ECS version; and, by the caller, a client's ``source`` and ``user_agent`` parts (the sensor
keeps them on the client's cached `Identity`).

It is for outputs that need only the line (a file, the shipper's journal): building the nested
structs and walking them again to encode them costs a request more than joining bytes does.
Most requests are plain (no verdict of their own, failure, query, user or trace): `plain_parts`
cuts such a request's line around what varies (time, event id, duration, path), and `plain`
splices those into the parts, which the caller keeps per client, method, route and status.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

import msgspec

from apiwatch.model.defaults import ACTION_DEFAULTS, ActionDefaults
from apiwatch.model.event import ECS_VERSION, Ecs, Host, HttpResponse, Service
from apiwatch.model.request_event import Verdict, judge

__all__ = ["PlainParts", "RequestLines", "encode_part", "wall_time"]

_encode = msgspec.json.Encoder().encode
#: A struct or value as msgspec writes it inside an event (``source``, ``user_agent`` parts).
encode_part: Final = _encode
_ECS: Final = b',"ecs":' + _encode(Ecs(version=ECS_VERSION)) + b"}"
_ABSENT: Final = b""


class _ActionParts:
    """An action's fixed fields as JSON fragments, around the per-request ones."""

    __slots__ = ("head", "log", "middle", "severity")

    def __init__(self, fixed: ActionDefaults) -> None:
        self.head = b',"event":{"action":' + _encode(fixed.action) + b',"id":'
        middle = b',"kind":"event"'
        if fixed.category:
            middle += b',"category":' + _encode(fixed.category)
        if fixed.type:
            middle += b',"type":' + _encode(fixed.type)
        self.middle = middle + b',"outcome":'
        severity = fixed.severity
        self.severity = b',"severity":%d' % severity if severity is not None else _ABSENT
        self.log = b',"log":' + _encode(fixed.log) if fixed.log is not None else _ABSENT


_PARTS: Final = {fixed: _ActionParts(fixed) for fixed in ACTION_DEFAULTS.values()}
_OUTCOMES: Final = {name: _encode(name) for name in ("success", "failure", "unknown")}
_RESPONSES: dict[int, bytes] = {}
# ``{"method":"GET","id":`` for the common methods: no encoding of the method per request.
_METHODS: Final = {
    name: b'{"method":' + _encode(name) + b',"id":'
    for name in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
}
_NS: Final = 1_000_000_000
_UNIX_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def wall_time(timestamp_ns: int) -> datetime:
    """The UTC time, to the microsecond, of a ``time.time_ns()`` reading: the `Event`'s
    ``@timestamp`` for the line `RequestLines.line` writes from the same reading."""
    return _UNIX_EPOCH + timedelta(0, 0, timestamp_ns // 1000)  # exact, unlike a float


class _Second:
    """``"@timestamp"`` up to the seconds, for the last second seen (one per second to make)."""

    __slots__ = ("prefix", "second")

    def __init__(self, second: int) -> None:
        self.second = second
        # msgspec writes ``"2026-03-02T01:02:03Z"``: the prefix leaves out the ``Z"``.
        self.prefix = b'{"@timestamp":' + _encode(datetime.fromtimestamp(second, UTC))[:-2]


_last_second = _Second(0)
_EPOCH: Final = _last_second.prefix + b'Z"'
# Values a plain request's line is first written with, to cut it around them (`plain_parts`).
_PROBE_ID: Final = "\x00apiwatch-event-id\x00"
_PROBE_PATH: Final = "\x00apiwatch-path\x00"
_PROBE_DURATION: Final = 987_654_321_987_654_321
_CUT_ID: Final = _encode(_PROBE_ID)
_CUT_PATH: Final = _encode(_PROBE_PATH)
_CUT_DURATION: Final = b',"duration":%d' % _PROBE_DURATION

#: A plain request's line cut around its event id (which is also its request id), its duration
#: and its path: ``(head, middle, after_duration, before_path, tail)`` (`RequestLines.plain`).
PlainParts = tuple[bytes, bytes, bytes, bytes, bytes]


def _response(status: int) -> bytes:
    """``"response":...}`` (closing ``http``) for a status; three-digit codes are cached."""
    part = b',"response":' + _encode(HttpResponse(status_code=status)) + b"}"
    if 100 <= status <= 999:
        _RESPONSES[status] = part
    return part


def _user(name: str | None, user_id: str | None) -> bytes:
    if name is None:
        return b',"user":{"id":' + _encode(user_id) + b"}"
    if user_id is None:
        return b',"user":{"name":' + _encode(name) + b"}"
    return b',"user":{"name":' + _encode(name) + b',"id":' + _encode(user_id) + b"}"


def _request(method: str | None, request_id: str | None) -> bytes:
    if method is None:
        return b'{"id":' + _encode(request_id) + b"}" if request_id is not None else b"{}"
    if request_id is None:
        return b'{"method":' + _encode(method) + b"}"
    return b'{"method":' + _encode(method) + b',"id":' + _encode(request_id) + b"}"


def _url(path: str | None, query: str | None) -> bytes:
    if path is None:
        return b',"url":{"query":' + _encode(query) + b"}" if query is not None else b',"url":{}'
    return b',"url":{"path":' + _encode(path) + b',"query":' + _encode(query) + b"}"


class RequestLines:
    """Request event lines for one producer (its ``service`` and ``host``, encoded once)."""

    def __init__(self, service: Service | None, host: Host | None) -> None:
        self._origin = (b',"service":' + _encode(service) if service is not None else _ABSENT) + (
            b',"host":' + _encode(host) if host is not None else _ABSENT
        )

    def line(  # noqa: PLR0917 - positional, in `request_event`'s order, for the same reason
        self,
        verdict: Verdict | None,
        status: int,
        attack_tool: str | None,
        timestamp_ns: int,
        event_id: str,
        method: str | None,
        path: str | None,
        source: bytes,
        labels: dict[str, str],
        request_id: str | None = None,
        query: str | None = None,
        duration: int | None = None,
        user_agent: bytes | None = None,
        user_name: str | None = None,
        login_user: str | None = None,
        user_id: str | None = None,
        trace_id: str | None = None,
        failure: str | None = None,
    ) -> bytes:
        """`request_event`'s event as one ECS JSON line (no newline), without building it.

        ``timestamp_ns`` is a ``time.time_ns()`` reading: the event's time is
        ``wall_time(timestamp_ns)``. ``source`` and ``user_agent`` are those parts already
        encoded (`encode_part`).
        """
        global _last_second  # noqa: PLW0603 - a one-entry cache, replaced whole (thread-safe)
        fixed, outcome, is_login = judge(verdict, status, attack_tool, failure, labels)
        if is_login and login_user:
            user_name = login_user
        parts = _PARTS[fixed]
        second, rest = divmod(timestamp_ns, _NS)
        stamp = _last_second
        if stamp.second != second:
            stamp = _last_second = _Second(second)
        micros = rest // 1000
        quoted_id = _encode(event_id)
        if request_id is None or method is None or method not in _METHODS:
            request = _request(method, request_id)
        else:  # the common case, inline: a known method and an id (often the event's own)
            rid = quoted_id if request_id is event_id else _encode(request_id)
            request = _METHODS[method] + rid + b"}"
        return b"".join(
            (
                b'%s.%06dZ"' % (stamp.prefix, micros) if micros else stamp.prefix + b'Z"',
                parts.head,
                quoted_id,
                parts.middle,
                _OUTCOMES.get(outcome) or _encode(outcome),
                b',"duration":%d' % duration if duration is not None else _ABSENT,
                parts.severity,
                b',"reason":' + _encode(failure) if failure is not None else _ABSENT,
                b"}",
                parts.log,
                b',"source":',
                source,
                b',"http":{"request":',
                request,
                _RESPONSES.get(status) or _response(status),
                b',"url":{"path":' + _encode(path) + b"}"
                if query is None and path is not None
                else _url(path, query),
                b',"user_agent":' + user_agent if user_agent is not None else _ABSENT,
                _user(user_name, user_id) if user_name or user_id else _ABSENT,
                b',"trace":{"id":' + _encode(trace_id) + b"}" if trace_id else _ABSENT,
                self._origin,
                b',"labels":' + _encode(labels) if labels else _ABSENT,
                _ECS,
            )
        )

    def plain_parts(
        self,
        *,
        status: int,
        attack_tool: str | None,
        method: str | None,
        source: bytes,
        labels: dict[str, str],
        user_agent: bytes | None,
    ) -> PlainParts | None:
        """`line` of a plain request, cut where its time, id, duration and path go.

        A plain request has no verdict of its own (no decision, no login), no failure, query,
        user or trace, and its event id as its request id: the rest of its line depends only on
        the arguments here, so a caller may keep the parts for every request alike and write
        each with `plain`. None when a value here holds a probe, so the cut would be unsure.
        """
        line = self.line(
            None, status, attack_tool, 0, _PROBE_ID, method, _PROBE_PATH, source, labels,
            _PROBE_ID, None, _PROBE_DURATION, user_agent,
        )  # fmt: skip
        pieces = line.removeprefix(_EPOCH).split(_CUT_ID)
        if not line.startswith(_EPOCH) or len(pieces) != 3:
            return None
        head, between, after = pieces
        middle = between.split(_CUT_DURATION)
        path = after.split(_CUT_PATH)
        if len(middle) != 2 or len(path) != 2:
            return None
        return head, middle[0], middle[1], path[0], path[1]

    def plain(
        self, parts: PlainParts, timestamp_ns: int, event_id: str, duration: int, path: str
    ) -> bytes:
        """The line of a plain request (see `plain_parts`): `line`'s bytes, for far less work."""
        global _last_second  # noqa: PLW0603 - a one-entry cache, replaced whole (thread-safe)
        head, middle, after_duration, before_path, tail = parts
        stamp = _last_second
        micros = timestamp_ns // 1000
        if stamp.second != micros // 1_000_000:
            stamp = _last_second = _Second(micros // 1_000_000)
        micros %= 1_000_000
        quoted_id = _encode(event_id)
        if not micros:  # msgspec writes no fraction then
            return b'%sZ"%s%s%s,"duration":%d%s%s%s%s%s' % (
                stamp.prefix, head, quoted_id, middle, duration, after_duration, quoted_id,
                before_path, _encode(path), tail,
            )  # fmt: skip
        return b'%s.%06dZ"%s%s%s,"duration":%d%s%s%s%s%s' % (
            stamp.prefix, micros, head, quoted_id, middle, duration, after_duration, quoted_id,
            before_path, _encode(path), tail,
        )  # fmt: skip
