"""`EcsFormatter`: stdlib `logging` records as ECS JSON lines.

Records that carry an apiwatch event (``record.apiwatch_event``) are written as the event's line
unchanged. Any other record (the app's own logging, or structlog through the stdlib) becomes a small
ECS document: ``@timestamp``, ``log.level``, ``log.logger``, ``message`` (redacted and escaped),
``error.*`` for exceptions, the record's ``extra=`` fields (or structlog's event dict) under
``labels``, values of secret-looking keys redacted, and ``ecs.version``.
"""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime
from typing import Any

import msgspec

from apiwatch.model.event import ECS_VERSION
from apiwatch.sensor._sanitize import REDACTED, is_secret_key, sanitize

__all__ = ["EcsFormatter"]

_encoder = msgspec.json.Encoder()
_MAX_MESSAGE = 8192
# Attributes every LogRecord has; anything else on a record came from ``extra=`` (or structlog).
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


class EcsFormatter(logging.Formatter):
    """Format every record as one line of ECS JSON (see the module docstring)."""

    def __init__(self, service: str | None = None, max_length: int = _MAX_MESSAGE) -> None:
        super().__init__()
        self.service = service
        self.max_length = max_length

    def format(self, record: logging.LogRecord) -> str:
        if hasattr(record, "apiwatch_event"):
            return record.getMessage()
        return _encoder.encode(self._document(record)).decode()

    def _document(self, record: logging.LogRecord) -> dict[str, Any]:
        labels: dict[str, str] = {}
        if isinstance(record.msg, dict):
            message = self._add_labels(record.msg, labels)
        else:
            message = record.getMessage()
        self._add_labels({k: v for k, v in vars(record).items() if k not in _STANDARD}, labels)
        doc: dict[str, Any] = {
            "@timestamp": datetime.fromtimestamp(record.created, UTC),
            "log": {"level": record.levelname.lower(), "logger": record.name},
            "message": sanitize(message, self.max_length),
            "process": {"pid": record.process, "thread": {"name": record.threadName}},
        }
        if self.service:
            doc["service"] = {"name": self.service}
        if labels:
            doc["labels"] = labels
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            doc["error"] = {
                "type": type(exc).__qualname__,
                "message": sanitize(str(exc), self.max_length),
                "stack_trace": sanitize(
                    "".join(traceback.format_exception(exc)), self.max_length * 4
                ),
            }
        doc["ecs"] = {"version": ECS_VERSION}
        return doc

    def _add_labels(self, event_dict: dict[str, Any], labels: dict[str, str]) -> str:
        """Extra fields (``extra=``, structlog's event dict) as labels; returns ``event``."""
        for key, value in event_dict.items():
            if key in ("event", "_record", "_from_structlog"):
                continue
            text = REDACTED if is_secret_key(str(key)) else sanitize(str(value), self.max_length)
            labels[sanitize(str(key), 128)] = text
        return str(event_dict.get("event", ""))
