"""Every error the collector answers is JSON ``{"error": "one clear sentence"}``, never a traceback.

`install` registers the handlers that turn each kind of failure into that shape and its status.
A client that goes away before its request is read is no failure of ours: one INFO line and
``apiwatch_client_disconnects_total{route}``, never a traceback nor a 500. A 408 (a body that
stopped arriving) closes the connection, whose unread rest could not be told from a next request.

A request from a CrowdSec bouncer (one on a bouncer route, or sending ``X-Api-Key`` as only
they do) gets the sentence in ``message`` as well, as CrowdSec's Local API answers
(``{"message": "access forbidden"}``): CrowdSec's Go client dereferences ``message``
unchecked, so a body without it crashes the bouncer (Debian's firewall and custom bouncers
panic at start on a wrong key, and mid-run on a revoked one, leaving stale firewall rules).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

from apiwatch.model import ConfigError
from apiwatch.server._body import BodyError
from apiwatch.server.auth import AuthError
from apiwatch.store import StoreFullError, StoreUnavailableError

__all__ = ["BOUNCER_PATHS", "error_response", "from_bouncer", "install", "peer"]

#: Not an answer anyone receives (the client is gone): nginx's "client closed request", so the
#: request counts apart from both client mistakes and server errors.
_CLIENT_GONE = 499

logger = logging.getLogger("apiwatch.server")


#: The routes CrowdSec bouncers call (``api_url`` + these); see `apiwatch.server._decisions_api`.
BOUNCER_PATHS = frozenset({"/v1/decisions/stream", "/v1/decisions", "/v1/usage-metrics"})


def error_response(
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    for_bouncer: bool = False,
) -> JSONResponse:
    """``{"error": message}``; with ``for_bouncer``, ``message`` too (CrowdSec's field)."""
    body = {"error": message, "message": message} if for_bouncer else {"error": message}
    return JSONResponse(body, status_code=status, headers=headers)


def from_bouncer(request: Request) -> bool:
    """Whether ``request`` may come from a CrowdSec bouncer (whose client needs ``message``):
    a bouncer route, or any path with ``X-Api-Key`` (a bouncer given a wrong URL prefix)."""
    return request.url.path in BOUNCER_PATHS or "x-api-key" in request.headers


def peer(request: Request) -> str:
    """The address the request came from, as the server saw it (behind a proxy, the proxy's,
    unless `apiwatch serve` was told to trust it: ``forwarded_allow_ips``)."""
    return request.client.host if request.client else "unknown"


def install(app: FastAPI, retry_after: int) -> None:
    """Register the error handlers on ``app``; ``retry_after`` (s) goes with 503 and 507."""
    retry = {"Retry-After": str(retry_after)}

    def reply(
        request: Request, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        return error_response(status, message, headers, for_bouncer=from_bouncer(request))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return reply(request, exc.status_code, str(exc.detail).lower(), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_parameter(request: Request, exc: RequestValidationError) -> Response:
        return reply(request, 400, _validation_message(exc))

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return reply(request, exc.status, exc.message, headers)

    @app.exception_handler(BodyError)
    async def body_error(request: Request, exc: BodyError) -> Response:
        headers = {503: {"Retry-After": "1"}, 408: {"Connection": "close"}}.get(exc.status)
        return reply(request, exc.status, exc.message, headers)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        route = getattr(request.scope.get("route"), "path", None) or "unmatched"
        request.app.state.apiwatch.metrics.client_disconnects.labels(route).inc()
        logger.info("the client %s went away during %s %s before its request was read",
                    peer(request), request.method, route)  # fmt: skip
        return Response(status_code=_CLIENT_GONE)

    @app.exception_handler(ConfigError)
    async def bad_option(request: Request, exc: ConfigError) -> Response:
        return reply(request, 400, str(exc))

    @app.exception_handler(StoreFullError)
    async def store_full(request: Request, exc: StoreFullError) -> Response:
        logger.error("store full: %s", exc)
        return reply(
            request, 507, "the event store is full; nothing of this request was stored", retry
        )

    @app.exception_handler(StoreUnavailableError)
    async def store_unavailable(request: Request, exc: StoreUnavailableError) -> Response:
        logger.error("store unavailable: %s", exc)
        return reply(request, 503, "the event store is unavailable; try again later", retry)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return reply(request, 500, "internal error; the collector's log has the details")


def _validation_message(exc: RequestValidationError) -> str:
    """``limit: Input should be less than or equal to 1000``: the parameter named first."""
    errors = exc.errors()
    if not errors:
        return "the request is not valid"
    first = errors[0]
    location = [str(part) for part in first.get("loc", ()) if part not in ("query", "header")]
    name = ".".join(location) or "request"
    return f"{name}: {first.get('msg', 'not valid')}"
