"""Every log format `apiwatch scan` reads, the wrappers around them, and per-file detection.

A **format** turns one line into an `Event` or raises `EventDecodeError` with the reason
(`FORMATS` lists the names, most specific first). A **wrapper** is what a shipper puts around
a line: a syslog header (RFC 3164 ``Sep 15 16:13:46 host nginx[42]: ``, RFC 5424
``<165>1 2026-10-10T13:55:36Z host app - - - ``, rsyslog's ISO-time header, or just
``host tag: `` inside a JSON record), a CRI/containerd line (``<RFC 3339 time> stdout F ``) or
a JSON record carrying the line (Docker json-file ``{"log": ...}``, journald ``MESSAGE``,
``message``). Wrappers nest (JSON around syslog around nginx).

`detect` decides once per file, from its first lines (`Detected`): which wrappers to peel and
which formats the lines are in — the most common first, then any other format seen in the
sample (a file may mix, e.g. Apache error lines among access lines). `Detected.parser` tries
the first format on each line and the others only when it fails, so a clean file costs one
parse per line. A file none of the sample lines fit is refused with `FormatUnknownError`,
naming what was tried.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec

from apiwatch.model import Event, EventDecodeError, plural
from apiwatch.sources.accesslog import parse_access_line
from apiwatch.sources.ecsfile import parse_ecs_line
from apiwatch.sources.errorlogs import ERROR_PARSERS
from apiwatch.sources.logins import LoginPatterns
from apiwatch.sources.proxies import PROXY_PARSERS

__all__ = ["FORMATS", "WRAPPERS", "Detected", "FormatUnknownError", "detect", "line_parser"]

LineParser = Callable[[str], Event | None]
_json = msgspec.json.Decoder()


class FormatUnknownError(EventDecodeError):
    """No format fits the first lines of a file; the message names the formats tried."""


def _nginx(line: str, logins: LoginPatterns | None) -> Event | None:
    return parse_access_line(line, logins=logins)


def _ecs(line: str, _: LoginPatterns | None) -> Event | None:
    return parse_ecs_line(line)


_PARSERS: dict[str, Callable[[str, LoginPatterns | None], Event | None]] = {
    "nginx": _nginx,
    **PROXY_PARSERS,
    **ERROR_PARSERS,
    "ecs": _ecs,
}
# The order detection tries them: the most specific shapes first, ECS (any JSON object with
# @timestamp) and the general nginx shape after the formats they would otherwise swallow.
_DETECT_ORDER = (
    "traefik", "caddy", "openappsec", "envoy", "ecs", "alb", "haproxy", "npm", "zoraxy",
    "magento", "sympa", "nginx-error", "apache-error", "nginx",
)  # fmt: skip
# Formats written to the same stream as another: tried, after the sample's, on refused lines.
_COMPANIONS = {
    "nginx": ("nginx-error", "apache-error"),
    "nginx-error": ("nginx",),
    "apache-error": ("nginx",),
}
FORMATS = ("nginx", "ecs", *(name for name in _DETECT_ORDER if name not in {"nginx", "ecs"}))
"""Every format name ``--format`` accepts."""

TITLES = {
    "nginx": "nginx/Apache combined or common (also with a virtual host first, LiteSpeed, "
    "BunkerWeb, Traefik CLF, nginx-proxy-manager's default)",
    "ecs": "ECS NDJSON",
    "traefik": "Traefik JSON",
    "caddy": "Caddy JSON",
    "envoy": "Envoy (default text or JSON)",
    "alb": "AWS ALB",
    "haproxy": "HAProxy httplog",
    "npm": "nginx-proxy-manager proxy",
    "zoraxy": "Zoraxy",
    "magento": "Magento CrowdSec extension",
    "openappsec": "open-appsec",
    "sympa": "Sympa wwsympa",
    "nginx-error": "nginx error log",
    "apache-error": "Apache error log",
}
"""Each format's name as the unknown-format message and the docs show it."""

# RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID STRUCTURED-DATA MSG
_RFC5424 = re.compile(
    r"<\d{1,3}>1 \S+ \S+ \S+ \S+ \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: \ufeff?(.*))?"
)
# RFC 3164 as rsyslog/journald write it (optional <PRI>, optional host), or with an ISO time.
_RFC3164 = re.compile(
    r"(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S*) "
    r"(?:\S+ )?[^\s:\[\]]+(?:\[\d+\])?: (.*)"
)
_TAG_ONLY = re.compile(r"\S+ [^\s:\[\]]+(?:\[\d+\])?: (.*)")
_CRI = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* (?:stdout|stderr) ([FP]) (.*)")


def _syslog(line: str) -> str | None:
    body = line.rstrip("\r\n")
    match = _RFC5424.fullmatch(body) or _RFC3164.fullmatch(body)
    return None if match is None else match[1] or ""


def _tag(line: str) -> str | None:
    match = _TAG_ONLY.fullmatch(line.rstrip("\r\n"))
    return None if match is None else match[1]


def _cri(line: str) -> str | None:
    match = _CRI.fullmatch(line.rstrip("\r\n"))
    if match is None:
        return None
    if match[1] == "P":  # a partial line: the rest follows in the next record
        raise EventDecodeError("a partial CRI record (P): the line was split by the runtime")
    return match[2]


def _json_message(line: str) -> str | None:
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        data: Any = _json.decode(text)
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    for key in ("log", "MESSAGE", "message"):
        value = data.get(key)
        if isinstance(value, str):
            return value.rstrip("\r\n")
    return None


class Wrapper(NamedTuple):
    name: str
    unwrap: Callable[[str], str | None]
    """The line inside, None when the line is not wrapped this way."""


WRAPPERS = (
    Wrapper("CRI", _cri),
    Wrapper("Docker/journald JSON", _json_message),
    Wrapper("syslog", _syslog),
    Wrapper("syslog tag", _tag),
)
_MAX_DEPTH = 3


class Detected(NamedTuple):
    """What `detect` found: wrappers to peel (outermost first) and formats, most common first."""

    wrappers: tuple[Wrapper, ...]
    formats: tuple[str, ...]

    def parser(self, logins: LoginPatterns | None) -> LineParser:
        """One line (wrapped as detected) as an `Event`, None if blank; else `EventDecodeError`."""
        chain = line_parser(self.formats, logins)
        for wrapper in reversed(self.wrappers):
            chain = _peeling(wrapper, chain)
        return chain

    def describe(self) -> str:
        """``nginx``, ``nginx in syslog`` ... for messages."""
        inner = "+".join(self.formats)
        return " in ".join([inner, *(w.name for w in reversed(self.wrappers))])


def _peeling(wrapper: Wrapper, inner: LineParser) -> LineParser:
    unwrap = wrapper.unwrap
    name = wrapper.name

    def parse(line: str) -> Event | None:
        if not line or line.isspace():
            return None
        text = unwrap(line)
        if text is None:
            raise EventDecodeError(f"not a {name} line: {line[:80].rstrip()!r}")
        return inner(text)

    return parse


def line_parser(formats: tuple[str, ...], logins: LoginPatterns | None) -> LineParser:
    """The first format's parser, falling back on the others in order when it refuses a line.

    Blank lines are None. Formats that share a stream (nginx's access and error logs both go to
    a container's output) are tried last, after those seen in the sample.
    """
    names = [*formats, *(c for name in formats for c in _COMPANIONS.get(name, ()))]
    parsers = [_PARSERS[name] for name in dict.fromkeys(names)]
    first = parsers[0]
    others = parsers[1:]

    def parse(line: str) -> Event | None:
        try:
            return first(line, logins)
        except EventDecodeError as refused:
            if not line or line.isspace():
                return None
            for other in others:
                try:
                    return other(line, logins)
                except EventDecodeError:
                    continue
            raise refused from None

    return parse


def _recognise(line: str, candidates: tuple[str, ...]) -> str | None:
    for name in candidates:
        try:
            event = _PARSERS[name](line, None)
        except EventDecodeError:
            continue
        if event is not None:
            return name
    return None


def detect(sample: list[str], candidates: tuple[str, ...] | None = None) -> Detected:
    """The wrappers and formats of a file from its first non-blank lines.

    ``candidates`` limits the formats (``--format``). Raises `FormatUnknownError` when no
    candidate fits any sample line, raw or unwrapped.
    """
    lines = [line for line in sample if line.strip()]
    if not lines:
        raise FormatUnknownError("cannot tell the log format: no non-blank lines")
    found = _detect(lines, candidates or _DETECT_ORDER, ())
    if found is not None:
        return found
    if candidates is None and any(_is_json_object(line) for line in lines):
        return Detected((), ("ecs",))  # JSON without a known shape: ECS, reported per line
    raise FormatUnknownError(_unknown(lines, candidates or _DETECT_ORDER))


def _detect(
    lines: list[str], candidates: tuple[str, ...], wrappers: tuple[Wrapper, ...]
) -> Detected | None:
    counts = Counter(name for line in lines if (name := _recognise(line, candidates)))
    if counts:
        ranked = sorted(counts, key=lambda name: (-counts[name], candidates.index(name)))
        return Detected(wrappers, tuple(ranked))
    if len(wrappers) >= _MAX_DEPTH:
        return None
    for wrapper in WRAPPERS:
        try:
            inner = [text for line in lines if (text := wrapper.unwrap(line)) is not None]
        except EventDecodeError:
            continue
        if inner and len(inner) * 2 >= len(lines):
            found = _detect(inner, candidates, (*wrappers, wrapper))
            if found is not None:
                return found
    return None


def _is_json_object(line: str) -> bool:
    text = line.strip()
    if not text.startswith("{"):
        return False
    try:
        return isinstance(_json.decode(text), dict)
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return False


def _first_lines(count: int) -> str:
    """``the only non-blank line is none`` / ``none of the first 20 non-blank lines is any``."""
    if count == 1:
        return "the only non-blank line is none"
    return f"none of the first {plural(count, 'non-blank line')} is any"


def _unknown(lines: list[str], candidates: tuple[str, ...]) -> str:
    first = lines[0].rstrip("\r\n")
    shown = repr(first[:120]) + (" ..." if len(first) > 120 else "")
    tried = "; ".join(f"{name} ({TITLES[name]})" for name in candidates)
    wrapped = ", ".join(w.name for w in WRAPPERS)
    which = "it" if len(lines) == 1 else "the first"
    return (
        f"cannot tell the log format: {_first_lines(len(lines))} of: {tried} — also looked "
        f"inside {wrapped} wrappers; {which} is {shown}"
    )
