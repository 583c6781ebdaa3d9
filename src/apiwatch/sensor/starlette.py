"""Starlette glue: failed authentication in ``AuthenticationMiddleware``, reported in one line.

``Middleware(AuthenticationMiddleware, backend=..., on_error=on_auth_error)``

A backend that raises ``AuthenticationError`` has refused the credentials a request presented:
with `on_auth_error` the request's event is ``authn_login_fail`` (naming the account for HTTP
Basic credentials; the password is never decoded into anything kept), and the client gets what
Starlette's own default answers, 400 with the error's text. An app with its own ``on_error``
calls `report_auth_error` from it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from apiwatch.sensor._authn import report_login

__all__ = ["on_auth_error", "report_auth_error"]


def on_auth_error(conn: Any, exc: Exception) -> Any:
    """An ``on_error`` for ``AuthenticationMiddleware``: report, then Starlette's default answer."""
    from starlette.responses import PlainTextResponse  # noqa: PLC0415 - an optional extra

    report_auth_error(conn, exc)
    return PlainTextResponse(str(exc), status_code=400)


def report_auth_error(conn: Any, exc: Exception) -> None:
    """Report a refused authentication of ``conn`` (a Starlette ``HTTPConnection``)."""
    report_login(False, basic_user(conn.headers.get("authorization")))


def basic_user(authorization: str | None) -> str | None:
    """The user name of HTTP Basic credentials; the password part is dropped unread."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None
    name = decoded.partition(":")[0]
    return name or None
