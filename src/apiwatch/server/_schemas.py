"""Response bodies as the OpenAPI document describes them (pydantic models FastAPI can render)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from pydantic import BaseModel, Field

from apiwatch.model import AllowEntry, Decision, Event
from apiwatch.model.alert import Alert, Incident

__all__ = [
    "ALERT_REF",
    "ALLOW_REF",
    "DECISION_REF",
    "EVENT_REF",
    "INCIDENT_REF",
    "AlertsPage",
    "ErrorBody",
    "EventsPage",
    "Health",
    "IncidentsPage",
    "IngestRefused",
    "IngestResult",
    "ReadOut",
    "ReadsPage",
    "RejectedLine",
    "SourceOut",
    "SourcesPage",
    "drop_validation_errors",
    "error_responses",
    "event_schemas",
]

_REF_TEMPLATE = "#/components/schemas/{name}"


class ErrorBody(BaseModel):
    """Every error: one clear sentence."""

    error: str
    message: str | None = Field(
        None, description="the same sentence, to requests from CrowdSec bouncers (their field)"
    )


class RejectedLine(BaseModel):
    line: int = Field(description="1-based line number in the (inflated) body")
    error: str = Field(description="why the line was not stored")


class IngestResult(BaseModel):
    """The batch is durably committed: what was stored, what was already there, what was not."""

    accepted: int = Field(description="events stored by this request")
    duplicates: int = Field(description="events not stored again (same event.id or replay)")
    replayed: bool = Field(description="the Idempotency-Key was already committed")
    rejected: list[RejectedLine]


class IngestRefused(BaseModel):
    """The body was refused; ``rejected`` lists the lines when none of them was valid."""

    error: str
    rejected: list[RejectedLine] = Field(default_factory=list)


EVENT_REF = "#/components/schemas/Event"
ALERT_REF = "#/components/schemas/Alert"
INCIDENT_REF = "#/components/schemas/Incident"
DECISION_REF = "#/components/schemas/Decision"
ALLOW_REF = "#/components/schemas/AllowEntry"


def event_schemas() -> dict[str, Any]:
    """JSON Schemas of `apiwatch.model.Event` and its parts, and of `Alert`, `Incident`,
    `Decision` and `AllowEntry`, as OpenAPI components."""
    _, components = msgspec.json.schema_components(
        [Event, Alert, Incident, Decision, AllowEntry], ref_template=_REF_TEMPLATE
    )
    return components


class AlertsPage(BaseModel):
    items: list[dict[str, Any]] = Field(
        description="alerts, oldest last_seen first",
        json_schema_extra={"items": {"$ref": ALERT_REF}},
    )
    next: str | None = Field(description="pass as cursor for the next page; null at the end")


class IncidentsPage(BaseModel):
    items: list[dict[str, Any]] = Field(
        description="incidents, oldest last_seen first",
        json_schema_extra={"items": {"$ref": INCIDENT_REF}},
    )
    next: str | None = Field(description="pass as cursor for the next page; null at the end")


class EventsPage(BaseModel):
    events: list[dict[str, Any]] = Field(
        description="ECS events, nested, in storage order (with any fields the sender added)",
        json_schema_extra={"items": {"$ref": EVENT_REF}},
    )
    next_cursor: str | None = Field(description="pass as cursor for the next page; null at end")


class SourceOut(BaseModel):
    key_name: str
    service: str
    host: str
    first_seen: datetime
    last_seen: datetime
    events: int
    events_last_hour: int


class SourcesPage(BaseModel):
    sources: list[SourceOut]


class ReadOut(BaseModel):
    at: datetime
    key_name: str
    what: str
    criteria: str
    returned: int


class ReadsPage(BaseModel):
    reads: list[ReadOut]


class Health(BaseModel):
    status: str


_MEANINGS = {
    400: "A parameter or the body is not valid (the message names it).",
    401: "No API key, or not a valid one.",
    403: "The API key lacks the scope this needs.",
    404: "There is nothing under this id.",
    408: "The body stopped arriving (or took too long); the connection is closed; send it again.",
    409: "No decision may act on this value: it is allowlisted or internal (the message says).",
    413: "The body is over a size limit.",
    415: "A content type or encoding this endpoint does not take.",
    503: "The store cannot be reached, or (ingest) too many uploads are in progress for this "
    "key or in all; retry after Retry-After seconds.",
    507: "The store is full; nothing of this request was stored; retry after Retry-After.",
}


def drop_validation_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Remove FastAPI's 422 entries: this API answers an invalid parameter with 400."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    return document


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses, all with `ErrorBody`."""
    return {status: {"model": ErrorBody, "description": _MEANINGS[status]} for status in statuses}
