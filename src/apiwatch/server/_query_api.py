"""Reading the store: ``GET /v1/events``, ``/v1/sources`` (scope ``read``) and ``/v1/reads``
(scope ``admin``). Every read of event data is recorded in the read audit before it is answered.
"""

import ipaddress
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from apiwatch.model import ConfigError
from apiwatch.server._schemas import EventsPage, ReadOut, ReadsPage, SourceOut, SourcesPage
from apiwatch.server._schemas import error_responses as errors
from apiwatch.server._state import ServerState, only_query, require, server_state
from apiwatch.store import ApiKey, EventFilter, Page, ReadRecord, SourceInfo

__all__ = ["parse_moment", "router"]

_NDJSON = "application/x-ndjson"
_DATE_TIME = {"format": "date-time"}
_SEARCH_PARAMETERS = (
    "since", "until", "source.ip", "source_ip", "user.name", "event.action", "event.outcome",
    "url.path", "status", "cursor", "limit", "format",
)  # fmt: skip


def router(max_limit: int) -> APIRouter:
    """The read routes; ``limit`` may go up to ``max_limit``."""
    routes = APIRouter(tags=["read"])

    @routes.get(
        "/v1/events",
        summary="Search events",
        dependencies=[Depends(only_query(*_SEARCH_PARAMETERS))],
        response_model=EventsPage,
        responses={
            200: {
                "content": {_NDJSON: {"schema": {"type": "string"}}},
                "description": "JSON (default), or NDJSON with the next cursor in X-Next-Cursor.",
                "headers": {"X-Next-Cursor": {"schema": {"type": "string"}}},
            },
            **errors(400, 401, 403, 503),
        },
    )
    async def list_events(
        *,
        request: Request,
        key: Annotated[ApiKey, Depends(require("read"))],
        since: Annotated[
            str | None,
            Query(description="ISO 8601; events at or after", json_schema_extra=_DATE_TIME),
        ] = None,
        until: Annotated[
            str | None, Query(description="ISO 8601; events before", json_schema_extra=_DATE_TIME)
        ] = None,
        source_ip: Annotated[
            str | None,
            Query(alias="source.ip", max_length=100, description="an address or a CIDR network"),
        ] = None,
        source_ip_plain: Annotated[
            str | None, Query(alias="source_ip", max_length=100, description="same as source.ip")
        ] = None,
        user_name: Annotated[str | None, Query(alias="user.name", max_length=1000)] = None,
        action: Annotated[str | None, Query(alias="event.action", max_length=200)] = None,
        outcome: Annotated[str | None, Query(alias="event.outcome", max_length=200)] = None,
        path: Annotated[
            str | None, Query(alias="url.path", max_length=4000, description="a prefix of url.path")
        ] = None,
        status: Annotated[
            int | None, Query(ge=0, le=999, description="http.response.status_code")
        ] = None,
        cursor: Annotated[str | None, Query(max_length=100)] = None,
        limit: Annotated[int, Query(ge=1, le=max_limit)] = 100,
        format: Annotated[Literal["json", "ndjson"] | None, Query()] = None,
    ) -> Response:
        """Events matching every criterion given, oldest first, a page at a time (scope read)."""
        criteria = EventFilter(
            since=parse_moment("since", since),
            until=parse_moment("until", until),
            source_ip=_network(source_ip, source_ip_plain),
            user_name=user_name,
            action=action,
            outcome=outcome,
            path_prefix=path,
            status=status,
        )
        state = server_state(request)
        page = await run_in_threadpool(_audited_query, state, key, criteria, cursor, limit)
        if format == "ndjson" or (format is None and _NDJSON in request.headers.get("accept", "")):
            headers = {"X-Next-Cursor": page.next_cursor} if page.next_cursor else None
            body = b"".join(line + b"\n" for line in page.lines)
            return Response(body, media_type=_NDJSON, headers=headers)
        cursor_json = msgspec.json.encode(page.next_cursor)
        body = b'{"events":[' + b",".join(page.lines) + b'],"next_cursor":' + cursor_json + b"}"
        return Response(body, media_type="application/json")

    @routes.get(
        "/v1/sources",
        summary="Sending sources",
        dependencies=[Depends(only_query())],
        response_model=SourcesPage,
        responses=errors(401, 403, 503),
    )
    async def list_sources(
        request: Request, key: Annotated[ApiKey, Depends(require("read"))]
    ) -> SourcesPage:
        """Every source that sent events (key, service.name, host.name): first and last seen,
        events in all and in the last hour (scope read)."""
        found = await run_in_threadpool(_audited_sources, server_state(request), key)
        return SourcesPage(sources=[SourceOut(**asdict(info)) for info in found])

    @routes.get(
        "/v1/reads",
        summary="The read audit",
        dependencies=[Depends(only_query("limit"))],
        response_model=ReadsPage,
        responses=errors(400, 401, 403, 503),
    )
    async def list_reads(
        request: Request,
        key: Annotated[ApiKey, Depends(require("admin"))],
        limit: Annotated[int, Query(ge=1, le=max_limit)] = 100,
    ) -> ReadsPage:
        """Who read event data, with which criteria, when, and how much, newest first (admin)."""
        records = await run_in_threadpool(server_state(request).store.audit.reads, limit)
        return ReadsPage(reads=[ReadOut(**asdict(record)) for record in records])

    return routes


def _audited_query(
    state: ServerState, key: ApiKey, criteria: EventFilter, cursor: str | None, limit: int
) -> Page:
    try:
        page = state.store.events.query(criteria, cursor=cursor, limit=limit)
    except OverflowError:
        raise ConfigError("cursor: not a cursor this server gave out") from None
    state.store.audit.record(
        ReadRecord(
            datetime.now(UTC),
            key.name,
            "events",
            state.store.audit.describe_filter(criteria),
            len(page.lines),
        )
    )
    return page


def _audited_sources(state: ServerState, key: ApiKey) -> list[SourceInfo]:
    now = datetime.now(UTC)
    found = state.store.events.sources(now)
    state.store.audit.record(ReadRecord(now, key.name, "sources", "all", len(found)))
    return found


def parse_moment(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 time (UTC when it names no zone); `ConfigError` naming ``name`` otherwise."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().upper())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment.timestamp()  # out of range once moved to UTC (year 1 at +14:00) fails here
    except (ValueError, OverflowError):
        raise ConfigError(f"{name}: not an ISO 8601 time, e.g. 2024-05-01T12:00:00Z") from None
    return moment


def _network(dotted: str | None, plain: str | None) -> str | None:
    if dotted is not None and plain is not None and dotted != plain:
        raise ConfigError("source.ip: given twice with different values")
    value = dotted if dotted is not None else plain
    if value is None:
        return None
    try:
        ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ConfigError(f"source.ip: {value!r} is not an IP address or a CIDR network") from None
    return value.strip()
