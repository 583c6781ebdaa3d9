"""`Record`: one thing a forwarder delivers (an event, an alert or an incident) as an ECS document.

Events go out as they were stored (the sender's ECS JSON). Alerts and incidents become ECS
``event.kind: alert`` documents (``event.dataset`` ``apiwatch.alert`` / ``apiwatch.incident``)
with the whole record under ``apiwatch.alert`` / ``apiwatch.incident``. Every document keeps
``event.id``: the id receivers deduplicate on (Elasticsearch's ``_id``), so that a batch
delivered twice after a retry is stored once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from apiwatch.model.alert import Alert, Incident, severity_rank
from apiwatch.model.event import ECS_VERSION

__all__ = ["KINDS", "Record", "dotted", "from_alert", "from_event_line", "from_incident"]

KINDS: Final = ("events", "alerts", "incidents")
"""What a forwarder may deliver, as named in ``apiwatch.toml`` (``kinds = [...]``)."""

_decode = msgspec.json.Decoder(dict[str, Any]).decode
_encode = msgspec.json.Encoder().encode
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class _HeadEvent(msgspec.Struct):
    id: str | None = None


class _Head(msgspec.Struct):
    """The two fields a forwarder needs of a stored line, decoded without the rest."""

    timestamp: str | None = msgspec.field(name="@timestamp", default=None)
    event: _HeadEvent | None = None
    dotted_id: str | None = msgspec.field(name="event.id", default=None)


_decode_head = msgspec.json.Decoder(_Head).decode


class Record:
    """One document to deliver: its kind (a `KINDS` name), stable id, time, Sigma level
    (``informational`` for events) and ECS body, as JSON (`raw`) and as a dict (`document`).

    An event keeps the stored line as it is and decodes it only when a sink asks for the
    dict (syslog CEF, OTLP attributes); a sink that forwards JSON sends the line untouched.
    Once `document` has been asked for, `raw` is its encoding (a change to it is sent).
    """

    __slots__ = ("_document", "_raw", "id", "kind", "severity", "timestamp")

    def __init__(
        self,
        kind: str,
        record_id: str,
        timestamp: datetime,
        *,
        raw: bytes | None = None,
        document: dict[str, Any] | None = None,
        severity: str = "informational",
    ) -> None:
        self.kind, self.id, self.timestamp, self.severity = kind, record_id, timestamp, severity
        self._raw, self._document = raw, document

    @property
    def document(self) -> dict[str, Any]:
        if self._document is None:
            self._document = _decode(self._raw or b"{}")
        return self._document

    @property
    def raw(self) -> bytes:
        if self._document is not None or self._raw is None:
            return _encode(self.document)
        return self._raw

    def __repr__(self) -> str:
        return f"Record({self.kind!r}, {self.id!r}, {self.timestamp.isoformat()!r})"


def dotted(document: dict[str, Any], name: str) -> Any:
    """The value at ECS field ``name`` ("a.b.c") of a nested ``document``; None when absent."""
    value: Any = document
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _moment(text: object) -> datetime:
    if not isinstance(text, str):
        return _EPOCH
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return _EPOCH
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def from_event_line(line: bytes) -> Record:
    """The record of one stored event line (ECS JSON); `msgspec.DecodeError` if it is not
    a JSON object."""
    head = _decode_head(line)
    event_id = (head.event.id if head.event else None) or head.dotted_id or ""
    return Record("events", event_id, _moment(head.timestamp), raw=line)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _detection(kind: str, record: Alert | Incident, rule: str) -> Record:
    body = msgspec.to_builtins(record)
    document: dict[str, Any] = {
        "@timestamp": _iso(record.last_seen),
        "ecs": {"version": ECS_VERSION},
        "message": record.title,
        "event": {
            "kind": "alert",
            "id": record.id,
            "category": ["intrusion_detection"],
            "type": ["indicator"],
            "module": "apiwatch",
            "dataset": f"apiwatch.{kind}",
            "severity": severity_rank(record.severity),
            "start": _iso(record.first_seen),
            "end": _iso(record.last_seen),
        },
        "rule": {"name": rule},
        "apiwatch": {kind: body},
    }
    if record.attackers:
        document["source"] = {"ip": record.attackers[0]}
    return Record(
        f"{kind}s", record.id, record.last_seen, document=document, severity=record.severity
    )


def from_alert(alert: Alert) -> Record:
    """The ECS document of an alert."""
    return _detection("alert", alert, alert.rule)


def from_incident(incident: Incident) -> Record:
    """The ECS document of an incident."""
    return _detection("incident", incident, ",".join(incident.rules) or "incident")
