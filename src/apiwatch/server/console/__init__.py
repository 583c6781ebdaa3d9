"""The web console: served by `apiwatch serve` on its own port, under ``/``.

Server-rendered (Jinja2) pages with htmx 2 and uPlot vendored as static files (``static/``, with
their licenses; no front-end build step). Local users with roles (``apiwatch users``), server-side
sessions, CSRF tokens, a login rate limit, and every read of event data in the read audit. It is
an adapter over the store queries the JSON API uses (`apiwatch.server._query_api`,
`apiwatch.server._detect_api`, `apiwatch.server._decisions_api`): see docs/console.md.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from apiwatch.server.console._auth import LoginLimiter, principal_of
from apiwatch.server.console._login import add_login_pages
from apiwatch.server.console._manage import add_manage_pages
from apiwatch.server.console._pages import add_read_pages
from apiwatch.server.console._routing import ConsoleRouter, render
from apiwatch.server.console._web import HERE, Forbidden, NeedLogin, SecurityHeaders

__all__ = ["console_router", "mount_console"]


def console_router(limiter: LoginLimiter | None = None) -> ConsoleRouter:
    """Every console route, each with the role it needs (`ConsoleRouter.roles`)."""
    console = ConsoleRouter()
    add_login_pages(console, limiter or LoginLimiter())
    add_read_pages(console)
    add_manage_pages(console)
    return console


def mount_console(app: FastAPI) -> ConsoleRouter:
    """Add the console's routes, files, error pages and security headers to ``app``."""
    console = console_router()
    app.include_router(console.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(NeedLogin)
    async def need_login(request: Request, exc: NeedLogin) -> Response:
        if request.headers.get("hx-request"):  # htmx: a full page load of the login form
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        wanted = {"next": exc.next_path} if exc.next_path != "/" else {}
        target = f"/login?{urlencode(wanted)}" if wanted else "/login"
        return RedirectResponse(target, 303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return render(request, "error.html", await principal_of(request), 403, message=str(exc))

    app.state.console = console
    return console
