"""What every HTTP log format shares: the request `Event` they all produce, and its parts.

Every access-log parser (nginx/Apache, Traefik, Caddy, Envoy, ALB, HAProxy, ...) ends in
`request_event`, so the detection rules see the same fields whatever wrote the log: time,
``source.ip``, method, ``url.path``/``query``/``domain``, status, user agent, ``user.name``,
the login inference of `apiwatch.sources.logins`, and ``event.dataset`` naming the format.

- `client_address` takes ``1.2.3.4``, ``1.2.3.4:5678``, ``[2001:db8::1]:443`` or a bare IPv6
  address; only a real address becomes ``source.ip`` (canonical form).
- `split_request` splits ``METHOD TARGET HTTP/x``; anything else is kept whole as the path.
- `iso_time` reads RFC 3339 / ISO 8601 times with up to nanosecond fractions, into UTC.
Values repeat across lines, so addresses, agents and methods are cached (bounded).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from datetime import UTC, datetime

from apiwatch.model import (
    Action,
    Event,
    EventDecodeError,
    EventMeta,
    Http,
    HttpBody,
    HttpRequest,
    HttpResponse,
    Source,
    Url,
    User,
    UserAgent,
)
from apiwatch.sources._text import safe
from apiwatch.sources.logins import LoginPatterns

__all__ = [
    "address",
    "client_address",
    "client_ip",
    "iso_time",
    "request_event",
    "request_method",
    "split_request",
    "split_target",
]

_METHOD = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_CACHE_LIMIT = 8192  # per cache: enough for hours of distinct seconds or a busy set of clients


class _Kind:
    """What an event of one action always carries. Its lists are shared by every event of the
    action, as the sensor's are (`apiwatch.model.defaults`): nothing changes an event's lists in
    place, and a list per event is two objects per line for the cyclic garbage collector to
    walk again and again while a tailer's or ingest's batch of thousands of events is alive."""

    __slots__ = ("action", "category", "severity", "type")

    def __init__(self, action: Action) -> None:
        spec = action.spec
        self.action = action.value
        self.category = list(spec.category)
        self.type = list(spec.type)
        self.severity = spec.severity


_REQUEST = _Kind(Action.HTTP_REQUEST)
_LOGIN_FAIL = _Kind(Action.AUTHN_LOGIN_FAIL)
_LOGIN_SUCCESS = _Kind(Action.AUTHN_LOGIN_SUCCESS)

_addresses: dict[str, tuple[str | None, str | None]] = {}
_agents: dict[str, str] = {}
_methods: dict[str, str | None] = {}


def request_event(  # noqa: PLR0917 - the fields of one request, all optional but time
    timestamp: datetime,
    addr: str,
    method: str | None,
    path: str,
    query: str | None,
    status: int | None,
    agent: str | None,
    user: str | None,
    *,
    dataset: str,
    logins: LoginPatterns | None,
    domain: str | None = None,
    challenged: bool = False,
    version: str | None = None,
    referrer: str | None = None,
    size: int | None = None,
) -> Event:
    """One request as an `Event`; ``addr`` from `address`-able text, strings already `safe`
    except ``agent`` and ``user`` ("-" or empty for none). ``challenged``: the answer carried an
    HTTP authentication challenge (``WWW-Authenticate``), so a 401 is a refused login wherever
    it is. ``version`` ("1.1"), ``referrer`` (already `safe`) and ``size`` (the response's body
    bytes, which also lets a route's failure convention, `LoginPatterns.failures`, tell a failed
    login answered 2xx) are optional."""
    ip, other = _addresses.get(addr) or address(addr)
    kind = _LOGIN_FAIL if challenged and status == 401 else _REQUEST
    if (
        logins is not None
        and status is not None
        and method in logins.methods
        and logins.path.search(path)
    ):
        if logins.failed(path, status, size):
            kind = _LOGIN_FAIL
        elif 200 <= status < 400:
            kind = _LOGIN_SUCCESS
    agent = None if agent == "-" or not agent else _agents.get(agent) or _agent(agent)
    outcome = None if status is None else "success" if status < 400 else "failure"
    return Event(
        timestamp=timestamp,
        event=EventMeta(
            action=kind.action,
            kind="event",
            category=kind.category,
            type=kind.type,
            outcome=outcome,
            severity=kind.severity,
            dataset=dataset,
        ),
        source=Source(ip=ip, address=other),
        http=Http(
            request=HttpRequest(method=method, referrer=referrer),
            response=HttpResponse(status_code=status, body=HttpBody(bytes=size) if size else None),
            version=version,
        ),
        url=Url(path=path, query=query, domain=domain),
        user_agent=UserAgent(original=agent) if agent is not None else None,
        user=User(name=safe(user)) if user and user != "-" else None,
    )


def split_request(request: str) -> tuple[str | None, str | None, str, str | None]:
    """``METHOD TARGET PROTO`` as (method, domain, path, query); anything else as the path."""
    parts = request.split(" ")
    if len(parts) == 3 and parts[2].startswith("HTTP/"):
        method = request_method(parts[0])
        if method is not None:
            domain, path, query = split_target(parts[1])
            return method, domain, path, query
    return None, None, safe(request), None


def split_target(target: str) -> tuple[str | None, str, str | None]:
    """A request target (origin or absolute form) as (domain, path, query), made safe."""
    domain = None
    if target[:1] != "/" and "://" in target:
        domain, target = _absolute_form(target)
    path, mark, query = target.partition("?")
    return domain, safe(path), safe(query) if mark and query else None


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


def request_method(token: str) -> str | None:
    """``token`` when it can be an HTTP method (a letter, then up to 31 letters, digits, ``_``
    or ``-``), else None."""
    if token in _methods:
        return _methods[token]
    method = token if _METHOD.fullmatch(token) else None
    if len(_methods) < _CACHE_LIMIT:
        _methods[token] = method
    return method


def address(addr: str) -> tuple[str | None, str | None]:
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


def client_address(text: str) -> str:
    """``host``, ``host:port`` or ``[v6]:port`` without the port (a bare IPv6 is kept whole)."""
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    if text.count(":") == 1:
        return text.partition(":")[0]
    return text


def client_ip(text: object, context: str = "") -> str:
    """The client's address from ``ip`` / ``ip:port`` text; otherwise `EventDecodeError`
    ``"<context>the client '<text>' is not an IP address"``."""
    addr = client_address(text) if isinstance(text, str) else ""
    if not is_ip(addr):
        raise EventDecodeError(f"{context}the client {str(text)[:60]!r} is not an IP address")
    return addr


def is_ip(text: str) -> bool:
    """Whether ``text`` is an IP address that can be ``source.ip``."""
    return (_addresses.get(text) or address(text))[0] is not None


def _agent(agent: str) -> str:
    """The user agent made safe, kept once per distinct value: a million events share a few."""
    clean = safe(agent)
    if len(_agents) >= _CACHE_LIMIT:
        _agents.clear()
    _agents[agent] = clean
    return clean


_FRACTION = re.compile(r"(\.\d{6})\d+")


def iso_time(text: str) -> datetime:
    """An RFC 3339 time (``Z`` or offset; none is UTC; fractions cut to microseconds) in UTC."""
    try:
        when = datetime.fromisoformat(_FRACTION.sub(r"\1", text.strip()))
    except ValueError:
        raise EventDecodeError(f"time {text[:40]!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def epoch_time(value: float) -> datetime:
    """Seconds since the epoch (a float, as Caddy writes ``ts``) in UTC."""
    try:
        return datetime.fromtimestamp(value, UTC)
    except (ValueError, OverflowError, OSError):
        raise EventDecodeError(f"time {value!r} is not a time in seconds") from None
