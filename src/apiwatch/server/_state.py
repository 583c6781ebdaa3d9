"""What the routes share (`ServerState`, kept on ``app.state``) and the scope dependency."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from apiwatch.model import ConfigError
from apiwatch.server._detection import Clock, Detector
from apiwatch.server._snapshot import Snapshots
from apiwatch.server._sources import LiveSources
from apiwatch.server.auth import Authenticator, AuthError, authorize, bearer_secret
from apiwatch.server.committer import BatchSink
from apiwatch.server.metrics import Metrics
from apiwatch.server.settings import ServerSettings
from apiwatch.store import ApiKey, Store

__all__ = ["ServerState", "only_query", "require", "require_bouncer", "server_state"]

# Declared so that the OpenAPI document names the scheme; the header is checked by `require`.
_bearer = HTTPBearer(auto_error=False, description="An apiwatch API key (`apiwatch keys create`).")
_x_api_key = APIKeyHeader(
    name="X-Api-Key",
    auto_error=False,
    description="An apiwatch API key of scope bouncer, as CrowdSec bouncers send it.",
)


class IngestGate:
    """At most ``limit`` ingest requests read and hold their bodies at once, and at most
    ``share`` of them with one API key; the others wait (their bodies stay unread in the socket)
    for up to ``wait`` seconds, then are refused.

    A request first takes a place in its key's share, then a slot: a key whose share is in use
    waits on its own and never holds a slot another key could use.
    """

    def __init__(self) -> None:
        self._slots: asyncio.Semaphore | None = None
        self._shares: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}  # requests holding or waiting for a key's share

    async def enter(self, key: str, limit: int, share: int, wait: float) -> bool:
        """Whether the request of ``key`` got a slot within ``wait`` seconds (then `leave`)."""
        if self._slots is None:  # made on first use, inside the serving event loop
            self._slots = asyncio.Semaphore(limit)
        key_share = self._shares.setdefault(key, asyncio.Semaphore(share))
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with asyncio.timeout(wait):
                await key_share.acquire()
                try:
                    await self._slots.acquire()
                except BaseException:
                    key_share.release()
                    raise
        except TimeoutError:
            self._forget(key)
            return False
        except BaseException:
            self._forget(key)
            raise
        return True

    def leave(self, key: str) -> None:
        """Give back the slot and the share place `enter` gave ``key``."""
        if self._slots is not None:
            self._slots.release()
        self._shares[key].release()
        self._forget(key)

    def _forget(self, key: str) -> None:
        # A key's semaphore is dropped once nobody holds or waits for it: the map stays as
        # small as the number of keys sending right now.
        self._users[key] -= 1
        if not self._users[key]:
            del self._users[key], self._shares[key]


@dataclass(frozen=True, slots=True)
class ServerState:
    store: Store
    settings: ServerSettings
    committer: BatchSink  # the group committer, or the scale-out ingest role's publisher
    authenticator: Authenticator
    metrics: Metrics
    sources: LiveSources
    clock: Clock  # what the decision routes take as now (the wall clock, unless a test skips)
    detector: Detector | None = None  # None when detection is off
    ingest_gate: IngestGate = field(default_factory=IngestGate)
    snapshots: Snapshots = field(default_factory=Snapshots)  # full decision pulls, cached


def server_state(request: Request) -> ServerState:
    return cast(ServerState, request.app.state.apiwatch)


def require(scope: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency giving the request's `ApiKey` when it may act in ``scope`` (else 401/403)."""

    async def api_key(
        request: Request,
        _: HTTPAuthorizationCredentials | None = Security(_bearer),  # noqa: B008 - FastAPI idiom
    ) -> ApiKey:
        secret = bearer_secret(request.headers.get("authorization"))
        authenticator = server_state(request).authenticator
        key = authenticator.cached(secret)
        if key is None:
            key = await run_in_threadpool(authenticator, secret)
        return authorize(key, scope)

    return api_key


def require_bouncer() -> Callable[..., Awaitable[ApiKey]]:
    """A dependency giving the request's `ApiKey` when it may act in scope ``bouncer``.

    As CrowdSec's Local API: the key comes in ``X-Api-Key`` (or, as everywhere else in this
    API, ``Authorization: Bearer``), and a missing, unknown or revoked key is refused with 403,
    as is a key without the scope.
    """

    async def bouncer_key(
        request: Request,
        _key: str | None = Security(_x_api_key),
        _: HTTPAuthorizationCredentials | None = Security(_bearer),  # noqa: B008 - FastAPI idiom
    ) -> ApiKey:
        secret = request.headers.get("x-api-key", "").strip()
        if not secret:
            try:
                secret = bearer_secret(request.headers.get("authorization"))
            except AuthError:
                raise AuthError(
                    403, "an API key is required: send X-Api-Key: <key of scope bouncer>"
                ) from None
        authenticator = server_state(request).authenticator
        key = authenticator.cached(secret)
        if key is None:
            key = await run_in_threadpool(authenticator, secret)
        if key is None:
            raise AuthError(403, "the API key is not valid (unknown or revoked)")
        return authorize(key, "bouncer")

    return bouncer_key


def only_query(*names: str) -> Callable[..., Awaitable[None]]:
    """A dependency refusing (400) query parameters other than ``names``.

    A misspelt filter (``?username=alice``) must not silently widen a search to everything.
    """
    allowed = frozenset(names)

    async def known_parameters(request: Request) -> None:
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            known = ", ".join(sorted(allowed)) or "none"
            raise ConfigError(f"{unknown[0]}: not a parameter here (known: {known})")

    return known_parameters
