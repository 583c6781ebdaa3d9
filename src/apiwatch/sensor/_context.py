"""The current request, as the audit API sees it (a contextvar, so sync and async code share it).

The middleware sets a `RequestContext` at the start of each request; `apiwatch.audit` reads it to
fill who/where/correlation into the events the application emits, and writes to it (``identify``)
to attach the authenticated account to the request event.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING

import msgspec

from apiwatch.model import Source, UserAgent
from apiwatch.model.request_event import request_labels as labels_of
from apiwatch.model.request_line import encode_part

if TYPE_CHECKING:
    from apiwatch.sensor._block import Block
    from apiwatch.sensor._decisions import Active
    from apiwatch.sensor._outcome import LoginAttempt
    from apiwatch.sensor._reporter import Reporter

__all__ = [
    "Identity",
    "RequestContext",
    "current_request",
    "enter_request",
    "get_request",
    "request_labels",
    "restore_request",
    "set_request",
]


class Identity:
    """Who a request comes from, as the sensor writes it: resolved once, shared by requests.

    Immutable by convention, like the `Source` and `UserAgent` parts built with it, which the
    events of every request with this identity share (nothing mutates an event's parts), and
    their JSON encoding, which the lines of those events share.
    """

    __slots__ = (
        "agent",
        "agent_json",
        "attack_tool",
        "peer_address",
        "session_id",
        "source",
        "source_ip",
        "source_json",
        "token_id",
        "user_agent",
    )

    def __init__(
        self,
        *,
        source_ip: str | None,
        peer_address: str | None,
        user_agent: str | None,
        attack_tool: str | None,
        token_id: str | None,
        session_id: str | None,
    ) -> None:
        self.source_ip = source_ip
        self.peer_address = peer_address
        self.user_agent = user_agent
        self.attack_tool = attack_tool
        self.token_id = token_id
        self.session_id = session_id
        self.source = Source(ip=source_ip, address=peer_address)
        self.agent = UserAgent(original=user_agent) if user_agent else None
        # The two parts as an event's line writes them (`apiwatch.model.request_line`).
        self.source_json = encode_part(self.source)
        self.agent_json = encode_part(self.agent) if self.agent is not None else None


class RequestContext(msgspec.Struct, eq=False):
    """What is known of the request in flight; mutable so that threads see one object.

    A msgspec Struct for speed only (one is made per request, and its defaults are filled in
    C): it compares and hashes by identity, as a plain object does.
    """

    # The fields a request starts with come first, in the order `Sensor.start` passes them
    # (by position: cheaper than by keyword, for one context per request).
    # Where this request's events go and how values are cleaned (the sensor's `Reporter`).
    reporter: Reporter
    event_id: str = ""
    method: str | None = None
    path: str | None = None
    # Who is asking, as resolved once for the connection or header values (the fields
    # source_ip to session_id are copied from it).
    identity: Identity | None = None
    source_ip: str | None = None
    peer_address: str | None = None
    user_agent: str | None = None
    attack_tool: str | None = None
    token_id: str | None = None
    session_id: str | None = None
    request_id: str | None = None
    # When the request started: a datetime for a sensor that builds events, else (its events
    # are lines alone: `Reporter.lines_only`) a ``time.time_ns()`` reading, cheaper to take.
    started: datetime | None = None
    started_ns: int = 0
    query: str | None = None
    login_user: str | None = None
    # Set when the request is a login attempt (configured route, recognised view, or an
    # authentication library reported an outcome during it).
    login: LoginAttempt | None = None
    trace_id: str | None = None
    route: str | None = None
    user_name: str | None = None
    user_id: str | None = None
    # Set when the app reported the login outcome itself, so the request event does not
    # report it a second time.
    authn_reported: bool = False
    # Set when a decision refused the request (`block`), or matched it without enforcement.
    block: Block | None = None
    decision: Active | None = None


def request_labels(ctx: RequestContext) -> dict[str, str]:
    """The labels every event of a request carries (`model.request_event.request_labels`)."""
    return labels_of(ctx.route, ctx.token_id, ctx.session_id, ctx.attack_tool)


_current: ContextVar[RequestContext | None] = ContextVar("apiwatch_request", default=None)


#: ``ContextVar.get`` and ``.set`` themselves, for the middleware's hot path: what
#: `enter_request` and `restore_request` do, without a Python call each.
get_request = _current.get
set_request = _current.set


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
