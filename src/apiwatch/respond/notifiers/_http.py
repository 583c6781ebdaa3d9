"""One JSON POST with httpx, its failures turned into `NotifyError`s that name no secret."""

from __future__ import annotations

import ssl
from collections.abc import Mapping

import httpx

from apiwatch.respond._redact import redact
from apiwatch.respond.notify import NotifyError

__all__ = ["post_json", "tls_context"]


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """A verifying client context, trusting ``ca_file`` instead of the system store if given."""
    return ssl.create_default_context(cafile=ca_file or None)


def post_json(
    name: str,
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    ca_file: str = "",
    transport: httpx.BaseTransport | None = None,
) -> None:
    """POST ``body`` as JSON to ``url``; raise `NotifyError` unless the answer is 2xx."""
    all_headers = {"Content-Type": "application/json", "User-Agent": "apiwatch"}
    all_headers.update(headers or {})
    try:
        with httpx.Client(
            timeout=timeout,
            verify=tls_context(ca_file),
            follow_redirects=False,  # a redirect would resend a signed body somewhere else
            transport=transport,
        ) as client:
            response = client.post(url, content=body, headers=all_headers)
    except httpx.HTTPError as exc:
        # from None: the chained httpx exception carries the URL, which may be the secret.
        raise NotifyError(redact(f"{name}: {type(exc).__name__}: {exc}")) from None
    if not 200 <= response.status_code < 300:
        raise NotifyError(f"{name}: HTTP {response.status_code}")
