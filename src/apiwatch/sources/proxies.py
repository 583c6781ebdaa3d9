"""Access logs of proxies and load balancers as the same request `Event`s as nginx's.

Each parser takes one line (the wrapper, if any, already removed) and either returns an event
with ``source.ip`` set to the client's address or raises `EventDecodeError` saying why:

- ``traefik``: Traefik's JSON access log (``ClientHost``, ``RequestMethod``, ``RequestPath``,
  ``DownstreamStatus``, ``StartUTC``, ``request_User-Agent``). Its CLF log is nginx's format.
- ``caddy``: Caddy's JSON access log (``ts``, ``request.client_ip``/``remote_ip``, ``uri``,
  ``status``, ``user_id``); a 401 whose answer carries ``Www-Authenticate`` (``basic_auth``'s
  challenge) is a failed login on any path.
- ``envoy``: Envoy's default text format (the client is the first ``X-Forwarded-For``
  address: the default format has no other) and JSON formats with the usual keys
  (``downstream_remote_address``, ``method``, ``path``/``x-envoy-origin-path``, ``response_code``).
- ``alb``: AWS Application Load Balancer access-log entries (client ``ip:port``,
  ``elb_status_code``, the quoted request and user agent).
- ``haproxy``: HAProxy's ``option httplog`` line (its date has no zone: taken as UTC).
- ``npm``: nginx-proxy-manager's ``proxy``/``standard`` formats (``[Client $remote_addr]``).
- ``zoraxy``: Zoraxy's access lines (``[client: IP] [useragent: UA] METHOD PATH STATUS``;
  local time without zone, taken as UTC).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from apiwatch.model import Event, EventDecodeError
from apiwatch.sources._http import (
    client_ip,
    epoch_time,
    iso_time,
    request_event,
    split_request,
    split_target,
)
from apiwatch.sources._json import json_object
from apiwatch.sources.accesslog import clf_time
from apiwatch.sources.logins import LoginPatterns

__all__ = ["PROXY_PARSERS"]

Parser = Callable[[str, LoginPatterns | None], Event]


def _status(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 999:
        return value
    if isinstance(value, str) and value.isdigit() and len(value) == 3:
        return int(value)
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value not in {"", "-"} else None


def parse_traefik(line: str, logins: LoginPatterns | None) -> Event:
    data = json_object(line, "not a Traefik JSON line")
    if "ClientHost" not in data and "ClientAddr" not in data:
        raise EventDecodeError("not a Traefik JSON line: no ClientHost")
    addr = client_ip(data.get("ClientHost") or data.get("ClientAddr"), "Traefik: ")
    when = data.get("StartUTC") or data.get("time") or data.get("StartLocal")
    if not isinstance(when, str):
        raise EventDecodeError("Traefik JSON line: no StartUTC time")
    domain, path, query = split_target(str(data.get("RequestPath") or "/"))
    return request_event(
        iso_time(when), addr, _text(data.get("RequestMethod")), path, query,
        _status(data.get("DownstreamStatus")), _text(data.get("request_User-Agent")),
        _text(data.get("ClientUsername")), dataset="traefik.access", logins=logins,
        domain=domain or _text(data.get("RequestHost")),
    )  # fmt: skip


def parse_caddy(line: str, logins: LoginPatterns | None) -> Event:
    data = json_object(line, "not a Caddy JSON line")
    request = data.get("request")
    if not isinstance(request, dict) or not isinstance(data.get("ts"), int | float):
        raise EventDecodeError("not a Caddy access line: no request object or ts")
    client = request.get("client_ip") or request.get("remote_ip") or request.get("remote_addr")
    headers = request.get("headers")
    agents = headers.get("User-Agent") if isinstance(headers, dict) else None
    agent = agents[0] if isinstance(agents, list) and agents else None
    domain, path, query = split_target(str(request.get("uri") or "/"))
    answer = data.get("resp_headers")
    return request_event(
        epoch_time(data["ts"]), client_ip(client, "Caddy: "), _text(request.get("method")), path,
        query, _status(data.get("status")), agent if isinstance(agent, str) else None,
        _text(data.get("user_id")), dataset="caddy.access", logins=logins,
        domain=domain or _text(request.get("host")),
        challenged=isinstance(answer, dict) and "Www-Authenticate" in answer,
    )  # fmt: skip


def _first(data: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = data.get(key)
        if value not in {None, "", "-"}:
            return value
    return None


_ENVOY = re.compile(
    r'\[(\S+)\] "([^"]*)" (\d{3}|0) \S+ .*?"([^"]*)" "((?:[^"\\]|\\.)*)" "[^"]*" "([^"]*)"'
)


def parse_envoy(line: str, logins: LoginPatterns | None) -> Event:
    if line.startswith("{"):
        return _envoy_json(json_object(line, "not a Envoy JSON line"), logins)
    match = _ENVOY.match(line)
    if match is None:
        raise EventDecodeError(f"not an Envoy access line: {line[:80]!r}")
    when, request, status, forwarded, agent, authority = match.groups()
    client = forwarded.split(",")[0].strip()
    if client == "-":
        raise EventDecodeError("Envoy line: no client address (X-Forwarded-For is '-')")
    method, domain, path, query = split_request(request)
    return request_event(
        iso_time(when), client_ip(client, "Envoy: "), method, path, query,
        int(status) or None, agent, None, dataset="envoy.access", logins=logins,
        domain=domain or _text(authority),
    )  # fmt: skip


def _envoy_json(data: dict[str, Any], logins: LoginPatterns | None) -> Event:
    client = _first(data, "downstream_remote_address", "client_ip", "x_forwarded_for")
    when = _first(data, "start_time", "timestamp")
    if client is None or not isinstance(when, str):
        raise EventDecodeError("not an Envoy JSON line: no downstream_remote_address/start_time")
    target = _first(data, "x-envoy-origin-path", "x_envoy_origin_path", "path") or "/"
    domain, path, query = split_target(str(target))
    return request_event(
        iso_time(when), client_ip(str(client).split(",")[0].strip(), "Envoy: "),
        _first(data, "method"), path, query, _status(_first(data, "response_code")),
        _first(data, "user-agent", "user_agent"), None, dataset="envoy.access",
        logins=logins, domain=domain or _first(data, ":authority", "authority"),
    )  # fmt: skip


_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')
_ALB_TYPES = {"http", "https", "h2", "grpcs", "ws", "wss"}


def parse_alb(line: str, logins: LoginPatterns | None) -> Event:
    fields = [quoted if bare is None or bare == "" else bare for quoted, bare in _alb(line)]
    if len(fields) < 14 or fields[0] not in _ALB_TYPES:
        raise EventDecodeError(f"not an AWS ALB access-log entry: {line[:80]!r}")
    method, domain, path, query = split_request(fields[12])
    return request_event(
        iso_time(fields[1]), client_ip(fields[3], "ALB: "), method, path, query,
        _status(fields[8]), fields[13], None, dataset="aws.elb", logins=logins, domain=domain,
    )  # fmt: skip


def _alb(line: str) -> list[tuple[str, str]]:
    return _TOKEN.findall(line.rstrip("\r\n"))


_HAPROXY = re.compile(
    r"(\S+):\d+ \[(\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d)(?:\.\d+)?\] \S+ \S+ \S+ (-?\d+) "
    r'[+-]?\d+ \S+ \S+ \S+ \S+ \S+(?: \{[^}]*\})* "((?:[^"\\]|\\.)*)"?'
)


def parse_haproxy(line: str, logins: LoginPatterns | None) -> Event:
    match = _HAPROXY.match(line)
    if match is None:
        raise EventDecodeError(f"not an HAProxy HTTP log line (option httplog): {line[:80]!r}")
    client, when, status, request = match.groups()
    method, domain, path, query = split_request(request)
    code = int(status)
    return request_event(
        clf_time(f"{when} +0000"), client_ip(client, "HAProxy: "), method, path, query,
        code if code > 0 else None, None, None, dataset="haproxy.log", logins=logins,
        domain=domain,
    )  # fmt: skip


_NPM = re.compile(
    r"\[(\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] (?:\S+ \S+ )?(\d{3}|-) - (\S+) "
    r'\S+ (\S+) "((?:[^"\\]|\\.)*)" \[Client ([^\]]+)\] \[Length [^\]]*\] \[Gzip [^\]]*\]'
    r'(?: \[Sent-to [^\]]*\])? "((?:[^"\\]|\\.)*)" "(?:[^"\\]|\\.)*"'
)


def parse_npm(line: str, logins: LoginPatterns | None) -> Event:
    match = _NPM.match(line)
    if match is None:
        raise EventDecodeError(f"not an nginx-proxy-manager proxy log line: {line[:80]!r}")
    when, status, method, host, target, client, agent = match.groups()
    domain, path, query = split_target(target)
    return request_event(
        clf_time(when), client_ip(client, "nginx-proxy-manager: "), method, path, query,
        int(status) if status != "-" else None, agent, None, dataset="nginx_proxy_manager.access",
        logins=logins, domain=domain or _text(host),
    )  # fmt: skip


_ZORAXY = re.compile(
    r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\] "
    r"\[router:[^\]]*\] \[origin:([^\]]*)\] \[client: ([^\]]*)\] \[useragent: (.*?)\] "
    r"(\S+) (.*) (\d{3})\r?\n?"
)


def parse_zoraxy(line: str, logins: LoginPatterns | None) -> Event:
    match = _ZORAXY.fullmatch(line)
    if match is None:
        raise EventDecodeError(f"not a Zoraxy access line: {line[:80]!r}")
    when, origin, client, agent, method, target, status = match.groups()
    domain, path, query = split_target(target)
    return request_event(
        iso_time(when), client_ip(client, "Zoraxy: "), method, path, query, int(status), agent,
        None, dataset="zoraxy.access", logins=logins, domain=domain or _text(origin),
    )  # fmt: skip


PROXY_PARSERS: dict[str, Parser] = {
    "traefik": parse_traefik,
    "caddy": parse_caddy,
    "envoy": parse_envoy,
    "alb": parse_alb,
    "haproxy": parse_haproxy,
    "npm": parse_npm,
    "zoraxy": parse_zoraxy,
}
"""Each proxy format's name and its line parser."""
