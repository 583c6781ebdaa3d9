"""What every forwarder is: a `Sink` that delivers a batch of `Record`s or raises `ForwardError`.

Exceptions::

    ApiwatchError
     └── ForwardError      the batch was not (all) delivered: the pump retries it after a backoff

A sink returns only when the receiver has taken the whole batch (or refused some documents for
good: those it counts and returns, with the reason logged, never the document); anything it
cannot vouch for raises `ForwardError`, and the same batch is offered again later. Receivers
deduplicate on the record id, so a batch delivered twice is stored once.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from typing import Protocol

import httpx

from apiwatch.forward._records import Record
from apiwatch.model import ApiwatchError

__all__ = ["RETRYABLE", "ForwardError", "Sink", "http_client", "retry_after"]

RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
"""HTTP statuses after which the same request may succeed later."""


class ForwardError(ApiwatchError):
    """The batch was not delivered; ``retry_after`` is the receiver's own hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Sink(Protocol):
    """A forwarder's delivery end: one receiver, one format."""

    name: str

    def send(self, records: Sequence[Record]) -> int:
        """Deliver ``records`` in order; the number the receiver refused for good (counted,
        not retried). Raises `ForwardError` when the batch must be offered again."""
        ...

    def close(self) -> None: ...


def retry_after(response: httpx.Response) -> float | None:
    """The response's ``Retry-After`` in seconds (a number or an HTTP date), or None."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
        date = response.headers.get("date")
        now = parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - now).total_seconds()) if now else None


def http_client(ca_file: str | None, timeout: float, headers: dict[str, str]) -> httpx.Client:
    """A client verifying TLS (against ``ca_file`` when given), never following redirects."""
    verify: ssl.SSLContext | bool = True
    if ca_file:
        verify = ssl.create_default_context(cafile=ca_file)
    return httpx.Client(verify=verify, timeout=timeout, headers=headers, follow_redirects=False)


def refused(name: str, response: httpx.Response) -> ForwardError:
    """The `ForwardError` for a whole request the receiver did not take."""
    reason = response.reason_phrase or "error"
    hint = retry_after(response) if response.status_code in RETRYABLE else None
    return ForwardError(f"{name}: HTTP {response.status_code} {reason}", retry_after=hint)


def post(client: httpx.Client, name: str, url: str, body: bytes, **headers: str) -> httpx.Response:
    """POST ``body``; a `ForwardError` when the receiver cannot be reached."""
    try:
        return client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise ForwardError(f"{name}: {type(exc).__name__}: {exc}") from None
