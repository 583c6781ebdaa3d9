"""`DecisionSync`: keeps a `DecisionCache` in step with the collector, from a daemon thread.

Protocol (CrowdSec's LAPI bouncer stream, which the collector serves)
    ``GET {url}/v1/decisions/stream?startup=true`` with ``X-Api-Key: <key of scope bouncer>``
    answers every active decision; ``startup=false`` then answers what changed since this key's
    last pull. Both send ``{"new": [decision...] | null, "deleted": [decision...] | null}``, a
    decision being ``{"id", "origin", "type", "scope", "value", "duration", "scenario"}`` with
    ``duration`` the Go duration left (`apiwatch.model.duration.parse_go_duration`).
    ``deleted`` is applied by id.

Schedule and failures
    The first pull is a startup pull, then a delta every ``interval`` seconds. Any failure
    (connection, TLS, timeout, non-200 status, undecodable answer) is counted in
    ``stats.decision_sync_failures``, keeps the last known decisions, and is retried after an
    exponential backoff with jitter (``interval`` up to ``backoff_cap``, Retry-After honoured);
    the next successful pull is a startup pull again, since a delta may have been lost with the
    failed answer. A startup pull is also made every ``resync_interval`` seconds, which bounds
    how long a lost delta can go unnoticed. Successful pulls are counted in
    ``stats.decision_syncs`` and stamp `last_success`.

Threads and processes
    The thread is a daemon and never raises. In a child forked after the sync was made (gunicorn
    ``--preload``), the child keeps the decisions it inherited and `ensure_running` (called on
    every request) starts the child's own thread on its first request.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol

import httpx
import msgspec

from apiwatch.model.throttle import Throttle
from apiwatch.sensor._collector import check_key, endpoint, ssl_context
from apiwatch.sensor._decisions import DecisionCache, WireDecision, steady_time

__all__ = ["DecisionSync", "SyncStats", "stream_url"]

_log = logging.getLogger("apiwatch.sensor")
_PRUNE_EVERY = 60.0


class SyncStats(Protocol):
    """Where the counters go (`SensorStats`)."""

    decision_syncs: int
    decision_sync_failures: int


class _Stream(msgspec.Struct):
    new: list[WireDecision] | None = None
    deleted: list[WireDecision] | None = None


_decode_stream = msgspec.json.Decoder(_Stream).decode


def stream_url(url: str) -> httpx.URL:
    """``{url}/v1/decisions/stream``; ConfigError for anything but an http(s) URL."""
    return endpoint(url, "decisions_url", "/v1/decisions/stream")


class DecisionSync:
    """Pulls decisions into ``cache`` in the background; see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str,
        cache: DecisionCache,
        stats: SyncStats,
        interval: float = 2.0,
        ca_file: str | os.PathLike[str] | None = None,
        timeout: float = 10.0,
        backoff_cap: float | None = None,
        resync_interval: float = 300.0,
        log_interval: float = 60.0,
        clock: Callable[[], float] = steady_time,
        transport: httpx.BaseTransport | None = None,
        start: bool = True,
    ) -> None:
        check_key(api_key, "decisions_key: give a key of scope bouncer (visible ASCII)")
        self._url = stream_url(url)
        self.where = f"{self._url.host}:{self._url.port}" if self._url.port else self._url.host
        self._headers = {"X-Api-Key": api_key, "User-Agent": "apiwatch-sensor"}
        self._instance()
        self._verify = ssl_context(ca_file)
        self.cache = cache
        self.stats = stats
        self.interval = interval
        self._timeout = timeout
        self._backoff_cap = max(backoff_cap or 15 * interval, interval)
        self._resync_interval = resync_interval
        self._log_interval = log_interval
        self._clock = clock
        self._transport = transport
        #: `steady_time` of the last successful pull; creation time until there is one, so a
        #: fail-closed sensor gets ``decisions_max_stale`` seconds to make its first pull.
        self.last_success = clock()
        self._reset_runtime()
        _open_syncs.add(self)
        if start:
            self._start()

    def _instance(self) -> None:
        """A per-process id the collector keys this puller's stream position by: workers that
        share one bouncer key must not take each other's changes (made anew after a fork)."""
        self._headers["X-Apiwatch-Instance"] = f"{os.getpid()}-{secrets.token_hex(6)}"

    def _reset_runtime(self) -> None:
        """Thread state; made anew in a forked child."""
        self._start_lock = threading.Lock()
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None
        self._failures = 0
        self._startup_due = True
        self._last_startup = self._last_prune = float("-inf")
        self._warnings = Throttle(self._log_interval, self._clock)
        self._closed = False

    def _start(self) -> None:
        thread = threading.Thread(
            target=self._run, name=f"apiwatch-decisions-{self.where}", daemon=True
        )
        thread.start()
        self.thread = thread

    def ensure_running(self) -> None:
        """Start the thread if it is not running (a forked child, ``start=False``); never raises.

        A no-op (one attribute read) once it runs.
        """
        if self.thread is not None:
            return
        with self._start_lock:
            if self.thread is not None or self._closed:
                return
            try:
                self._start()
            except RuntimeError as exc:  # "can't start new thread": keep the last decisions
                self._warn("cannot start the decision sync thread (%s)", exc)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread; idempotent. The cache keeps its decisions."""
        self._closed = True
        _open_syncs.discard(self)
        self._stop.set()
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def stale_for(self, now: float) -> float:
        """Seconds since the last successful pull (or since creation, before the first)."""
        return now - self.last_success

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        client = httpx.Client(verify=self._verify, timeout=self._timeout, transport=self._transport)
        try:
            while not self._stop.is_set():
                try:
                    delay = self.pull(client)
                except Exception as exc:  # noqa: BLE001 - the thread must outlive a bug
                    self._warn("internal error in the decision sync (%r)", exc)
                    delay = self._backoff(0.0)
                self._stop.wait(delay)
        finally:
            client.close()

    def pull(self, client: httpx.Client) -> float:
        """One pull; the seconds to wait before the next."""
        now = self._clock()
        startup = self._startup_due or now - self._last_startup >= self._resync_interval
        try:
            response = client.get(
                self._url,
                params={"startup": "true" if startup else "false", "scopes": _SCOPES},
                headers=self._headers,
            )
        except Exception as exc:  # noqa: BLE001 - any failure keeps the last decisions
            return self._failed(type(exc).__name__)
        if response.status_code != 200:
            return self._failed(f"HTTP {response.status_code}", _retry_after(response))
        try:
            stream = _decode_stream(response.content)
        except msgspec.DecodeError:
            return self._failed("an answer that is not the decision stream")
        now = self._clock()
        if startup:
            invalid = self.cache.replace(stream.new or (), now)
            self._last_startup = now
        else:
            invalid = self.cache.apply(stream.new or (), stream.deleted or (), now)
        if now - self._last_prune >= _PRUNE_EVERY:
            self.cache.prune(now)
            self._last_prune = now
        self._succeeded(now, invalid)
        return self.interval

    def _succeeded(self, now: float, invalid: int) -> None:
        if self._failures:
            _log.info("apiwatch sensor: decisions from %s again", self.where)
        self._failures = 0
        self._startup_due = False
        self.last_success = now
        self.stats.decision_syncs += 1
        if invalid:
            self._warn("%d malformed decisions from %s ignored", invalid, self.where)

    def _failed(self, problem: str, retry_after: float = 0.0) -> float:
        self.stats.decision_sync_failures += 1
        self._startup_due = True  # a delta may have been lost with this answer
        self._warn(
            "cannot pull decisions from %s (%s); the last known decisions stay in force",
            self.where,
            problem,
        )
        delay = self._backoff(retry_after)
        self._failures += 1
        return delay

    def _backoff(self, retry_after: float) -> float:
        """Full jitter between ``interval`` and ``interval * 2**failures`` (capped)."""
        ceiling = min(self._backoff_cap, self.interval * 2 ** min(self._failures, 32))
        delay = random.uniform(self.interval, max(ceiling, self.interval))  # noqa: S311
        return max(delay, min(retry_after, self._backoff_cap))

    def _warn(self, message: str, *args: Any) -> None:
        if self._warnings() is not None:
            _log.warning("apiwatch sensor: " + message, *args)

    def _after_fork_in_child(self) -> None:
        self._reset_runtime()
        self._instance()


_SCOPES = "ip,range,username"
"""What a sensor enforces: banned addresses and networks, and flagged accounts."""


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "0")))
    except ValueError:
        return 0.0


_open_syncs: weakref.WeakSet[DecisionSync] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for sync in list(_open_syncs):
        sync._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
