"""The collector's own log says what detection found: one WARNING line per incident opened or
escalated, nothing for an update that does not raise its severity, event text escaped."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from apiwatch.detect import Engine, builtin_dir, load_rules
from apiwatch.model.alert import Alert, Incident
from apiwatch.server._detection import Detector
from apiwatch.server.metrics import Metrics
from tests.server.helpers import T0


def _incident(severity: str, title: str = "Credential stuffing from 203.0.113.66") -> Incident:
    return Incident(id="inc-1", title=title, severity=severity, first_seen=T0, last_seen=T0,
                    rules=["credential-stuffing-source"], attackers=["203.0.113.66"],
                    accounts_compromised=["victim-07"])  # fmt: skip


def _saved(detector: Detector, incidents: Sequence[Incident]) -> None:
    """What the detection thread does after the engine hands it incidents: save them."""
    for incident in incidents:
        detector._unsaved_incidents[incident.id] = incident
    detector._flush_saves()


def _ignore(alerts: Sequence[Alert], incidents: Sequence[Incident]) -> None:
    del alerts, incidents


def test_new_and_escalated_incidents_are_logged_once_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Opened: one line; the same severity again: none; a higher one: one "escalated" line;
    a title with a line break stays on one line."""
    detector = Detector(Engine(load_rules([builtin_dir()])), _ignore, Metrics())
    with caplog.at_level(logging.WARNING, logger="apiwatch.server.detect"):
        _saved(detector, [_incident("high", "stuffing\nFAKE line")])
        _saved(detector, [_incident("high")])
        _saved(detector, [_incident("critical")])
    lines = [r.getMessage() for r in caplog.records if r.name == "apiwatch.server.detect"]
    assert len(lines) == 2
    assert lines[0].startswith("new incident inc-1: high: stuffing\\nFAKE line")
    assert "1 attackers" in lines[0]
    assert "1 compromised" in lines[0]
    assert lines[1].startswith("escalated incident inc-1: critical")
    assert all("\n" not in line for line in lines)
