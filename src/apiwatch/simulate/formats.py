"""A `Request` as the two outputs show it: an nginx ``combined`` line, and the sensor's ECS event.

`to_event` makes the sensor's choices (`apiwatch.model.request_event`, which the sensor follows):

- on the login route (``POST /users/login``) 2xx is ``authn_login_success`` (the simulated API
  answers in JSON) and 4xx ``authn_login_fail`` (429 ``excess_rate_limit_exceeded``), with
  ``user.name`` the attempted account, whatever the user agent;
- otherwise a known attack tool's user agent is ``malicious_attack_tool`` (``labels.attack_tool``),
  403 is ``authz_fail``, 429 ``excess_rate_limit_exceeded``, anything else ``http_request``;
- ``labels.route`` is the matched route template (none for paths the app does not have),
  ``labels.token_id`` the keyed fingerprint of the bearer token (`token_fingerprint`);
- ``url.path`` is percent-decoded (as ASGI servers give it), ``url.query`` raw;
- ``user.name`` on other requests is the account a valid token belongs to, as an app's user hook
  reports it (the ASGI sensor's ``user_hook``); a password reset names no one.

Event ids are derived from the seed and the event's position, so outputs are reproducible;
``http.request.id`` equals ``event.id`` as the sensor does without an ``X-Request-Id``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import unquote

from apiwatch.model import Action, Event, Host, Service, Source, UserAgent, encode_event
from apiwatch.model.request_event import (
    Verdict,
    is_login_attempt,
    login_action,
    request_action,
    request_event,
    request_labels,
)
from apiwatch.simulate.records import LOGIN_PATH, Request, token_fingerprint

__all__ = ["HOST_NAMES", "action_of", "ecs_line", "event_id", "nginx_line", "to_event"]

HOST_NAMES: Final = {"shop": "shop-web-1", "billing": "billing-1"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LOGIN_PATHS = frozenset({LOGIN_PATH})
# What nginx's default log escaping leaves alone: printable ASCII except '"' and '\'.
_NEEDS_ESCAPE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")

_SERVICES: dict[str, tuple[Service, Host]] = {}


def _service(name: str) -> tuple[Service, Host]:
    found = _SERVICES.get(name)
    if found is None:
        found = _SERVICES[name] = (Service(name=name), Host(name=HOST_NAMES.get(name, name)))
    return found


def action_of(request: Request) -> Action:
    """The OWASP action the sensor gives this request (login route first, then tools, 403, 429)."""
    verdict = request_action(request.status, request.tool, _login_verdict(request))
    return verdict if isinstance(verdict, Action) else Action.HTTP_REQUEST


def _login_verdict(request: Request) -> Verdict | None:
    if not is_login_attempt(request.method, request.path, _LOGIN_PATHS):
        return None
    # The simulated shop API answers a login in JSON: a 2xx is a success.
    return login_action(request.status, Action.AUTHN_LOGIN_SUCCESS)


def event_id(seed: int, index: int) -> str:
    """The id of the ``index``-th event of a scenario: 32 hex characters, as the sensor's."""
    return f"{seed & 0xFFFFFFFFFFFFFFFF:016x}{index & 0xFFFFFFFFFFFFFFFF:016x}"


def to_event(request: Request, event_id: str) -> Event:
    """The ECS event the apiwatch sensor emits for this request (see the module docstring)."""
    service, host = _service(request.service)
    token_id = token_fingerprint(request.token) if request.token else None
    return request_event(
        _login_verdict(request),
        request.status,
        request.tool,
        timestamp=_EPOCH + timedelta(microseconds=request.time_us),
        event_id=event_id,
        method=request.method,
        path=unquote(request.path),
        source=Source(ip=request.ip),
        labels=request_labels(request.route, token_id, None, request.tool),
        service=service,
        host=host,
        request_id=event_id,
        query=request.query or None,
        duration=request.duration_us * 1000,
        user_agent=UserAgent(original=request.user_agent) if request.user_agent else None,
        user_name=request.user if request.token else None,
        login_user=request.user,
    )


def ecs_line(request: Request, event_id: str) -> bytes:
    """`to_event` encoded as one line of ECS JSON (no newline)."""
    return encode_event(to_event(request, event_id))


def _escape(value: str) -> str:
    """nginx's default escaping: ``"``, ``\\`` and bytes outside printable ASCII as ``\\xHH``."""
    if not _NEEDS_ESCAPE.search(value):
        return value
    return "".join(
        char
        if not _NEEDS_ESCAPE.match(char)
        else "".join(f"\\x{byte:02X}" for byte in char.encode("utf-8"))
        for char in value
    )


class _TimeLocal:
    """``$time_local`` (``02/Nov/2026:08:00:00 +0000``), cached for the last second seen.

    The cache is one tuple, replaced whole, so that threads sharing it never see a torn pair.
    """

    def __init__(self) -> None:
        self.cached = (-1, "")

    def __call__(self, time_us: int) -> str:
        second = time_us // 1_000_000
        cached_second, text = self.cached
        if second != cached_second:
            moment = _EPOCH + timedelta(seconds=second)
            text = (
                f"{moment.day:02d}/{_MONTHS[moment.month - 1]}/{moment.year}:"
                f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} +0000"
            )
            self.cached = (second, text)
        return text


_time_local = _TimeLocal()


def nginx_line(request: Request) -> str:
    """The request as nginx's ``combined`` log format writes it (no newline).

    ``$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
    "$http_referer" "$http_user_agent"``; a request with no credentials has ``-`` as user.
    """
    target = _escape(request.target)
    return (
        f'{request.ip} - - [{_time_local(request.time_us)}] "{request.method} {target} HTTP/1.1" '
        f'{request.status} {request.size} "{_escape(request.referer)}" '
        f'"{_escape(request.user_agent) or "-"}"'
    )
