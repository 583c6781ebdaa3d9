"""The current request, as the audit API sees it (a contextvar, so sync and async code share it).

The middleware sets a `RequestContext` at the start of each request; `apiwatch.audit` reads it to
fill who/where/correlation into the events the application emits, and writes to it (``identify``)
to attach the authenticated account to the request event.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apiwatch.sensor._decisions import Active
    from apiwatch.sensor._enforce import Block
    from apiwatch.sensor._outcome import LoginAttempt
    from apiwatch.sensor._sensor import Identity, Sensor

__all__ = ["RequestContext", "current_request", "enter_request", "restore_request"]


class RequestContext:
    """What is known of the request in flight; mutable so that threads see one object."""

    __slots__ = (
        "attack_tool",
        "authn_reported",
        "block",
        "decision",
        "event_id",
        "identity",
        "login",
        "login_user",
        "method",
        "path",
        "peer_address",
        "query",
        "request_id",
        "route",
        "sensor",
        "session_id",
        "source_ip",
        "started",
        "token_id",
        "trace_id",
        "user_agent",
        "user_id",
        "user_name",
    )

    def __init__(self, sensor: Sensor) -> None:
        self.sensor = sensor
        self.event_id = ""
        self.started: datetime | None = None
        self.query: str | None = None
        self.session_id: str | None = None
        self.attack_tool: str | None = None
        self.login_user: str | None = None
        # Set when the request is a login attempt (configured route, recognised view, or an
        # authentication library reported an outcome during it).
        self.login: LoginAttempt | None = None
        self.method: str | None = None
        self.path: str | None = None
        self.source_ip: str | None = None
        self.peer_address: str | None = None
        # Who is asking, as resolved once for the connection or header values (the fields
        # source_ip to session_id are copied from it).
        self.identity: Identity | None = None
        self.user_agent: str | None = None
        self.request_id: str | None = None
        self.trace_id: str | None = None
        self.token_id: str | None = None
        self.route: str | None = None
        self.user_name: str | None = None
        self.user_id: str | None = None
        # Set when the app reported the login outcome itself, so the request event does not
        # report it a second time.
        self.authn_reported = False
        # Set when a decision refused the request (`block`), or matched it without enforcement.
        self.block: Block | None = None
        self.decision: Active | None = None


_current: ContextVar[RequestContext | None] = ContextVar("apiwatch_request", default=None)


def current_request() -> RequestContext | None:
    """The request being handled in this context, or None outside a request."""
    return _current.get()


def enter_request(context: RequestContext) -> RequestContext | None:
    """Make ``context`` current; returns the previous one, for `restore_request`."""
    previous = _current.get()
    _current.set(context)
    return previous


def restore_request(previous: RequestContext | None) -> None:
    """Make ``previous`` current again (works from any context, unlike ``ContextVar.reset``)."""
    _current.set(previous)
