"""The writer's and detect role's operations listener: ``/healthz`` (the process serves),
``/readyz`` (the bus is connected and the store answers and is not full) and ``/metrics`` (the
role's `RoleMetrics`, Prometheus text), on the role's ``host``/``port``.

`OpsServer` runs uvicorn in a thread of its own: the role's event loop stays the bus's, and
uvicorn installs no signal handler outside the main thread (the role keeps SIGTERM/SIGINT).
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from apiwatch.server._ops_api import store_problem
from apiwatch.server.bus_roles.metrics import RoleMetrics

if TYPE_CHECKING:
    from apiwatch.bus import Bus
    from apiwatch.store import Store

__all__ = ["OpsServer", "RoleHealth", "ops_app"]

_STOP_SECONDS = 5.0


@dataclass(slots=True)
class RoleHealth:
    """What readiness looks at: the role's current bus connection (None between connections;
    the role sets it) and its store."""

    store: Store
    bus: Bus | None = None

    @property
    def bus_connected(self) -> bool:
        bus = self.bus
        return bus is not None and bus.connected


def ops_app(health: RoleHealth, metrics: RoleMetrics) -> Starlette:
    """The Starlette app serving ``/healthz``, ``/readyz`` and ``/metrics``."""
    metrics.bus_connected.set_function(lambda: float(health.bus_connected))

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        problem = await _not_ready(health)
        if problem:
            return JSONResponse({"error": f"not ready: {problem}"}, 503)
        return JSONResponse({"status": "ready"})

    async def scrape(request: Request) -> Response:
        body = await anyio.to_thread.run_sync(metrics.render)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    routes = [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", scrape)]
    return Starlette(routes=routes)


async def _not_ready(health: RoleHealth) -> str | None:
    """Why the role is not ready, or None."""
    if not health.bus_connected:
        return "the bus is not connected"
    return await store_problem(health.store)


class OpsServer:
    """uvicorn serving ``app`` on the bound socket ``sock`` from a daemon thread."""

    def __init__(self, app: Starlette, sock: socket.socket, **config: Any) -> None:
        import uvicorn  # noqa: PLC0415 - the server extra

        self.sock = sock
        settings = uvicorn.Config(app, lifespan="off", access_log=False, server_header=False,
                                  **config)  # fmt: skip
        self._server = uvicorn.Server(settings)
        self._thread = threading.Thread(target=self._serve, name="apiwatch-ops", daemon=True)

    def _serve(self) -> None:
        self._server.run(sockets=[self.sock])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving (waits a few seconds for the thread)."""
        self._server.should_exit = True
        self._thread.join(_STOP_SECONDS)
