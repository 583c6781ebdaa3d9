"""``POST /v1/logs``: OTLP logs (OTLP/HTTP, protobuf or JSON), stored like ``/v1/events``.

Apps instrumented with OpenTelemetry point their log exporter at the collector
(``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=https://collector:8470/v1/logs``) with an API key of scope
``ingest`` in ``Authorization: Bearer``. Records are mapped to ECS by
`apiwatch.sources.otlp.otlp_events` and held to what ingest holds a line to (event time, the
key's binding); the answer is the OTLP ``ExportLogsServiceResponse`` in the request's encoding,
with ``partialSuccess`` counting and explaining the refused records. Per the OTLP/HTTP spec a
body that cannot be decoded is 400, and the exporter does not retry it; 503 (busy) is retried.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from apiwatch.server._body import BodyError, inflate, read_body
from apiwatch.server._schemas import error_responses
from apiwatch.server._state import ServerState, only_query, require, server_state
from apiwatch.server.ingest import admission_for
from apiwatch.sources.otlp import OtlpBatch, otlp_events
from apiwatch.store import ApiKey

__all__ = ["router"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_json = msgspec.json.Decoder()
_encode = msgspec.json.Encoder().encode

router = APIRouter()

_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An OTLP ExportLogsServiceRequest, protobuf or its JSON mapping; may be "
        "gzip-compressed (Content-Encoding: gzip).",
        "content": {
            PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            JSON: {"schema": {"type": "object"}},
        },
    }
}


@router.post(
    "/v1/logs",
    summary="Send OpenTelemetry logs (OTLP/HTTP)",
    responses={
        400: {"description": "The body is not an OTLP logs request."},
        **error_responses(401, 403, 408, 413, 415, 503, 507),
    },
    openapi_extra=_REQUEST_BODY,
    dependencies=[Depends(only_query())],
    tags=["ingest"],
)
async def otlp_logs(
    request: Request, key: Annotated[ApiKey, Depends(require("ingest"))]
) -> Response:
    """Store the log records of an OTLP export (scope ``ingest``); answers once they are
    durably committed, with ``partialSuccess`` for the records refused."""
    state = server_state(request)
    media, gzip = _media(request)
    settings = state.settings
    gate = state.ingest_gate
    if not await gate.enter(
        key.name,
        settings.max_concurrent_ingest,
        settings.ingest_share,
        settings.ingest_wait_seconds,
    ):
        raise BodyError(503, "too many ingest requests are in progress; retry shortly")
    try:
        body = await read_body(
            request.stream(),
            declared_length=request.headers.get("content-length"),
            max_body_bytes=settings.max_body_bytes,
            idle_timeout=settings.body_read_timeout,
            total_timeout=settings.body_total_timeout,
        )
        batch = await run_in_threadpool(_decode, state, body, media, gzip)
    finally:
        gate.leave(key.name)
    return await _store(state, batch, key, media)


async def _store(state: ServerState, batch: OtlpBatch, key: ApiKey, media: str) -> Response:
    sources = state.sources
    stats = sources.otlp
    stats.count(batch.records, batch.events, len(batch.refused))
    state.metrics.rejected.inc(len(batch.refused))
    admission = admission_for(state.settings, key)
    before = stats.refused
    await sources.store_events(key.name, batch.events, stats, admission)
    rejected = len(batch.refused) + stats.refused - before
    message = "; ".join(dict.fromkeys(batch.refused))[:1000]
    if stats.refused > before and not message:
        message = "event time out of bounds or outside the key's binding"
    return _answer(media, rejected, message)


def _decode(state: ServerState, body: bytes, media: str, gzip: bool) -> OtlpBatch:
    if gzip:
        body = inflate(body, state.settings.max_decompressed_bytes) if body else b""
    if media == JSON:
        try:
            data = _json.decode(body)
        except msgspec.DecodeError as exc:
            raise BodyError(400, f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BodyError(400, "an OTLP logs request is a JSON object")
        return otlp_events(data)
    return otlp_events(_from_protobuf(body), ids_base64=True)


def _from_protobuf(body: bytes) -> dict[str, Any]:
    try:
        from google.protobuf.json_format import MessageToDict  # noqa: PLC0415 - optional
        from google.protobuf.message import DecodeError  # noqa: PLC0415
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # noqa: PLC0415
            ExportLogsServiceRequest,
        )
    except ImportError:
        raise BodyError(
            415,
            "OTLP protobuf needs opentelemetry-proto on the collector "
            "(pip install 'apiwatch[server]'); send OTLP/JSON instead",
        ) from None
    message = ExportLogsServiceRequest()
    try:
        message.ParseFromString(body)
    except DecodeError as exc:
        raise BodyError(400, f"not an OTLP ExportLogsServiceRequest: {exc}") from None
    data: dict[str, Any] = MessageToDict(message)
    return data


def _answer(media: str, rejected: int, message: str) -> Response:
    if media == JSON:
        answer: dict[str, Any] = {}
        if rejected:
            answer["partialSuccess"] = {"rejectedLogRecords": rejected, "errorMessage": message}
        return Response(_encode(answer), status_code=200, media_type=JSON)
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # noqa: PLC0415
        ExportLogsServiceResponse,
    )

    response = ExportLogsServiceResponse()
    if rejected:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = message
    return Response(response.SerializeToString(), status_code=200, media_type=PROTOBUF)


def _media(request: Request) -> tuple[str, bool]:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in (PROTOBUF, JSON):
        raise BodyError(415, f"send OTLP logs as {PROTOBUF} or {JSON}")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("gzip", "identity"):
        raise BodyError(415, "Content-Encoding must be gzip or absent")
    return content_type, encoding == "gzip"
