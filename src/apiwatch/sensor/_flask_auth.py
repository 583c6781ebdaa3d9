"""What Flask-Login and Flask-Security say, heard by the sensor (see `apiwatch.sensor.flask`).

`connect` subscribes once per process to Flask-Login's ``user_logged_in``,
``user_login_confirmed`` (a re-authentication: a successful login) and ``user_logged_out``, and,
when Flask-Security is installed, to its ``user_failed_authn`` (a wrong password for an existing
account), ``password_changed``, ``password_reset`` and ``user_authenticated``. Only apps with the
sensor installed (``app.extensions["apiwatch"]``) are reported.

`watch_login` runs after a POST's view: it makes a POST to the app's ``login_view`` (or to
Flask-Security's sign-in endpoints) a login attempt that Flask-Login would have signalled had it
succeeded, and reads the tried account from the form or JSON Flask already parsed.
"""

from __future__ import annotations

from typing import Any

from apiwatch.sensor._authn import (
    login_attempt,
    report_login,
    report_logout,
    report_password_change,
)
from apiwatch.sensor._context import RequestContext, current_request
from apiwatch.sensor._sensor import Sensor

__all__ = ["connect", "watch_login"]

# Form or JSON fields that name the account on a login form, in the order they are tried.
_ACCOUNT_FIELDS = ("username", "email", "login", "identity", "user")
# Flask-Security logs the user in after these, with no credentials tried: no login attempt.
_RELOGINS = frozenset({"change", "reset", "register", "confirm"})
_connected = False


def connect() -> None:
    """Subscribe to the libraries' signals that are installed (idempotent)."""
    global _connected  # noqa: PLW0603 - the libraries' signals are process-wide
    if _connected:
        return
    _connected = True
    try:
        from flask_login import signals  # noqa: PLC0415 - an optional library
    except ImportError:
        return
    signals.user_logged_in.connect(_logged_in, weak=False)
    signals.user_login_confirmed.connect(_login_confirmed, weak=False)
    signals.user_logged_out.connect(_logged_out, weak=False)
    try:
        import flask_security.signals as security  # noqa: PLC0415
    except Exception:  # noqa: BLE001 - absent, or present but unusable: nothing to hear
        return
    security.user_failed_authn.connect(_failed_authn, weak=False)
    security.password_changed.connect(_password_changed, weak=False)
    security.password_reset.connect(_password_changed, weak=False)
    security.user_authenticated.connect(_authenticated, weak=False)


def _sensor(app: Any) -> Sensor | None:
    middleware = getattr(app, "extensions", {}).get("apiwatch")
    return getattr(middleware, "sensor", None)


def _logged_in(app: Any, user: Any = None, **_: Any) -> None:
    sensor = _sensor(app)
    if sensor is not None:
        report_login(True, *user_fields(user), sensor=sensor)


def _login_confirmed(app: Any, **_: Any) -> None:
    sensor = _sensor(app)
    if sensor is not None:
        from flask_login import current_user  # noqa: PLC0415

        report_login(True, *user_fields(current_user), sensor=sensor)


def _logged_out(app: Any, user: Any = None, **_: Any) -> None:
    sensor = _sensor(app)
    if sensor is not None and user is not None and getattr(user, "is_authenticated", True):
        report_logout(*user_fields(user), sensor=sensor)


def _failed_authn(app: Any, user: Any = None, **_: Any) -> None:
    sensor = _sensor(app)
    if sensor is not None:
        report_login(False, user_fields(user)[0], sensor=sensor)


def _password_changed(app: Any, user: Any = None, **_: Any) -> None:
    sensor = _sensor(app)
    if sensor is not None:
        report_password_change(*user_fields(user), sensor=sensor)


def _authenticated(app: Any, user: Any = None, authn_via: Any = (), **_: Any) -> None:
    """Flask-Security's sign-in after a password change or reset, a registration or an e-mail
    confirmation is not a login attempt."""
    ctx = current_request()
    if ctx is None or not _RELOGINS.intersection(authn_via or ()):
        return
    attempt = ctx.login
    if attempt is not None and attempt.field is None and not attempt.awaits_success:
        ctx.login = None  # made by the user_logged_in that this re-login sent


def user_fields(user: Any) -> tuple[str | None, str | None]:
    """A Flask-Login user's ``(name, id)``: ``username``, else ``email``, and ``get_id()``."""
    if user is None:
        return None, None
    name = getattr(user, "username", None) or getattr(user, "email", None)
    get_id = getattr(user, "get_id", None)
    user_id = get_id() if callable(get_id) else getattr(user, "id", None)
    return (str(name) if name else None, str(user_id) if user_id is not None else None)


def watch_login(flask: Any, sensor: Sensor, ctx: RequestContext, rule: Any) -> None:
    """After the view: judge a login handled by Flask-Login, and name its account."""
    app = flask.current_app
    manager = getattr(app, "login_manager", None)
    if manager is None:
        return  # no Flask-Login here: a login_paths route is judged from its response
    attempt = ctx.login
    if attempt is None:
        endpoint = getattr(rule, "endpoint", None)
        if ctx.method != "POST" or endpoint is None or endpoint not in _login_views(app, manager):
            return
        attempt = login_attempt(ctx)
    if attempt is None:
        return
    attempt.awaits_success = True  # Flask-Login signals every successful login_user()
    if ctx.login_user is None and attempt.field is None:
        sensor.note_login_account(ctx, _account(flask.request))


def _login_views(app: Any, manager: Any) -> set[str]:
    """Flask-Login's ``login_view`` endpoints, and Flask-Security's sign-in endpoints."""
    views = {manager.login_view, *getattr(manager, "blueprint_login_views", {}).values()}
    if "security" in app.extensions:
        blueprint = app.config.get("SECURITY_BLUEPRINT_NAME", "security")
        views |= {f"{blueprint}.login", f"{blueprint}.us_signin"}
    return {view for view in views if isinstance(view, str)}


def _account(request: Any) -> str | None:
    """The account a login form or JSON body named, from what Flask already parsed."""
    data = request.get_json(silent=True) if request.is_json else request.form
    if not hasattr(data, "get"):
        return None
    for name in _ACCOUNT_FIELDS:
        value = data.get(name)
        if isinstance(value, str) and value:
            return value
    return None
