"""The login page, logging in and out."""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from apiwatch.server.console._auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    LoginLimiter,
    login,
    logout,
    principal_of,
    signed_in_user,
)
from apiwatch.server.console._routing import ConsoleRouter, render

__all__ = ["add_login_pages"]


def _next(value: object) -> str:
    """A path of this console to go to after login (never another site)."""
    text = value if isinstance(value, str) else ""
    ok = text.startswith("/") and not text.startswith("//") and "\\" not in text
    return text if ok and text.isprintable() and len(text) < 500 else "/"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_form(request: Request, status: int = 200, error: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, status, login_csrf=token, error=error,
                      next=_next(request.query_params.get("next")))  # fmt: skip
    response.set_cookie(LOGIN_COOKIE, token, max_age=1800, httponly=True, samesite="strict",
                        secure=_secure(request), path="/login")  # fmt: skip
    return response


def add_login_pages(console: ConsoleRouter, limiter: LoginLimiter) -> None:
    @console.route("GET", "/login", None)
    async def login_page(request: Request) -> Response:
        """The login form (already signed in: the overview)."""
        if await principal_of(request) is not None:
            return RedirectResponse("/", 303)
        return _login_form(request)

    @console.route("POST", "/login", None)
    async def do_login(request: Request) -> Response:
        """Check the user name and password; a session cookie when they match."""
        form = await request.form()
        sent, kept = form.get("csrf"), request.cookies.get(LOGIN_COOKIE, "")
        if not isinstance(sent, str) or not kept or not hmac.compare_digest(sent, kept):
            return _login_form(request, 403, "The form expired; try again.")
        name, password = form.get("username"), form.get("password")
        if not isinstance(name, str) or not isinstance(password, str):
            return _login_form(request, 400, "Give a user name and a password.")
        result = await login(request, limiter, name.strip(), password[:1000])
        if result.token is None:
            status = 429 if "too many" in result.refusal else 401
            return _login_form(request, status, result.refusal)
        response = RedirectResponse(_next(form.get("next")), 303)
        response.set_cookie(SESSION_COOKIE, result.token, expires=result.expires,
                            httponly=True, samesite="strict", secure=_secure(request),
                            path="/")  # fmt: skip
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @console.route("POST", "/logout", "viewer")
    async def do_logout(request: Request) -> Response:
        """End the session (here and in the store)."""
        await logout(request, signed_in_user(request))
        response = RedirectResponse("/login", 303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response
