"""The console's pages that read: overview, incidents, events (role viewer)."""

from __future__ import annotations

import csv
import io
import ipaddress
from datetime import UTC, datetime
from typing import Any

import msgspec
from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from apiwatch.model import ConfigError, Incident
from apiwatch.model.alert import SEVERITIES
from apiwatch.server._detect_api import complete
from apiwatch.server._query_api import parse_moment
from apiwatch.server._state import ServerState, server_state
from apiwatch.server.console import _data
from apiwatch.server.console._auth import Principal, signed_in_user
from apiwatch.server.console._routing import ConsoleRouter, render
from apiwatch.store import INCIDENT_STATES, DetectionFilter, EventFilter

__all__ = ["add_read_pages"]

EVENTS_PER_PAGE = 50
INCIDENTS_PER_PAGE = 50
EXPORT_CAP = 10_000
_EVENT_FIELDS = ("since", "until", "source.ip", "user.name", "event.action", "event.outcome",
                 "url.path", "status")  # fmt: skip
_encode = msgspec.json.Encoder().encode


def _text(request: Request, name: str, limit: int = 1000) -> str | None:
    value = request.query_params.get(name, "").strip()
    if len(value) > limit:
        raise ConfigError(f"{name}: at most {limit} characters")
    return value or None


def _cursor(request: Request) -> str | None:
    cursor = _text(request, "cursor", 40)
    if cursor is not None and not cursor.isdigit():
        raise ConfigError("cursor: not a cursor this console gave out")
    return cursor


def _page_number(request: Request) -> int:
    text = request.query_params.get("page", "1")
    return int(text) if text.isdigit() and 0 < len(text) < 7 else 1


def network(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not an IP address or a CIDR network") from None
    return value


def event_filter(request: Request) -> EventFilter:
    """The events search form as an `EventFilter`; `ConfigError` naming a field not valid."""
    status = _text(request, "status", 3)
    if status is not None and not status.isdigit():
        raise ConfigError("status: an HTTP status code, e.g. 401")
    return EventFilter(
        since=parse_moment("since", _text(request, "since", 40)),
        until=parse_moment("until", _text(request, "until", 40)),
        source_ip=network("source.ip", _text(request, "source.ip", 100)),
        user_name=_text(request, "user.name"),
        action=_text(request, "event.action", 200),
        outcome=_text(request, "event.outcome", 200),
        path_prefix=_text(request, "url.path", 4000),
        status=int(status) if status is not None else None,
    )


def _incident_filter(request: Request) -> DetectionFilter:
    severity = _text(request, "severity", 40)
    if severity is not None and severity not in SEVERITIES:
        raise ConfigError(f"severity: one of {', '.join(SEVERITIES)}")
    return DetectionFilter(
        since=parse_moment("since", _text(request, "since", 40)),
        until=parse_moment("until", _text(request, "until", 40)),
        severity=severity,
        rule=_text(request, "rule", 200),
        attacker_ip=network("attacker", _text(request, "attacker", 100)),
    )


def add_read_pages(console: ConsoleRouter) -> None:
    _overview(console)
    _incidents(console)
    _incident(console)
    _events(console)


def _overview(console: ConsoleRouter) -> None:
    @console.route("GET", "/", "viewer")
    async def overview(request: Request) -> Response:
        """Charts, open incidents, top attackers and accounts, sources, health."""
        who = signed_in_user(request)
        view = await run_in_threadpool(
            _data.overview, server_state(request), who, datetime.now(UTC)
        )
        return render(request, "overview.html", who, view=view, nav="overview")

    @console.route("GET", "/overview/live", "viewer")
    async def overview_live(request: Request) -> Response:
        """The overview's tables alone: what htmx polls to update the page."""
        who = signed_in_user(request)
        view = await run_in_threadpool(
            _data.overview, server_state(request), who, datetime.now(UTC)
        )
        return render(request, "_overview_live.html", who, view=view)

    @console.route("GET", "/overview/series.json", "viewer")
    async def overview_series(request: Request) -> Response:
        """The charts' per-minute data and incident markers."""
        who = signed_in_user(request)
        data = await run_in_threadpool(
            _data.overview_series, server_state(request), who, datetime.now(UTC)
        )
        return JSONResponse(data)


def _incidents(console: ConsoleRouter) -> None:
    @console.route("GET", "/incidents", "viewer")
    async def incidents(request: Request) -> Response:
        """Incidents, newest first, filtered by time, severity, rule, attacker and status."""
        who = signed_in_user(request)
        state = server_state(request)
        error = None
        try:
            criteria = _incident_filter(request)
        except ConfigError as exc:
            criteria, error = DetectionFilter(), str(exc)
        wanted = _text(request, "status", 40)
        if wanted is not None and wanted not in INCIDENT_STATES:
            wanted, error = None, f"status: one of {', '.join(INCIDENT_STATES)}"

        def read() -> tuple[list[Any], int]:
            found = _data.recent_incidents(state, criteria)
            states = state.store.console.incident_states()
            rows = [(i, _data.status_of(states, i.id)) for i in found]
            rows = [row for row in rows if wanted is None or row[1] == wanted]
            _data.audit(state, who, "incidents", criteria.describe(), len(rows))
            return rows, len(rows)

        rows, total = await run_in_threadpool(read)
        page = _page_number(request)
        shown = rows[(page - 1) * INCIDENTS_PER_PAGE : page * INCIDENTS_PER_PAGE]
        params = {k: v for k, v in request.query_params.items() if k != "page"}
        return render(request, "incidents.html", who, rows=shown, total=total, page=page,
                      more=page * INCIDENTS_PER_PAGE < total, params=params, error=error,
                      severities=SEVERITIES, states=INCIDENT_STATES, nav="incidents")  # fmt: skip


def _incident(console: ConsoleRouter) -> None:
    @console.route("GET", "/incidents/{incident_id}", "viewer")
    async def incident(request: Request, incident_id: str) -> Response:
        """One incident: timeline, attackers, accounts, objects, decisions, actions."""
        who = signed_in_user(request)
        state = server_state(request)
        view = await run_in_threadpool(
            _data.incident_view, state, who, incident_id[:200], _page_number(request)
        )
        if view is None:
            return render(request, "error.html", who, 404, message="No incident has this id.")
        offer = request.query_params.get("offer") == "allowlist"
        return render(request, "incident.html", who, view=view, offer_allowlist=offer,
                      done=request.query_params.get("done"), now=datetime.now(UTC),
                      nav="incidents")  # fmt: skip

    @console.route("GET", "/incidents/{incident_id}/timeline.json", "viewer")
    async def timeline(request: Request, incident_id: str) -> Response:
        """The attackers' requests per minute over the incident."""
        who = signed_in_user(request)
        state = server_state(request)
        found = await run_in_threadpool(state.store.detections.incident, incident_id[:200])
        if found is None:
            return JSONResponse({"error": "no incident has this id"}, 404)
        data = await run_in_threadpool(_data.incident_timeline, state, who, found)
        return JSONResponse(data)

    @console.route("GET", "/incidents/{incident_id}/export.{kind}", "viewer")
    async def export(request: Request, incident_id: str, kind: str) -> Response:
        """The incident's extent (attackers with requests, accounts, objects) as CSV or JSON,
        for the people who must notify users."""
        who = signed_in_user(request)
        if kind not in ("csv", "json"):
            return JSONResponse({"error": "export as csv or json"}, 404)
        state = server_state(request)
        found = await run_in_threadpool(_export_data, state, who, incident_id[:200])
        if found is None:
            return JSONResponse({"error": "no incident has this id"}, 404)
        incident, counts = found
        name = f"incident-{_safe_name(incident.id)}.{kind}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if kind == "json":
            body = complete(incident)
            body["attacker_requests"] = counts
            return Response(_encode(body), media_type="application/json", headers=headers)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(("kind", "value", "requests"))
        for row in _data.extent_rows(incident, counts):
            writer.writerow(tuple(_csv_cell(cell) for cell in row))
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def _export_data(
    state: ServerState, who: Principal, incident_id: str
) -> tuple[Incident, dict[str, int]] | None:
    found = state.store.detections.incident(incident_id)
    _data.audit(state, who, "incident export", f"id={incident_id!r}", int(found is not None))
    if found is None:
        return None
    counts = state.store.console.address_requests(
        found.attackers, found.first_seen, found.last_seen
    )
    return found, counts


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:80]


def _csv_cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _events(console: ConsoleRouter) -> None:
    @console.route("GET", "/events", "viewer")
    async def events(request: Request) -> Response:
        """Search events by time, address or network, account, action, outcome, path, status."""
        who = signed_in_user(request)
        state = server_state(request)
        error, page = None, None
        params = {k: request.query_params.get(k, "") for k in _EVENT_FIELDS}
        searched = any(params.values()) or "search" in request.query_params
        try:
            criteria = event_filter(request)
            cursor = _cursor(request)
            if searched:
                page = await run_in_threadpool(
                    _data.search_events, state, who, criteria, cursor, EVENTS_PER_PAGE
                )
        except ConfigError as exc:
            error = str(exc)
        return render(request, "events.html", who, page=page, params=params, error=error,
                      dig=_data.dig, nav="events")  # fmt: skip

    @console.route("GET", "/events/export", "viewer")
    async def export(request: Request) -> Response:
        """Up to 10,000 matching events as NDJSON (ECS, as stored)."""
        who = signed_in_user(request)
        try:
            criteria = event_filter(request)
        except ConfigError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        lines = await run_in_threadpool(
            _data.export_events, server_state(request), who, criteria, EXPORT_CAP
        )
        headers = {"Content-Disposition": 'attachment; filename="events.ndjson"'}
        body = b"".join(line + b"\n" for line in lines)
        return Response(body, media_type="application/x-ndjson", headers=headers)
