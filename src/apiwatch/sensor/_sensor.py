"""`Sensor`: turns what the framework adapters saw of a request into one ECS `Event`, and emits it.

When every output needs only the line (`LineOutput`), the event is never built: its line is
written from cached parts (`apiwatch.model.request_line`), byte for byte the encoded event.

The adapters (ASGI, WSGI, Flask, Django) only gather raw facts; everything that decides what an
event says lives here, once: client IP through trusted proxies, request and trace ids, token and
session fingerprints, redaction and escaping, and the OWASP action for the request. Nothing in here
may raise into the application: failures are counted in `Sensor.stats` and reported, rate-limited,
on the ``apiwatch.sensor`` logger.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from time import time_ns
from typing import TYPE_CHECKING, Any

from apiwatch.model import Event, Source, UserAgent, new_event_id
from apiwatch.model.request_event import LOGIN_METHODS, Verdict, request_event, request_labels
from apiwatch.model.request_line import PlainParts, RequestLines, encode_part, wall_time
from apiwatch.sensor._clientip import ProxyResolver
from apiwatch.sensor._config import SensorConfig, UserHook
from apiwatch.sensor._context import Identity, RequestContext
from apiwatch.sensor._login import account_from_body
from apiwatch.sensor._outcome import LoginAttempt, login_action
from apiwatch.sensor._outputs import Output
from apiwatch.sensor._reporter import Reporter, SensorStats
from apiwatch.sensor._sanitize import clean, mask_query, sanitize
from apiwatch.sensor._tools import attack_tool

if TYPE_CHECKING:
    from apiwatch.sensor._block import Block
    from apiwatch.sensor._enforce import Enforcer

__all__ = ["RAISED_AFTER_START", "WANTED_HEADERS", "Sensor", "default_sensor"]

#: ``event.reason`` when the app raised after the response had started: the client got the sent
#: status, but the request failed.
RAISED_AFTER_START = "the app raised after the response started"

#: The request headers the sensor reads (lower case); every other header is never looked at.
WANTED_HEADERS = frozenset(
    {"user-agent", "x-forwarded-for", "forwarded", "traceparent", "authorization", "cookie"}
)
# The common methods, already clean: a dict lookup instead of a scan of the string.
_METHODS = {m: m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}
_MAX_REQUEST_ID = 128
_MAX_METHOD = 32
# Values longer than this bypass the caches: a cache keyed by 60 KB hostile headers would hold
# hundreds of megabytes, and values that long are not the ones that repeat.
_MAX_CACHED = 512
# Plain requests' line parts kept at most; then emptied (an `IdentityCache` holds as many).
_MAX_PLAIN = 4096
PlainKey = tuple[Identity, str | None, str | None, int]
_default_sensor: Sensor | None = None


def default_sensor() -> Sensor | None:
    """The sensor created last in this process: where audit events go outside a request."""
    return _default_sensor


class Sensor:
    """One configured sensor; shared by all requests of the app it wraps."""

    def __init__(self, config: SensorConfig) -> None:
        global _default_sensor  # noqa: PLW0603 - the audit API's fallback outside a request
        self.config = config
        #: Outputs, counters and cleaning: what a request's context and the audit API reach.
        self.reporter = reporter = Reporter(config)
        self.outputs: tuple[Output, ...] = reporter.outputs
        self.stats: SensorStats = reporter.stats
        self.service, self.host = reporter.service, reporter.host
        # The reporter's verbs, as the sensor's own: adapters, glue and apps call them here.
        self.emit = reporter.emit
        self.failed = reporter.failed
        self.fingerprint = reporter.fingerprint
        self.clean_value = reporter.clean_value
        self.clean_user = reporter.clean_user
        self._lines = RequestLines(self.service, self.host)
        self._lines_only = reporter.lines_only
        self._exclude_paths = config.exclude_paths
        # Parts of plain requests' lines by client, method, route and status (`_request_line`).
        self._plain: dict[PlainKey, PlainParts] = {}
        self._resolve_ip = ProxyResolver(config.trusted_proxies, config.proxy_header)
        self._ua = lru_cache(maxsize=4096)(self._user_agent_info)
        self._path = lru_cache(maxsize=4096)(self._clean_path)
        failure_body = config.login_failure_body
        self._failure_body = failure_body.encode() if failure_body else None
        #: Decision enforcement; None unless ``decisions_key`` was given.
        self.enforcer: Enforcer | None = self._make_enforcer(config)
        _default_sensor = self

    @classmethod
    def from_options(cls, **options: Any) -> Sensor:
        return cls(SensorConfig.from_options(**options))

    def _make_enforcer(self, config: SensorConfig) -> Enforcer | None:
        if not config.pulls_decisions:
            return None
        from apiwatch.sensor._enforce import Enforcer  # noqa: PLC0415 - only when enforcing

        return Enforcer(config, self.stats)

    def close(self) -> None:
        """Stop the decision sync and close the outputs that can be closed; never raises."""
        if self.enforcer is not None:
            self.enforcer.close()
        self.reporter.close()

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
        lines_only = self._lines_only
        ctx = RequestContext(  # by position, in the order of its fields (see there)
            self.reporter,
            event_id,
            method,
            path,
            identity,
            identity.source_ip,
            identity.peer_address,
            identity.user_agent,
            identity.attack_tool,
            identity.token_id,
            identity.session_id,
            clean(request_id, _MAX_REQUEST_ID) if request_id else event_id,
            None if lines_only else datetime.now(UTC),
            time_ns() if lines_only else 0,
        )
        if traceparent:
            ctx.trace_id = _trace_id(traceparent)
        if method in LOGIN_METHODS:
            field = self.config.login_paths.get(path)
            if field is not None:
                ctx.login = LoginAttempt(field)
        return ctx

    def wants_login_body(self, ctx: RequestContext) -> str | None:
        """The body field holding the account name, when this request is a login attempt."""
        login = ctx.login
        return login.field if login is not None else None

    def gate(self, ctx: RequestContext, request: Any, user: UserHook) -> Block | None:
        """Before the app: the `Block` a decision imposes on this request, or None; never raises.

        Adapters call it only when `enforcer` is set. ``user`` looks up the authenticated user
        in ``request`` (the framework's request object): it is asked only while flagged accounts
        exist, and ``config.user_hook`` is asked instead when set (see `note_user`).
        """
        enforcer = self.enforcer
        if enforcer is None:
            return None
        try:
            block = enforcer.before_app(ctx)
            if block is None and enforcer.gates_logins:
                block = self._gate_user(enforcer, ctx, request, user)
        except Exception as exc:  # noqa: BLE001 - enforcement must never break the app
            self.failed(exc)
            return None
        return block

    def _gate_user(
        self, enforcer: Enforcer, ctx: RequestContext, request: Any, user: UserHook
    ) -> Block | None:
        try:
            self.note_user(ctx, request, user)
        except Exception:  # noqa: BLE001 - hooks are written for after the app; None here is normal
            return None
        return enforcer.user(ctx)

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

    # -- what the adapters note ----------------------------------------------------------------

    def note_user(self, ctx: RequestContext, request: Any, framework_user: UserHook) -> None:
        """Record the request's user, unless it is known already.

        ``config.user_hook`` is asked when set, else ``framework_user`` (the adapter's lookup in
        its framework's ``request`` object); what they return is cleaned like any field.
        """
        if ctx.user_name is None and ctx.user_id is None:
            found = (self.config.user_hook or framework_user)(request)
            if found:
                ctx.user_name, ctx.user_id = self.clean_user(found)

    def note_login_account(self, ctx: RequestContext, account: str | None) -> None:
        """Name the account a login attempt tried (cleaned like any field), when there is one."""
        if account:
            ctx.login_user = self.clean_value(account)

    def read_login_account(self, ctx: RequestContext, body: bytes, content_type: str) -> None:
        """Name the account a login body's configured field holds, unless one is known already.

        Only that field is read (see `account_from_body`); never raises.
        """
        login = ctx.login
        if login is None or not login.field or ctx.login_user is not None:
            return
        try:
            self.note_login_account(ctx, account_from_body(body, content_type, login.field))
        except Exception as exc:  # noqa: BLE001 - the sensor must never break the app
            self.failed(exc)

    def finish(
        self, ctx: RequestContext, status: int, duration_ns: int, *, failure: str | None = None
    ) -> None:
        """Build and emit the request's event; never raises.

        ``failure`` (e.g. `RAISED_AFTER_START`) makes the outcome ``failure`` whatever the status,
        with the text as ``event.reason``. A blocked request is reported even on an excluded path.
        """
        try:
            if (
                ctx.path in self._exclude_paths
                and ctx.block is None
                and (ctx.login is None or ctx.login.outcome is None)  # a reported login is kept
            ):
                return
            reporter = self.reporter
            if reporter.lines_only:  # no output needs the `Event`: its line, never built
                reporter.emit_line(self._request_line(ctx, status, duration_ns, failure))
            else:
                reporter.emit(self._request_event(ctx, status, duration_ns, failure))
        except Exception as exc:  # noqa: BLE001 - the sensor must never break the app
            self.failed(exc)

    # -- building ------------------------------------------------------------------------------

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

    def masked_query(self, raw_query: str) -> str | None:
        if not raw_query:
            return None
        return sanitize(
            mask_query(raw_query, self.config.redact_keys), self.config.max_field_length
        )

    def _verdict(
        self, ctx: RequestContext, status: int, failure: str | None
    ) -> tuple[Verdict | None, str | None, dict[str, str]]:
        """What a decision or a login says the request was (None: judge by the status), its
        failure and its labels: the parts of its event that depend on the sensor."""
        block = ctx.block
        # `request_labels` rather than `context_labels`: one call fewer on every request.
        labels = request_labels(ctx.route, ctx.token_id, ctx.session_id, ctx.attack_tool)
        if self.enforcer is not None:
            self.enforcer.labels(ctx, labels)
        verdict: Verdict | None = None  # None: by the attack tool and the status
        if block is not None:
            verdict, failure = block.action, block.reason
        elif ctx.login is not None:
            verdict = self._login_action(ctx, status)
        return verdict, failure, labels

    def _request_event(
        self, ctx: RequestContext, status: int, duration_ns: int, failure: str | None
    ) -> Event:
        # `_verdict`, inline: a sensor whose outputs need events runs this on every request.
        block = ctx.block
        labels = request_labels(ctx.route, ctx.token_id, ctx.session_id, ctx.attack_tool)
        if self.enforcer is not None:
            self.enforcer.labels(ctx, labels)
        verdict: Verdict | None = None
        if block is not None:
            verdict, failure = block.action, block.reason
        elif ctx.login is not None:
            verdict = self._login_action(ctx, status)
        identity = ctx.identity
        if identity is not None:
            source, agent = identity.source, identity.agent
        else:
            source = Source(ip=ctx.source_ip, address=ctx.peer_address)
            agent = UserAgent(original=ctx.user_agent) if ctx.user_agent else None
        return request_event(  # by position: cheaper than keywords (see its docstring)
            verdict,
            status,
            ctx.attack_tool,
            ctx.started or (wall_time(ctx.started_ns) if ctx.started_ns else datetime.now(UTC)),
            ctx.event_id,
            ctx.method,
            ctx.path,
            source,
            labels,
            self.service,
            self.host,
            ctx.request_id,
            ctx.query,
            duration_ns,
            agent,
            ctx.user_name,
            ctx.login_user,
            ctx.user_id,
            ctx.trace_id,
            failure,
        )

    def _request_line(
        self, ctx: RequestContext, status: int, duration_ns: int, failure: str | None
    ) -> bytes:
        """`_request_event`'s event as its ECS JSON line, never built (the same bytes).

        Most requests are plain (`RequestLines.plain_parts`): their line is the cached parts for
        their client, method, route and status around their time, id, duration and path.
        """
        identity = ctx.identity
        if (
            failure is None
            and identity is not None
            and ctx.request_id is ctx.event_id
            and ctx.block is None
            and ctx.login is None
            and ctx.query is None
            and ctx.user_name is None
            and ctx.user_id is None
            and ctx.trace_id is None
            and self.enforcer is None
            and ctx.path is not None
        ):
            key = (identity, ctx.method, ctx.route, status)
            parts = self._plain.get(key) or self._plain_parts(key, ctx)
            if parts is not None:
                started = ctx.started_ns or _ns(ctx.started)
                return self._lines.plain(parts, started, ctx.event_id, duration_ns, ctx.path)
        return self._any_request_line(ctx, status, duration_ns, failure)

    def _plain_parts(self, key: PlainKey, ctx: RequestContext) -> PlainParts | None:
        """Make, and keep, the parts of plain requests' lines alike to ``ctx`` (`_request_line`)."""
        identity, method, route, status = key
        labels = request_labels(route, identity.token_id, identity.session_id, identity.attack_tool)
        parts = self._lines.plain_parts(
            status=status,
            attack_tool=identity.attack_tool,
            method=method,
            source=identity.source_json,
            labels=labels,
            user_agent=identity.agent_json,
        )
        if parts is not None:
            if len(self._plain) >= _MAX_PLAIN:
                self._plain.clear()
            self._plain[key] = parts
        return parts

    def _any_request_line(
        self, ctx: RequestContext, status: int, duration_ns: int, failure: str | None
    ) -> bytes:
        verdict, failure, labels = self._verdict(ctx, status, failure)
        identity = ctx.identity
        if identity is not None:
            source, agent = identity.source_json, identity.agent_json
        else:
            source = encode_part(Source(ip=ctx.source_ip, address=ctx.peer_address))
            agent = encode_part(UserAgent(original=ctx.user_agent)) if ctx.user_agent else None
        return self._lines.line(  # as `_request_event`, by position
            verdict,
            status,
            ctx.attack_tool,
            ctx.started_ns or _ns(ctx.started),
            ctx.event_id,
            ctx.method,
            ctx.path,
            source,
            labels,
            ctx.request_id,
            ctx.query,
            duration_ns,
            agent,
            ctx.user_name,
            ctx.login_user,
            ctx.user_id,
            ctx.trace_id,
            failure,
        )

    def context_labels(self, ctx: RequestContext) -> dict[str, str]:
        return request_labels(ctx.route, ctx.token_id, ctx.session_id, ctx.attack_tool)

    def _login_action(self, ctx: RequestContext, status: int) -> Verdict | None:
        """What a login request's outcome means; None when it is no login outcome (then the
        request is judged as any other: tools, 403, 429)."""
        login = ctx.login
        if login is None or ctx.authn_reported:
            return None
        return login_action(login, status, self._failure_body)


def _ns(started: datetime | None) -> int:
    """A start time as ``time.time_ns()`` would give it (now, when not known)."""
    if started is None:
        return time_ns()
    return (started - _UNIX_EPOCH) // _MICROSECOND * 1000


_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


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
