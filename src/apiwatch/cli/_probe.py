"""Is the collector up? ``GET /healthz`` (the process answers HTTP) and ``GET /readyz`` (it can
take events: its committer runs, its store answers and is not full), as `apiwatch status` asks.

The collector's address is ``--url`` when given, else the one its settings make it listen on
(``host``, ``port``; https with ``tls_cert``), a wildcard host (0.0.0.0, ::) probed on loopback.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from apiwatch.cli._config import Settings
from apiwatch.model import printable_text as safe

__all__ = ["Probe", "collector_url", "probe"]

_TIMEOUT = 5.0
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104 - a mapping


@dataclass(frozen=True)
class Probe:
    """What the collector at ``url`` answered: ``live`` (``/healthz`` said ok), ``ready``
    (``/readyz`` said ready) and, when either is not, ``problem`` saying why."""

    url: str
    live: bool
    ready: bool
    problem: str | None = None

    @property
    def up(self) -> bool:
        return self.live and self.ready

    def describe(self) -> str:
        """One line: ``live, ready``, ``live, NOT READY (…)`` or ``UNREACHABLE (…)``."""
        if not self.live:
            return f"UNREACHABLE ({self.problem})"
        return "live, ready" if self.ready else f"live, NOT READY ({self.problem})"

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "live": self.live, "ready": self.ready, "problem": self.problem}


def collector_url(settings: Settings) -> str:
    """Where the collector the settings describe listens (loopback for a wildcard host)."""
    host = _LOOPBACK.get(settings.host, settings.host)
    scheme = "https" if settings.tls_cert else "http"
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{settings.port}"


def probe(url: str, *, verify: ssl.SSLContext | bool = True, timeout: float = _TIMEOUT) -> Probe:
    """Ask ``url``'s ``/healthz`` then ``/readyz`` (``verify``: what https trusts); never
    raises for a collector that is down."""
    base = url.rstrip("/")
    try:
        with httpx.Client(timeout=timeout, verify=verify) as client:
            health = client.get(f"{base}/healthz")
            if health.status_code != 200:
                return Probe(base, False, False, f"/healthz answered {health.status_code}")
            ready = client.get(f"{base}/readyz")
    except httpx.HTTPError as exc:
        return Probe(base, live=False, ready=False, problem=_reason(exc, timeout))
    if ready.status_code == 200:
        return Probe(base, live=True, ready=True)
    return Probe(base, live=True, ready=False, problem=_said(ready))


def _reason(exc: httpx.HTTPError, timeout: float) -> str:
    """Why a request got no answer, in one line (``connection refused``, ``no answer within
    5 s``, the TLS verification failure...)."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        reason = safe(cause.verify_message or "certificate verify failed")
        return f"its certificate is not trusted: {reason}; --ca-file trusts a private CA"
    if isinstance(cause, OSError) and cause.strerror:
        text = safe(str(cause.strerror))
        return text[:1].lower() + text[1:]  # "connection refused", as it reads mid-sentence
    return safe(str(exc) or type(exc).__name__)


def _said(response: httpx.Response) -> str:
    """The collector's ``error`` text of a 503 from /readyz, or its status code."""
    try:
        said = response.json().get("error")
    except (ValueError, AttributeError):
        said = None
    prefix = "not ready: "
    if isinstance(said, str) and said:
        return safe(said.removeprefix(prefix))
    return f"/readyz answered {response.status_code}"
