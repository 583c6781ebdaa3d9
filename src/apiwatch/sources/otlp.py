"""OpenTelemetry log records (OTLP logs, JSON or protobuf) as `Event`s.

What an app instrumented with OpenTelemetry exports to ``/v1/logs``: resource logs, scope logs,
log records. A record becomes an event by the OpenTelemetry semantic conventions:

=============================================  ==========================================
OTel attribute (older name)                    ECS
=============================================  ==========================================
``timeUnixNano`` (else ``observedTimeUnixNano``)  ``@timestamp``
``http.request.method`` (``http.method``)      ``http.request.method``
``url.path``, ``url.query`` (``http.target``, ``url.full``)  ``url.path``, ``url.query``
``http.route``                                 ``labels.route`` (the route rules group by)
``http.response.status_code`` (``http.status_code``)  ``http.response.status_code``
``client.address`` (``http.client_ip``)        ``source.ip`` (or ``source.address``)
``user_agent.original`` (``http.user_agent``)  ``user_agent.original``
``user.name``; ``user.id``, ``enduser.id``     ``user.name``; ``user.id``
``event.action``, ``event.outcome``            ``event.action``, ``event.outcome``
resource ``service.name``, ``host.name``       ``service.name``, ``host.name``
``traceId``; ``severityText``                  ``trace.id``; ``log.level``
=============================================  ==========================================

A record with an HTTP request (a method and a path) is a request event with the login inference
access logs get (`apiwatch.sources._http.request_event`), unless ``event.action`` names the
action. A record without one whose body is a line ``scan`` reads (an access-log line, ECS JSON)
is decoded as that line. Any other record is refused with the reason: apiwatch cannot tell what
happened in it. The id of each event is the record's ``log.record.uid`` (apiwatch's OTLP
forwarder sets it to the event's id), else `stable_id` of the record, so an exporter's retry of
a batch stores nothing twice.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from apiwatch.model import Action, Event, EventDecodeError, Host, Log, Service, Trace, User
from apiwatch.model import printable_text as safe
from apiwatch.sources._http import client_address, request_event, split_target
from apiwatch.sources.live import LineDecoder, stable_id
from apiwatch.sources.logins import DEFAULT_LOGINS, LoginPatterns

__all__ = ["DATASET", "OtlpBatch", "otlp_events"]

_EVENT_ID = re.compile(r"[0-9a-f]{32}")

DATASET = "otlp.logs"
_ACTIONS = frozenset(action.value for action in Action)
_encode = msgspec.json.Encoder(order="deterministic").encode


class OtlpBatch(msgspec.Struct):
    """What one export gave: its events, and each refused record's reason."""

    events: list[Event]
    refused: list[str]
    records: int


def otlp_events(
    request: dict[str, Any],
    *,
    logins: LoginPatterns | None = DEFAULT_LOGINS,
    ids_base64: bool = False,
) -> OtlpBatch:
    """The events of an ``ExportLogsServiceRequest`` in its JSON mapping (lowerCamelCase
    keys). ``ids_base64``: trace ids are base64 (protobuf decoded by ``MessageToDict``)
    rather than OTLP/JSON's hex."""
    batch = OtlpBatch([], [], 0)
    decoder = LineDecoder(logins=logins, redetect=True)
    for resource_logs in _list(request.get("resourceLogs")):
        resource = _attributes(_dict(resource_logs.get("resource")).get("attributes"))
        for scope_logs in _list(resource_logs.get("scopeLogs")):
            for record in _list(scope_logs.get("logRecords")):
                batch.records += 1
                try:
                    event = _event(record, resource, logins, decoder, ids_base64)
                except EventDecodeError as exc:
                    batch.refused.append(exc.reason)
                    continue
                event.event.id = _record_id(record, resource)
                batch.events.append(event)
    return batch


def _record_id(record: dict[str, Any], resource: dict[str, Any]) -> str:
    """The record's ``log.record.uid`` when it has one (an apiwatch event id as is, another
    uid made one), else a digest of the record and its resource."""
    uid = _attributes(record.get("attributes")).get("log.record.uid")
    if isinstance(uid, str) and uid:
        return uid if _EVENT_ID.fullmatch(uid) else stable_id("otlp-uid", uid)
    return stable_id("otlp", hashlib.sha256(_encode([resource, record])).hexdigest())


def _event(
    record: dict[str, Any],
    resource: dict[str, Any],
    logins: LoginPatterns | None,
    decoder: LineDecoder,
    ids_base64: bool,
) -> Event:
    attrs = _attributes(record.get("attributes"))
    body = _value(_dict(record.get("body")))
    if isinstance(body, dict):
        attrs = {**body, **attrs}
    method = _text(attrs, "http.request.method", "http.method")
    path, query = _path(attrs)
    if method is None or path is None:
        if isinstance(body, str) and body.strip():
            try:
                event = decoder(body)
            except EventDecodeError:
                event = None  # refused below, unless event.action says what happened
            if event is not None:
                return _enrich(event, record, resource, attrs, ids_base64)
        action = _text(attrs, "event.action")
        if action is None:
            raise EventDecodeError(
                "a log record with no HTTP request (http.request.method and url.path), no "
                "event.action, and no body apiwatch reads as a log line"
            )
    when = _time(record)
    status = _status(attrs)
    addr = _text(attrs, "client.address", "http.client_ip") or "-"
    event = request_event(
        when,
        client_address(addr),
        method,
        path or "",
        query,
        status,
        _text(attrs, "user_agent.original", "http.user_agent"),
        _text(attrs, "user.name"),
        dataset=DATASET,
        logins=logins,
    )
    if path is None:
        event.url = None
    return _enrich(event, record, resource, attrs, ids_base64)


def _enrich(
    event: Event,
    record: dict[str, Any],
    resource: dict[str, Any],
    attrs: dict[str, Any],
    ids_base64: bool,
) -> Event:
    """What OTel says beyond the request: action and outcome given, account id, route,
    service, host, trace and level (values made printable)."""
    action = _text(attrs, "event.action")
    if action is not None:
        if action not in _ACTIONS and not action.replace("_", "").isalnum():
            raise EventDecodeError(f"event.action {action[:40]!r} is not an action name")
        event.event.action = action
    outcome = _text(attrs, "event.outcome")
    if outcome in ("success", "failure", "unknown"):
        event.event.outcome = outcome
    user_id = _text(attrs, "user.id", "enduser.id")
    if user_id is not None:
        event.user = event.user or User()
        event.user.id = user_id
    route = _text(attrs, "http.route")
    if route is not None:
        event.labels["route"] = route
    service = _text(resource, "service.name")
    if service is not None and event.service is None:
        event.service = Service(name=service)
    host = _text(resource, "host.name")
    if host is not None and event.host is None:
        event.host = Host(name=host)
    trace = _trace_id(record.get("traceId"), ids_base64)
    if trace is not None and event.trace is None:
        event.trace = Trace(id=trace)
    level = record.get("severityText")
    if isinstance(level, str) and level and event.log is None:
        event.log = Log(level=safe(level.lower()))
    return event


def _time(record: dict[str, Any]) -> datetime:
    for key in ("timeUnixNano", "observedTimeUnixNano"):
        value = record.get(key)
        try:
            nanos = int(value) if value is not None else 0
        except (TypeError, ValueError):
            raise EventDecodeError(f"{key}: {str(value)[:40]!r} is not a number") from None
        if nanos > 0:
            try:
                return datetime.fromtimestamp(nanos / 1e9, UTC)
            except (ValueError, OverflowError, OSError):
                raise EventDecodeError(f"{key}: {nanos} is not a time") from None
    raise EventDecodeError("a log record with no time (timeUnixNano, observedTimeUnixNano)")


def _path(attrs: dict[str, Any]) -> tuple[str | None, str | None]:
    path = _raw(attrs, "url.path")
    if path is not None:
        query = _raw(attrs, "url.query")
        return safe(path), safe(query) if query else None
    target = _raw(attrs, "http.target", "url.full")
    if target is None:
        return None, None
    _, path, query = split_target(target)
    return path, query


def _status(attrs: dict[str, Any]) -> int | None:
    value = attrs.get("http.response.status_code", attrs.get("http.status_code"))
    try:
        status = int(value) if value is not None else None
    except (TypeError, ValueError):
        raise EventDecodeError(f"http.response.status_code: {str(value)[:20]!r}") from None
    if status is not None and not 100 <= status <= 999:
        raise EventDecodeError(f"http.response.status_code: {status} is not an HTTP status")
    return status


def _trace_id(value: Any, ids_base64: bool) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    if ids_base64:
        try:
            return base64.b64decode(value, validate=True).hex() or None
        except ValueError:
            return None
    return (
        value.lower()
        if len(value) == 32 and all(c in "0123456789abcdefABCDEF" for c in value)
        else None
    )


def _raw(attrs: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = attrs.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _text(attrs: dict[str, Any], *names: str) -> str | None:
    value = _raw(attrs, *names)
    return None if value is None else safe(value)


def _attributes(values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in _list(values):
        key = item.get("key")
        if isinstance(key, str):
            out[key] = _value(_dict(item.get("value")))
    return out


def _value(value: dict[str, Any]) -> Any:
    """An OTLP ``AnyValue`` as Python (int64 may come as a string, as OTLP/JSON allows)."""
    for key, convert in _ANY_VALUES:
        if key in value:
            return convert(value[key])
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _kvlist(value: Any) -> dict[str, Any]:
    return _attributes(_dict(value).get("values"))


def _array(value: Any) -> list[Any]:
    return [_value(_dict(item)) for item in _list(_dict(value).get("values"))]


_ANY_VALUES: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("stringValue", lambda v: v),
    ("intValue", _int),
    ("boolValue", lambda v: v),
    ("doubleValue", lambda v: v),
    ("kvlistValue", _kvlist),
    ("arrayValue", _array),
)


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
