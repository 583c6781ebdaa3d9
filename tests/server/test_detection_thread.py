"""The detection thread on its own: never blocks ingest, keeps what it could not save, flushes
at shutdown; and the rules the collector loads."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from apiwatch.detect import Engine, builtin_dir, load_rules
from apiwatch.model import ConfigError, Event, decode_event
from apiwatch.model.alert import Alert, Incident
from apiwatch.server import ServerSettings, create_app, load_ruleset
from apiwatch.server._detection import Detector, Throttled
from apiwatch.server.metrics import Metrics
from apiwatch.store import AppendResult, StoreUnavailableError
from tests.server.helpers import T0, event, ndjson

ATTACKER = "203.0.113.66"
VICTIM = "victim-07"
RULESET = load_rules([builtin_dir()])

BROKEN_RULE = """\
title: Broken rule
id: 11111111-1111-4111-8111-111111111111
name: broken
logsource: {category: webserver}
detection:
  selection:
    url.path: /x
  condition: selection and nothing
level: high
"""
UNSUPPORTED_RULE = """\
title: Cookie rule
id: 22222222-2222-4222-8222-222222222222
name: cookie-rule
logsource: {category: webserver}
detection:
  selection:
    cs-cookie|contains: evil
  condition: selection
level: high
"""


def stuffing() -> list[Event]:
    docs = [
        event("authn_login_fail", ip=ATTACKER, user=f"victim-{n:02}", path="/login", status=401,
              outcome="failure", at=T0 + timedelta(seconds=n))
        for n in range(20)
    ]  # fmt: skip
    docs.append(event("authn_login_success", ip=ATTACKER, user=VICTIM, path="/login",
                      at=T0 + timedelta(seconds=21)))  # fmt: skip
    return [decode_event(line) for line in ndjson(docs).splitlines()]


class Saved:
    """A `DetectionStore.save` stand-in that records what it was given."""

    def __init__(self) -> None:
        self.alerts: dict[str, Alert] = {}
        self.incidents: dict[str, Incident] = {}
        self.calls = 0

    def __call__(self, alerts: Sequence[Alert], incidents: Sequence[Incident]) -> None:
        self.calls += 1
        self.alerts.update((a.id, a) for a in alerts)
        self.incidents.update((i.id, i) for i in incidents)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def detector(save: Saved, metrics: Metrics, *, at: datetime) -> Detector:
    return Detector(Engine(RULESET), save, metrics, clock=lambda: at)


def test_offer_never_blocks_while_detection_is_stuck() -> None:
    """While the detection thread hangs in a save, offers return at once and what does not fit
    the queue is skipped and counted."""
    release = threading.Event()
    saved = Saved()

    def stuck_save(alerts: Sequence[Alert], incidents: Sequence[Incident]) -> None:
        release.wait(10)
        saved(alerts, incidents)

    metrics = Metrics()
    running = Detector(Engine(RULESET), stuck_save, metrics, capacity=30, save_interval=0,
                       clock=lambda: T0 + timedelta(minutes=5))  # fmt: skip
    running.start()
    try:
        running.offer([AppendResult(21, 0, events=stuffing())])
        time.sleep(0.3)  # the thread takes the events and hangs saving what they raised
        started = time.perf_counter()
        running.offer([AppendResult(21, 0, events=stuffing())])  # fits: queued
        running.offer([AppendResult(21, 0, events=stuffing())])  # does not fit: skipped
        assert time.perf_counter() - started < 0.5
        assert sample(metrics, "apiwatch_detect_skipped_events_total") == 21
        assert sample(metrics, "apiwatch_detect_queue_events") == 21
    finally:
        release.set()
        running.stop()
    assert any(i.accounts_compromised == [VICTIM] for i in saved.incidents.values())


def test_results_without_stored_events_feed_nothing() -> None:
    """Duplicates and replays (results without events) are not fed to the engine."""
    metrics, saved = Metrics(), Saved()
    running = detector(saved, metrics, at=T0 + timedelta(minutes=5))
    running.start()
    running.offer([AppendResult(0, 21, replayed=True), AppendResult(0, 3)])
    running.stop()
    assert running.engine.stats.events == 0
    assert saved.calls == 0


def test_a_failed_save_is_kept_and_retried() -> None:
    """When the store refuses a save, the records are kept and saved on a later try."""
    metrics, saved = Metrics(), Saved()
    failures = [StoreUnavailableError("down")]

    def flaky(alerts: Sequence[Alert], incidents: Sequence[Incident]) -> None:
        if failures:
            raise failures.pop()
        saved(alerts, incidents)

    running = Detector(Engine(RULESET), flaky, metrics, save_interval=0, tick=0.05,
                       clock=lambda: T0 + timedelta(minutes=5))  # fmt: skip
    running.start()
    running.offer([AppendResult(21, 0, events=stuffing())])
    deadline = time.monotonic() + 5
    while not saved.incidents and time.monotonic() < deadline:
        time.sleep(0.02)
    running.stop()
    assert sample(metrics, "apiwatch_detect_errors_total", stage="save") == 1
    assert any(i.accounts_compromised == [VICTIM] for i in saved.incidents.values())


def test_stop_flushes_the_reorder_buffer_and_saves() -> None:
    """Events still held for reordering are processed and their findings saved at shutdown."""
    metrics, saved = Metrics(), Saved()
    running = detector(saved, metrics, at=T0 - timedelta(hours=1))  # a clock behind the events
    running.start()
    running.offer([AppendResult(21, 0, events=stuffing())])
    running.stop()
    assert running.engine.stats.events == 21
    assert any(i.accounts_compromised == [VICTIM] for i in saved.incidents.values())
    assert sample(metrics, "apiwatch_detect_events_total") == 21


def test_throttled_warnings_say_how_many_were_held_back(caplog: pytest.LogCaptureFixture) -> None:
    """Within one period only the first warning is logged; the next one counts the rest."""
    now = [0.0]
    throttled = Throttled(every=60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="apiwatch.server.detect"):
        for _ in range(4):
            throttled.warning("queue full")
        now[0] = 61
        throttled.warning("queue full")
    assert [r.getMessage() for r in caplog.records] == [
        "queue full",
        "queue full (3 similar warnings held back)",
    ]


def test_rule_errors_are_a_config_error_naming_the_file(tmp_path: Path) -> None:
    """A broken rule file stops the collector from being made, the message naming file and
    line; a rules path that does not exist is named too."""
    (tmp_path / "broken.yml").write_text(BROKEN_RULE)
    with pytest.raises(ConfigError, match=r"broken\.yml:8 .*nothing"):
        load_ruleset(ServerSettings(rules=(str(tmp_path),)))
    with pytest.raises(ConfigError, match="rules: /nonexistent/rules does not exist"):
        create_app(None, ServerSettings(rules=("/nonexistent/rules",)))  # type: ignore[arg-type]


def test_unsupported_rules_are_logged_with_their_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A rule the engine cannot evaluate is left out with a warning that says why."""
    (tmp_path / "cookie.yml").write_text(UNSUPPORTED_RULE)
    with caplog.at_level(logging.WARNING, logger="apiwatch.server.detect"):
        ruleset = load_ruleset(ServerSettings(rules=(str(tmp_path),)))
    assert "cookie-rule" not in ruleset.rules
    assert "brute-force-account" in ruleset.rules
    assert any("cs-cookie" in r.getMessage() for r in caplog.records)


def test_the_sigmahq_pack_is_loaded_only_when_asked() -> None:
    """``sigmahq`` adds the SigmaHQ web rules to the built-in pack."""
    builtin = load_ruleset(ServerSettings())
    both = load_ruleset(ServerSettings(sigmahq=True))
    assert set(builtin.rules) < set(both.rules)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lateness": -1.0}, "lateness"),
        ({"lateness": float("nan")}, "lateness"),
        ({"detect_queue_events": 0}, "detect_queue_events"),
        ({"rules": "/one/dir"}, "rules"),
    ],
)
def test_detection_settings_are_checked(options: dict[str, object], message: str) -> None:
    """A negative lateness, an empty queue or a rules text instead of a list is refused."""
    with pytest.raises(ConfigError, match=message):
        ServerSettings(**options)  # type: ignore[arg-type]
