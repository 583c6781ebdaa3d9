"""Elasticsearch / OpenSearch: ECS documents through the ``_bulk`` API.

Events are written with ``create`` into a data stream (``index``, by default
``logs-apiwatch-default``, matching Elastic's ``logs-*-*`` naming); alerts and incidents with
``index`` into ordinary indexes (``apiwatch-alerts``, ``apiwatch-incidents``), because an
incident is updated as it grows and a data stream cannot update. ``_id`` is the record id:
an event delivered twice answers 409 (``version_conflict_engine_exception``), which counts as
delivered; an alert delivered twice is overwritten with itself.

With ``template`` (the default) an index template is put once before the first batch: the
data stream and the ECS types of the fields apiwatch writes (``source.ip`` as ``ip``,
``@timestamp`` as ``date``, the rest of the ECS names as ``keyword``).

Per-item results: 2xx and 409 delivered; 429 and 5xx (``es_rejected_execution_exception``,
shards unavailable) make the batch be offered again after a backoff; any other status (400
``mapper_parsing_exception`` ...) refuses that document for good (counted, its error type and
reason logged, never its content).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from typing import Any, Final

import httpx
import msgspec

from apiwatch.forward._base import RETRYABLE, ForwardError, http_client, post, refused
from apiwatch.forward._records import Record
from apiwatch.forward.config import ForwardTarget
from apiwatch.model import printable_text

__all__ = ["ElasticsearchSink", "index_template"]

logger = logging.getLogger("apiwatch.forward")
_TOO_LARGE = 413
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

_KEYWORDS: Final = (
    "event.id",
    "event.action",
    "event.category",
    "event.type",
    "event.outcome",
    "event.kind",
    "event.dataset",
    "user.name",
    "user.id",
    "user_agent.original",
    "url.path",
    "http.request.method",
    "http.request.id",
    "service.name",
    "host.name",
    "trace.id",
    "rule.name",
)


def _properties() -> dict[str, Any]:
    """The mapping properties: ``{"source": {"properties": {"ip": {"type": "ip"}}}, ...}``."""
    props: dict[str, Any] = {"@timestamp": {"type": "date"}}
    fields = [(name, "keyword") for name in _KEYWORDS]
    fields += [
        ("source.ip", "ip"),
        ("http.response.status_code", "long"),
        ("event.duration", "long"),
        ("event.severity", "long"),
    ]
    for name, kind in fields:
        *parents, leaf = name.split(".")
        level = props
        for parent in parents:
            level = level.setdefault(parent, {"properties": {}})["properties"]
        level[leaf] = {"type": kind}
    return props


def index_template(pattern: str, *, data_stream: bool) -> dict[str, Any]:
    """The index template for indexes matching ``pattern`` (a data stream with it)."""
    template: dict[str, Any] = {
        "index_patterns": [pattern],
        "priority": 200,
        "template": {"mappings": {"properties": _properties()}},
        "_meta": {"managed_by": "apiwatch"},
    }
    if data_stream:
        template["data_stream"] = {}
    return template


class ElasticsearchSink:
    """Delivers records to ``url`` (an Elasticsearch or OpenSearch node or proxy)."""

    def __init__(self, target: ForwardTarget, *, client: httpx.Client | None = None) -> None:
        self.name = target.name
        self.url = str(target.option("url")).rstrip("/")
        self.indexes = {
            "events": target.option("index", "logs-apiwatch-default"),
            "alerts": target.option("alerts_index", "apiwatch-alerts"),
            "incidents": target.option("incidents_index", "apiwatch-incidents"),
        }
        self.template = bool(target.option("template", True))
        self.client = client or http_client(
            target.option("ca_file"), target.option("timeout", 30.0), _auth(target)
        )

    def send(self, records: Sequence[Record]) -> int:
        if self.template:
            self._put_templates()
            self.template = False
        body = b"".join(self._lines(record) for record in records)
        response = post(
            self.client,
            self.name,
            f"{self.url}/_bulk",
            body,
            **{"content-type": "application/x-ndjson"},
        )
        if response.status_code == _TOO_LARGE and len(records) > 1:
            half = len(records) // 2  # over http.max_content_length: send it in halves
            return self.send(records[:half]) + self.send(records[half:])
        if response.status_code != 200:
            raise refused(self.name, response)
        return self._outcome(response, records)

    def _lines(self, record: Record) -> bytes:
        op = "create" if record.kind == "events" else "index"
        action = {op: {"_index": self.indexes[record.kind], "_id": record.id}}
        return _encode(action) + b"\n" + record.raw + b"\n"

    def _outcome(self, response: httpx.Response, records: Sequence[Record]) -> int:
        try:
            answer = _decode(response.content)
            items = answer["items"]
        except (msgspec.DecodeError, KeyError, TypeError):
            raise ForwardError(f"{self.name}: _bulk answered something that is not JSON") from None
        if not answer.get("errors"):
            return 0
        retry, rejected = 0, 0
        for item in items:
            result = next(iter(item.values())) if isinstance(item, dict) and item else {}
            status = int(result.get("status", 500))
            if status < 300 or status == 409:
                continue
            if status in RETRYABLE:
                retry += 1
                continue
            rejected += 1
            error = result.get("error") or {}
            logger.warning(
                "%s: %s %s refused: %s: %s",
                self.name,
                result.get("_index"),
                printable_text(str(result.get("_id"))),
                error.get("type"),
                printable_text(str(error.get("reason", ""))[:300]),
            )
        if retry:
            raise ForwardError(
                f"{self.name}: {retry} of {len(records)} documents refused for now (429 or 5xx)"
            )
        return rejected

    def _put_templates(self) -> None:
        for kind, index in self.indexes.items():
            name = f"apiwatch-{self.name}-{kind}".lower()
            body = index_template(f"{index}*", data_stream=kind == "events")
            try:
                response = self.client.put(f"{self.url}/_index_template/{name}", json=body)
            except httpx.HTTPError as exc:
                raise ForwardError(f"{self.name}: {type(exc).__name__}: {exc}") from None
            if response.status_code != 200:
                raise refused(self.name, response)

    def close(self) -> None:
        self.client.close()


def _auth(target: ForwardTarget) -> dict[str, str]:
    if "api_key" in target.secrets:
        return {"authorization": f"ApiKey {target.secrets['api_key']}"}
    if "password" in target.secrets:
        pair = f"{target.option('username', '')}:{target.secrets['password']}".encode()
        return {"authorization": "Basic " + base64.b64encode(pair).decode()}
    return {}
