"""Splunk HTTP Event Collector (HEC): ``POST /services/collector/event`` with the token.

Each record is one HEC event (``time``, ``host`` (this machine's name, or the ``host``
option), ``source``, ``sourcetype``
``apiwatch:event`` / ``apiwatch:alert`` / ``apiwatch:incident``, the ECS document as
``event``), all of a batch in one request body. HEC does not deduplicate: a batch delivered
twice after a retry is indexed twice, with the same ``event.id`` (``| dedup event.id``).

Answers, as Splunk documents them: 200 ``{"code": 0}`` delivered; 400 with ``code`` 6 ("Invalid
data format") and ``invalid-event-number`` N: the events before N were indexed, event N is
refused for good (counted), the rest are sent again at once; 503 ``code`` 9 ("Server is busy")
and 429 are retried after a backoff; 401/403 (token) are errors retried after a backoff too,
so that fixing the token resumes delivery where it stopped.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from typing import Any

import httpx
import msgspec

from apiwatch.forward._base import http_client, post, refused
from apiwatch.forward._records import Record
from apiwatch.forward.config import ForwardTarget

__all__ = ["SplunkSink"]

logger = logging.getLogger("apiwatch.forward")
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_INVALID_DATA = 6


class SplunkSink:
    """Delivers records to the HEC at ``url`` (``https://splunk:8088``)."""

    def __init__(self, target: ForwardTarget, *, client: httpx.Client | None = None) -> None:
        self.name = target.name
        base = str(target.option("url")).rstrip("/")
        self.url = base if base.endswith("/event") else f"{base}/services/collector/event"
        self.index = target.option("index")
        self.source = target.option("source", "apiwatch")
        self.host = target.option("host") or socket.gethostname()
        headers = {"authorization": f"Splunk {target.secrets['token']}"}
        self.client = client or http_client(
            target.option("ca_file"), target.option("timeout", 30.0), headers
        )

    def _event(self, record: Record) -> bytes:
        event: dict[str, Any] = {
            "time": round(record.timestamp.timestamp(), 6),
            "host": self.host,
            "source": self.source,
            "sourcetype": f"apiwatch:{record.kind[:-1]}",
            "event": msgspec.Raw(record.raw),
        }
        if self.index:
            event["index"] = self.index
        return _encode(event)

    def send(self, records: Sequence[Record]) -> int:
        rejected = 0
        while records:
            body = b"\n".join(self._event(record) for record in records)
            response = post(
                self.client, self.name, self.url, body, **{"content-type": "application/json"}
            )
            if response.status_code == 200:
                return rejected
            invalid = self._invalid_event(response, len(records))
            if invalid is None:
                raise refused(self.name, response)
            logger.warning(
                "%s: HEC refused event %d of %d (invalid data format)",
                self.name,
                invalid + 1,
                len(records),
            )
            rejected += 1
            records = records[invalid + 1 :]
        return rejected

    def _invalid_event(self, response: httpx.Response, count: int) -> int | None:
        """The index of the event HEC refused for its content, or None for anything else."""
        if response.status_code != 400:
            return None
        try:
            answer = _decode(response.content)
            code, number = answer.get("code"), answer.get("invalid-event-number")
        except (msgspec.DecodeError, AttributeError):
            return None
        if code != _INVALID_DATA or not isinstance(number, int) or not 0 <= number < count:
            return None
        return number

    def close(self) -> None:
        self.client.close()
