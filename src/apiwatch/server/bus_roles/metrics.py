"""`RoleMetrics`: the collector's `Metrics` plus what the writer and detect roles do with the bus.

The writer counts what it stores as the embedded committer does (``apiwatch_events_accepted``,
``apiwatch_events_duplicate``, ``apiwatch_commit_seconds``, ``apiwatch_commit_events``,
``apiwatch_commit_group_size`` in bus messages); detect fills the ``apiwatch_detect_*`` family.
Both add ``apiwatch_bus_*``: messages taken and acknowledged, messages and rows refused, events
fed to detection and skipped as already fed, messages read again in stream order and delivered
again after being fed, the consumer's pending messages, and whether the bus is connected. Served
as the same Prometheus text (`Metrics.render`).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from apiwatch.server.metrics import Metrics

__all__ = ["RoleMetrics"]


class RoleMetrics(Metrics):
    """`Metrics` with the ``apiwatch_bus_*`` family of one scale-out role (``role``)."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role
        r = self.registry
        self.bus_messages = Counter(
            "apiwatch_bus_messages", "Bus messages taken and acknowledged.", registry=r
        )
        self.bus_messages_refused = Counter(
            "apiwatch_bus_messages_refused", "Bus messages that are not sealed rows of this "
            "format (acknowledged, not used).", registry=r,
        )  # fmt: skip
        self.bus_rows_refused = Counter(
            "apiwatch_bus_rows_refused", "Rows refused: the writer's that do not authenticate "
            "under the store's keys, detect's that do not decrypt or decode.", registry=r,
        )  # fmt: skip
        self.bus_events_fed = Counter(
            "apiwatch_bus_events_fed", "Events the detect role handed to detection.", registry=r
        )
        self.bus_events_duplicate = Counter(
            "apiwatch_bus_events_duplicate",
            "Events the detect role skipped: delivered again after being fed.", registry=r,
        )  # fmt: skip
        self.bus_messages_read_again = Counter(
            "apiwatch_bus_messages_read_again", "Messages the detect role read from the stream "
            "in place of ones its consumer delivered elsewhere (a process that died holding "
            "them, a fetch lost with the NATS server), fed in stream order.", registry=r,
        )  # fmt: skip
        self.bus_messages_redelivered = Counter(
            "apiwatch_bus_messages_redelivered", "Messages the detect role's consumer delivered "
            "again after they were fed (a lost acknowledgement, or read again in their place): "
            "acknowledged, not fed again.", registry=r,
        )  # fmt: skip
        self.bus_pending = Gauge(
            "apiwatch_bus_pending", "Messages of the stream not yet delivered to this role's "
            "consumer, as of its last fetch (its lag).", registry=r,
        )  # fmt: skip
        self.bus_connected = Gauge(
            "apiwatch_bus_connected", "1 while this role is connected to the bus.", registry=r
        )
