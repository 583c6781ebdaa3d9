"""Reading a sample of a log into a `Tally`: what each line carries, counted.

A file is read as `apiwatch scan` reads it (`apiwatch.sources.files.LogFile`, the format
detected from its first lines unless given), up to ``max_lines`` lines. Each line is parsed
into an `Event` (counted as refused when it cannot be) and looked at raw too: for the zone of
its time (the parsers turn every time into UTC, so only the line says whether it had one) and
for secrets (`find_leaks`).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from apiwatch.logaudit._leaks import Leak, find_leaks
from apiwatch.model import Event, EventDecodeError
from apiwatch.sources.files import SAMPLE_LINES, LogFile
from apiwatch.sources.formats import detect
from apiwatch.sources.logins import DEFAULT_LOGINS, LoginPatterns

__all__ = ["Tally", "tally_file"]

_SHOWN_LINES: Final = 5
_MAX_ADDRESSES: Final = 10_000  # distinct client addresses remembered per file
# A time value in JSON (the key names the common producers use), then times in text.
_JSON_TIME: Final = re.compile(
    r'"(?:@timestamp|timestamp|time|ts|datetime|date|StartUTC|start_time|time_local)"\s*:\s*'
    r'("?)([^",}]*)'
)
_ZONED: Final = re.compile(
    r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)\b"
    r"|\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d(?:\.\d+)? [+-]\d{4}"
)
_UNZONED: Final = re.compile(
    r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d|\d{4}/\d\d/\d\d \d\d:\d\d:\d\d"
    r"|\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"
)
# Access logs say nothing of logins: their parsers infer the outcome from the route and status.
_INFERRED: Final = frozenset({"aws.elb", "haproxy.log"})
_EPOCH: Final = re.compile(r"\d{9,10}(?:\.\d+)?|\d{12,19}")


@dataclass
class Tally:
    """What the sampled lines of one file carry (counts of lines / events)."""

    file: str
    format: str = ""
    lines: int = 0
    parsed: int = 0
    refused: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    with_ip: int = 0
    private_ip: int = 0
    addresses: Counter[str] = field(default_factory=Counter)
    with_agent: int = 0
    with_user: int = 0
    with_path: int = 0
    with_status: int = 0
    with_request_id: int = 0
    time_zoned: int = 0
    time_unzoned: int = 0
    logins: int = 0
    login_failures: int = 0
    login_failures_with_user: int = 0
    login_successes: int = 0
    login_explicit: int = 0  # login events that say their outcome themselves (the sensor's)
    login_statuses: Counter[int] = field(default_factory=Counter)
    leaks: dict[Leak, list[int]] = field(default_factory=dict)
    leak_counts: Counter[Leak] = field(default_factory=Counter)

    def add_line(self, number: int, line: str, event: Event | None) -> None:
        self.lines += 1
        self._time_of(line)
        for leak in find_leaks(line):
            self.leak_counts[leak] += 1
            shown = self.leaks.setdefault(leak, [])
            if len(shown) < _SHOWN_LINES:
                shown.append(number)
        if event is not None:
            self.parsed += 1
            self._event(event)

    def _time_of(self, line: str) -> None:
        if line.lstrip().startswith("{"):
            match = _JSON_TIME.search(line)
            if match is not None:
                quoted, value = match.groups()
                zoned = (not quoted and _EPOCH.fullmatch(value.strip()) is not None) or bool(
                    _ZONED.search(value)
                )
                self._count_time(zoned, bool(value))
                return
        if _ZONED.search(line):
            self.time_zoned += 1
        elif _UNZONED.search(line):
            self.time_unzoned += 1

    def _count_time(self, zoned: bool, present: bool) -> None:
        if zoned:
            self.time_zoned += 1
        elif present:
            self.time_unzoned += 1

    def _event(self, event: Event) -> None:
        ip = event.source.ip if event.source else None
        if ip:
            self.with_ip += 1
            address = ipaddress.ip_address(ip)
            if address.is_private or address.is_loopback or address.is_link_local:
                self.private_ip += 1
            if ip in self.addresses or len(self.addresses) < _MAX_ADDRESSES:
                self.addresses[ip] += 1
        agent = event.user_agent.original if event.user_agent else None
        self.with_agent += bool(agent and agent != "-")
        user = event.user.name or event.user.id if event.user else None
        self.with_user += bool(user)
        self.with_path += bool(event.url and event.url.path)
        status = event.http.response.status_code if event.http and event.http.response else None
        self.with_status += status is not None
        request_id = event.http.request.id if event.http and event.http.request else None
        trace = event.trace.id if event.trace else None
        self.with_request_id += bool(request_id or trace)
        self._login(event, status, bool(user))

    def _login(self, event: Event, status: int | None, has_user: bool) -> None:
        action = event.event.action if event.event else None
        method = event.http.request.method if event.http and event.http.request else None
        path = event.url.path if event.url else None
        dataset = event.event.dataset if event.event else None
        explicit = bool(action and action.startswith("authn_login")) and dataset not in _INFERRED
        explicit = explicit and not (dataset or "").endswith(".access")
        if not explicit and not DEFAULT_LOGINS.matches(method, path):
            return
        self.logins += 1
        self.login_explicit += explicit
        if status is not None:
            self.login_statuses[status] += 1
        failed = action == "authn_login_fail" or (
            not explicit and status is not None and status >= 400
        )
        if failed:
            self.login_failures += 1
            self.login_failures_with_user += has_user
        elif action == "authn_login_success":
            self.login_successes += 1


def tally_file(
    path: str | Path,
    *,
    max_lines: int = 100_000,
    format: str | None = None,
    logins: LoginPatterns | None = DEFAULT_LOGINS,
) -> Tally:
    """The tally of the first ``max_lines`` lines of ``path`` (see the module docstring).
    Raises `EventDecodeError` when the format cannot be detected, `OSError` when the file
    cannot be read."""
    tally = Tally(str(path))
    with LogFile(path) as log:
        head: list[tuple[int, str]] = []
        for number, line in enumerate(log.text, 1):
            if number > max_lines:
                break
            head.append((number, line))
    sample = [line for _, line in head if line.strip()][:SAMPLE_LINES]
    if not sample:
        return tally
    found = detect(sample, (format,) if format else None)
    tally.format = found.describe()
    parse = found.parser(logins)
    for number, line in head:
        if not line.strip():
            continue
        try:
            event = parse(line)
        except EventDecodeError as exc:
            tally.refused += 1
            tally.refusals[exc.reason[:80]] += 1
            event = None
        tally.add_line(number, line, event)
    return tally
