"""Receivers for the forwarder tests, on 127.0.0.1 with free ports, each a real HTTP server.

No Elasticsearch, OpenSearch or Splunk server can run here, so `BulkReplay` and `HecReplay`
answer with those products' documented responses (the bodies below are the shapes of the
Elasticsearch 8 ``_bulk`` reference and Splunk's HEC "Troubleshoot" page), behaving as the
products do on what the tests exercise: ``create`` of an ``_id`` already stored is a 409, an
``index`` overwrites, a ``source.ip`` that is not an address is a per-item 400, and a scripted
number of 429s (whole request or per item) or 503s come first. `OtlpReceiver` decodes
``ExportLogsServiceRequest`` with opentelemetry-proto, as an OpenTelemetry Collector does.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Elasticsearch's answer when its write thread pool queue is full (whole request).
ES_429 = {
    "error": {
        "root_cause": [
            {
                "type": "es_rejected_execution_exception",
                "reason": "rejected execution of coordinating operation",
            }
        ],
        "type": "es_rejected_execution_exception",
        "reason": "rejected execution of coordinating operation",
    },
    "status": 429,
}


def _item_error(status: int, kind: str, reason: str) -> dict[str, Any]:
    return {"status": status, "error": {"type": kind, "reason": reason}}


@dataclass
class BulkReplay:
    """An ``_bulk`` and ``_index_template`` endpoint that keeps documents by index and id."""

    port: int = 0
    #: Answers to give first: "429" (whole request), "item429" (the first item of the next
    #: bulk refused with 429), "auth" (401).
    script: list[str] = field(default_factory=list)
    indexes: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # ids in the order first stored
    templates: dict[str, Any] = field(default_factory=dict)
    requests: int = 0
    #: http.max_content_length: a larger body is answered 413, as Elasticsearch does.
    max_content_length: int = 100 * 1024 * 1024
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(
        self, method: str, path: str, body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            self.requests += 1
            if method == "PUT" and path.startswith("/_index_template/"):
                self.templates[path.rsplit("/", 1)[1]] = json.loads(body)
                return 200, {"acknowledged": True}, {}
            if path != "/_bulk":
                return 404, {"error": "no handler", "status": 404}, {}
            if len(body) > self.max_content_length:
                return 413, {"error": "Request Entity Too Large", "status": 413}, {}
            step = self.script.pop(0) if self.script else ""
            if step == "429":
                return 429, ES_429, {"Retry-After": "1"}
            if step == "auth":
                return 401, {"error": {"type": "security_exception"}, "status": 401}, {}
            return 200, self._bulk(body, refuse_first=step == "item429"), {}

    def _bulk(self, body: bytes, *, refuse_first: bool) -> dict[str, Any]:
        lines = body.splitlines()
        items, errors = [], False
        for index in range(0, len(lines), 2):
            action = json.loads(lines[index])
            op, meta = next(iter(action.items()))
            result = self._one(op, meta, json.loads(lines[index + 1]), refuse=refuse_first)
            refuse_first = False
            errors |= result["status"] >= 300
            items.append({op: {"_index": meta["_index"], "_id": meta["_id"], **result}})
        return {"took": 3, "errors": errors, "items": items}

    def _one(
        self, op: str, meta: dict[str, str], doc: dict[str, Any], *, refuse: bool
    ) -> dict[str, Any]:
        if refuse:
            return _item_error(
                429, "es_rejected_execution_exception", "rejected execution of primary operation"
            )
        ip = (doc.get("source") or {}).get("ip")
        if ip is not None:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                return _item_error(
                    400,
                    "document_parsing_exception",
                    "failed to parse field [source.ip] of type [ip]",
                )
        stored = self.indexes.setdefault(meta["_index"], {})
        if op == "create" and meta["_id"] in stored:
            reason = f"[{meta['_id']}]: version conflict, document already exists"
            return _item_error(409, "version_conflict_engine_exception", reason)
        created = meta["_id"] not in stored
        stored[meta["_id"]] = doc
        if created:
            self.order.append(meta["_id"])
        return {
            "_version": 1,
            "result": "created" if created else "updated",
            "status": 201 if created else 200,
        }

    def count(self) -> int:
        with self.lock:
            return sum(len(docs) for docs in self.indexes.values())


@dataclass
class HecReplay:
    """Splunk HEC ``/services/collector/event``: checks the token, keeps the events."""

    token: str
    port: int = 0
    script: list[str] = field(default_factory=list)  # "busy" (503 code 9), "429"
    events: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(
        self, method: str, path: str, body: bytes, auth: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            if path != "/services/collector/event":
                return (
                    404,
                    {"text": "The requested URL was not found on this server.", "code": 404},
                    {},
                )
            if auth != f"Splunk {self.token}":
                return 403, {"text": "Invalid token", "code": 4}, {}
            step = self.script.pop(0) if self.script else ""
            if step == "busy":
                return 503, {"text": "Server is busy", "code": 9}, {}
            if step == "429":
                return 429, {"text": "Too many requests", "code": 9}, {"Retry-After": "1"}
            decoder, text, position = json.JSONDecoder(), body.decode(), 0
            parsed = []
            while position < len(text.strip()):
                while text[position].isspace():
                    position += 1
                event, position = decoder.raw_decode(text, position)
                parsed.append(event)
            for number, event in enumerate(parsed):
                if "event" not in event or not event["event"]:
                    return (
                        400,
                        {"text": "Invalid data format", "code": 6, "invalid-event-number": number},
                        {},
                    )
                self.events.append(event)
            return 200, {"text": "Success", "code": 0}, {}


@dataclass
class OtlpReceiver:
    """``POST /v1/logs`` (protobuf): decodes each request, keeps its log records."""

    port: int = 0
    script: list[str] = field(default_factory=list)  # "503", "reject-first"
    records: list[Any] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, path: str, content_type: str, body: bytes) -> tuple[int, bytes]:
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

        with self.lock:
            if path != "/v1/logs" or content_type != "application/x-protobuf":
                return 415, b""
            step = self.script.pop(0) if self.script else ""
            if step == "503":
                return 503, b""
            request = logs_service_pb2.ExportLogsServiceRequest()
            request.ParseFromString(body)
            answer = logs_service_pb2.ExportLogsServiceResponse()
            for resource_logs in request.resource_logs:
                attributes = {
                    a.key: a.value.string_value for a in resource_logs.resource.attributes
                }
                for scope in resource_logs.scope_logs:
                    for number, record in enumerate(scope.log_records):
                        if step == "reject-first" and number == 0:
                            answer.partial_success.rejected_log_records += 1
                            continue
                        self.records.append(record)
                        self.resources.append(attributes)
            return 200, answer.SerializeToString()


@contextmanager
def running(receiver: Any, port: int = 0) -> Iterator[Any]:
    """``receiver`` served on 127.0.0.1 (on ``port``, or a free one) until the block ends."""
    handler = _handler_for(receiver)
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _handler_for(receiver: Any) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes

        def _answer(
            self, status: int, body: bytes, content_type: str, headers: dict[str, str]
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _serve(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if isinstance(receiver, OtlpReceiver):
                status, raw = receiver.handle(self.path, self.headers.get("Content-Type", ""), body)
                self._answer(status, raw, "application/x-protobuf", {})
                return
            answer: Callable[..., tuple[int, dict[str, Any], dict[str, str]]] = receiver.handle
            if isinstance(receiver, HecReplay):
                status, doc, headers = answer(
                    method, self.path, body, self.headers.get("Authorization", "")
                )
            else:
                status, doc, headers = answer(method, self.path, body)
            self._answer(status, json.dumps(doc).encode(), "application/json", headers)

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def log_message(self, *args: object) -> None:
            return None

    return Handler
