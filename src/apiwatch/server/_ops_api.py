"""Operations: ``/healthz`` (the process serves), ``/readyz`` (it can take events: the committer
runs, the store answers and is not full), ``/metrics``."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import JSONResponse, Response

from apiwatch.server._schemas import ErrorBody, Health
from apiwatch.server._state import server_state
from apiwatch.store import EventFilter, Store

__all__ = ["router", "store_problem"]

_READY_TIMEOUT = 2.0

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness", response_model=Health)
async def healthz() -> Health:
    """Always ``ok`` while the process answers HTTP."""
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Readiness",
    response_model=Health,
    responses={503: {"model": ErrorBody, "description": "Not ready; the message says why."}},
)
async def readyz(request: Request) -> Response:
    """``ready`` when the committer runs and the store answers a trivial query; else 503. A
    store whose last write failed for lack of space (the disk is full: ingest answers 507, and
    so do reads, whose audit record cannot be written) is not ready until a write succeeds
    again, saying so."""
    state = server_state(request)
    if not state.committer.running:
        problem: str | None = "the committer is not running"
    else:
        problem = await store_problem(state.store)
    if problem:
        return JSONResponse({"error": f"not ready: {problem}"}, 503)
    return JSONResponse({"status": "ready"})


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                     "description": "Prometheus text exposition format."}},
)  # fmt: skip
async def metrics(request: Request) -> Response:
    """Events accepted, rejected and duplicate; batch sizes; commit latency and group sizes;
    detection; decisions in force and bouncer pulls."""
    body = await anyio.to_thread.run_sync(server_state(request).metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def store_problem(store: Store) -> str | None:
    """Why ``store`` is not ready ("the event store ..."), or None: it must answer a trivial
    query within a few seconds and not be full. Also the scale-out roles' readiness."""
    try:
        with anyio.fail_after(_READY_TIMEOUT):
            full = await anyio.to_thread.run_sync(_probe, store, abandon_on_cancel=True)
    except TimeoutError:
        return "the event store does not answer in time"
    except Exception:  # noqa: BLE001 - any failure of the probe means "not ready"
        return "the event store does not answer"
    return f"the event store is full ({full})" if full is not None else None


def _probe(store: Store) -> str | None:
    """Why the store is full, or None; raises when it does not answer."""
    # A page of no events: touches the store without reading (or auditing) any event data.
    store.events.query(EventFilter(), cursor=None, limit=0)
    return store.full_reason()
