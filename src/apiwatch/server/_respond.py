"""Response in the collector: incidents -> decisions, notifications and exported ban lists.

The detection thread calls `ResponseService.on_incidents` with every incident it has just saved
(new or updated). For each one the `Responder` (the ``[respond]`` policies) decides, given how
many bans each value had before (repeat offenders get longer ones), the allowlist (the config's
entries and the store's, which no policy can override) and what was already decided for that
incident (an incident that grows only yields decisions for its new attackers). New decisions are
stored — which is what serves them to sensors and CrowdSec bouncers through
``/v1/decisions/stream`` — then the `Dispatcher` queues at most one message per incident and
notifier (and an update only on escalation), and the export files (nginx ``deny`` include,
nftables and ipset sets) are rewritten atomically when bans changed, and again as bans expire.

Before the detection thread saves incidents, it calls `recall` with them: the stored version of
an incident this process has not looked at yet (saved before a restart, and re-derived since —
a restarted detect role feeds the last ``detect_replay`` of the stream again) becomes the
dispatcher's baseline, as told to the notifiers its policies name. An unchanged re-derived
incident is then not notified again, and a grown one only as an update.

The export files are also refreshed every ``_EXPORT_EVERY`` seconds by a thread of their own
(`start`): nginx ``deny`` lines carry no expiry, and a ban that expires or that an admin deletes
(``DELETE /v1/decisions/{id}``) must leave the files even when no incident comes along.

Everything here is best effort and never stops detection: a failure is logged and counted, and
the next incident is handled. In dry-run mode decisions are stored as ``simulated``: they are
listed and notified ("would ban"), never served or exported.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from apiwatch.model import Decision, Incident
from apiwatch.model import printable_text as safe
from apiwatch.respond import (
    Dispatcher,
    Responder,
    ResponseConfig,
    build_notifiers,
)
from apiwatch.respond.exporters import write_ipset, write_nftables, write_nginx
from apiwatch.store import DecisionFilter, Store

__all__ = ["Exports", "ResponseService"]

logger = logging.getLogger("apiwatch.server.respond")

Clock = Callable[[], datetime]
_EXPORT_EVERY = 10.0  # seconds between export refreshes (bans expire without any new decision)
_MAX_LOOKED = 10_000  # incident ids remembered as looked up for `recall`


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Exports:
    """Where to write ban lists for other enforcement points (None: not written)."""

    nginx: Path | None = None
    nftables: Path | None = None
    ipset: Path | None = None

    def any(self) -> bool:
        return any((self.nginx, self.nftables, self.ipset))


class ResponseService:
    """Turns saved incidents into decisions, messages and export files (module docstring)."""

    def __init__(
        self,
        store: Store,
        config: ResponseConfig,
        *,
        exports: Exports | None = None,
        dispatcher: Dispatcher | None = None,
        clock: Clock = _now,
    ) -> None:
        self.store = store
        self.config = config
        self.exports = exports or Exports()
        self.dispatcher = dispatcher or Dispatcher.from_config(config, build_notifiers(config))
        self.clock = clock
        self.decided = 0
        self.failures = 0
        self._next_export = 0.0
        self._export_due = self.exports.any()
        self._export_lock = threading.Lock()  # the detection thread and the refresher
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None
        self._looked: OrderedDict[str, None] = OrderedDict()
        self._looked_lock = threading.Lock()  # the detection and population threads

    def start(self) -> None:
        """Refresh the export files periodically from a daemon thread (when there are any)."""
        if self.exports.any() and self._refresher is None:
            self._refresher = threading.Thread(
                target=self._refresh, name="apiwatch-export", daemon=True
            )
            self._refresher.start()

    def _refresh(self) -> None:
        while not self._stop.wait(_EXPORT_EVERY / 2):
            try:
                self.tick()
            except Exception:  # the refresher must outlive a bug
                logger.exception("refreshing the ban list exports failed")

    def on_incidents(self, incidents: Sequence[Incident]) -> list[Decision]:
        """Decide, store, notify and export for each incident; the decisions stored."""
        stored: list[Decision] = []
        for incident in incidents:
            try:
                stored.extend(self._handle(incident))
            except Exception:  # a bad incident or a store hiccup must not stop detection
                self.failures += 1
                logger.exception("responding to incident %s failed", incident.id)
        if stored:
            self._export_due = self.exports.any()
        self.tick()
        return stored

    def recall(self, incidents: Sequence[Incident]) -> None:
        """Before ``incidents`` are saved: hand the dispatcher the stored version of each one not
        looked at yet, as told to its policies' notifiers (see the module docstring)."""
        for incident in incidents:
            try:
                self._recall(incident.id)
            except Exception:  # best effort: at worst the incident is notified again
                self.failures += 1
                logger.exception("reading incident %s before its update failed", incident.id)

    def _recall(self, incident_id: str) -> None:
        with self._looked_lock:
            if incident_id in self._looked:
                return
            self._looked[incident_id] = None
            while len(self._looked) > _MAX_LOOKED:
                self._looked.popitem(last=False)
        stored = self.store.detections.incident(incident_id)
        if stored is None:
            return
        policies = Responder(self.config).matching(stored)
        told = [name for policy in policies for name in policy.notify]
        if told:
            self.dispatcher.recall(stored, told=told, decisions=self._decided(incident_id))

    def _decided(self, incident_id: str) -> list[Decision]:
        """Every decision ever taken about the incident (expired, deleted and simulated too)."""
        return self.store.decisions.every(
            DecisionFilter(
                incident=incident_id,
                include_expired=True,
                include_deleted=True,
                include_simulated=True,
            ),
        )

    def _handle(self, incident: Incident) -> list[Decision]:
        now = self.clock()
        store = self.store
        responder = Responder(self.config, allow=store.allowlist.entries())
        existing = {(d.scope, d.value) for d in self._decided(incident.id)}
        decided = responder.decide(
            incident, now=now, offences=store.decisions.offences, existing=existing
        )
        for value, reason in decided.skipped:
            # The value is whatever an event said (a malformed "address", an account name):
            # escaped, so that it cannot forge log lines.
            logger.info("incident %s: not acting against %s: %s", incident.id, safe(value),
                        safe(reason))  # fmt: skip
        stored = store.decisions.add(decided.decisions, by="respond") if decided.decisions else []
        self.decided += len(stored)
        for decision in stored:
            logger.warning(
                "%s decision %d: %s %s %s until %s (incident %s)",
                "dry-run" if decision.simulated else "new",
                decision.id,
                decision.type,
                decision.scope,
                # An account name is personal data, which the store never logs either.
                "(an account)" if decision.scope == "Username" else safe(decision.value),
                decision.until.isoformat(),
                incident.id,
            )
        if decided.notify or stored:
            self.dispatcher.submit(incident, decided)
        return stored

    def tick(self) -> None:
        """Rewrite the export files when bans changed or some may have expired."""
        if not self.exports.any():
            return
        with self._export_lock:
            due = time.monotonic() >= self._next_export
            if not (self._export_due or due):
                return
            self._next_export = time.monotonic() + _EXPORT_EVERY
            self._export_due = False
            try:
                self._export()
            except OSError:
                self.failures += 1
                logger.exception("writing the ban list exports failed (will retry)")
                self._export_due = True

    def _export(self) -> None:
        now = self.clock()
        criteria = DecisionFilter(at=now, scopes=("Ip", "Range"), type="ban")
        bans = self.store.decisions.every(criteria)
        exports = self.exports
        # The exporters leave out internal bans again (defence in depth) unless told not to.
        protected = self.config.protected
        if exports.nginx is not None:
            write_nginx(exports.nginx, bans, now=now, protected=protected)
        if exports.nftables is not None:
            write_nftables(exports.nftables, bans, now=now, protected=protected)
        if exports.ipset is not None:
            write_ipset(exports.ipset, bans, now=now, protected=protected)

    def close(self) -> None:
        """Stop the export refresher; deliver what is queued (bounded wait), then stop the
        notifier threads."""
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join(10)
        self.dispatcher.close(timeout=10)
