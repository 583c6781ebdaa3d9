"""Reading what detection found: ``GET /v1/alerts``, ``/v1/incidents``, ``/v1/incidents/{id}``.

Scope ``read``, as for events: alerts and incidents name accounts and addresses. Every read is
recorded in the read audit before it is answered. Records are JSON with every field present
(lists empty rather than left out), times in UTC.
"""

# No ``from __future__ import annotations``: FastAPI must see ``max_limit`` in the route
# signatures as a value, not as a name to resolve later.
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from apiwatch.model import ConfigError
from apiwatch.model.alert import Alert, Incident
from apiwatch.server._errors import error_response
from apiwatch.server._query_api import parse_moment
from apiwatch.server._schemas import INCIDENT_REF, AlertsPage, IncidentsPage
from apiwatch.server._schemas import error_responses as errors
from apiwatch.server._state import ServerState, only_query, require, server_state
from apiwatch.store import ApiKey, DetectionFilter, DetectionPage, ReadRecord

__all__ = ["router"]

_DATE_TIME = {"format": "date-time"}
_PARAMETERS = ("since", "until", "severity", "rule", "attacker.ip", "attacker_ip", "cursor",
               "limit")  # fmt: skip
_encode = msgspec.json.Encoder().encode

Severity = Literal["informational", "low", "medium", "high", "critical"]


def router(max_limit: int) -> APIRouter:
    """The detection read routes; ``limit`` may go up to ``max_limit``."""
    routes = APIRouter(tags=["detections"])
    known = [Depends(only_query(*_PARAMETERS))]
    refusals = errors(400, 401, 403, 503)

    @routes.get("/v1/alerts", summary="Alerts", response_model=AlertsPage, dependencies=known,
                responses=refusals)  # fmt: skip
    async def list_alerts(
        request: Request,
        key: Annotated[ApiKey, Depends(require("read"))],
        criteria: Annotated[DetectionFilter, Depends(_criteria)],
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=max_limit)] = 100,
    ) -> Response:
        """Alerts matching every criterion given, oldest ``last_seen`` first, a page at a time
        (scope read). An alert updated while pages are read moves to the end."""
        state = server_state(request)
        page = await run_in_threadpool(
            _audited, state, key, "alerts", criteria, cursor=cursor, limit=limit
        )
        return _page_response(page)

    @routes.get("/v1/incidents", summary="Incidents", response_model=IncidentsPage,
                dependencies=known, responses=refusals)  # fmt: skip
    async def list_incidents(
        request: Request,
        key: Annotated[ApiKey, Depends(require("read"))],
        criteria: Annotated[DetectionFilter, Depends(_criteria)],
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=max_limit)] = 100,
    ) -> Response:
        """Incidents matching every criterion given (``rule``: any of the incident's rules),
        oldest ``last_seen`` first, a page at a time (scope read)."""
        state = server_state(request)
        page = await run_in_threadpool(
            _audited, state, key, "incidents", criteria, cursor=cursor, limit=limit
        )
        return _page_response(page)

    @routes.get(
        "/v1/incidents/{incident_id}",
        summary="One incident",
        dependencies=[Depends(only_query())],
        responses={
            200: {
                "content": {"application/json": {"schema": {"$ref": INCIDENT_REF}}},
                "description": "The incident with its extent.",
            },
            **errors(400, 401, 403, 404, 503),
        },
    )
    async def get_incident(
        request: Request,
        key: Annotated[ApiKey, Depends(require("read"))],
        incident_id: Annotated[str, Path(max_length=200)],
    ) -> Response:
        """One incident by id (scope read); 404 when there is none with that id."""
        found = await run_in_threadpool(_audited_one, server_state(request), key, incident_id)
        if found is None:
            return error_response(404, "no incident has this id")
        return Response(_encode(complete(found)), media_type="application/json")

    return routes


def _criteria(
    *,
    since: Annotated[
        str | None,
        Query(description="ISO 8601; last seen at or after", json_schema_extra=_DATE_TIME),
    ] = None,
    until: Annotated[
        str | None, Query(description="ISO 8601; last seen before", json_schema_extra=_DATE_TIME)
    ] = None,
    severity: Annotated[Severity | None, Query(description="this severity or higher")] = None,
    rule: Annotated[str | None, Query(max_length=200, description="a rule name")] = None,
    attacker_ip: Annotated[
        str | None,
        Query(alias="attacker.ip", max_length=100, description="an address or a CIDR network"),
    ] = None,
    attacker_ip_plain: Annotated[
        str | None, Query(alias="attacker_ip", max_length=100, description="same as attacker.ip")
    ] = None,
) -> DetectionFilter:
    if (
        attacker_ip is not None
        and attacker_ip_plain is not None
        and attacker_ip != attacker_ip_plain
    ):
        raise ConfigError("attacker.ip: given twice with different values")
    network = attacker_ip if attacker_ip is not None else attacker_ip_plain
    return DetectionFilter(
        since=parse_moment("since", since),
        until=parse_moment("until", until),
        severity=severity,
        rule=rule,
        attacker_ip=network.strip() if network is not None else None,
    )


def _audited(
    state: ServerState,
    key: ApiKey,
    what: str,
    criteria: DetectionFilter,
    *,
    cursor: str | None,
    limit: int,
) -> DetectionPage[Alert] | DetectionPage[Incident]:
    store = state.store
    read = store.detections.alerts if what == "alerts" else store.detections.incidents
    page: DetectionPage[Alert] | DetectionPage[Incident] = read(
        criteria, cursor=cursor, limit=limit
    )
    store.audit.record(
        ReadRecord(datetime.now(UTC), key.name, what, criteria.describe(), len(page.items))
    )
    return page


def _audited_one(state: ServerState, key: ApiKey, incident_id: str) -> Incident | None:
    found = state.store.detections.incident(incident_id)
    criteria = "id=" + incident_id.encode("unicode_escape").decode("ascii")
    state.store.audit.record(
        ReadRecord(datetime.now(UTC), key.name, "incident", criteria, int(found is not None))
    )
    return found


def _page_response(page: DetectionPage[Alert] | DetectionPage[Incident]) -> Response:
    body = {"items": [complete(item) for item in page.items], "next": page.next_cursor}
    return Response(_encode(body), media_type="application/json")


def complete(record: Alert | Incident) -> dict[str, Any]:
    """``record`` as JSON-ready builtins with every field, defaults included (the structs leave
    out empty lists and the like when encoded)."""
    data: dict[str, Any] = msgspec.to_builtins(record)
    for field in msgspec.structs.fields(record):
        if field.encode_name not in data:
            value = getattr(record, field.name)
            data[field.encode_name] = msgspec.to_builtins(value)
    return data
