"""Keeps notifier secrets out of every log line, the libraries' own included.

httpx logs each request's full URL at INFO, and a Slack webhook URL *is* its secret; apprise
logs its URLs too. Notifiers register their secrets here, and a filter on those libraries'
loggers rewrites any record that contains one before a handler sees it.
"""

from __future__ import annotations

import logging
import threading
from typing import Final
from urllib.parse import urlsplit

__all__ = ["REDACTED", "redact", "register_secret", "register_url"]

REDACTED: Final = "<redacted>"
# Logger filters do not apply to child loggers' records, so each logging module is named.
_LOGGERS: Final = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "apprise",
    "apiwatch.respond",
)

_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``<redacted>``."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 (a broken record is the logging module's business)
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def register_secret(secret: str) -> None:
    """Never let ``secret`` (a URL, a token, a password) reach a log handler."""
    global _installed  # noqa: PLW0603 (one process-wide filter, installed once)
    if len(secret) < 4:  # too short to redact without mangling unrelated text
        return
    with _lock:
        _secrets.add(secret)
        if not _installed:
            for name in _LOGGERS:
                logging.getLogger(name).addFilter(_RedactingFilter())
            _installed = True


def register_url(url: str) -> None:
    """Register a secret URL, and its path, query and password on their own (libraries log
    URLs normalised, so the text as configured may never appear whole)."""
    register_secret(url)
    parts = urlsplit(url)
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    if len(tail) >= 8:
        register_secret(tail)
    if parts.password:
        register_secret(parts.password)
