"""nginx and Apache error-log lines, and application logs that name a client, as `Event`s.

An error-log line is not a request with a status: it becomes an event with ``event.kind``
``event``, category ``web``, type ``error``, ``log.level``, the line's ``message``, the client's
``source.ip`` and, when the line quotes the request, its method, ``url.path`` and ``url.query``
(no ``http.response.status_code``). What the line says decides ``event.action``:

- a failed login (nginx ``auth_basic``: ``user "x" was not found`` / ``password mismatch``;
  nginx mail: ``client login failed ... login: "x"``; Apache: ``user x: authentication failure``
  / ``user x not found``) is ``authn_login_fail`` with ``user.name``;
- nginx ``limiting requests`` / ``limiting connections`` is ``excess_rate_limit_exceeded``;
- anything else is ``http_request`` (the rules for request paths then see it too).

A line without a client address (start-up notices, worker crashes) is refused: it is about the
server, not about anyone the rules could act on. Times carry no zone: they are taken as UTC.

Also here: Magento's CrowdSec extension events (``[time] crowdsec-events.INFO: {json} []``),
open-appsec's JSON security log and Sympa's ``wwsympa`` syslog lines (its "Unknown action X" is
a 404 for the path ``/X``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from apiwatch.model import (
    Action,
    Event,
    EventDecodeError,
    EventMeta,
    Http,
    HttpRequest,
    HttpResponse,
    Log,
    Source,
    Url,
    User,
)
from apiwatch.sources._http import address, client_ip, is_ip, iso_time, split_request
from apiwatch.sources._json import json_object
from apiwatch.sources._text import safe
from apiwatch.sources.logins import LoginPatterns

__all__ = ["ERROR_PARSERS"]

Parser = Callable[[str, LoginPatterns | None], Event]

_NGINX = re.compile(r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*?)\r?\n?")
_NGINX_CLIENT = re.compile(r", client: ([^,\s]+)")
_NGINX_REQUEST = re.compile(r', request: "((?:[^"\\]|\\.)*)"')
_NGINX_LOGIN = re.compile(r'user "((?:[^"\\]|\\.)*)"(?: was not found|: password mismatch)')
_NGINX_MAIL_LOGIN = re.compile(r'login failed.*, login: "((?:[^"\\]|\\.)*)"')
_APACHE = re.compile(
    r"\[([A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? \d{4})\] "
    r"\[(?:[\w-]+:)?(\w+)\](?: \[pid [^\]]*\])?(?: \[client ([^\]]+)\])?(.*?)\r?\n?"
)
_APACHE_LOGIN = re.compile(r"\buser (\S+?)(?::? authentication failure| not found)")
_APACHE_REQUEST = re.compile(r"\b([A-Z]{3,10} \S+ HTTP/\d(?:\.\d)?)")


def _event(
    when: datetime,
    level: str,
    client: str,
    message: str,
    *,
    request: str | None,
    login: str | None,
    dataset: str,
    action: Action = Action.HTTP_REQUEST,
) -> Event:
    ip = client_ip(client)
    if login is not None:
        action = Action.AUTHN_LOGIN_FAIL
    method, domain, path, query = split_request(request) if request else (None, None, None, None)
    return Event(
        timestamp=when,
        event=EventMeta(
            action=action.value,
            kind="event",
            category=["web"] if login is None else ["authentication", "web"],
            type=["error"],
            outcome="failure" if login is not None else None,
            severity=action.spec.severity,
            dataset=dataset,
        ),
        message=safe(message),
        log=Log(level=level.lower()),
        source=Source(ip=address(ip)[0]),
        http=Http(request=HttpRequest(method=method)) if method else None,
        url=Url(path=path, query=query, domain=domain) if path else None,
        user=User(name=safe(login)) if login else None,
    )


def parse_nginx_error(line: str, _: LoginPatterns | None) -> Event:
    match = _NGINX.fullmatch(line)
    if match is None:
        raise EventDecodeError(f"not an nginx error-log line: {line[:80]!r}")
    when, level, text = match.groups()
    client = _NGINX_CLIENT.search(text)
    if client is None:
        raise EventDecodeError("nginx error-log line without a client: (about the server)")
    request = _NGINX_REQUEST.search(text)
    login = _NGINX_LOGIN.search(text) or _NGINX_MAIL_LOGIN.search(text)
    limited = text.startswith(("limiting requests", "limiting connections"))
    return _event(
        datetime.strptime(when, "%Y/%m/%d %H:%M:%S").replace(tzinfo=UTC), level, client[1],
        text[: client.start()], request=request[1] if request else None,
        login=login[1] if login else None, dataset="nginx.error",
        action=Action.EXCESS_RATE_LIMIT_EXCEEDED if limited else Action.HTTP_REQUEST,
    )  # fmt: skip


def parse_apache_error(line: str, _: LoginPatterns | None) -> Event:
    match = _APACHE.fullmatch(line)
    if match is None:
        raise EventDecodeError(f"not an Apache error-log line: {line[:80]!r}")
    when, level, client, text = match.groups()
    if client is None:
        raise EventDecodeError("Apache error-log line without [client ...] (about the server)")
    stamp = when.split(".")[0] + when[-5:] if "." in when else when
    try:
        moment = datetime.strptime(stamp, "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    except ValueError:
        raise EventDecodeError(f"Apache error-log time {when!r} is not valid") from None
    text = text.strip()
    request = _APACHE_REQUEST.search(text)
    login = _APACHE_LOGIN.search(text)
    return _event(
        moment, level, client, text, request=request[1] if request else None,
        login=login[1] if login else None, dataset="apache.error",
    )  # fmt: skip


_MAGENTO = re.compile(r"\[(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)[^\]]*\] [\w.-]+\.(\w+): +(\{.*\})")


def parse_magento(line: str, _: LoginPatterns | None) -> Event:
    """Magento CrowdSec extension: ``event.action`` is the type in lower case
    (``ADMIN_LOGIN_FAILED`` is ``authn_login_fail``), ``event.reason`` the type as written."""
    match = _MAGENTO.match(line)
    if match is None:
        raise EventDecodeError(f"not a Magento CrowdSec extension line: {line[:80]!r}")
    when, level, body = match.groups()
    data = json_object(body, "Magento CrowdSec extension")
    kind, client = data.get("type"), data.get("ip")
    if not isinstance(kind, str) or not isinstance(client, str) or not is_ip(client):
        raise EventDecodeError("Magento CrowdSec extension line: no type or no IP address ip")
    failed = kind.endswith("LOGIN_FAILED")
    action = Action.AUTHN_LOGIN_FAIL.value if failed else safe(kind.lower())
    return Event(
        timestamp=iso_time(when),
        event=EventMeta(
            action=action,
            kind="event",
            category=["web"],
            outcome="failure",
            reason=safe(kind),
            dataset="magento.crowdsec",
        ),
        log=Log(level=level.lower()),
        source=Source(ip=address(client)[0]),
    )


def parse_openappsec(line: str, logins: LoginPatterns | None) -> Event:
    """open-appsec: ``event.reason`` is ``waapIncidentType``, the action taken a label."""
    data = json_object(line, "open-appsec log")
    body = data.get("eventData")
    when = data.get("eventTime")
    if not isinstance(body, dict) or not isinstance(when, str):
        raise EventDecodeError("not an open-appsec line: no eventData or eventTime")
    client = body.get("sourceIP") or body.get("httpSourceId")
    if not isinstance(client, str) or not is_ip(client):
        raise EventDecodeError(f"open-appsec line: sourceIP {str(client)[:60]!r} is no address")
    target = body.get("httpUriPath") or (
        body.get("matchedSample") if body.get("matchedLocation") == "url" else None
    )
    path, mark, query = str(target).partition("?") if isinstance(target, str) else ("", "", "")
    method = body.get("httpMethod")
    return Event(
        timestamp=iso_time(when),
        event=EventMeta(
            action=Action.HTTP_REQUEST.value,
            kind="event",
            category=["web"],
            type=["access"],
            reason=_str(body.get("waapIncidentType")),
            dataset="openappsec",
        ),
        source=Source(ip=address(client)[0]),
        http=Http(request=HttpRequest(method=_str(method))),
        url=Url(
            path=safe(path) or None,
            query=safe(query) if mark else None,
            domain=_str(body.get("httpHostName")),
        ),
        labels={"openappsec.action": a} if (a := _str(body.get("securityAction"))) else {},
    )


def _str(value: object) -> str | None:
    return safe(value) if isinstance(value, str) and value else None


_SYMPA = re.compile(
    r"(?:<\d{1,3}>)?([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (\S+) wwsympa\[\d+\]: (\w+) \S+ "
    r"(.*?)\r?\n?"
)
_SYMPA_TAG = re.compile(r"\[(\w+) ([^\]]*)\] ?")
_SYMPA_UNKNOWN = re.compile(r"Unknown action (\S+)")


def parse_sympa(line: str, _: LoginPatterns | None) -> Event:
    """Sympa's web interface (``wwsympa``) through syslog: ``[client IP]`` is the client,
    ``[user X]`` the signed-in account, the rest the message. The year, which syslog does not
    write, is the latest one that does not put the line in the future."""
    match = _SYMPA.fullmatch(line)
    if match is None:
        raise EventDecodeError(f"not a wwsympa syslog line: {line[:80]!r}")
    when, _host, level, text = match.groups()
    tags = dict(_SYMPA_TAG.findall(text))
    client = tags.get("client", "")
    if not is_ip(client):
        raise EventDecodeError("wwsympa line without a [client IP address]")
    user = tags.get("user")
    message = _SYMPA_TAG.sub("", text).strip()
    unknown = _SYMPA_UNKNOWN.fullmatch(message)
    return Event(
        timestamp=syslog_time(when),
        event=EventMeta(
            action=Action.HTTP_REQUEST.value,
            kind="event",
            category=["web"],
            type=["info"],
            outcome="failure" if unknown else None,
            dataset="sympa.wwsympa",
        ),
        message=safe(message),
        log=Log(level=level.lower()),
        source=Source(ip=address(client)[0]),
        # "Unknown action X" is wwsympa's not-found: the client asked for the path /X
        http=Http(response=HttpResponse(status_code=404)) if unknown else None,
        url=Url(path=safe(f"/{unknown[1].lstrip('/')}")) if unknown else None,
        user=User(name=safe(user)) if user and user != "nobody" else None,
    )


def syslog_time(text: str) -> datetime:
    """``Sep  5 16:13:46`` (RFC 3164: no year, no zone) in UTC, in the latest year that is not
    more than a day ahead of now."""
    now = datetime.now(UTC)
    try:
        when = datetime.strptime(f"{now.year} {text}", "%Y %b %d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise EventDecodeError(f"syslog time {text!r} is not valid") from None
    if (when - now).days >= 1:
        when = when.replace(year=now.year - 1)
    return when


ERROR_PARSERS: dict[str, Parser] = {
    "nginx-error": parse_nginx_error,
    "apache-error": parse_apache_error,
    "magento": parse_magento,
    "openappsec": parse_openappsec,
    "sympa": parse_sympa,
}
"""Each error-log / application-log format's name and its line parser."""
