"""OTLP logs over HTTP/protobuf: ``POST <url>/v1/logs`` an ``ExportLogsServiceRequest``.

Each record becomes a ``LogRecord``: its time, a severity from its level, the ECS document as
JSON in ``body``, and the OpenTelemetry semantic-convention attributes for the ECS fields they
have a name for (``client.address``, ``user_agent.original``, ``user.name``,
``http.request.method``, ``url.path``, ``http.response.status_code``, ``event.name`` for the
OWASP action) plus ``log.record.uid`` = the record id, which receivers can deduplicate on.
Records are grouped by ``service.name`` and ``host.name`` into resources.

Answers as the OTLP specification says: 200, with ``partial_success.rejected_log_records``
counted as refused for good; 429, 502, 503, 504 retried after a backoff (honouring
``Retry-After``); any other status refuses the batch (400) or is retried (401/403, 5xx).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Final

import httpx
import msgspec

from apiwatch.forward._base import ForwardError, http_client, post, refused
from apiwatch.forward._records import Record, dotted
from apiwatch.forward.config import ForwardTarget

__all__ = ["OtlpSink", "export_request"]

logger = logging.getLogger("apiwatch.forward")
_encode = msgspec.json.Encoder().encode
_ATTRIBUTES: Final = (
    ("client.address", "source.ip"),
    ("user_agent.original", "user_agent.original"),
    ("user.name", "user.name"),
    ("user.id", "user.id"),
    ("http.request.method", "http.request.method"),
    ("url.path", "url.path"),
    ("http.response.status_code", "http.response.status_code"),
    ("event.name", "event.action"),
    ("event.outcome", "event.outcome"),
    ("http.request.id", "http.request.id"),
)
# Sigma level -> (OTel severity number, text).
_SEVERITY: Final = {
    "informational": (9, "INFO"),
    "low": (10, "INFO2"),
    "medium": (13, "WARN"),
    "high": (17, "ERROR"),
    "critical": (21, "FATAL"),
}


def _value(proto: Any, value: object) -> Any:
    any_value = proto.AnyValue()
    if isinstance(value, bool):
        any_value.bool_value = value
    elif isinstance(value, int):
        any_value.int_value = value
    else:
        any_value.string_value = str(value)
    return any_value


def export_request(records: Sequence[Record]) -> bytes:
    """The serialized ``ExportLogsServiceRequest`` carrying ``records``."""
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2  # noqa: PLC0415
    from opentelemetry.proto.common.v1 import common_pb2  # noqa: PLC0415

    groups: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for record in records:
        service = dotted(record.document, "service.name") or "apiwatch"
        groups[(str(service), str(dotted(record.document, "host.name") or ""))].append(record)
    request = logs_service_pb2.ExportLogsServiceRequest()
    for (service, host), members in groups.items():
        resource_logs = request.resource_logs.add()
        for key, value in (("service.name", service), ("host.name", host)):
            if value:
                resource_logs.resource.attributes.add(key=key, value=_value(common_pb2, value))
        scope = resource_logs.scope_logs.add()
        scope.scope.name = "apiwatch"
        for record in members:
            _fill(scope.log_records.add(), record, common_pb2)
    return bytes(request.SerializeToString())


def _fill(log: Any, record: Record, common_pb2: Any) -> None:
    log.time_unix_nano = int(record.timestamp.timestamp() * 1_000_000) * 1000
    log.observed_time_unix_nano = log.time_unix_nano
    number, text = _SEVERITY.get(record.severity, (9, "INFO"))
    log.severity_number = number
    log.severity_text = text
    log.body.string_value = _encode(record.document).decode()
    log.attributes.add(key="log.record.uid", value=_value(common_pb2, record.id))
    log.attributes.add(key="apiwatch.kind", value=_value(common_pb2, record.kind[:-1]))
    for name, path in _ATTRIBUTES:
        value = dotted(record.document, path)
        if value is not None and not isinstance(value, dict | list):
            log.attributes.add(key=name, value=_value(common_pb2, value))


class OtlpSink:
    """Delivers records to the OTLP/HTTP logs endpoint at ``url``."""

    def __init__(self, target: ForwardTarget, *, client: httpx.Client | None = None) -> None:
        self.name = target.name
        base = str(target.option("url")).rstrip("/")
        self.url = base if base.endswith("/v1/logs") else f"{base}/v1/logs"
        headers = _headers(target.secrets.get("headers", ""))
        self.client = client or http_client(
            target.option("ca_file"), target.option("timeout", 30.0), headers
        )

    def send(self, records: Sequence[Record]) -> int:
        body = export_request(records)
        response = post(
            self.client, self.name, self.url, body, **{"content-type": "application/x-protobuf"}
        )
        if response.status_code == 400:
            logger.warning(
                "%s: the OTLP receiver refused a batch of %d (400)", self.name, len(records)
            )
            return len(records)
        if response.status_code != 200:
            raise refused(self.name, response)
        return _rejected(response.content)

    def close(self) -> None:
        self.client.close()


def _rejected(content: bytes) -> int:
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2  # noqa: PLC0415

    answer = logs_service_pb2.ExportLogsServiceResponse()
    try:
        answer.ParseFromString(content)
    except Exception:  # noqa: BLE001 - protobuf's DecodeError is not in its typed API
        raise ForwardError(
            "OTLP receiver answered 200 with a body that is not a response"
        ) from None
    return int(answer.partial_success.rejected_log_records)


def _headers(text: str) -> dict[str, str]:
    """``OTEL_EXPORTER_OTLP_HEADERS`` form: ``key=value,key2=value2``."""
    pairs = (item.partition("=") for item in text.split(",") if "=" in item)
    return {key.strip(): value.strip() for key, _, value in pairs}
