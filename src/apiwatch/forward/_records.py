"""`Record`: one thing a forwarder delivers (an event, an alert or an incident) as an ECS document.

Events go out as they were stored (the sender's ECS JSON). Alerts and incidents become ECS
``event.kind: alert`` documents (``event.dataset`` ``apiwatch.alert`` / ``apiwatch.incident``)
with the whole record under ``apiwatch.alert`` / ``apiwatch.incident``. Every document keeps
``event.id``: the id receivers deduplicate on (Elasticsearch's ``_id``), so that a batch
delivered twice after a retry is stored once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

import msgspec

from apiwatch.model.alert import Alert, Incident, severity_rank
from apiwatch.model.event import ECS_VERSION

__all__ = ["KINDS", "Record", "from_alert", "from_event_line", "from_incident"]

KINDS: Final = ("events", "alerts", "incidents")
"""What a forwarder may deliver, as named in ``apiwatch.toml`` (``kinds = [...]``)."""

_decode = msgspec.json.Decoder(dict[str, Any]).decode
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class Record(NamedTuple):
    """One document to deliver: its kind (a `KINDS` name), stable id, time and ECS body."""

    kind: str
    id: str
    timestamp: datetime
    document: dict[str, Any]
    #: The Sigma level of an alert or incident; ``informational`` for an event.
    severity: str = "informational"


def _moment(text: object) -> datetime:
    if not isinstance(text, str):
        return _EPOCH
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return _EPOCH
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def from_event_line(line: bytes) -> Record:
    """The record of one stored event line (ECS JSON); `msgspec.DecodeError` if it is not."""
    document = _decode(line)
    event = document.get("event")
    event_id = str(event.get("id", "")) if isinstance(event, dict) else ""
    return Record("events", event_id, _moment(document.get("@timestamp")), document)


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
    return Record(f"{kind}s", record.id, record.last_seen, document, record.severity)


def from_alert(alert: Alert) -> Record:
    """The ECS document of an alert."""
    return _detection("alert", alert, alert.rule)


def from_incident(incident: Incident) -> Record:
    """The ECS document of an incident."""
    return _detection("incident", incident, ",".join(incident.rules) or "incident")
