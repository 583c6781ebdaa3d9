"""``POST /v1/events``: NDJSON of ECS events in, ``202`` only once they are durably committed."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from apiwatch.server._body import BodyError, inflate, read_body
from apiwatch.server._errors import peer
from apiwatch.server._schemas import IngestRefused, IngestResult, error_responses
from apiwatch.server._state import ServerState, only_query, require, server_state
from apiwatch.server.ingest import BatchTooLargeError, DecodedBody, admission_for, decode_body
from apiwatch.store import ApiKey, Batch

__all__ = ["router"]

NDJSON_TYPES = (
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/json",
)
_MAX_IDEMPOTENCY_KEY = 200
_WRONG_TYPE = f"send NDJSON, with Content-Type one of {', '.join(NDJSON_TYPES)}"
_encode = msgspec.json.Encoder().encode
logger = logging.getLogger("apiwatch.server")

# Deliberately loose: input may use dotted keys, a string for a one-item list, a numeric string
# for a number, and may leave out event.action; the stored form is the stricter `Event`.
_LINE_SCHEMA = {
    "type": "object",
    "description": "One ECS event; the fields apiwatch models are as in the Event schema.",
}
_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "NDJSON: one ECS event per line (the schema describes one line). Nested "
            '(`{"source": {"ip": ...}}`) or dotted keys (`"source.ip"`); fields apiwatch does '
            "not model are kept as sent; blank lines are skipped; a line that is not a valid "
            "event is rejected on its own. May be gzip-compressed (`Content-Encoding: gzip`)."
        ),
        "content": {media: {"schema": _LINE_SCHEMA} for media in NDJSON_TYPES},
    },
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "A retried request with the same key is not stored twice.",
            "schema": {"type": "string", "maxLength": _MAX_IDEMPOTENCY_KEY},
        },
        {
            "name": "Content-Encoding",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "enum": ["gzip", "identity"]},
        },
    ],
}

router = APIRouter()


@router.post(
    "/v1/events",
    status_code=202,
    summary="Send events",
    response_model=IngestResult,
    responses={
        400: {"model": IngestRefused, "description": "No line of the body could be stored."},
        **error_responses(401, 403, 408, 413, 415, 503, 507),
    },
    openapi_extra=_REQUEST_BODY,
    dependencies=[Depends(only_query())],
    tags=["ingest"],
)
async def ingest(request: Request, key: Annotated[ApiKey, Depends(require("ingest"))]) -> Response:
    """Store a batch of events (scope ``ingest``).

    Answers only after the accepted lines are durably committed; rejected lines are listed with
    their 1-based line numbers and the reason. A body in which no line is valid is refused.
    """
    state = server_state(request)
    settings = state.settings
    gzip = _check_media(request)
    idempotency_key = _idempotency_key(request)
    gate = state.ingest_gate
    if not await gate.enter(
        key.name, settings.max_concurrent_ingest, settings.ingest_share,
        settings.ingest_wait_seconds,
    ):  # fmt: skip
        raise BodyError(503, "too many ingest requests are in progress; retry shortly")
    try:
        body = await _read_body(request, state, key.name)
        try:
            decoded = await run_in_threadpool(_decode_and_seal, state, body, gzip, key)
        except BatchTooLargeError as exc:
            raise BodyError(413, f"{exc}; send at most {settings.max_batch_lines}") from None
        return await _commit(state, decoded, Batch(decoded.accepted, key.name, idempotency_key))
    finally:
        gate.leave(key.name)


async def _read_body(request: Request, state: ServerState, key_name: str) -> bytes:
    """The body as sent, within the size and time limits; a sender cut off for being too slow
    is logged (one line) and counted, since a run of them is what a slow-read attack looks like."""
    settings = state.settings
    try:
        return await read_body(
            request.stream(),
            declared_length=request.headers.get("content-length"),
            max_body_bytes=settings.max_body_bytes,
            idle_timeout=settings.body_read_timeout,
            total_timeout=settings.body_total_timeout,
        )
    except BodyError as exc:
        if exc.status == 408:
            state.metrics.body_timeouts.inc()
            logger.warning("ingest: %s (key %s) cut off: %s", peer(request), key_name, exc)
        raise


def _decode_and_seal(state: ServerState, body: bytes, gzip: bool, key: ApiKey) -> DecodedBody:
    """Inflate, decode, then do each row's encryption and digest here, in the request's worker
    thread: the event loop never inflates (tens of ms for 10 MB), and the single commit thread is
    left only numbering, chaining and writing rows; its database time (which releases the GIL)
    overlaps with the next request's sealing."""
    settings = state.settings
    if gzip:
        body = inflate(body, settings.max_decompressed_bytes) if body else b""
    decoded = decode_body(
        body,
        max_line_bytes=settings.max_line_bytes,
        max_lines=settings.max_batch_lines,
        admission=admission_for(settings, key),
    )
    state.metrics.count_rejections(decoded.rejected)
    decoded.accepted = state.store.events.seal(decoded.accepted, key.name)
    return decoded


async def _commit(state: ServerState, decoded: DecodedBody, batch: Batch) -> Response:
    metrics = state.metrics
    rejected = [{"line": r.line, "error": r.error} for r in decoded.rejected]
    metrics.rejected.inc(len(rejected))
    metrics.batch_size.observe(len(decoded.accepted) + len(rejected))
    if not decoded.accepted:
        message = "no valid event in the body" if rejected else "the body holds no events"
        return Response(
            _encode({"error": message, "rejected": rejected}),
            status_code=400,
            media_type="application/json",
        )
    result = await state.committer.submit(batch)
    metrics.accepted.inc(result.stored)
    metrics.duplicates.inc(result.duplicates)
    answer = {
        "accepted": result.stored,
        "duplicates": result.duplicates,
        "replayed": result.replayed,
        "rejected": rejected,
    }
    return Response(_encode(answer), status_code=202, media_type="application/json")


def _check_media(request: Request) -> bool:
    """Whether the body is gzip; `BodyError` 415 for a type or encoding this does not take."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in NDJSON_TYPES:
        raise BodyError(415, _WRONG_TYPE)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("gzip", "identity"):
        raise BodyError(415, "Content-Encoding must be gzip or absent")
    return encoding == "gzip"


def _idempotency_key(request: Request) -> str | None:
    value = request.headers.get("idempotency-key")
    if not value:
        return None
    if len(value) > _MAX_IDEMPOTENCY_KEY or not value.isprintable():
        raise BodyError(
            400, f"Idempotency-Key must be 1 to {_MAX_IDEMPOTENCY_KEY} printable characters"
        )
    return value
