"""Forwarding: what the collector stores, delivered to the SIEM a team already runs.

Sinks (one per ``[[forward]]`` type): `ElasticsearchSink` (Elasticsearch and OpenSearch
``_bulk``), `SplunkSink` (HEC), `SyslogSink` (RFC 5424, JSON or CEF, over TCP or TLS),
`OtlpSink` (OTLP logs over HTTP/protobuf) and `NdjsonFileSink` (ECS NDJSON files with
rotation). The collector runs each in a pump of its own (`apiwatch.server._forwarding`) that
reads the store from a durable cursor: at least once, in order, duplicates harmless through
stable ids. This package imports only `apiwatch.model` (and httpx, opentelemetry-proto).
"""

from __future__ import annotations

from apiwatch.forward._base import ForwardError, Sink
from apiwatch.forward._records import KINDS, Record, from_alert, from_event_line, from_incident
from apiwatch.forward.config import ForwardTarget, parse_forward
from apiwatch.forward.elasticsearch import ElasticsearchSink
from apiwatch.forward.ndjson import NdjsonFileSink
from apiwatch.forward.otlp import OtlpSink
from apiwatch.forward.splunk import SplunkSink
from apiwatch.forward.syslog import SyslogSink

__all__ = [
    "KINDS",
    "ElasticsearchSink",
    "ForwardError",
    "ForwardTarget",
    "NdjsonFileSink",
    "OtlpSink",
    "Record",
    "Sink",
    "SplunkSink",
    "SyslogSink",
    "build_sink",
    "from_alert",
    "from_event_line",
    "from_incident",
    "parse_forward",
]


def build_sink(target: ForwardTarget) -> Sink:
    """The sink for ``target``'s type."""
    if target.type == "elasticsearch":
        return ElasticsearchSink(target)
    if target.type == "splunk":
        return SplunkSink(target)
    if target.type == "syslog":
        return SyslogSink(target)
    if target.type == "otlp":
        return OtlpSink(target)
    return NdjsonFileSink(target)
