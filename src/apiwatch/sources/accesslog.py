"""nginx / Apache access-log lines ("combined" and Common Log Format) as `Event`s.

The accepted line is::

    $remote_addr $ident $remote_user [$time_local] "$request" $status $body_bytes_sent
        ["$http_referer" "$http_user_agent" [anything ...]]

that is Common Log Format, the "combined" format, and combined with extra trailing fields
(``$request_time``, ``"$http_x_forwarded_for"``, ...), which are ignored. Quoted fields may hold
backslash escapes (nginx writes ``\\xNN``, Apache ``\\"``); they are kept as written, never decoded.
``$remote_user`` may contain spaces (it is whatever an HTTP Basic client sent).

Choices:

- ``$time_local`` (``10/Oct/2026:13:55:36 +0200``) becomes a UTC datetime; one value repeats for
  every request of a second, so parsed values are cached by the string (bounded).
- ``$remote_addr`` becomes ``source.ip`` when it is an IP address (IPv6 in canonical form), else
  ``source.address`` (``unix:`` sockets, Apache ``HostnameLookups``).
- A ``$request`` of ``METHOD TARGET HTTP/x`` gives ``http.request.method``, ``url.path`` and
  ``url.query`` (split at the first ``?``, percent-encoding untouched); an absolute-form target
  (``http://host/path``, proxy probes) also gives ``url.domain``. Any other request line (``-``,
  TLS bytes sent to a plain port, a path with spaces) is a scanner's fingerprint and is kept whole
  as ``url.path``, with no method.
- Every string is passed through `apiwatch.model.printable_text` (non-printables escaped).
- Login attempts are inferred from route patterns (`apiwatch.sources.logins`): 401/403 is
  ``authn_login_fail``, 2xx/3xx ``authn_login_success``; any other line is ``http_request``.
  ``event.category``/``type``/``severity`` come from the action's `Action.spec`; ``event.outcome``
  is success below status 400, failure from 400 on.
- The body size, referer and trailing fields are not kept: apiwatch's `Event` has no field for them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from datetime import UTC, datetime, timedelta

from apiwatch.model import (
    Action,
    Event,
    EventDecodeError,
    EventMeta,
    Http,
    HttpRequest,
    HttpResponse,
    Source,
    Url,
    User,
    UserAgent,
)
from apiwatch.sources._text import safe
from apiwatch.sources.logins import DEFAULT_LOGINS, LoginPatterns

__all__ = ["DATASET", "is_access_line", "parse_access_line"]

DATASET = "nginx.access"

# A double-quoted field with backslash escapes, unrolled so that it never backtracks.
_QUOTED = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
_TIME = r"\[(\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\]"
# The strict $time_local shape is what ends the lazy $remote_user: nginx escapes '"' there, so
# '] "' can only follow the real timestamp.
_LINE = re.compile(
    rf"(\S+) \S+ (.+?) {_TIME} {_QUOTED} (\d{{3}}) (?:\d+|-)"
    rf'(?: "(?:[^"\\]*(?:\\.[^"\\]*)*)" {_QUOTED}(?: .*)?)?\r?\n?'
)
_fullmatch = _LINE.fullmatch

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_METHOD = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_CACHE_LIMIT = 8192  # per cache: enough for hours of distinct seconds or a busy set of clients


class _Kind:
    """What an event of one action always carries (copied into each event, never shared)."""

    __slots__ = ("action", "category", "severity", "type")

    def __init__(self, action: Action) -> None:
        spec = action.spec
        self.action = action.value
        self.category = spec.category
        self.type = spec.type
        self.severity = spec.severity


_REQUEST = _Kind(Action.HTTP_REQUEST)
_LOGIN_FAIL = _Kind(Action.AUTHN_LOGIN_FAIL)
_LOGIN_SUCCESS = _Kind(Action.AUTHN_LOGIN_SUCCESS)

_times: dict[str, datetime] = {}
_addresses: dict[str, tuple[str | None, str | None]] = {}
_agents: dict[str, str] = {}
_methods: dict[str, str | None] = {}


def parse_access_line(line: str, *, logins: LoginPatterns | None = DEFAULT_LOGINS) -> Event | None:
    """One access-log line as an `Event`; None for a blank line.

    A trailing newline is allowed. ``logins`` says which requests are login attempts (None: no
    inference). Raises `EventDecodeError` naming what is wrong with a malformed line.
    """
    match = _fullmatch(line)
    if match is None:
        if not line or line.isspace():
            return None
        raise EventDecodeError(_diagnose(line.rstrip("\r\n")))
    addr, user, when, request, status_text, agent = match.groups()
    timestamp = _times.get(when) or _parse_time(when)
    status = int(status_text)
    ip, address = _addresses.get(addr) or _address(addr)
    method, domain, path, query = _split_request(request)
    kind = _REQUEST
    if logins is not None and method in logins.methods and logins.path.search(path):
        if status in {401, 403}:
            kind = _LOGIN_FAIL
        elif 200 <= status < 400:
            kind = _LOGIN_SUCCESS
    if agent == "-":
        agent = None
    elif agent is not None:
        agent = _agents.get(agent) or _agent(agent)
    return Event(
        timestamp=timestamp,
        event=EventMeta(
            action=kind.action,
            kind="event",
            category=[*kind.category],
            type=[*kind.type],
            outcome="success" if status < 400 else "failure",
            severity=kind.severity,
            dataset=DATASET,
        ),
        source=Source(ip=ip, address=address),
        http=Http(request=HttpRequest(method=method), response=HttpResponse(status_code=status)),
        url=Url(path=path, query=query, domain=domain),
        user_agent=UserAgent(original=agent) if agent is not None else None,
        user=User(name=safe(user)) if user != "-" else None,
    )


def is_access_line(line: str) -> bool:
    """Whether ``line`` has the shape of a combined or common access-log line."""
    return _fullmatch(line) is not None


def _split_request(request: str) -> tuple[str | None, str | None, str, str | None]:
    """``METHOD TARGET PROTO`` as (method, domain, path, query); anything else as the path."""
    parts = request.split(" ")
    if len(parts) == 3 and parts[2].startswith("HTTP/"):
        token = parts[0]
        method = _methods[token] if token in _methods else _method(token)
        if method is not None:
            target = parts[1]
            domain = None
            if target[:1] != "/" and "://" in target:
                domain, target = _absolute_form(target)
            path, mark, query = target.partition("?")
            return method, domain, safe(path), safe(query) if mark and query else None
    return None, None, safe(request), None


def _absolute_form(target: str) -> tuple[str | None, str]:
    """``http://host:port/p?q`` as (host, ``/p?q``)."""
    authority = target.partition("://")[2]
    cut = min((i for i in (authority.find("/"), authority.find("?")) if i >= 0), default=-1)
    host, rest = (authority, "/") if cut < 0 else (authority[:cut], authority[cut:])
    if rest[0] == "?":
        rest = f"/{rest}"
    host = host.rpartition("@")[2]  # never keep userinfo: it may hold a password
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    else:
        host = host.partition(":")[0]
    return (safe(host) or None), rest


def _method(token: str) -> str | None:
    method = token if _METHOD.fullmatch(token) else None
    if len(_methods) < _CACHE_LIMIT:
        _methods[token] = method
    return method


def _parse_time(text: str) -> datetime:
    """``10/Oct/2026:13:55:36 +0200`` (the regex already checked its shape) in UTC."""
    month = _MONTHS.get(text[3:6])
    hours, minutes = int(text[22:24]), int(text[24:26])
    if month is None or minutes >= 60:
        raise EventDecodeError(f"time_local {text!r} has an unknown month or a bad UTC offset")
    offset = timedelta(hours=hours, minutes=minutes)
    try:
        local = datetime(
            int(text[7:11]), month, int(text[:2]), int(text[12:14]), int(text[15:17]),
            int(text[18:20]), tzinfo=UTC,
        )  # fmt: skip
        when = local - offset if text[21] == "+" else local + offset
    except (ValueError, OverflowError) as exc:
        raise EventDecodeError(f"time_local {text!r} is not a valid time: {exc}") from None
    if len(_times) >= _CACHE_LIMIT:
        _times.clear()
    _times[text] = when
    return when


def _address(addr: str) -> tuple[str | None, str | None]:
    """``$remote_addr`` as (source.ip, source.address). An IPv6 zone (``fe80::1%eth0``) is
    not taken as an address: ``ipaddress`` accepts any text after ``%`` (control characters
    included) and keeps it, and ``source.ip`` must be an address that rules and bans can use."""
    found: tuple[str | None, str | None] = (None, safe(addr))
    if "%" not in addr:
        with contextlib.suppress(ValueError):
            found = (str(ipaddress.ip_address(addr)), None)
    if len(_addresses) >= _CACHE_LIMIT:
        _addresses.clear()
    _addresses[addr] = found
    return found


def _agent(agent: str) -> str:
    """The user agent made safe, kept once per distinct value: a million events share a few."""
    clean = safe(agent)
    if len(_agents) >= _CACHE_LIMIT:
        _agents.clear()
    _agents[agent] = clean
    return clean


# Each step: the part of the line that must match so far, and what is wrong when it does not.
_STEPS = [
    (re.compile(r"\S+ \S+ "), "expected '$remote_addr $ident ' at the start"),
    (re.compile(r"\S+ \S+ .+? \["), "no '[' opening $time_local"),
    (re.compile(r"\S+ \S+ .+? \[[^\]]*\]"), "no ']' closing $time_local"),
    (
        re.compile(rf"\S+ \S+ .+? {_TIME}"),
        "$time_local is not like [10/Oct/2026:13:55:36 +0000]",
    ),
    (re.compile(rf'\S+ \S+ .+? {_TIME} "'), "$request is not in double quotes after $time_local"),
    (re.compile(rf"\S+ \S+ .+? {_TIME} {_QUOTED}"), "no closing double quote after $request"),
    (re.compile(rf"\S+ \S+ .+? {_TIME} {_QUOTED} \d{{3}}(?: |$)"), "$status is not 3 digits"),
    (
        re.compile(rf"\S+ \S+ .+? {_TIME} {_QUOTED} \d{{3}} (?:\d+|-)(?: |$)"),
        "$body_bytes_sent is not a number or '-'",
    ),
]


def _diagnose(line: str) -> str:
    """What is wrong with a line the full pattern rejected, with the line shown safely."""
    problem = "expected a quoted referer and user agent after $body_bytes_sent"
    for pattern, message in _STEPS:
        if pattern.match(line) is None:
            problem = message
            break
    shown = repr(line[:120]) + (f" ... ({len(line)} chars)" if len(line) > 120 else "")
    return f"not an access log line: {problem}: {shown}"
