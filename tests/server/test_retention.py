"""Retention as a collector task: expiry at startup and each round, started and stopped with it."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from apiwatch.server import ServerSettings, create_app
from apiwatch.server._retention import Retention
from apiwatch.store import open_store

from .conftest import served

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class _Expiring:
    """A store that records the cut-offs it is asked to expire before."""

    def __init__(self, fail: bool = False) -> None:
        self.cutoffs: list[datetime] = []
        self.fail = fail
        self.called = threading.Event()

    def expire(self, before: datetime) -> int:
        self.cutoffs.append(before)
        self.called.set()
        if self.fail:
            raise OSError("disk gone")
        return 0


def test_a_round_expires_what_is_older_than_the_retention_period() -> None:
    """One round asks the store to expire events older than ``days`` days before now."""
    store = _Expiring()
    Retention(store, 30, clock=lambda: NOW).expire_once()
    assert store.cutoffs == [NOW - timedelta(days=30)]


def test_a_failed_round_is_one_log_line_not_an_exception(caplog: pytest.LogCaptureFixture) -> None:
    """A store error in a round is logged as ``retention failed: ...``; the next round retries."""
    store = _Expiring(fail=True)
    with caplog.at_level(logging.ERROR, logger="apiwatch.server"):
        Retention(store, 1, clock=lambda: NOW).expire_once()
    assert "retention failed: disk gone" in caplog.text


def test_the_first_round_runs_at_start_and_stop_ends_the_rounds() -> None:
    """`start` expires at once on a thread of its own; after `stop` no further round starts."""
    store = _Expiring()
    retention = Retention(store, 7, every=0.01)
    retention.start()
    assert store.called.wait(5)
    retention.stop()
    rounds = len(store.cutoffs)
    threading.Event().wait(0.1)
    assert len(store.cutoffs) <= rounds + 1


def test_settings_refuse_a_retention_under_one_day() -> None:
    """``retention_days`` is None (keep for ever) or at least 1."""
    with pytest.raises(ValueError, match="retention_days: must be at least 1"):
        ServerSettings(retention_days=0)


def test_the_embedded_collector_expires_old_events_from_its_startup(tmp_path: Path) -> None:
    """With ``retention_days`` the app's lifespan runs retention over its store."""
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}", key_file=tmp_path / "keys",
                       signing_key_file=tmp_path / "signing")  # fmt: skip
    calls = threading.Event()
    expire = store.events.expire

    def counted(before: datetime) -> int:
        calls.set()
        return expire(before)

    store.events.expire = counted  # type: ignore[method-assign]
    try:
        app = create_app(store, ServerSettings(detect=False, retention_days=1))
        with served(app):
            assert calls.wait(5)
    finally:
        store.close()
