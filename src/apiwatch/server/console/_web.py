"""What every console page shares: the template environment (everything escaped, control
characters shown as escapes), the security headers, and the two ways a request is turned away.

Attacker-controlled text (user agents, account names, paths, rule titles from custom packs) is
only ever rendered through Jinja2 with autoescape on, and through `visible`, which every
expression's output passes (``finalize``): CR, LF, ESC (ANSI) and the other control characters
are shown as ``\\x..`` escapes, so a log-forging or terminal-escape payload is visible and inert.
No page holds an inline script or style; the Content-Security-Policy forbids both.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apiwatch.model import ApiwatchError

__all__ = [
    "CSP",
    "Forbidden",
    "NeedLogin",
    "SecurityHeaders",
    "environment",
    "visible",
]

HERE = Path(__file__).parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Referrer-Policy same-origin, not no-referrer: with no-referrer browsers send ``Origin: null``
# on the console's own form posts, and the CSRF check compares the Origin.
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
#: Paths of the JSON API and operations: their answers keep their own headers.
_API_PREFIXES = ("/v1/", "/healthz", "/readyz", "/metrics", "/openapi.json")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]|\n|\r")


class NeedLogin(ApiwatchError):  # noqa: N818 - a redirect, not an error
    """No valid session: go to the login page (then back to ``next``)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Forbidden(ApiwatchError):  # noqa: N818 - the console's 403
    """The session's role may not do this, or the CSRF token is missing or wrong."""


class SecurityHeaders:
    """Pure ASGI middleware: the console's pages and files get the CSP and friends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(_API_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def visible(value: Any) -> Any:
    """Text with control characters (CR, LF, ESC, bidi overrides) shown as escapes."""
    if value is None:
        return ""
    if isinstance(value, str) and _CONTROL.search(value):
        return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), value)
    return value


def _when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _query(params: dict[str, Any]) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        finalize=visible,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["segment"] = lambda text: quote(str(text), safe="")
    env.filters["query"] = _query
    return env
