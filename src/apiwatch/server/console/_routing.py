"""The console's routes are declared through `ConsoleRouter`, which gives each its role and
records it (`ConsoleRouter.roles`), so that a test can walk every route with every role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from starlette.requests import Request
from starlette.responses import Response

from apiwatch.server.console._auth import Principal, need
from apiwatch.server.console._web import environment

__all__ = ["ConsoleRouter", "render"]

_templates = environment()


class ConsoleRouter:
    """An `APIRouter` whose routes each need a role (``None``: public, the login page)."""

    def __init__(self) -> None:
        self.router = APIRouter(include_in_schema=False)
        self.roles: dict[tuple[str, str], str | None] = {}

    def route(self, method: str, path: str, role: str | None) -> Callable[[Any], Any]:
        self.roles[(method, path)] = role
        dependencies = [Depends(need(role))] if role else []
        return self.router.api_route(
            path, methods=[method], dependencies=dependencies, response_class=HTMLResponse
        )


def render(
    request: Request, template: str, who: Principal | None, status: int = 200, **context: Any
) -> Response:
    """A page, with the user and the CSRF token its forms need."""
    body = _templates.get_template(template).render(
        request=request, who=who, csrf=who.csrf if who else "", **context
    )
    return HTMLResponse(body, status_code=status)
