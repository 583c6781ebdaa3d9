"""Webhook: the message as signed JSON, POSTed to a URL.

The body is `Message.to_dict` plus ``text`` (the rendered template). With a secret, each request
carries ``X-Apiwatch-Timestamp`` (Unix seconds) and ``X-Apiwatch-Signature:
sha256=<hex HMAC-SHA256 of timestamp + "." + body>``; a receiver checks both with
`verify_signature`, which compares in constant time and refuses stale timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import httpx
import msgspec

from apiwatch.respond._config import Table, http_url
from apiwatch.respond._redact import register_secret
from apiwatch.respond.notifiers._http import post_json
from apiwatch.respond.notifiers._settings import NotifierType, Secrets, env_name
from apiwatch.respond.notify import Message

__all__ = [
    "NOTIFIER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookNotifier",
    "WebhookSettings",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER: Final = "X-Apiwatch-Signature"
TIMESTAMP_HEADER: Final = "X-Apiwatch-Timestamp"


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(body: bytes, *, secret: str | bytes, timestamp: str) -> str:
    """The ``X-Apiwatch-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(_key(secret), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    body: bytes,
    *,
    secret: str | bytes,
    timestamp: str,
    signature: str,
    tolerance: float = 300.0,
    now: float | None = None,
) -> bool:
    """Whether ``signature`` is apiwatch's for ``body`` at ``timestamp``, and that timestamp is
    within ``tolerance`` seconds of ``now`` (default: the clock). ``body`` must be the raw bytes
    received, before any JSON parsing."""
    try:
        sent = int(timestamp)
        expected = sign(body, secret=secret, timestamp=timestamp)
    except (ValueError, UnicodeEncodeError):
        return False
    current = time.time() if now is None else now
    fresh = abs(current - sent) <= tolerance
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")) and fresh


class WebhookNotifier:
    """POSTs each message as JSON to ``url``, signed when a ``secret`` is given."""

    def __init__(
        self,
        url: str,
        *,
        secret: str = "",
        template: str = "",
        timeout: float = 10.0,
        ca_file: str = "",
        name: str = "webhook",
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self._secret = secret
        self.template = template
        self.timeout = timeout
        self.ca_file = ca_file
        self.name = name
        self._clock = clock
        self._transport = transport
        if secret:
            register_secret(secret)

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.name!r}, signed={bool(self._secret)})"

    def body(self, message: Message) -> bytes:
        """The JSON body sent for ``message``."""
        payload = message.to_dict()
        payload["text"] = message.render(self.template)
        return msgspec.json.encode(payload)

    def send(self, message: Message) -> None:
        """POST ``message``; raise `NotifyError` on a transport error or a non-2xx answer."""
        body = self.body(message)
        headers = {}
        if self._secret:
            timestamp = str(int(self._clock()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = sign(body, secret=self._secret, timestamp=timestamp)
        post_json(
            self.name,
            self.url,
            body,
            headers=headers,
            timeout=self.timeout,
            ca_file=self.ca_file,
            transport=self._transport,
        )


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """A JSON POST to ``url``, signed with the secret in ``secret_env`` (when given)."""

    url: str
    secret_env: str = ""
    timeout: float = 10.0
    ca_file: str = ""

    @classmethod
    def from_table(cls, table: Table) -> WebhookSettings:
        """The ``type = "webhook"`` keys of ``table``."""
        return cls(
            url=http_url(table, "url"),
            secret_env=env_name(table, "secret_env"),
            timeout=table.duration("timeout", "10s"),
            ca_file=table.string("ca_file", ""),
        )

    def build(self, name: str, template: str, secrets: Secrets) -> WebhookNotifier:
        """The webhook notifier these settings describe."""
        return WebhookNotifier(
            self.url,
            secret=secrets("secret_env", self.secret_env),
            template=template,
            timeout=self.timeout,
            ca_file=self.ca_file,
            name=name,
        )


NOTIFIER: Final = NotifierType("webhook", WebhookSettings.from_table)
