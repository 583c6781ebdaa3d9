"""`Sensor`: turns what the framework adapters saw of a request into one ECS `Event`, and emits it.

The adapters (ASGI, WSGI, Flask, Django) only gather raw facts; everything that decides what an
event says lives here, once: client IP through trusted proxies, request and trace ids, token and
session fingerprints, redaction and escaping, and the OWASP action for the request. Nothing in here
may raise into the application: failures are counted in `Sensor.stats` and reported, rate-limited,
on the ``apiwatch.sensor`` logger.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from types import FunctionType, MethodType
from typing import TYPE_CHECKING, Any, Literal, cast

import msgspec

from apiwatch.model import (
    Action,
    Event,
    EventMeta,
    Host,
    Http,
    HttpRequest,
    HttpResponse,
    Service,
    Source,
    Trace,
    Url,
    User,
    UserAgent,
    encode_event,
    new_event_id,
)
from apiwatch.model.defaults import ACTION_DEFAULTS
from apiwatch.model.throttle import Throttle
from apiwatch.sensor._clientip import ProxyResolver
from apiwatch.sensor._config import SensorConfig
from apiwatch.sensor._context import RequestContext
from apiwatch.sensor._outcome import UNKNOWN, LoginAttempt, login_action
from apiwatch.sensor._outputs import LoggingOutput, Output
from apiwatch.sensor._sanitize import clean, mask_query, sanitize
from apiwatch.sensor._tools import attack_tool

if TYPE_CHECKING:
    from apiwatch.sensor._enforce import Block, Enforcer, UserLookup

__all__ = ["RAISED_AFTER_START", "WANTED_HEADERS", "Identity", "Sensor", "SensorStats"]

#: ``event.reason`` when the app raised after the response had started: the client got the sent
#: status, but the request failed.
RAISED_AFTER_START = "the app raised after the response started"

#: The request headers the sensor reads (lower case); every other header is never looked at.
WANTED_HEADERS = frozenset(
    {"user-agent", "x-forwarded-for", "forwarded", "traceparent", "authorization", "cookie"}
)
_LOGIN_METHODS = frozenset({"POST", "PUT", "PATCH"})
# The common methods, already clean: a dict lookup instead of a scan of the string.
_METHODS = {m: m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}
_MAX_REQUEST_ID = 128
_MAX_METHOD = 32
# Values longer than this bypass the caches: a cache keyed by 60 KB hostile headers would hold
# hundreds of megabytes, and values that long are not the ones that repeat.
_MAX_CACHED = 512
_report = logging.getLogger("apiwatch.sensor")
_default_sensor: Sensor | None = None


class Identity:
    """Who a request comes from, as the sensor writes it: resolved once, shared by requests.

    Immutable by convention, like the `Source` and `UserAgent` parts built with it, which the
    events of every request with this identity share (nothing mutates an event's parts).
    """

    __slots__ = (
        "agent",
        "attack_tool",
        "peer_address",
        "session_id",
        "source",
        "source_ip",
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


class SensorStats:
    """Counters: events emitted, failures of the sensor itself (never raised to the app), and
    decision enforcement: requests blocked, successful and failed decision pulls."""

    __slots__ = (
        "blocked",
        "decision_sync_failures",
        "decision_syncs",
        "emitted",
        "errors",
        "output_errors",
    )

    def __init__(self) -> None:
        self.emitted = 0
        self.errors = 0
        self.output_errors = 0
        self.blocked = 0
        self.decision_syncs = 0
        self.decision_sync_failures = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in _STAT_NAMES}


_STAT_NAMES = (
    "emitted",
    "errors",
    "output_errors",
    "blocked",
    "decision_syncs",
    "decision_sync_failures",
)


def default_sensor() -> Sensor | None:
    """The sensor created last in this process: where audit events go outside a request."""
    return _default_sensor


class Sensor:
    """One configured sensor; shared by all requests of the app it wraps."""

    def __init__(self, config: SensorConfig) -> None:
        global _default_sensor  # noqa: PLW0603 - the audit API's fallback outside a request
        self.config = config
        self.outputs: tuple[Output, ...] = self._make_outputs(config)
        self._output_calls = tuple(map(_direct_call, self.outputs))
        self.stats = SensorStats()
        self._resolve_ip = ProxyResolver(config.trusted_proxies, config.proxy_header)
        self.service = Service(name=clean(config.service, 256))
        self.host = Host(name=clean(config.host_name, 256))
        self._keyed = hashlib.blake2b(key=config.token_key[:64], digest_size=16)
        self._ua = lru_cache(maxsize=4096)(self._user_agent_info)
        self._path = lru_cache(maxsize=4096)(self._clean_path)
        failure_body = config.login_failure_body
        self._failure_body = failure_body.encode() if failure_body else None
        self._reports = Throttle()
        #: Decision enforcement; None unless ``decisions_key`` was given.
        self.enforcer: Enforcer | None = self._make_enforcer(config)
        _default_sensor = self

    @classmethod
    def from_options(cls, **options: Any) -> Sensor:
        return cls(SensorConfig.from_options(**options))

    @staticmethod
    def _make_outputs(config: SensorConfig) -> tuple[Output, ...]:
        # The default is one stderr line per event, unless the events go to a collector: a
        # shipping sensor writes to stderr only when asked (outputs=[LoggingOutput()]).
        if config.outputs is not None:
            outputs: list[Output] = list(config.outputs)
        else:
            outputs = [] if config.collector else [LoggingOutput()]
        if config.collector:
            from apiwatch.sensor.shipper import Shipper  # noqa: PLC0415 - only when shipping

            outputs.append(
                Shipper(
                    config.collector,
                    api_key=config.api_key or "",
                    ca_file=config.ca_file,
                    spool_dir=config.spool_dir,
                )
            )
        return tuple(outputs)

    def _make_enforcer(self, config: SensorConfig) -> Enforcer | None:
        if not config.pulls_decisions:
            return None
        from apiwatch.sensor._enforce import Enforcer  # noqa: PLC0415 - only when enforcing

        return Enforcer(config, self.stats)

    def close(self) -> None:
        """Stop the decision sync and close the outputs that can be closed; never raises."""
        if self.enforcer is not None:
            self.enforcer.close()
        for output in self.outputs:
            close = getattr(output, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:  # noqa: BLE001
                    self.failed(exc)

    # -- request lifecycle (called by the adapters) ------------------------------------------

    def begin(
        self,
        method: str,
        path: str,
        peer: str | None,
        headers: Mapping[str, str],
        request_id: str | None,
    ) -> RequestContext:
        """A context for a request that is starting, with who/where/correlation resolved."""
        return self.start(
            method, path, self.identify(peer, headers), request_id, headers.get("traceparent")
        )

    def identify(self, peer: str | None, headers: Mapping[str, str]) -> Identity:
        """Who is asking: what the peer address and the identifying headers say.

        The same peer and headers always give the same `Identity` (the fingerprint key is fixed
        for the sensor's life), so adapters may cache it per connection or per header values.
        """
        source_ip = self._resolve_ip(peer, headers)
        peer_address = clean(peer, 256) if source_ip is None and peer else None
        user_agent = attack = token_id = session_id = None
        agent = headers.get("user-agent")
        if agent:
            user_agent, attack = (
                self._ua(agent) if len(agent) <= _MAX_CACHED else self._user_agent_info(agent)
            )
        authorization = headers.get("authorization")
        if authorization:
            token_id = self.fingerprint(authorization.partition(" ")[2] or authorization)
        cookie = headers.get("cookie")
        if cookie and self.config.session_cookies:
            session_id = self._session_fingerprint(cookie)
        return Identity(
            source_ip=source_ip,
            peer_address=peer_address,
            user_agent=user_agent,
            attack_tool=attack,
            token_id=token_id,
            session_id=session_id,
        )

    def start(
        self,
        method: str,
        path: str,
        identity: Identity,
        request_id: str | None,
        traceparent: str | None,
    ) -> RequestContext:
        """A context for a request that is starting, its `Identity` already resolved."""
        event_id = new_event_id()
        method = _METHODS.get(method) or clean(method, _MAX_METHOD)
        path = self._path(path) if len(path) <= _MAX_CACHED else self._clean_path(path)
        ctx = RequestContext(
            sensor=self,
            started=datetime.now(UTC),
            event_id=event_id,
            method=method,
            path=path,
            identity=identity,
            source_ip=identity.source_ip,
            peer_address=identity.peer_address,
            user_agent=identity.user_agent,
            attack_tool=identity.attack_tool,
            token_id=identity.token_id,
            session_id=identity.session_id,
            request_id=clean(request_id, _MAX_REQUEST_ID) if request_id else event_id,
        )
        if traceparent:
            ctx.trace_id = _trace_id(traceparent)
        if method in _LOGIN_METHODS:
            field = self.config.login_paths.get(path)
            if field is not None:
                ctx.login = LoginAttempt(field)
        return ctx

    def wants_login_body(self, ctx: RequestContext) -> str | None:
        """The body field holding the account name, when this request is a login attempt."""
        login = ctx.login
        return login.field if login is not None else None

    def gate(self, ctx: RequestContext, request: Any, user: UserLookup) -> Block | None:
        """Before the app: the `Block` a decision imposes on this request, or None; never raises.

        Adapters call it only when `enforcer` is set. ``user`` looks up the authenticated user
        in ``request`` (the framework's request object): it is asked only while flagged accounts
        exist, and ``config.user_hook`` is asked instead when set.
        """
        enforcer = self.enforcer
        if enforcer is None:
            return None
        try:
            return enforcer.before_app(ctx, request, self.config.user_hook or user)
        except Exception as exc:  # noqa: BLE001 - enforcement must never break the app
            self.failed(exc)
            return None

    def gates_login(self) -> bool:
        """Whether this login request's body must be read before the app (accounts flagged)."""
        return self.enforcer is not None and self.enforcer.gates_logins

    def gate_login(self, ctx: RequestContext) -> Block | None:
        """The `Block` for a login attempt naming a flagged account (``ctx.login_user``)."""
        enforcer = self.enforcer
        if enforcer is None:
            return None
        try:
            return enforcer.login(ctx)
        except Exception as exc:  # noqa: BLE001
            self.failed(exc)
            return None

    def finish(
        self, ctx: RequestContext, status: int, duration_ns: int, *, failure: str | None = None
    ) -> None:
        """Build and emit the request's event; never raises.

        ``failure`` (e.g. `RAISED_AFTER_START`) makes the outcome ``failure`` whatever the status,
        with the text as ``event.reason``. A blocked request is reported even on an excluded path.
        """
        try:
            if (
                ctx.path in self.config.exclude_paths
                and ctx.block is None
                and (ctx.login is None or ctx.login.outcome is None)  # a reported login is kept
            ):
                return
            self.emit(self._request_event(ctx, status, duration_ns, failure))
        except Exception as exc:  # noqa: BLE001 - the sensor must never break the app
            self.failed(exc)

    # -- emitting ------------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Encode the event once and hand it to every output; failures are counted, not raised."""
        try:
            # Straight from the struct; `encode_event` only adds the merge of ``extra`` fields.
            line = encode_event(event) if event.extra else _encode(event)
        except Exception as exc:  # noqa: BLE001
            self.failed(exc)
            return
        self.stats.emitted += 1
        for output in self._output_calls:
            try:
                output(event, line)
            except Exception as exc:  # noqa: BLE001
                self.stats.output_errors += 1
                self.failed(exc, count=False)

    def failed(self, exc: BaseException, *, count: bool = True) -> None:
        """Count a failure of the sensor itself and report it at most once a minute."""
        if count:
            self.stats.errors += 1
        if self._reports() is None:
            return
        _report.warning(
            "apiwatch sensor error (%s): %s; stats=%s",
            type(exc).__name__,
            sanitize(str(exc), 256),
            self.stats.as_dict(),
        )

    # -- building ------------------------------------------------------------------------------

    def fingerprint(self, secret: str) -> str:
        """A keyed hash of a token or session id: correlates uses without revealing it."""
        digest = self._keyed.copy()  # cheaper than setting the key up again for every request
        digest.update(secret.encode())
        return digest.hexdigest()

    def _session_fingerprint(self, cookie_header: str) -> str | None:
        for pair in cookie_header.split(";"):
            name, sep, value = pair.partition("=")
            if sep and value.strip() and name.strip().lower() in self.config.session_cookies:
                return self.fingerprint(value.strip())
        return None

    def _user_agent_info(self, user_agent: str) -> tuple[str, str | None]:
        tool = attack_tool(user_agent) if self.config.detect_attack_tools else None
        return sanitize(user_agent, self.config.max_field_length), tool

    def _clean_path(self, path: str) -> str:
        return sanitize(path, self.config.max_field_length)

    def clean_value(self, value: str) -> str:
        """Redact, escape and truncate a free-text value the app or a request supplied."""
        return sanitize(value, self.config.max_field_length)

    def clean_user(self, found: tuple[str | None, str | None]) -> tuple[str | None, str | None]:
        """A user hook's ``(name, id)`` made safe for an event."""
        name, user_id = found
        return (
            self.clean_value(str(name)) if name else None,
            self.clean_value(str(user_id)) if user_id else None,
        )

    def masked_query(self, raw_query: str) -> str | None:
        if not raw_query:
            return None
        return sanitize(
            mask_query(raw_query, self.config.redact_keys), self.config.max_field_length
        )

    def _request_event(
        self, ctx: RequestContext, status: int, duration_ns: int, failure: str | None
    ) -> Event:
        block = ctx.block
        labels = self.context_labels(ctx)
        if self.enforcer is not None:
            self.enforcer.labels(ctx, labels)
        classified: Action | Literal["unknown"]
        if block is not None:
            classified, failure = block.action, block.reason
        else:
            classified = self._classify(ctx, status)
        if classified is _HTTP_REQUEST:  # most requests: no dict lookup keyed by an enum
            action, is_login, fixed = _HTTP_REQUEST, False, _FIXED_HTTP_REQUEST
        elif isinstance(classified, Action):
            action = classified
            is_login = action is _LOGIN_FAIL or action is _LOGIN_SUCCESS
            fixed = _FIXED[action]
        else:  # a login whose outcome the sensor cannot tell
            action, is_login, fixed = _HTTP_REQUEST, True, _FIXED_HTTP_REQUEST
            labels["login"] = UNKNOWN
        if failure:
            outcome = "failure"
        elif is_login and action is _HTTP_REQUEST:
            outcome = UNKNOWN  # a login the sensor cannot judge is never called a success
        else:
            outcome = fixed.outcome or ("success" if status < 400 else "failure")
        user_name = ctx.login_user if is_login and ctx.login_user else ctx.user_name
        identity = ctx.identity
        if identity is not None:
            source, agent = identity.source, identity.agent
        else:
            source = Source(ip=ctx.source_ip, address=ctx.peer_address)
            agent = UserAgent(original=ctx.user_agent) if ctx.user_agent else None
        return Event(
            timestamp=ctx.started or datetime.now(UTC),
            event=EventMeta(
                id=ctx.event_id,
                action=fixed.action,
                kind="event",
                category=fixed.category,
                type=fixed.type,
                outcome=outcome,
                duration=duration_ns,
                severity=fixed.severity,
                reason=failure,
            ),
            log=fixed.log,
            source=source,
            http=Http(
                request=HttpRequest(method=ctx.method, id=ctx.request_id),
                response=_response(status),
            ),
            url=Url(path=ctx.path, query=ctx.query),
            user_agent=agent,
            user=User(name=user_name, id=ctx.user_id) if user_name or ctx.user_id else None,
            trace=Trace(id=ctx.trace_id) if ctx.trace_id else None,
            service=self.service,
            host=self.host,
            labels=labels,
        )

    def context_labels(self, ctx: RequestContext) -> dict[str, str]:
        labels: dict[str, str] = {}
        if ctx.route:
            labels["route"] = ctx.route
        if ctx.token_id:
            labels["token_id"] = ctx.token_id
        if ctx.session_id:
            labels["session_id"] = ctx.session_id
        if ctx.attack_tool:
            labels["attack_tool"] = ctx.attack_tool
        return labels

    def _classify(self, ctx: RequestContext, status: int) -> Action | Literal["unknown"]:
        """The OWASP action a request's outcome means (logins first, then tools, 403, 429)."""
        if ctx.login is not None and not ctx.authn_reported:
            login = login_action(ctx.login, status, self._failure_body)
            if login is not None:
                return login
        if ctx.attack_tool:
            return _ATTACK_TOOL
        if status == 403:
            return _AUTHZ_FAIL
        if status == 429:
            return _RATE_LIMITED
        return _HTTP_REQUEST


_FIXED = ACTION_DEFAULTS
_encode = msgspec.json.Encoder().encode
# Enum members as plain globals: reading ``Action.X`` goes through the enum metaclass's
# ``__getattr__`` hook in CPython 3.11, several times the cost of a global, on every request.
_HTTP_REQUEST = Action.HTTP_REQUEST
_LOGIN_FAIL = Action.AUTHN_LOGIN_FAIL
_LOGIN_SUCCESS = Action.AUTHN_LOGIN_SUCCESS
_ATTACK_TOOL = Action.MALICIOUS_ATTACK_TOOL
_AUTHZ_FAIL = Action.AUTHZ_FAIL
_RATE_LIMITED = Action.EXCESS_RATE_LIMIT_EXCEEDED
_FIXED_HTTP_REQUEST = ACTION_DEFAULTS[Action.HTTP_REQUEST]


def _direct_call(output: Output) -> Callable[[Event, bytes], None]:
    """The output's ``__call__`` as a bound method when it is a Python class's instance.

    CPython calls an instance through its type's slot, a slow generic path that costs more
    than a bound method call; outputs are called once per event.
    """
    # Looked up on the type, as a call is: an instance attribute named __call__ is not called.
    method = next(
        (k.__dict__["__call__"] for k in type(output).__mro__ if "__call__" in k.__dict__), None
    )
    if isinstance(method, FunctionType):
        return cast("Callable[[Event, bytes], None]", MethodType(method, output))
    return output


_RESPONSES: dict[int, HttpResponse] = {}


def _response(status: int) -> HttpResponse:
    """``http.response`` for a status, built once per status code and shared by events."""
    part = _RESPONSES.get(status)
    if part is None:
        part = HttpResponse(status_code=status)
        if 100 <= status <= 999:  # a status code has three digits: a bounded cache
            _RESPONSES[status] = part
    return part


def _trace_id(traceparent: str | None) -> str | None:
    """The trace id of a valid W3C ``traceparent`` (``00-<32 hex>-<16 hex>-<2 hex>``)."""
    if not traceparent or len(traceparent) < 55:
        return None
    parts = traceparent.strip().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff":
        return None
    trace = parts[1].lower()
    if len(trace) != 32 or trace == "0" * 32 or not _is_hex(trace) or len(parts[2]) != 16:
        return None
    return trace


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return text.isalnum()
