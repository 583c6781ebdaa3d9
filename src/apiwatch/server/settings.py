"""`ServerSettings`: the collector's limits, all with safe defaults."""

from __future__ import annotations

from dataclasses import dataclass

from apiwatch.model import ConfigError

__all__ = ["ServerSettings"]

_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Limits the collector enforces on what senders and readers may ask of it.

    ``max_body_bytes`` bounds a request body as sent (compressed or not), and
    ``max_decompressed_bytes`` what a gzip body may inflate to (a gzip bomb is refused with 413
    before it is inflated in full). ``commit_max_events`` and ``commit_max_wait_ms`` shape group
    commit: concurrent ingest requests are committed together, up to that many events, waiting at
    most that long for company. ``auth_cache_seconds`` is how long a verified key is trusted
    without asking the store again (so a revocation takes at most that long to bite).
    ``max_concurrent_ingest`` bounds the ingest requests reading and holding a body at once; more
    wait for a slot (their bodies unread) up to ``ingest_wait_seconds``, then get 503 with
    Retry-After, which senders retry.
    """

    max_body_bytes: int = 10 * _MIB
    max_decompressed_bytes: int = 10 * _MIB
    max_line_bytes: int = _MIB
    max_batch_lines: int = 10_000
    commit_max_events: int = 20_000
    commit_max_wait_ms: float = 2.0
    query_max_limit: int = 1000
    auth_cache_seconds: float = 5.0
    retry_after_seconds: int = 30
    max_concurrent_ingest: int = 8
    ingest_wait_seconds: float = 5.0

    def __post_init__(self) -> None:
        for name in (
            "max_body_bytes",
            "max_decompressed_bytes",
            "max_line_bytes",
            "max_batch_lines",
            "commit_max_events",
            "query_max_limit",
            "max_concurrent_ingest",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1")
