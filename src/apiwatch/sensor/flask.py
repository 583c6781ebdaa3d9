"""Flask glue: ``apiwatch.sensor.flask.init_app(app, **options)``.

Wraps ``app.wsgi_app`` in `WSGIMiddleware` and adds a teardown hook that records what only Flask
knows: the matched rule (``labels.route``, as ``/users/{user_id}``) and the signed-in user
(Flask-Login's ``current_user`` or ``flask.g.user``, or ``user_hook(flask.request)``).

Flask-Login and Flask-Security are heard without configuration (`apiwatch.sensor._flask_auth`):
``login_user`` is a successful login, ``logout_user`` a logout (``session_expired``, reason
``logout``), Flask-Security's failed-credential and password signals what they say. Flask-Login
signals successes only, so a POST to the app's ``login_manager.login_view`` (or to a
``login_paths`` route of an app with a ``LoginManager``) that ends without ``login_user`` is a
failed login, whatever the status: many apps answer one with a redirect back to the form.
"""

from __future__ import annotations

from typing import Any

from apiwatch.sensor._config import UserHook
from apiwatch.sensor._context import RequestContext, current_request
from apiwatch.sensor._flask_auth import connect, watch_login
from apiwatch.sensor._routes import normalise_route
from apiwatch.sensor._sensor import Sensor
from apiwatch.sensor.wsgi import WSGIMiddleware

__all__ = ["init_app"]


def init_app(app: Any, **options: Any) -> WSGIMiddleware:
    """Install the sensor on a Flask app; returns the middleware (``.sensor.stats`` etc.)."""
    import flask  # noqa: PLC0415 - Flask is an optional extra

    # Flask's user hook is asked with ``flask.request``, after the view: not the WSGI environ.
    hook = options.pop("user_hook", None)
    middleware = WSGIMiddleware(app.wsgi_app, **options)
    app.wsgi_app = middleware
    app.extensions["apiwatch"] = middleware
    sensor = middleware.sensor
    user = hook or (lambda _request: _flask_user(flask))
    connect()

    def _apiwatch_teardown(_exc: BaseException | None) -> None:
        ctx = current_request()
        if ctx is None:
            return
        try:
            _complete(flask, sensor, ctx, user)
        except Exception as exc:  # noqa: BLE001 - never break the app
            sensor.failed(exc)

    app.teardown_request(_apiwatch_teardown)
    return middleware


def _complete(flask: Any, sensor: Sensor, ctx: RequestContext, user: UserHook) -> None:
    request = flask.request
    rule = request.url_rule
    if rule is not None:
        ctx.route = normalise_route(rule.rule)
    if ctx.method == "POST" or ctx.login is not None:
        watch_login(flask, sensor, ctx, rule)
    sensor.note_user(ctx, request, user)


def _flask_user(flask: Any) -> tuple[str | None, str | None] | None:
    """Flask-Login's authenticated ``current_user``, else ``g.user``, else nobody."""
    # Flask-Login's current_user raises on an app without a LoginManager: ask only apps with one.
    if getattr(flask.current_app, "login_manager", None) is not None:
        from flask_login import current_user  # noqa: PLC0415

        if current_user and current_user.is_authenticated:
            name = getattr(current_user, "username", None) or getattr(current_user, "email", None)
            return (str(name) if name else None, str(current_user.get_id()))
    user = flask.g.get("user")
    if user is None:
        return None
    if isinstance(user, str):
        return (user, None)
    name = getattr(user, "username", None) or getattr(user, "name", None)
    user_id = getattr(user, "id", None)
    return (str(name) if name else None, str(user_id) if user_id is not None else None)
