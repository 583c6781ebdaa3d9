"""Django glue: add ``"apiwatch.sensor.django.ApiwatchMiddleware"`` to ``MIDDLEWARE``.

Options come from the ``APIWATCH`` setting, the same keywords as everywhere else, e.g.
``APIWATCH = {"service": "shop", "login_paths": {"/users/login": "username"}}``. Put it first in
``MIDDLEWARE`` so that it times and sees every request. The route (``/users/{user_id}``) comes from
``request.resolver_match``, the user from ``request.user`` (or ``user_hook(request)``).

Django's own authentication is heard without configuration (`apiwatch.sensor._django_auth`): a
login's outcome and account come from ``user_logged_in`` / ``user_login_failed``, so the admin,
``LoginView``, allauth, DRF and simplejwt logins need no ``login_paths``; logouts and password
changes are reported as ``session_expired`` (reason ``logout``) and ``authn_password_change``.

With decision enforcement on, a refused request gets the block's small JSON response before any
later middleware or view runs; on a login route, while flagged accounts exist, the attempted
account is read (``request.POST`` or the JSON body, as Django caches them) before the view.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from apiwatch.sensor._authn import login_attempt
from apiwatch.sensor._block import Block
from apiwatch.sensor._context import (
    RequestContext,
    current_request,
    enter_request,
    restore_request,
)
from apiwatch.sensor._django_auth import ViewKind, connect, login_view
from apiwatch.sensor._environ import begin_from_environ, request_id_key
from apiwatch.sensor._login import account_from_body
from apiwatch.sensor._outcome import LoginAttempt
from apiwatch.sensor._routes import normalise_route
from apiwatch.sensor._sensor import Sensor

__all__ = ["ApiwatchMiddleware"]


class ApiwatchMiddleware:
    """Django middleware emitting one ECS security event per request."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        from django.conf import settings  # noqa: PLC0415 - Django is an optional extra

        self.get_response = get_response
        self.sensor = Sensor.from_options(**dict(getattr(settings, "APIWATCH", {})))
        self._request_id_key = request_id_key(self.sensor.config.request_id_header)
        self._login_views: dict[Any, ViewKind | None] = {}
        connect(self.sensor)

    def __call__(self, request: Any) -> Any:
        started = time.perf_counter_ns()
        try:
            ctx = self._begin(request)
        except Exception as exc:  # noqa: BLE001 - never break the app
            self.sensor.failed(exc)
            return self.get_response(request)
        if self.sensor.enforcer is not None:
            block = self._gate(ctx, request)
            if block is not None:
                return self._refuse(ctx, block, started)
        status = 500
        response = None
        previous = enter_request(ctx)
        try:
            response = self.get_response(request)
            status = int(response.status_code)
        finally:
            restore_request(previous)
            self._complete(ctx, request, response)
            self.sensor.finish(ctx, status, time.perf_counter_ns() - started)
        return response

    def process_view(self, request: Any, view: Any, args: Any, kwargs: Any) -> None:
        """Before the view: a POST to a known login view is a login attempt (see `login_view`)."""
        if request.method != "POST":
            return
        ctx = current_request()
        if ctx is None:
            return
        try:
            kind = self._login_kind(view)
            if kind is None:
                return
            field, signals_success = kind
            login_attempt(ctx, field=field, awaits_success=signals_success)
            if not signals_success:
                self._keep_body(request)
        except Exception as exc:  # noqa: BLE001 - never break the app
            self.sensor.failed(exc)

    def _login_kind(self, view: Any) -> ViewKind | None:
        try:
            return self._login_views[view]
        except KeyError:
            kind = self._login_views[view] = login_view(view)
            return kind
        except TypeError:  # an unhashable view object
            return login_view(view)

    def _keep_body(self, request: Any) -> None:
        """Read a small login body now, so its account can be read after the view streamed it."""
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return
        if 0 < length <= self.sensor.config.max_login_body:
            request.body  # noqa: B018 - Django caches it; DRF then parses the cached copy

    def _begin(self, request: Any) -> RequestContext:
        return begin_from_environ(
            self.sensor, request.META, request.method or "GET", request.path, self._request_id_key
        )

    def _gate(self, ctx: RequestContext, request: Any) -> Block | None:
        sensor = self.sensor
        block = sensor.gate(ctx, request, _django_user)
        field = sensor.wants_login_body(ctx)
        if block is None and field and sensor.gates_login():
            try:
                sensor.note_login_account(ctx, self._account(request, field))
            except Exception as exc:  # noqa: BLE001
                sensor.failed(exc)
            block = sensor.gate_login(ctx)
        return block

    def _refuse(self, ctx: RequestContext, block: Block, started: int) -> Any:
        from django.http import HttpResponse  # noqa: PLC0415 - Django is an optional extra

        try:
            response = HttpResponse(block.body, status=block.status)
            for name, value in block.headers():
                response[name] = value
        finally:
            self.sensor.finish(ctx, block.status, time.perf_counter_ns() - started)
        return response

    def _complete(self, ctx: RequestContext, request: Any, response: Any) -> None:
        sensor = self.sensor
        try:
            if ctx.login is not None:
                self._saw_login(ctx.login, request, response)
            match = getattr(request, "resolver_match", None)
            route = getattr(match, "route", None)
            if route:
                ctx.route = normalise_route(route)
            sensor.note_user(ctx, request, _django_user)
            field = sensor.wants_login_body(ctx)
            if field and ctx.login_user is None:
                sensor.note_login_account(ctx, self._account(request, field))
        except Exception as exc:  # noqa: BLE001
            sensor.failed(exc)

    def _saw_login(self, login: LoginAttempt, request: Any, response: Any) -> None:
        """What a login's request and response say: form or not, media type, failure markers."""
        login.saw_request(request.META.get("CONTENT_TYPE"))
        if response is None:
            return
        config = self.sensor.config
        header = config.login_failure_header
        login.saw_response(response.get("Content-Type"), marked=bool(header and header in response))
        if config.login_failure_body and not getattr(response, "streaming", False):
            login.keep_body(response.content, config.max_login_body)

    def _account(self, request: Any, field: str) -> str | None:
        content_type = request.META.get("CONTENT_TYPE", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = request.POST.get(field)
            return str(value) if value else None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if length > self.sensor.config.max_login_body:
            return None
        try:
            body = request.body
        except Exception:  # noqa: BLE001 - RawPostDataException: the view streamed the body
            return None
        return account_from_body(body, content_type, field)


def _django_user(request: Any) -> tuple[str | None, str | None] | None:
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    name = user.get_username() if hasattr(user, "get_username") else str(user)
    return (str(name) if name else None, str(user.pk) if getattr(user, "pk", None) else None)
