"""nginx / Apache access-log lines ("combined" and Common Log Format) as `Event`s.

The accepted line is::

    $remote_addr $ident $remote_user [$time_local] "$request" $status $body_bytes_sent
        ["$http_referer" "$http_user_agent" [anything ...]]

that is Common Log Format, the "combined" format, and combined with extra trailing fields
(``$request_time``, ``"$http_x_forwarded_for"``, ...), which are ignored. Quoted fields may hold
backslash escapes (nginx writes ``\\xNN``, Apache ``\\"``); they are kept as written, never decoded.
``$remote_user`` may contain spaces (it is whatever an HTTP Basic client sent).

A virtual host may come first (Apache ``%v``/``%v:%p``, nginx ``$host``, BunkerWeb's
``$host $remote_addr - $request_id $remote_user``). A first field that is not an address is taken
as a host name (``HostnameLookups``, ``unix:``) only when the user field has no space; otherwise
the fields are misaligned (a syslog header, say) and the line is refused — never an event whose
client is "Sep" and whose account is the real address.

Choices:

- ``$time_local`` (``10/Oct/2026:13:55:36 +0200``) becomes a UTC datetime; one value repeats for
  every request of a second, so parsed values are cached by the string (bounded), and so are
  split request lines.
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
- The HTTP version gives ``http.version``, ``$http_referer`` ``http.request.referrer`` ("-" for
  none) and ``$body_bytes_sent`` ``http.response.body.bytes`` (0 and "-" for none; also what a
  login route's failure convention, `LoginPatterns.failures`, reads: a failed login that answers
  200 with an error body of a known size); trailing fields are not kept.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from apiwatch.model import Event, EventDecodeError
from apiwatch.sources._http import is_ip, request_event, request_method, split_request
from apiwatch.sources._text import safe
from apiwatch.sources.logins import DEFAULT_LOGINS, LoginPatterns

__all__ = ["DATASET", "is_access_line", "parse_access_line"]

DATASET = "nginx.access"

# A double-quoted field with backslash escapes, unrolled so that it never backtracks.
_QUOTED = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
_TIME = r"\[(\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\]"
# The strict $time_local shape is what ends the lazy $remote_user: nginx escapes '"' there, so
# '] "' can only follow the real timestamp.
_REST = rf"{_TIME} {_QUOTED} (\d{{3}}) (\d+|-)(?: {_QUOTED} {_QUOTED}(?: .*)?)?\r?\n?"
_LINE = re.compile(rf"(\S+) \S+ (.+?) {_REST}")
_fullmatch = _LINE.fullmatch
# ``%v %h %l %u ...`` / ``$host $remote_addr - $remote_user ...``: a virtual host first.
_VHOST = re.compile(rf"\S+ (\S+) \S+ (.+?) {_REST}")
# BunkerWeb writes ``$host $remote_addr - $request_id $remote_user``: an id before the user,
# taken as one when it is hex (nginx's $request_id) or the user after it is empty ("-").
_REQUEST_ID = re.compile(r"[0-9a-fA-F]{8,64}")

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_CACHE_LIMIT = 8192

_Request = tuple[str | None, str | None, str, str | None, str | None]
"""A request line's method, domain, path, query and HTTP version."""

_times: dict[str, datetime] = {}
_requests: dict[str, _Request] = {}
_versions = {"1.0": "1.0", "1.1": "1.1", "2.0": "2.0"}


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
    addr, user, when, request, status_text, size, referrer, agent = match.groups()
    if not is_ip(addr):
        addr, user = _prefixed(line, addr, user)
    timestamp = _times.get(when) or _parse_time(when)
    method, domain, path, query, version = _requests.get(request) or _split(request)
    return request_event(
        timestamp, addr, method, path, query, int(status_text), agent, user,
        dataset=DATASET, logins=logins, domain=domain, version=version,
        referrer=safe(referrer) if referrer and referrer != "-" else None,
        size=int(size) if size != "-" else None,
    )  # fmt: skip


def _split(request: str) -> _Request:
    """`split_request` and the HTTP version of a request line, kept for the lines that repeat
    it (a log names a few thousand distinct requests per hundred thousand lines)."""
    parts = _origin_form(request)
    if parts is None:
        method, domain, path, query = split_request(request)
        parts = (method, domain, path, query, _version(request) if method else None)
    if len(_requests) >= _CACHE_LIMIT:
        _requests.clear()
    _requests[request] = parts
    return parts


def _origin_form(request: str) -> _Request | None:
    """The usual request line, a printable ``METHOD /path[?query] HTTP/x``, split as `_split`
    splits it, or None for any other (`split_request` handles those). The text is printable, so
    every part of it is too and `safe` would return each as it is: this skips those calls, and
    they were most of a line's parsing when a log's requests are too many to cache."""
    method, _, rest = request.partition(" ")
    target, _, protocol = rest.partition(" ")
    if (
        target[:1] != "/"
        or protocol[:5] != "HTTP/"
        or " " in protocol
        or not request.isprintable()
        or request_method(method) is None
    ):
        return None
    path, mark, query = target.partition("?")
    version = protocol[5:]
    return (
        method, None, path, query if mark and query else None,
        (_versions.get(version) or version) if version else None,
    )  # fmt: skip


def _version(request: str) -> str | None:
    """The ``x`` of ``METHOD TARGET HTTP/x`` (`split_request` found the method)."""
    version = request[request.rfind(" ") + 6 :]
    return _versions.get(version) or safe(version) if version else None


def _prefixed(line: str, addr: str, user: str) -> tuple[str, str]:
    """(client, user) of a line whose first field is not an address: a virtual host before
    the client (``%v``, BunkerWeb), or a host name (``HostnameLookups``, ``unix:``) only when
    the user field holds no space — else the fields are misaligned, and the line is refused
    rather than give an account made of another field's text."""
    vhost = _VHOST.fullmatch(line)
    if vhost is not None and is_ip(vhost[1]):
        user = vhost[2]
        if " " in user:
            first, _, rest = user.partition(" ")
            if rest == "-" or (" " not in rest and _REQUEST_ID.fullmatch(first)):
                user = rest
        return vhost[1], user
    if " " in user:
        shown = repr(line[:120].rstrip("\r\n"))
        raise EventDecodeError(
            f"not an access log line: the first field {addr[:40]!r} is not an address and the "
            f"fields before [$time_local] do not line up (a prefix such as syslog's?): {shown}"
        )
    return addr, user


def is_access_line(line: str) -> bool:
    """Whether ``line`` has the shape of a combined or common access-log line."""
    try:
        return parse_access_line(line, logins=None) is not None
    except EventDecodeError:
        return False


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


def clf_time(text: str) -> datetime:
    """``10/Oct/2026:13:55:36 +0200`` (Common Log Format time, shape unchecked) in UTC."""
    if len(text) != 26 or text[2] != "/" or text[20] != " ":
        raise EventDecodeError(f"time {text[:40]!r} is not like 10/Oct/2026:13:55:36 +0000")
    try:
        return _times.get(text) or _parse_time(text)
    except ValueError:
        raise EventDecodeError(f"time {text!r} is not like 10/Oct/2026:13:55:36 +0000") from None


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
