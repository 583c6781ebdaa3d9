"""Reading the request out of a WSGI environ (also Django's ``request.META``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apiwatch.sensor._context import RequestContext
    from apiwatch.sensor._sensor import Sensor

__all__ = ["begin_from_environ", "environ_headers", "native_to_text", "request_id_key"]

_ENVIRON_NAMES = {
    "HTTP_USER_AGENT": "user-agent",
    "HTTP_X_FORWARDED_FOR": "x-forwarded-for",
    "HTTP_FORWARDED": "forwarded",
    "HTTP_TRACEPARENT": "traceparent",
    "HTTP_AUTHORIZATION": "authorization",
    "HTTP_COOKIE": "cookie",
}


def native_to_text(value: str) -> str:
    """A PEP 3333 "native string" (bytes decoded as latin-1) re-read as UTF-8.

    Invalid UTF-8 becomes ``\\xNN`` escapes instead of mojibake or an exception.
    """
    if value.isascii():
        return value
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return value  # already text (some servers, Django's test client)
    return raw.decode("utf-8", "backslashreplace")


def environ_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """The headers the sensor reads, lower-case names, from a WSGI environ."""
    headers = {}
    for key, name in _ENVIRON_NAMES.items():
        value = environ.get(key)
        if value:
            headers[name] = native_to_text(str(value))
    return headers


def request_id_key(header: str) -> str:
    """``x-request-id`` -> ``HTTP_X_REQUEST_ID``."""
    return "HTTP_" + header.upper().replace("-", "_")


def begin_from_environ(
    sensor: Sensor, environ: Mapping[str, Any], method: str, path: str, request_id_key: str
) -> RequestContext:
    """`Sensor.begin` for a WSGI environ (or Django's ``META``), query string included."""
    request_id = environ.get(request_id_key)
    ctx = sensor.begin(
        method,
        path,
        environ.get("REMOTE_ADDR"),
        environ_headers(environ),
        native_to_text(request_id) if request_id else None,
    )
    query = environ.get("QUERY_STRING")
    if query:
        ctx.query = sensor.masked_query(native_to_text(query))
    return ctx
