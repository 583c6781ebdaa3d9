"""`ServerSettings`: the collector's limits, all with safe defaults, and how they come from the
options ``apiwatch.toml``, ``APIWATCH_*`` and flags give (`ServerSettings.from_options`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from apiwatch.detect import placeholder_values
from apiwatch.detect.synthetic import SyntheticTraffic
from apiwatch.forward import ForwardTarget, parse_forward
from apiwatch.model import ConfigError
from apiwatch.respond import ResponseConfig, parse_config
from apiwatch.sources.config import SourceConfig
from apiwatch.store import DEFAULT_DB, default_key_file

__all__ = ["ServerSettings"]

_MIB = 1024 * 1024
_DAY = 86400.0


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
    Retry-After, which senders retry. One API key holds at most ``max_ingest_per_key`` of those
    slots (None: half of them, at least one; see `ingest_share`), so senders with one key cannot
    starve the others. A body that stops arriving for ``body_read_timeout`` seconds, or is not
    all there ``body_total_timeout`` seconds after its slot was taken, is answered 408 and its
    slot freed: a stalled sender holds a slot for seconds, not for as long as it likes.

    Event time: a line dated more than ``future_skew`` seconds ahead of the collector's clock,
    or more than ``max_event_age`` seconds behind it, is rejected (with the reason, counted in
    ``apiwatch_events_rejected_by_reason_total``): one event dated in year 9999 must not move
    event time, for detection and retention alike, to the end of time. Older events within
    ``max_event_age`` are stored (a backfill), but live detection skips those more than
    ``detect_max_lag`` seconds behind the newest event it has processed (counted in
    ``apiwatch_detect_too_old_events_total``): their windows are long closed.

    Live detection (``detect``, on by default) runs the built-in rule pack, plus the rule files
    under each of ``rules`` (directories or files) and, with ``sigmahq``, the SigmaHQ web pack;
    ``lateness`` is how many seconds of event time events may arrive out of order.
    ``geoip`` names MaxMind-format databases (country/city and ASN) that detection looks the
    addresses of successful logins up in; ``synthetic`` is the traffic declared synthetic
    (uptime monitors, test accounts, load tests), which no rule counts.
    ``detect_queue_events`` bounds the committed events waiting for the detection thread: when
    detection falls that far behind, further events are not fed to it (they are stored all the
    same, and counted in ``apiwatch_detect_skipped_events``).

    Response (``respond``, the parsed ``[respond]`` table: policies, allowlist, notifiers; None:
    no automatic response) runs on every incident detection saves. Notifier secrets are read
    from ``respond_environ`` (the process environment when None). ``export_nginx``,
    ``export_nftables`` and ``export_ipset`` are files the active bans are written to for other
    enforcement points (rewritten atomically when bans change and as they expire).

    Forwarding (``forward``, the parsed ``[[forward]]`` tables) delivers stored events, alerts
    and incidents to other systems, each forwarder from a durable cursor of its own (see
    `apiwatch.server._forwarding`).
    Live sources (``sources``, the parsed ``[[sources]]`` tables: tailed files, journald,
    syslog receivers) run from startup to shutdown; ``sources_state_dir`` is where each keeps
    its position (file offsets, journal cursor) across restarts.

    Retention (``retention_days``; None: events are kept for ever) expires older events at
    startup and every hour after (`apiwatch.server._retention`).
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
    max_ingest_per_key: int | None = None
    body_read_timeout: float = 10.0
    body_total_timeout: float = 120.0
    detect: bool = True
    rules: tuple[str, ...] = ()
    sigmahq: bool = False
    placeholders: Mapping[str, Sequence[str]] | None = None
    lateness: float = 2.0
    geoip: tuple[str, ...] = ()
    synthetic: SyntheticTraffic | None = None
    detect_queue_events: int = 100_000
    future_skew: float = 300.0
    max_event_age: float = 10 * 365 * _DAY
    detect_max_lag: float = 3600.0
    respond: ResponseConfig | None = None
    respond_environ: Mapping[str, str] | None = None
    export_nginx: str | None = None
    export_nftables: str | None = None
    export_ipset: str | None = None
    forward: tuple[ForwardTarget, ...] = ()
    sources: tuple[SourceConfig, ...] = ()
    sources_state_dir: str | None = None
    retention_days: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.rules, str | bytes) or not all(isinstance(r, str) for r in self.rules):
            raise ConfigError("rules: give a list of rule directories or files")
        object.__setattr__(self, "rules", tuple(self.rules))  # a list given is kept as a tuple
        if not (math.isfinite(self.lateness) and self.lateness >= 0):
            raise ConfigError(f"lateness: must be 0 or more seconds, not {self.lateness!r}")
        if not (math.isfinite(self.future_skew) and self.future_skew >= 0):
            raise ConfigError(f"future_skew: must be 0 or more seconds, not {self.future_skew!r}")
        for name in ("max_event_age", "detect_max_lag"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name}: must be more than 0 seconds, not {value!r}")
        for name in (
            "max_body_bytes",
            "max_decompressed_bytes",
            "max_line_bytes",
            "max_batch_lines",
            "commit_max_events",
            "query_max_limit",
            "max_concurrent_ingest",
            "detect_queue_events",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1")
        for name in ("max_ingest_per_key", "retention_days"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1")
        for name in ("body_read_timeout", "body_total_timeout"):
            seconds = getattr(self, name)
            if not (math.isfinite(seconds) and seconds > 0):
                raise ConfigError(f"{name}: must be more than 0 seconds, not {seconds!r}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ServerSettings:
        """The collector's settings from the options as loaded (file, environment, flags: see
        `apiwatch.cli._config`): a value named as a setting is taken as it is; the tables as
        written (``[placeholders]``, ``[respond]`` with ``dry_run``, ``[[forward]]``) and the
        synthetic traffic are parsed; a mistake stops the start, naming the key."""
        taken = {f.name: options[f.name] for f in fields(cls) if f.name in options}
        key_file, db = options.get("key_file"), str(options.get("db") or DEFAULT_DB)
        state_dir = options.get("sources_state_dir") or str(_beside_keys(key_file, db))
        return cls(**taken | {
            "placeholders": placeholder_values(options.get("placeholders") or {}, "[placeholders]"),
            "synthetic": SyntheticTraffic.from_options(options),
            "respond": _response_config(options.get("respond"), options.get("dry_run")),
            "forward": parse_forward(options.get("forward") or []),
            "sources_state_dir": state_dir,
        })  # fmt: skip

    @property
    def ingest_share(self) -> int:
        """How many ingest slots one API key may hold at once: ``max_ingest_per_key`` (never
        more than ``max_concurrent_ingest``), by default half the slots and at least one."""
        if self.max_ingest_per_key is None:
            return max(1, self.max_concurrent_ingest // 2)
        return min(self.max_ingest_per_key, self.max_concurrent_ingest)


def _beside_keys(key_file: str | None, db: str) -> Path:
    """Beside the store's key file: ``apiwatch.db.sources`` for ``apiwatch.db``."""
    keys = Path(key_file) if key_file else default_key_file(db)
    return keys.with_name(keys.name.removesuffix(".keys") + ".sources")


def _response_config(table: dict[str, Any] | None, dry_run: bool | None) -> ResponseConfig | None:
    """The parsed ``[respond]`` table (None when there is none), with ``dry_run`` (--dry-run)
    applied over the table's own."""
    if table is None and dry_run is None:
        return None
    table = dict(table or {})
    if dry_run is not None:
        table["dry_run"] = dry_run
    return parse_config(table)
