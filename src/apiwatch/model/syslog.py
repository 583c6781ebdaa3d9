"""The text of syslog RFC 5424 messages and ArcSight CEF records, shared by the syslog notifier
(`apiwatch.respond`) and the syslog forwarder (`apiwatch.forward`).

CEF escaping: in the header, ``\\`` and ``|`` are escaped with a backslash and line breaks become
spaces; in extension values ``\\`` and ``=`` are escaped and line breaks are written ``\\n`` /
``\\r``. An RFC 5424 HOSTNAME keeps printable ASCII only (anything else is ``-``), 255 at most.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final

__all__ = ["FACILITIES", "LEVELS", "cef_record", "rfc5424_header"]

FACILITIES: Final = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    "ntp": 12,
    "security": 13,
    "console": 14,
    **{f"local{n}": 16 + n for n in range(8)},
}
"""RFC 5424 facility codes by name."""

LEVELS: Final = {
    "critical": (2, 10),
    "high": (3, 8),
    "medium": (4, 5),
    "low": (5, 3),
    "informational": (6, 1),
}
"""Sigma / incident severity -> (syslog severity, CEF severity 0..10)."""

_PRINTABLE: Final = re.compile(r"[^\x21-\x7e]")


def _header(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("\r", " ").replace("\n", " ")


def _extension(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace("=", "\\=")
    return text.replace("\r", "\\r").replace("\n", "\\n")


def cef_record(
    version: str, signature: str, name: str, severity: int, fields: Iterable[tuple[str, str]]
) -> str:
    """``CEF:0|apiwatch|apiwatch|version|signature|name|severity|key=value ...``, escaped."""
    header = "|".join(
        _header(part) for part in ("apiwatch", "apiwatch", version, signature, name, severity)
    )
    extension = " ".join(f"{key}={_extension(value)}" for key, value in fields)
    return f"CEF:0|{header}|{extension}"


def rfc5424_header(
    *, facility: int, level: int, moment: datetime, hostname: str, msgid: str
) -> str:
    """``<PRI>1 TIMESTAMP HOSTNAME apiwatch PID MSGID - `` (no structured data), before MSG."""
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    host = _PRINTABLE.sub("-", hostname)[:255] or "-"
    return f"<{facility * 8 + level}>1 {stamp} {host} apiwatch {os.getpid()} {msgid} - "
