"""What the framework glue calls when an authentication library says how a login ended.

Within a request, a login outcome is recorded on the request (``RequestContext.login``): the
request's own event then *is* the login event, with the library's outcome and the account, so
one login is reported once, whatever the status code says. Outside a request (a management
command, a test client's ``login()``) it is emitted on its own through `apiwatch.audit`. Logouts
(``session_expired``, reason ``logout``: the OWASP vocabulary has no logout event, and this is
its event for a session ended by logout) and password changes are `apiwatch.audit` events of
their own, carrying the request's context. Nothing here raises into the app.
"""

from __future__ import annotations

from apiwatch.model import Action
from apiwatch.sensor import audit
from apiwatch.sensor._context import RequestContext, current_request
from apiwatch.sensor._outcome import LoginAttempt
from apiwatch.sensor._sensor import Sensor

__all__ = [
    "login_attempt",
    "report_login",
    "report_logout",
    "report_password_change",
]

_SUCCESS = Action.AUTHN_LOGIN_SUCCESS
_FAIL = Action.AUTHN_LOGIN_FAIL


def login_attempt(
    ctx: RequestContext | None = None, *, field: str | None = None, awaits_success: bool = False
) -> LoginAttempt | None:
    """Mark the request (default: the current one) as a login attempt; its `LoginAttempt`.

    ``awaits_success``: a library that reports every successful login handles this one, so a
    request that ends without that report is a failed login.
    """
    ctx = ctx or current_request()
    if ctx is None:
        return None
    attempt = ctx.login
    if attempt is None:
        attempt = ctx.login = LoginAttempt(field)
    elif field and not attempt.field:
        attempt.field = field
    attempt.awaits_success = attempt.awaits_success or awaits_success
    return attempt


def report_login(
    succeeded: bool,
    user: object = None,
    user_id: object = None,
    *,
    attempted: bool = False,
    sensor: Sensor | None = None,
) -> None:
    """A library's word on a login: ``user`` is the account (tried, or signed in).

    ``attempted``: ``user`` is only the account being tried, the outcome is not known yet; it
    names the attempt without deciding it. ``sensor`` takes events outside a request (default:
    `apiwatch.audit`'s).
    """
    ctx = current_request()
    if ctx is None:
        if not attempted:
            _emit(sensor, _SUCCESS if succeeded else _FAIL, user, user_id)
        return
    try:
        attempt = login_attempt(ctx)
        if attempt is None:
            return
        if not attempted:
            attempt.report(succeeded)
        if user is not None and str(user):
            ctx.login_user = ctx.reporter.clean_value(str(user))
        if succeeded and user_id is not None:
            ctx.user_id = ctx.reporter.clean_value(str(user_id))
    except Exception as exc:  # noqa: BLE001 - never break the app
        ctx.reporter.failed(exc)


def report_logout(
    user: object = None, user_id: object = None, *, sensor: Sensor | None = None
) -> None:
    """``session_expired`` with reason ``logout`` for ``user`` (the request's user when None)."""
    _emit(sensor, Action.SESSION_EXPIRED, user, user_id, reason="logout")


def report_password_change(
    user: object = None, user_id: object = None, *, sensor: Sensor | None = None
) -> None:
    """``authn_password_change`` for ``user``."""
    _emit(sensor, Action.AUTHN_PASSWORD_CHANGE, user, user_id)


def _emit(
    sensor: Sensor | None,
    action: Action,
    user: object,
    user_id: object,
    reason: str | None = None,
) -> None:
    """Through `apiwatch.audit`, in the current request, else through ``sensor`` when given."""
    ctx = current_request()
    name = str(user) if user is not None and str(user) else None
    uid = str(user_id) if user_id is not None and str(user_id) else None
    if ctx is None and sensor is not None:
        audit.emit_to(sensor, None, action, user=name, user_id=uid, reason=reason)
    else:
        audit.emit(action, user=name, user_id=uid, reason=reason)
