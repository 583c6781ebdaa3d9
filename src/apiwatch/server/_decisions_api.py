"""Decisions: what bouncers pull (CrowdSec Local API compatible) and what admins add by hand.

For bouncers (scope ``bouncer``, key in ``X-Api-Key`` as CrowdSec bouncers send it, or
``Authorization: Bearer``; a missing or unknown key is 403, as CrowdSec answers, and every
error carries CrowdSec's ``message`` field, see `apiwatch.server._errors`):

* ``GET /v1/decisions/stream?startup=true|false`` → ``{"new": [...] | null, "deleted": [...] |
  null}``. ``startup=true`` answers every decision in force as ``new`` and restarts the key's
  cursor, streamed from a snapshot shared by the pulls until the decisions change (see
  `apiwatch.server._snapshot`); a key that never pulled gets the same.
  ``startup=false`` what changed since the key's last answered pull (each decision new
  once, and deleted or expired once; when a deleted decision's value is still under another
  decision, that one is sent again in ``new``, for bouncers that key by value). The cursor is
  kept in the store per key, per set of filters, and per ``X-Apiwatch-Instance`` when a client
  sends one (processes sharing one key each need their own). Only ``Ip`` and ``Range``
  decisions unless ``scopes=`` says otherwise (CrowdSec's default; apiwatch sensors ask for
  ``scopes=ip,range,username``); ``origins=``, ``scenarios_containing=`` and
  ``scenarios_not_containing=`` filter as CrowdSec's do.
* ``GET /v1/decisions?ip=|range=|scope=&value=|type=`` → the decisions in force that match, bans
  first, or ``null`` when there are none (CrowdSec's answer, which its bouncers test for).
* ``HEAD`` on both answers an empty 200; ``POST /v1/usage-metrics`` (recent bouncers' own
  counters) is accepted and dropped.

A decision is ``{"id", "origin", "type", "scope", "value", "duration", "until", "scenario",
"simulated"}``, ``duration`` being the Go duration *left* (``"3h59m12s"``). Simulated decisions
are never served. Unknown query parameters are ignored, as CrowdSec ignores them.

For admins (scope ``admin``): ``POST /v1/decisions`` (by hand; 409 for an allowlisted or
internal value), ``DELETE /v1/decisions/{id}``, and ``GET/POST/DELETE /v1/allowlist``.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures at run time.
import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from apiwatch.model import ConfigError, Decision, go_duration
from apiwatch.respond import DecisionRefusedError, manual_allow_entry, manual_decision
from apiwatch.server._errors import error_response
from apiwatch.server._schemas import ALLOW_REF, DECISION_REF
from apiwatch.server._schemas import error_responses as errors
from apiwatch.server._snapshot import SnapshotFilter
from apiwatch.server._state import ServerState, require, require_bouncer, server_state
from apiwatch.store import (
    ApiKey,
    DecisionChanges,
    DecisionFilter,
    stream_cursor,
)

__all__ = ["BouncerDecision", "DecisionStream", "router", "wire"]

_BOUNCER_SCOPES = ("Ip", "Range")
_INSTANCE_CHARS = frozenset(map(chr, range(0x21, 0x7F)))
_encode = msgspec.json.Encoder().encode

DecisionType = Literal["ban", "captcha", "throttle", "flag"]


class BouncerDecision(BaseModel):
    """A decision as CrowdSec bouncers read it."""

    id: int
    origin: str
    type: str
    scope: str = Field(description="Ip, Range or Username")
    value: str
    duration: str = Field(description="the time left, as a Go duration (3h59m12s)")
    until: str = Field(description="when it ends (RFC 3339, UTC)", json_schema_extra={
        "format": "date-time"})  # fmt: skip
    scenario: str
    simulated: bool


class DecisionStream(BaseModel):
    """What changed since the last pull (``null``: nothing in that section)."""

    new: list[BouncerDecision] | None
    deleted: list[BouncerDecision] | None


class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ip: str | None = Field(None, max_length=100, description="an address")
    range: str | None = Field(None, max_length=100, description="a CIDR network")
    username: str | None = Field(None, max_length=1000, description="an account name")

    def target(self) -> tuple[str, str]:
        """``(scope, value)`` of the one of ``ip``, ``range``, ``username`` given."""
        return _one_target(ip=self.ip, range=self.range, username=self.username)


class DecisionIn(_Target):
    """A decision to add by hand: exactly one of ``ip``, ``range``, ``username``."""

    type: DecisionType | None = Field(
        None, description="ban (default for ip and range), captcha, throttle, flag (default "
        "for username)",
    )  # fmt: skip
    duration: str = Field(max_length=40, description="e.g. 30m, 4h, 1h30m, 7d")
    reason: str = Field(max_length=1000, description="why; kept encrypted with the decision")


class AllowIn(_Target):
    """An allowlist entry: exactly one of ``ip``, ``range``, ``username``, and why."""

    reason: str = Field(max_length=1000)


class AllowPage(BaseModel):
    items: list[dict[str, Any]] = Field(json_schema_extra={"items": {"$ref": ALLOW_REF}})


class Deleted(BaseModel):
    deleted: int = Field(description="how many entries were removed (1)")


def _one_target(*, ip: str | None, range: str | None, username: str | None) -> tuple[str, str]:
    given = [(scope, value) for scope, value in (("Ip", ip), ("Range", range),
             ("Username", username)) if value is not None]  # fmt: skip
    if len(given) != 1:
        raise ConfigError("give exactly one of ip, range, username")
    return given[0]


def wire(decision: Decision, now: datetime) -> dict[str, Any]:
    """``decision`` as CrowdSec bouncers read it at ``now`` (its ``duration`` is the time left)."""
    until = decision.until.astimezone(UTC)
    return {
        "id": decision.id,
        "origin": decision.origin,
        "type": decision.type,
        "scope": decision.scope,
        "value": decision.value,
        "duration": go_duration((until - now).total_seconds()),
        "until": until.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "scenario": decision.scenario,
        "simulated": False,
    }


def _listed(text: str | None) -> tuple[str, ...]:
    """A comma-separated parameter as its non-empty items."""
    return tuple(item.strip() for item in (text or "").split(",") if item.strip())


def _scenario_filter(
    containing: str | None, not_containing: str | None
) -> Callable[[Decision], bool]:
    """Whether a decision's scenario contains one of ``containing`` and none of the others."""
    wanted, unwanted = _listed(containing), _listed(not_containing)

    def keep(decision: Decision) -> bool:
        scenario = decision.scenario
        return (not wanted or any(w in scenario for w in wanted)) and not any(
            u in scenario for u in unwanted
        )

    return keep


def _complete(record: msgspec.Struct) -> dict[str, Any]:
    """``record`` as JSON-ready builtins with every field, defaults included."""
    data: dict[str, Any] = msgspec.to_builtins(record)
    for field in msgspec.structs.fields(record):
        data.setdefault(field.encode_name, msgspec.to_builtins(getattr(record, field.name)))
    return data


def _json(body: object, status: int = 200) -> Response:
    return Response(_encode(body), status_code=status, media_type="application/json")


def _section(decisions: Sequence[Decision], now: datetime) -> list[dict[str, Any]] | None:
    return [wire(decision, now) for decision in decisions] or None


def router() -> APIRouter:
    """The decision and allowlist routes."""
    routes = APIRouter(tags=["decisions"])
    _bouncer_routes(routes)
    _admin_routes(routes)
    return routes


def _bouncer_routes(routes: APIRouter) -> None:
    bouncer = Depends(require_bouncer())

    @routes.get("/v1/decisions/stream", summary="Decision stream (CrowdSec bouncers)",
                response_model=DecisionStream, responses=errors(400, 403, 503))  # fmt: skip
    async def stream(
        *,
        request: Request,
        key: Annotated[ApiKey, bouncer],
        startup: Annotated[bool, Query(description="true: every decision in force")] = False,
        scopes: Annotated[str | None, Query(max_length=200, description="e.g. ip,range")] = None,
        origins: Annotated[str | None, Query(max_length=1000)] = None,
        scenarios_containing: Annotated[str | None, Query(max_length=1000)] = None,
        scenarios_not_containing: Annotated[str | None, Query(max_length=1000)] = None,
        instance: Annotated[
            str | None,
            Header(
                alias="X-Apiwatch-Instance",
                max_length=100,
                description="one cursor per instance sharing this key",
            ),
        ] = None,
    ) -> Response:
        """New and deleted decisions since this key's last pull (scope bouncer)."""
        if instance is not None and not set(instance) <= _INSTANCE_CHARS:
            raise ConfigError("X-Apiwatch-Instance: visible ASCII only")
        state = server_state(request)
        wanted = _listed(scopes) or _BOUNCER_SCOPES
        filters = (wanted, origins, scenarios_containing, scenarios_not_containing)
        bouncer_id = _bouncer_id(key, instance, *filters)
        keep = _scenario_filter(scenarios_containing, scenarios_not_containing)
        store = state.store
        cursor = (
            None if startup else await run_in_threadpool(store.decisions.bouncer_cursor, bouncer_id)
        )
        pulls = state.metrics.decision_streams.labels("true" if startup else "false")
        if cursor is None:  # a full pull, also for a key that never pulled
            full = SnapshotFilter(wanted, _listed(origins), keep, key=filters)
            return await _full_pull(state, bouncer_id, full, answered=pulls.inc)
        now = state.clock()
        changes = await run_in_threadpool(
            lambda: _pull(state, bouncer=bouncer_id, cursor=cursor, now=now, scopes=wanted,
                          origins=_listed(origins))
        )  # fmt: skip
        new = [d for d in changes.new if keep(d)]
        deleted = [d for d in changes.deleted if keep(d)]
        state.metrics.decisions_served.labels("new").inc(len(new))
        state.metrics.decisions_served.labels("deleted").inc(len(deleted))
        pulls.inc()
        return _json({"new": _section(new, now), "deleted": _section(deleted, now)})

    @routes.head("/v1/decisions/stream", include_in_schema=False)
    async def stream_head(key: Annotated[ApiKey, bouncer]) -> Response:
        """CrowdSec answers HEAD without reading (or moving the cursor): a connectivity check."""
        return Response(status_code=200, media_type="application/json")

    @routes.get("/v1/decisions", summary="Decisions in force (CrowdSec bouncers)",
                response_model=list[BouncerDecision] | None,
                responses=errors(400, 403, 503))  # fmt: skip
    async def lookup(
        *,
        request: Request,
        key: Annotated[ApiKey, bouncer],
        ip: Annotated[str | None, Query(max_length=100, description="an address")] = None,
        network: Annotated[
            str | None, Query(alias="range", max_length=100, description="a CIDR network")
        ] = None,
        scope: Annotated[
            str | None, Query(max_length=100, description="Ip, Range, Username")
        ] = None,
        scopes: Annotated[str | None, Query(max_length=200)] = None,
        value: Annotated[str | None, Query(max_length=1000)] = None,
        type: Annotated[str | None, Query(max_length=40)] = None,
        origins: Annotated[str | None, Query(max_length=1000)] = None,
        scenarios_containing: Annotated[str | None, Query(max_length=1000)] = None,
        scenarios_not_containing: Annotated[str | None, Query(max_length=1000)] = None,
        contains: Annotated[
            bool, Query(description="false: the decisions inside the range instead")
        ] = True,
    ) -> Response:
        """The decisions in force matching every criterion (``ip``/``range``: the decisions on
        that address or network, ranges containing it included), or ``null`` (scope bouncer)."""
        if ip is not None and network is not None:
            raise ConfigError("give ip or range, not both")
        criteria = DecisionFilter(
            scopes=_listed(scope) + _listed(scopes),
            value=value,
            ip=ip if ip is not None else network,
            contains=contains,
            type=type,
            origins=_listed(origins),
        )
        state = server_state(request)
        now = state.clock()
        found = await run_in_threadpool(_lookup, state, criteria, now)
        keep = _scenario_filter(scenarios_containing, scenarios_not_containing)
        state.metrics.decision_queries.inc()
        # Bans first: a bouncer in live mode (the nginx one) acts on the first decision only.
        found.sort(key=lambda d: (d.type != "ban", d.id))
        return _json(_section([d for d in found if keep(d)], now))

    @routes.head("/v1/decisions", include_in_schema=False)
    async def lookup_head(key: Annotated[ApiKey, bouncer]) -> Response:
        """CrowdSec answers HEAD with an empty 200 (bouncers use it as a connectivity check)."""
        return Response(status_code=200, media_type="application/json")

    @routes.post("/v1/usage-metrics", include_in_schema=False, status_code=201)
    async def usage_metrics(key: Annotated[ApiKey, bouncer]) -> Response:
        """Recent CrowdSec bouncers report their own counters here; apiwatch has its own
        (``/metrics``), so the report is accepted and not kept, rather than logged as a 404
        by every bouncer every few minutes."""
        return Response(status_code=201)


def _admin_routes(routes: APIRouter) -> None:
    admin = Depends(require("admin"))
    one_decision = {"content": {"application/json": {"schema": {"$ref": DECISION_REF}}}}

    @routes.post("/v1/decisions", summary="Add a decision by hand", status_code=201,
                 responses={201: {**one_decision, "description": "The decision, with its id."},
                            **errors(400, 401, 403, 409, 503)})  # fmt: skip
    async def add_decision(
        request: Request, key: Annotated[ApiKey, admin], body: DecisionIn
    ) -> Response:
        """Ban an address or network, or flag an account, for a while (scope admin). Refused
        with 409 for an allowlisted value or one in an internal network."""
        state = server_state(request)
        try:
            added = await run_in_threadpool(_add, state, key, body)
        except DecisionRefusedError as exc:
            return error_response(409, str(exc))
        return _json(_complete(added), 201)

    @routes.delete("/v1/decisions/{decision_id}", summary="Delete a decision",
                   responses={200: {**one_decision, "description": "The decision deleted."},
                              **errors(400, 401, 403, 404, 503)})  # fmt: skip
    async def delete_decision(
        request: Request,
        key: Annotated[ApiKey, admin],
        decision_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    ) -> Response:
        """Delete a decision (scope admin): bouncers get it as deleted on their next pull; 404
        when there is no such decision or it was already deleted."""
        state = server_state(request)
        store = state.store
        found = await run_in_threadpool(
            lambda: store.decisions.delete(decision_id, at=state.clock(), by=_by(key))
        )
        if found is None:
            return error_response(404, "no decision with this id, or it is already deleted")
        return _json(_complete(found))

    @routes.get("/v1/allowlist", summary="The allowlist", response_model=AllowPage,
                responses=errors(401, 403, 503))  # fmt: skip
    async def allow_list(request: Request, key: Annotated[ApiKey, admin]) -> Response:
        """Every address, network and account no decision may act on (scope admin)."""
        entries = await run_in_threadpool(server_state(request).store.allowlist.entries)
        return _json({"items": [_complete(entry) for entry in entries]})

    @routes.post("/v1/allowlist", summary="Add to the allowlist", status_code=201,
                 responses={201: {"content": {"application/json": {"schema": {"$ref": ALLOW_REF}}},
                                  "description": "The entry (an existing one gets the reason)."},
                            **errors(400, 401, 403, 503)})  # fmt: skip
    async def allow_add(request: Request, key: Annotated[ApiKey, admin], body: AllowIn) -> Response:
        """Allowlist an address, network or account (scope admin). Decisions already in force
        on it stay until deleted."""
        scope, value = body.target()
        state = server_state(request)
        entry = manual_allow_entry(scope, value, reason=body.reason, now=state.clock())
        store = state.store
        stored = await run_in_threadpool(lambda: store.allowlist.add(entry, by=_by(key)))
        return _json(_complete(stored), 201)

    @routes.delete("/v1/allowlist", summary="Remove from the allowlist", response_model=Deleted,
                   responses=errors(400, 401, 403, 404, 503))  # fmt: skip
    async def allow_delete(
        request: Request,
        key: Annotated[ApiKey, admin],
        ip: Annotated[str | None, Query(max_length=100)] = None,
        network: Annotated[str | None, Query(alias="range", max_length=100)] = None,
        username: Annotated[str | None, Query(max_length=1000)] = None,
    ) -> Response:
        """Remove the entry for exactly this address, network or account (scope admin)."""
        scope, value = _one_target(ip=ip, range=network, username=username)
        store = server_state(request).store
        done = await run_in_threadpool(lambda: store.allowlist.delete(scope, value, by=_by(key)))
        if not done:
            return error_response(404, "no allowlist entry for exactly this value")
        return _json({"deleted": 1})


def _bouncer_id(key: ApiKey, instance: str | None, *filters: object) -> str:
    """Whose cursor a pull moves: the key's, per ``X-Apiwatch-Instance`` and per set of
    filters (a client that changes its filters starts afresh instead of missing decisions)."""
    text = "\x1f".join(map(str, (instance or "", *filters)))
    return f"{key.id}/{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"


def _by(key: ApiKey) -> str:
    return f"key {key.name}"


async def _full_pull(
    state: ServerState, bouncer: str, wanted: SnapshotFilter, *, answered: Callable[[], None]
) -> Response:
    """Every decision in force, streamed from the snapshot as of the store's current change
    number (built when there is none yet); the bouncer's cursor restarts there. ``answered``
    is called once the whole answer is written."""
    store = state.store
    change = await run_in_threadpool(store.decisions.change)
    built = state.metrics.decision_snapshots.inc
    snapshot = await state.snapshots.at_least(store, wanted, change, built=built)
    now = state.clock()  # after the build: the snapshot holds all still in force at now
    cursor = stream_cursor(snapshot.change, now)
    await run_in_threadpool(lambda: store.decisions.save_bouncer_cursor(bouncer, cursor, now=now))
    served = state.metrics.decisions_served.labels("new")

    def done(count: int) -> None:
        served.inc(count)
        answered()

    return StreamingResponse(snapshot.body(now, done), media_type="application/json")


def _pull(
    state: ServerState,
    *,
    bouncer: str,
    cursor: str,
    scopes: Sequence[str],
    origins: Sequence[str],
    now: datetime,
) -> DecisionChanges:
    """What changed since ``cursor``, moving the bouncer's cursor when the answer says
    something (an empty delta leaves it: the next pull then covers both intervals)."""
    store = state.store
    changes = store.decisions.changes(cursor, now=now, scopes=scopes, origins=origins)
    if changes.new or changes.deleted:
        store.decisions.save_bouncer_cursor(bouncer, changes.cursor, now=now)
    return changes


def _lookup(state: ServerState, criteria: DecisionFilter, now: datetime) -> list[Decision]:
    found: list[Decision] = []
    cursor: str | None = None
    criteria = dataclasses.replace(criteria, at=now)
    while True:
        page = state.store.decisions.query(criteria, cursor=cursor, limit=1000)
        found += page.items
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def _add(state: ServerState, key: ApiKey, body: DecisionIn) -> Decision:
    scope, value = body.target()
    decision = manual_decision(
        scope, value, allowlist=state.store.allowlist, duration=body.duration, reason=body.reason,
        now=state.clock(), type=body.type,
    )  # fmt: skip
    return state.store.decisions.add([decision], by=_by(key))[0]
