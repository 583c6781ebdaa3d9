"""The security-event API for what middleware cannot see: ``apiwatch.audit.login_failed(...)``.

One function per OWASP Logging Vocabulary event. Each builds an `Event` with the current request's
context filled in (client IP, user agent, request and trace ids, token fingerprint, route), from a
contextvar, so it works the same from sync views and async endpoints. A plain thread does not
inherit contextvars: a thread must be started with ``contextvars.copy_context().run`` (as
``asyncio.to_thread`` does) to keep the request's context. Outside a request it still emits, without
request fields. Calls never raise into the app.

Arguments are account names, object names and reasons, never secrets: a token passed to
`token_reused` or `token_revoked` is fingerprinted with the sensor's key, never written. Every value
is redacted, escaped and truncated like any other field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from apiwatch.model import (
    Action,
    Event,
    EventMeta,
    Http,
    HttpRequest,
    Log,
    Source,
    Trace,
    Url,
    User,
    UserAgent,
)
from apiwatch.model.vocabulary import LEVEL_NUMBERS
from apiwatch.sensor._config import process_service
from apiwatch.sensor._context import RequestContext, current_request, request_labels
from apiwatch.sensor._reporter import Reporter
from apiwatch.sensor._sanitize import REDACTED, is_secret_key
from apiwatch.sensor._sensor import Sensor, default_sensor

__all__ = [
    "admin_activity",
    "attack_tool",
    "authz_changed",
    "authz_failed",
    "configure",
    "cors_violation",
    "crashed",
    "decrypt_failed",
    "direct_reference",
    "emit",
    "encrypt_failed",
    "excess_404",
    "extraneous_input",
    "identify",
    "impossible_travel",
    "input_validation_discrete_failed",
    "input_validation_failed",
    "login_failed",
    "login_failed_max",
    "login_locked",
    "login_succeeded",
    "monitor_disabled",
    "monitor_enabled",
    "password_change_failed",
    "password_changed",
    "permissions_changed",
    "rate_limit_exceeded",
    "restarted",
    "sensitive_created",
    "sensitive_deleted",
    "sensitive_read",
    "sensitive_updated",
    "sequence_failed",
    "session_created",
    "session_expired",
    "session_renewed",
    "session_used_after_expire",
    "shutdown",
    "startup",
    "token_created",
    "token_deleted",
    "token_reused",
    "token_revoked",
    "upload_completed",
    "upload_deleted",
    "upload_stored",
    "upload_validated",
    "user_archived",
    "user_created",
    "user_deleted",
    "user_updated",
]

_fallback: Sensor | None = None
_AUTHN_OUTCOMES = frozenset(
    {Action.AUTHN_LOGIN_SUCCESS, Action.AUTHN_LOGIN_SUCCESSAFTERFAIL, Action.AUTHN_LOGIN_FAIL}
)


def configure(**options: object) -> Sensor:
    """Set up the sensor audit events use outside any request (same options as the middleware)."""
    global _fallback  # noqa: PLW0603 - module-level default, like logging.basicConfig
    _fallback = Sensor.from_options(**options)
    return _fallback


def _reporter(ctx: RequestContext | None) -> Reporter:
    """Where an event goes: the request's sensor, else the configured or newest one."""
    global _fallback  # noqa: PLW0603
    if ctx is not None:
        return ctx.reporter
    sensor = _fallback or default_sensor()
    if sensor is None:
        sensor = _fallback = Sensor.from_options(service=process_service())
    return sensor.reporter


def identify(user_name: str | None = None, user_id: str | int | None = None) -> None:
    """Attach the authenticated account to the current request's event."""
    ctx = current_request()
    if ctx is None:
        return
    if user_name is not None:
        ctx.user_name = ctx.reporter.clean_value(str(user_name))
    if user_id is not None:
        ctx.user_id = ctx.reporter.clean_value(str(user_id))


def emit(
    action: Action | str,
    *,
    user: str | None = None,
    user_id: str | int | None = None,
    outcome: str | None = None,
    reason: str | None = None,
    level: str | None = None,
    labels: Mapping[str, object] | None = None,
) -> None:
    """Emit any vocabulary event; the named functions below are shortcuts for this."""
    ctx = current_request()
    emit_to(_reporter(ctx), ctx, action, user=user, user_id=user_id, outcome=outcome,
            reason=reason, level=level, labels=labels)  # fmt: skip


def emit_to(
    sensor: Sensor | Reporter,
    ctx: RequestContext | None,
    action: Action | str,
    *,
    user: str | None = None,
    user_id: str | int | None = None,
    outcome: str | None = None,
    reason: str | None = None,
    level: str | None = None,
    labels: Mapping[str, object] | None = None,
) -> None:
    """`emit` through ``sensor`` for request ``ctx`` (framework glue that knows its sensor)."""
    reporter = sensor.reporter if isinstance(sensor, Sensor) else sensor
    try:
        action = Action(action)
        if ctx is not None and action in _AUTHN_OUTCOMES:
            ctx.authn_reported = True  # the request event must not report the login again
        event = _event(
            reporter, ctx, action,
            user=user, user_id=user_id, outcome=outcome, reason=reason, level=level, labels=labels,
        )  # fmt: skip
        reporter.emit(event)
    except Exception as exc:  # noqa: BLE001 - never break the app
        reporter.failed(exc)


def _event(
    sensor: Reporter,
    ctx: RequestContext | None,
    action: Action,
    *,
    user: str | None,
    user_id: str | int | None,
    outcome: str | None,
    reason: str | None,
    level: str | None,
    labels: Mapping[str, object] | None,
) -> Event:
    spec = action.spec
    level = level or spec.level
    name = sensor.clean_value(str(user)) if user is not None else None
    uid = sensor.clean_value(str(user_id)) if user_id is not None else None
    if ctx is not None and name is None and uid is None:
        name, uid = ctx.user_name, ctx.user_id
    event = Event(
        timestamp=datetime.now(UTC),
        event=EventMeta(
            action=action.value,
            kind="event",
            category=list(spec.category),
            type=list(spec.type),
            outcome=outcome or spec.outcome,
            severity=LEVEL_NUMBERS.get(level, spec.severity),
            reason=sensor.clean_value(reason) if reason else None,
        ),
        log=Log(level=level.lower(), logger="apiwatch.audit"),
        user=User(name=name, id=uid) if name or uid else None,
        service=sensor.service,
        host=sensor.host,
        labels=_labels(sensor, ctx, labels),
    )
    if ctx is not None:
        _add_request(event, ctx)
    return event


def _add_request(event: Event, ctx: RequestContext) -> None:
    event.source = Source(ip=ctx.source_ip, address=ctx.peer_address)
    event.http = Http(request=HttpRequest(method=ctx.method, id=ctx.request_id))
    event.url = Url(path=ctx.path)
    event.user_agent = UserAgent(original=ctx.user_agent) if ctx.user_agent else None
    event.trace = Trace(id=ctx.trace_id) if ctx.trace_id else None


def _labels(
    sensor: Reporter, ctx: RequestContext | None, extra: Mapping[str, object] | None
) -> dict[str, str]:
    labels = request_labels(ctx) if ctx is not None else {}
    for key, value in (extra or {}).items():
        if value is None:
            continue
        text = value if isinstance(value, str) else _text(value)
        secret = is_secret_key(key, sensor.config.redact_keys) and key not in _SAFE_LABELS
        labels[sensor.clean_value(key)] = REDACTED if secret else sensor.clean_value(text)
    return labels


# Label names this module writes itself, whose values are not secrets (a fingerprint, a name).
_SAFE_LABELS = frozenset({"token_id", "session_id", "target_token_id"})


def _text(value: object) -> str:
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return ",".join(str(v) for v in value)
    return str(value)


def _token_label(token: str | None, token_id: str | None) -> str | None:
    """A token's fingerprint (never the token), or the app's own id for it."""
    if token:
        return _reporter(current_request()).fingerprint(token)
    return token_id


# -- Authentication [AUTHN] -------------------------------------------------------------------


def login_succeeded(user: str, *, user_id: str | int | None = None, retries: int = 0) -> None:
    """``authn_login_success`` (``authn_login_successafterfail`` when ``retries`` > 0)."""
    if retries:
        emit(Action.AUTHN_LOGIN_SUCCESSAFTERFAIL, user=user, user_id=user_id,
             labels={"retries": retries})  # fmt: skip
    else:
        emit(Action.AUTHN_LOGIN_SUCCESS, user=user, user_id=user_id)
    identify(user, user_id)


def login_failed(user: str | None, *, reason: str | None = None) -> None:
    """``authn_login_fail``: ``user`` is the account that was tried (it may not exist)."""
    emit(Action.AUTHN_LOGIN_FAIL, user=user, reason=reason)


def login_failed_max(user: str, *, max_attempts: int) -> None:
    """``authn_login_fail_max``: the account reached its failure limit."""
    emit(Action.AUTHN_LOGIN_FAIL_MAX, user=user, labels={"max_attempts": max_attempts})


def login_locked(user: str, *, reason: str = "maxretries") -> None:
    """``authn_login_lock``; reason is maxretries, suspicious, customer or other."""
    emit(Action.AUTHN_LOGIN_LOCK, user=user, reason=reason)


def password_changed(user: str) -> None:
    """``authn_password_change``."""
    emit(Action.AUTHN_PASSWORD_CHANGE, user=user)


def password_change_failed(user: str, *, reason: str | None = None) -> None:
    """``authn_password_change_fail``."""
    emit(Action.AUTHN_PASSWORD_CHANGE_FAIL, user=user, reason=reason)


def impossible_travel(user: str, *, region1: str, region2: str) -> None:
    """``authn_impossible_travel`` between two regions."""
    emit(Action.AUTHN_IMPOSSIBLE_TRAVEL, user=user,
         labels={"region1": region1, "region2": region2})  # fmt: skip


def token_created(user: str, *, entitlements: Iterable[str] = ()) -> None:
    """``authn_token_created`` with the token's entitlements (never the token)."""
    emit(Action.AUTHN_TOKEN_CREATED, user=user, labels={"entitlements": list(entitlements)})


def token_revoked(user: str, *, token: str | None = None, token_id: str | None = None) -> None:
    """``authn_token_revoked``; ``token`` is fingerprinted, never written."""
    emit(Action.AUTHN_TOKEN_REVOKED, user=user,
         labels={"target_token_id": _token_label(token, token_id)})  # fmt: skip


def token_reused(
    user: str | None = None, *, token: str | None = None, token_id: str | None = None
) -> None:
    """``authn_token_reuse``: a revoked token was presented; ``token`` is fingerprinted."""
    emit(Action.AUTHN_TOKEN_REUSE, user=user,
         labels={"target_token_id": _token_label(token, token_id)})  # fmt: skip


def token_deleted(app_id: str) -> None:
    """``authn_token_delete`` for an application's token."""
    emit(Action.AUTHN_TOKEN_DELETE, labels={"app_id": app_id})


# -- Authorization [AUTHZ] --------------------------------------------------------------------


def authz_failed(user: str | None = None, *, resource: str | None = None) -> None:
    """``authz_fail``: access to ``resource`` was refused."""
    emit(Action.AUTHZ_FAIL, user=user, labels={"resource": resource})


def authz_changed(user: str, *, from_role: str, to_role: str) -> None:
    """``authz_change``: the account's entitlements changed."""
    emit(Action.AUTHZ_CHANGE, user=user, labels={"from": from_role, "to": to_role})


def admin_activity(user: str, *, activity: str) -> None:
    """``authz_admin``: something a privileged account did."""
    emit(Action.AUTHZ_ADMIN, user=user, labels={"activity": activity})


# -- Encryption [CRYPT], excessive use [EXCESS] -----------------------------------------------


def decrypt_failed(user: str | None = None, *, reason: str | None = None) -> None:
    """``crypt_decrypt_fail``."""
    emit(Action.CRYPT_DECRYPT_FAIL, user=user, reason=reason)


def encrypt_failed(user: str | None = None, *, reason: str | None = None) -> None:
    """``crypt_encrypt_fail``."""
    emit(Action.CRYPT_ENCRYPT_FAIL, user=user, reason=reason)


def rate_limit_exceeded(user: str | None = None, *, limit: int | None = None) -> None:
    """``excess_rate_limit_exceeded``."""
    emit(Action.EXCESS_RATE_LIMIT_EXCEEDED, user=user, labels={"limit": limit})


# -- File upload [UPLOAD] ---------------------------------------------------------------------


def upload_completed(user: str | None, *, filename: str, file_type: str | None = None) -> None:
    """``upload_complete``."""
    emit(Action.UPLOAD_COMPLETE, user=user, labels={"filename": filename, "file_type": file_type})


def upload_stored(*, filename: str, stored_as: str) -> None:
    """``upload_stored``: the upload was moved/renamed to ``stored_as``."""
    emit(Action.UPLOAD_STORED, labels={"filename": filename, "stored_as": stored_as})


def upload_validated(*, filename: str, validator: str, result: str) -> None:
    """``upload_validation``; ``result`` passed, incomplete or failed (failed is CRITICAL)."""
    failed = result.lower() == "failed"
    emit(Action.UPLOAD_VALIDATION, outcome="failure" if failed else "success",
         level="CRITICAL" if failed else "INFO",
         labels={"filename": filename, "validator": validator, "result": result})  # fmt: skip


def upload_deleted(user: str | None, *, file_id: str) -> None:
    """``upload_delete``."""
    emit(Action.UPLOAD_DELETE, user=user, labels={"file_id": file_id})


# -- Input validation [INPUT] -----------------------------------------------------------------


def input_validation_failed(fields: Iterable[str], *, user: str | None = None) -> None:
    """``input_validation_fail`` for the named fields (names only, never values)."""
    emit(Action.INPUT_VALIDATION_FAIL, user=user, labels={"fields": list(fields)})


def input_validation_discrete_failed(field: str, *, user: str | None = None) -> None:
    """``input_validation_discrete_fail``: a value outside a fixed list of options."""
    emit(Action.INPUT_VALIDATION_DISCRETE_FAIL, user=user, labels={"field": field})


# -- Malicious behaviour [MALICIOUS] ----------------------------------------------------------


def excess_404(user: str | None = None) -> None:
    """``malicious_excess_404``: many requests for things that do not exist."""
    emit(Action.MALICIOUS_EXCESS_404, user=user)


def extraneous_input(input_name: str, *, user: str | None = None) -> None:
    """``malicious_extraneous``: a field the handler does not accept was sent."""
    emit(Action.MALICIOUS_EXTRANEOUS, user=user, labels={"input_name": input_name})


def attack_tool(tool: str, *, user: str | None = None) -> None:
    """``malicious_attack_tool``."""
    emit(Action.MALICIOUS_ATTACK_TOOL, user=user, labels={"attack_tool": tool})


def cors_violation(origin: str, *, user: str | None = None) -> None:
    """``malicious_cors``: a request from an origin that is not allowed."""
    emit(Action.MALICIOUS_CORS, user=user, labels={"origin": origin})


def direct_reference(resource: str, *, user: str | None = None) -> None:
    """``malicious_direct_reference``: an object the caller may not access (IDOR/BOLA)."""
    emit(Action.MALICIOUS_DIRECT_REFERENCE, user=user, labels={"resource": resource})


# -- Privilege [PRIVILEGE], sensitive data [DATA], sequence [SEQUENCE] ------------------------


def permissions_changed(user: str, *, obj: str, from_level: str, to_level: str) -> None:
    """``privilege_permissions_changed`` on an object."""
    emit(Action.PRIVILEGE_PERMISSIONS_CHANGED, user=user,
         labels={"object": obj, "from": from_level, "to": to_level})  # fmt: skip


def sensitive_created(user: str | None, *, obj: str) -> None:
    """``sensitive_create``."""
    emit(Action.SENSITIVE_CREATE, user=user, labels={"object": obj})


def sensitive_read(user: str | None, *, obj: str) -> None:
    """``sensitive_read``."""
    emit(Action.SENSITIVE_READ, user=user, labels={"object": obj})


def sensitive_updated(user: str | None, *, obj: str) -> None:
    """``sensitive_update``."""
    emit(Action.SENSITIVE_UPDATE, user=user, labels={"object": obj})


def sensitive_deleted(user: str | None, *, obj: str) -> None:
    """``sensitive_delete``."""
    emit(Action.SENSITIVE_DELETE, user=user, labels={"object": obj})


def sequence_failed(user: str | None = None, *, step: str | None = None) -> None:
    """``sequence_fail``: a step of a flow was reached out of order."""
    emit(Action.SEQUENCE_FAIL, user=user, labels={"step": step})


# -- Session management [SESSION] -------------------------------------------------------------


def session_created(user: str) -> None:
    """``session_created``."""
    emit(Action.SESSION_CREATED, user=user)


def session_renewed(user: str) -> None:
    """``session_renewed``."""
    emit(Action.SESSION_RENEWED, user=user)


def session_expired(user: str, *, reason: str = "timeout") -> None:
    """``session_expired``; reason is logout, timeout, revoked ..."""
    emit(Action.SESSION_EXPIRED, user=user, reason=reason)


def session_used_after_expire(user: str | None = None) -> None:
    """``session_use_after_expire``."""
    emit(Action.SESSION_USE_AFTER_EXPIRE, user=user)


# -- System events [SYS] ----------------------------------------------------------------------


def startup(user: str | None = None) -> None:
    """``sys_startup``."""
    emit(Action.SYS_STARTUP, user=user)


def shutdown(user: str | None = None) -> None:
    """``sys_shutdown``."""
    emit(Action.SYS_SHUTDOWN, user=user)


def restarted(user: str | None = None) -> None:
    """``sys_restart``."""
    emit(Action.SYS_RESTART, user=user)


def crashed(reason: str) -> None:
    """``sys_crash``."""
    emit(Action.SYS_CRASH, reason=reason)


def monitor_disabled(user: str | None, *, monitor: str) -> None:
    """``sys_monitor_disabled``."""
    emit(Action.SYS_MONITOR_DISABLED, user=user, labels={"monitor": monitor})


def monitor_enabled(user: str | None, *, monitor: str) -> None:
    """``sys_monitor_enabled``."""
    emit(Action.SYS_MONITOR_ENABLED, user=user, labels={"monitor": monitor})


# -- User management [USER] -------------------------------------------------------------------


def user_created(user: str | None, *, new_user: str, attributes: Iterable[str] = ()) -> None:
    """``user_created`` by ``user``."""
    emit(Action.USER_CREATED, user=user,
         labels={"target_user": new_user, "attributes": list(attributes)})  # fmt: skip


def user_updated(user: str | None, *, target: str, attributes: Iterable[str] = ()) -> None:
    """``user_updated`` by ``user``."""
    emit(Action.USER_UPDATED, user=user,
         labels={"target_user": target, "attributes": list(attributes)})  # fmt: skip


def user_archived(user: str | None, *, target: str) -> None:
    """``user_archived`` by ``user``."""
    emit(Action.USER_ARCHIVED, user=user, labels={"target_user": target})


def user_deleted(user: str | None, *, target: str) -> None:
    """``user_deleted`` by ``user``."""
    emit(Action.USER_DELETED, user=user, labels={"target_user": target})
