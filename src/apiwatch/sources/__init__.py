"""Existing logs as `apiwatch.model.Event`s: nginx/Apache access logs and ECS NDJSON files.

Used by ``apiwatch scan FILE...`` and the ingestion of logs apiwatch did not write. Modules:

- `apiwatch.sources.accesslog`: combined / common access-log lines (`parse_access_line`);
- `apiwatch.sources.logins`: which access-log requests are login attempts (`LoginPatterns`);
- `apiwatch.sources.ecsfile`: ECS NDJSON lines (`parse_ecs_line`);
- `apiwatch.sources.files`: gzip/stdin-aware reading, format detection, progress (`LogFile`,
  `read_events`).

Live sources (the collector's ``[[sources]]`` and ``apiwatch scan --follow``; docs/sources.md):

- `apiwatch.sources.live`: what they share: line decoding as ``scan`` does it (`LineDecoder`),
  stable event ids, per-source counters, `Delivery` (events and the checkpoint after storing);
- `apiwatch.sources.tail`: following files through rotation and truncation (`FileTailer`);
- `apiwatch.sources.journald`: ``journalctl -o json --follow`` with a cursor (`JournalReader`);
- `apiwatch.sources.syslog`: RFC 5424/3164 over UDP, TCP and TLS (`SyslogReceiver`);
- `apiwatch.sources.otlp`: OpenTelemetry log records as events (`otlp_events`);
- `apiwatch.sources.config`: the ``[[sources]]`` tables (`SourceConfig`, `parse_sources`).

Imports only `apiwatch.model`, the standard library and msgspec.
"""

from apiwatch.sources.accesslog import parse_access_line
from apiwatch.sources.ecsfile import parse_ecs_line
from apiwatch.sources.files import (
    FORMATS,
    LogFile,
    OnError,
    detect_format,
    open_log,
    read_events,
)
from apiwatch.sources.formats import FormatUnknownError
from apiwatch.sources.logins import DEFAULT_LOGINS, LoginPatterns

__all__ = [
    "DEFAULT_LOGINS",
    "FORMATS",
    "FormatUnknownError",
    "LogFile",
    "LoginPatterns",
    "OnError",
    "detect_format",
    "open_log",
    "parse_access_line",
    "parse_ecs_line",
    "read_events",
]
