"""`ApiwatchMiddleware`: pure ASGI middleware for FastAPI, Starlette and any ASGI app.

It wraps ``send`` to learn the status (no `BaseHTTPMiddleware`, no buffering of the response) and,
on configured login routes only, wraps ``receive`` to keep a bounded copy of the body the app reads.
The request's event is emitted when the app sends its final ``http.response.body``, before that
message reaches the server: a client that has the whole answer implies an emitted event (work the
app does after, such as Starlette background tasks, is not in its duration or outcome).
When the app reports its lifespan shutdown complete (or failed), the outputs are closed, so
the shipper flushes what the app's own shutdown code emitted too.

With decision enforcement on, a request a decision refuses gets the block's small JSON response
and the app is never called; on a login route, while flagged accounts exist, the body is read
(up to ``max_login_body``) before the app and replayed to it unchanged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from time import perf_counter_ns
from typing import Any

from apiwatch.sensor._authn import report_logout
from apiwatch.sensor._base import SensorMiddleware
from apiwatch.sensor._block import Block
from apiwatch.sensor._context import RequestContext, get_request, set_request
from apiwatch.sensor._identity import (
    AUTHORIZATION,
    COOKIE,
    FORWARDING,
    REQUEST_ID,
    SLOTS,
    TRACEPARENT,
    USER_AGENT,
    IdentityCache,
)
from apiwatch.sensor._login import BodyTee
from apiwatch.sensor._outcome import LoginAttempt
from apiwatch.sensor._sensor import RAISED_AFTER_START, Sensor

__all__ = ["ApiwatchMiddleware"]

_SHUTDOWN_DONE = frozenset({"lifespan.shutdown.complete", "lifespan.shutdown.failed"})

# The same shapes Starlette uses, so that ``app.add_middleware(ApiwatchMiddleware, ...)``
# type-checks under mypy --strict in the app.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Any, Receive, Send], Awaitable[None]]


class ApiwatchMiddleware(SensorMiddleware):
    """Emit one ECS security event per HTTP request; options as in `SensorConfig`.

    ``app.add_middleware(ApiwatchMiddleware, service="shop", login_paths={"/users/login":
    "username"}, trusted_proxies=["10.0.0.0/8"])``
    """

    app: ASGIApp

    def _setup(self) -> None:
        config = self.sensor.config
        # The headers the sensor reads, by lower-case name as ASGI servers give them, to the
        # slot of the per-request list their raw values go to; the request id header last, as
        # it wins over any other use of its name.
        self._slots = {
            b"user-agent": USER_AGENT,
            b"authorization": AUTHORIZATION,
            b"cookie": COOKIE,
            config.proxy_header.encode("latin-1"): FORWARDING,
            b"traceparent": TRACEPARENT,
            config.request_id_header.encode("latin-1"): REQUEST_ID,
        }
        self._identities = IdentityCache(self.sensor)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: PLR0915
        # One coroutine frame per request: the HTTP path is inline rather than in a helper.
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                send = self._lifespan_send(send)
            await self.app(scope, receive, send)
            return
        started = perf_counter_ns()
        sensor = self.sensor
        try:
            ctx = self._begin(scope)
        except Exception as exc:  # noqa: BLE001 - never break the app
            sensor.failed(exc)
            await self.app(scope, receive, send)
            return
        if sensor.enforcer is not None:
            block = sensor.gate(ctx, scope, _scope_user)
            if block is not None:
                await _refuse(sensor, ctx, block, send, started)
                return
        status = 500  # what the client gets when the app raises before responding
        responded = reported = False
        failure = None

        # A plain function returning the server's awaitable: the app awaits that directly,
        # without a coroutine of ours in between (two fewer coroutine frames per request).
        def send_wrapper(message: Message) -> Awaitable[None]:
            nonlocal status, responded, reported
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                responded = True
            elif kind == "http.response.body" and not message.get("more_body", False):
                # Reported before the last byte leaves: a worker killed once the client has its
                # answer has already handed the event to the outputs (the shipper's journal).
                reported = True
                self._complete(ctx, scope, tee, field, status)
                sensor.finish(ctx, status, perf_counter_ns() - started)
            return send(message)

        login = ctx.login
        field = login.field if login is not None else None
        tee = BodyTee(sensor.config.max_login_body) if field else None
        app_send = send_wrapper if login is None else self._login_send(login, send_wrapper)
        app_receive = _tee_receive(receive, tee) if tee else receive
        if tee is not None and field and sensor.gates_login():
            app_receive, block = await self._gate_login(ctx, scope, app_receive, tee, field)
            if block is not None:
                await _refuse(sensor, ctx, block, send, started)
                return
        previous = get_request()
        set_request(ctx)
        try:
            await self.app(scope, app_receive, app_send)
        except Exception:
            # The client has the sent status, but the response is cut short: still a failure.
            failure = RAISED_AFTER_START if responded else None
            raise
        finally:
            if not reported:
                self._complete(ctx, scope, tee, field, status)  # in the request: audit sees it
            set_request(previous)
            if not reported:
                sensor.finish(ctx, status, perf_counter_ns() - started, failure=failure)

    def _begin(self, scope: Scope) -> RequestContext:
        # ASGI servers give lower-case header names as bytes: match them without decoding.
        slots = self._slots
        values: list[bytes | None] = [None] * SLOTS
        for raw_name, raw_value in scope["headers"]:
            slot = slots.get(raw_name)
            if slot is None:
                continue
            present = values[slot]
            if present is None or slot == REQUEST_ID:  # the request id: the last one given
                values[slot] = raw_value
            else:  # a repeated header: its values joined, as one header would give them
                values[slot] = present + b", " + raw_value
        client = scope.get("client")
        # `IdentityCache.get`, inline: this runs once per request.
        cache = self._identities
        key = (
            client[0] if client else None,
            values[USER_AGENT],
            values[AUTHORIZATION],
            values[COOKIE],
            values[FORWARDING] if cache.proxy_header else None,
        )
        identity = cache.entries.get(key) or cache.resolve(key)
        request_id, traceparent = values[REQUEST_ID], values[TRACEPARENT]
        sensor = self.sensor
        ctx = sensor.start(
            scope["method"],
            _full_path(scope) if scope.get("root_path") else scope["path"],
            identity,
            request_id.decode("utf-8", "backslashreplace") if request_id else None,
            traceparent.decode("utf-8", "backslashreplace") if traceparent else None,
        )
        query = scope.get("query_string")
        if query:
            ctx.query = sensor.masked_query(query.decode("utf-8", "backslashreplace"))
        return ctx

    async def _gate_login(
        self, ctx: RequestContext, scope: Scope, receive: Receive, tee: BodyTee, field: str
    ) -> tuple[Receive, Block | None]:
        """Read the login body before the app, check the account it names; the app's receive."""
        messages: list[Any] = []
        while True:
            message = await receive()
            messages.append(message)
            if message.get("type") != "http.request" or not message.get("more_body", False):
                break
            if tee.size >= tee.limit:
                break  # too big to judge: the rest streams to the app as usual
        sensor = self.sensor
        sensor.read_login_account(ctx, tee.body(), _header(scope, b"content-type"))
        return _replay(messages, receive), sensor.gate_login(ctx)

    def _complete(
        self,
        ctx: RequestContext,
        scope: Scope,
        tee: BodyTee | None,
        field: str | None,
        status: int,
    ) -> None:
        """Fill in what is known only after the app ran: route, user, attempted account."""
        sensor = self.sensor
        try:
            ctx.route = ctx.route or _route_template(scope)
            if sensor.config.user_hook is not None or scope.get("user") is not None:
                sensor.note_user(ctx, scope, _scope_user)  # else there is no user to note
            if ctx.login is not None:
                content_type = _header(scope, b"content-type")
                ctx.login.saw_request(content_type)
                if tee is not None:
                    sensor.read_login_account(ctx, tee.body(), content_type)
            if ctx.method == "POST" and 200 <= status < 300 and _is_logout_route(scope):
                report_logout()
        except Exception as exc:  # noqa: BLE001
            sensor.failed(exc)

    def _login_send(self, login: LoginAttempt, send: Send) -> Send:
        """``send`` that also notes what a login's response says (media type, failure markers)."""
        config = self.sensor.config
        header = config.login_failure_header
        marker_limit = config.max_login_body if config.login_failure_body else 0
        wanted_header = header.encode("latin-1") if header else None

        async def wrapped(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                headers = message.get("headers") or ()
                media = next((v for n, v in headers if n.lower() == b"content-type"), b"")
                marked = wanted_header is not None and any(
                    n.lower() == wanted_header for n, _ in headers
                )
                login.saw_response(media.decode("latin-1"), marked=marked)
            elif marker_limit and kind == "http.response.body":
                login.keep_body(message.get("body", b""), marker_limit)
            await send(message)

        return wrapped

    def _lifespan_send(self, send: Send) -> Send:
        """``send`` that closes the outputs once the app has finished its own shutdown.

        Closing when ``lifespan.shutdown`` arrives would lose what the app's shutdown code still
        emits; the close (a shipper's final flush) runs in a thread so the loop is not blocked.
        """

        async def wrapped(message: Any) -> None:
            if message.get("type") in _SHUTDOWN_DONE:
                await asyncio.to_thread(_close_outputs, self.sensor)
            await send(message)

        return wrapped


async def _refuse(
    sensor: Sensor, ctx: RequestContext, block: Block, send: Send, started: int
) -> None:
    """Send the block's response instead of calling the app, and report the request."""
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in block.headers()]
    try:
        await send({"type": "http.response.start", "status": block.status, "headers": headers})
    finally:
        sensor.finish(ctx, block.status, time.perf_counter_ns() - started)
    await send({"type": "http.response.body", "body": block.body})


def _replay(messages: list[Any], receive: Receive) -> Receive:
    """``receive`` that gives the messages already read first, then the rest of the request."""

    async def wrapped() -> Any:
        if messages:
            return messages.pop(0)
        return await receive()

    return wrapped


def _tee_receive(receive: Receive, tee: BodyTee) -> Receive:
    async def wrapped() -> Any:
        message = await receive()
        if message.get("type") == "http.request":
            tee.add(message.get("body", b""))
        return message

    return wrapped


def _full_path(scope: Scope) -> str:
    """The request path including any mount prefix.

    uvicorn and Starlette 1.x already put ``root_path`` into ``scope["path"]``; older servers
    leave it out, so it is added only when the path does not already start with it.
    """
    path: str = scope["path"]
    root = scope.get("root_path")
    if not root or path == root or path.startswith(root.rstrip("/") + "/"):
        return path
    return f"{root}{path}"


def _header(scope: Scope, name: bytes) -> str:
    for raw_name, raw_value in scope["headers"]:
        if raw_name.lower() == name:
            return str(raw_value.decode("latin-1"))
    return ""


def _route_template(scope: Scope) -> str | None:
    """The matched route's path template (Starlette/FastAPI set ``scope["route"]``)."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        return None
    root, app_root = scope.get("root_path", ""), scope.get("app_root_path", "")
    if root and root != app_root and root.startswith(app_root):
        template = root[len(app_root) :] + template
    return template


def _scope_user(scope: Scope) -> tuple[str | None, str | None] | None:
    """Starlette's AuthenticationMiddleware user (``scope["user"]``), when authenticated."""
    user = scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    name = getattr(user, "display_name", None) or None
    identity = getattr(user, "identity", None)
    return (str(name) if name else None, str(identity) if identity else None)


def _is_logout_route(scope: Scope) -> bool:
    """FastAPI-Users' logout route (named ``auth:<backend>.logout``), which has no hook."""
    name = getattr(scope.get("route"), "name", None)
    return isinstance(name, str) and name.startswith("auth:") and name.endswith(".logout")


def _close_outputs(sensor: Sensor) -> None:
    sensor.close()
