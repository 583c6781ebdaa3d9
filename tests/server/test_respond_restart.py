"""Notifications across a restart: an incident re-derived by a fresh detection thread (a
restarted detect role feeds its last hours again) is notified only if it grew."""

from __future__ import annotations

import json
from collections.abc import Sequence

from apiwatch.detect import Engine
from apiwatch.model import Event
from apiwatch.respond import parse_config
from apiwatch.server._detection import Detector
from apiwatch.server.app import _responder
from apiwatch.server.metrics import Metrics
from apiwatch.server.settings import ServerSettings
from apiwatch.store import AppendResult
from tests.respond.receivers import HttpReceiver, http_receiver
from tests.server.conftest import StoreFactory
from tests.server.test_detection_thread import RULESET, VICTIM, stuffing

POLICY = {"name": "tell ops", "min_severity": "low", "action": "notify", "notify": ["ops"]}


def detect_once(make_store: StoreFactory, receiver: HttpReceiver, events: Sequence[Event]) -> None:
    """One collector life: a fresh engine, responder and dispatcher over the same store, fed
    ``events``; stopped once all is saved and every message sent."""
    respond = parse_config(
        {"notifiers": {"ops": {"type": "webhook", "url": receiver.url}}, "policy": [POLICY]}
    )
    store = make_store()
    responder = _responder(store, ServerSettings(respond=respond))
    assert responder is not None
    engine = Engine(RULESET, keep_closed_incidents=False)
    detector = Detector(engine, store.detections.save, Metrics(), respond=responder.on_incidents,
                        recall=responder.recall)  # fmt: skip
    detector.start()
    detector.offer([AppendResult(len(events), 0, events=list(events))])
    detector.stop()
    responder.close()


def test_a_restart_notifies_an_incident_again_only_when_it_grew(
    make_store: StoreFactory,
) -> None:
    """Stored and told once, the same incident re-derived after a restart sends nothing; grown
    by its first compromised account, it sends one update saying so."""
    events = stuffing()
    failures = [e for e in events if e.event.action != "authn_login_success"]
    with http_receiver() as receiver:
        detect_once(make_store, receiver, failures)
        receiver.wait_for(1)
        detect_once(make_store, receiver, failures)
        assert len(receiver.requests) == 1
        detect_once(make_store, receiver, events)
        first, update = receiver.wait_for(2)
        assert len(receiver.requests) == 2
    before, after = json.loads(first.body), json.loads(update.body)
    assert before["event"] == "incident.opened"
    assert after["event"] == "incident.updated"
    assert "first compromised account" in after["changes"]
    assert VICTIM in after["incident"]["accounts_compromised"]
