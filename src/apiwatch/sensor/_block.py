"""`Block`: a refusal of a request by a decision, and the small response the adapters send for it.

Made by the `Enforcer` (`apiwatch.sensor._enforce`), kept on the request's context, sent by the
adapters, and read back when the request's event is built (action, reason, decision id).
"""

from __future__ import annotations

from dataclasses import dataclass

from apiwatch.model import Action

__all__ = ["BLOCKED_BODY", "UNAVAILABLE_BODY", "Block"]

BLOCKED_BODY = b'{"error":"blocked"}'
UNAVAILABLE_BODY = b'{"error":"unavailable"}'
_REASONS = {403: "Forbidden", 429: "Too Many Requests", 503: "Service Unavailable"}


@dataclass(frozen=True, slots=True)
class Block:
    """A refusal: the response to send instead of the app's, and what its event says."""

    status: int
    action: Action
    reason: str
    decision_id: int | None = None
    retry_after: int | None = None
    flagged: bool = False

    @property
    def body(self) -> bytes:
        return UNAVAILABLE_BODY if self.status == 503 else BLOCKED_BODY

    @property
    def status_line(self) -> str:
        return f"{self.status} {_REASONS.get(self.status, 'Forbidden')}"

    def headers(self) -> list[tuple[str, str]]:
        """Response headers: JSON, never cached (a shared cache must not serve it to others)."""
        headers = [
            ("content-type", "application/json"),
            ("content-length", str(len(self.body))),
            ("cache-control", "no-store"),
        ]
        if self.retry_after is not None:
            headers.append(("retry-after", str(self.retry_after)))
        return headers
