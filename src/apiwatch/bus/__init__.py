"""NATS JetStream transport for the scale-out collector: one stream of opaque messages, published
with de-duplication ids and read by durable pull consumers.

The collector's roles (`apiwatch.server.bus_roles`) put sealed event rows on it; this package
knows nothing of their format. `Claims` (a key-value bucket) lets processes agree on who
was first to use a name. Stay within NATS 2.9 (Debian's): one filter subject per consumer.

Exceptions: `BusError` (the bus cannot be reached or refused an operation) derives from
`apiwatch.model.ApiwatchError`; a bad URL or stream name is a `apiwatch.model.ConfigError`.
"""

from apiwatch.bus._claims import Claim, Claims
from apiwatch.bus._jetstream import (
    DUPLICATE_WINDOW_SECONDS,
    MAX_AGE_SECONDS,
    Bus,
    BusError,
    Consumer,
    Delivery,
    bus_label,
    check_bus_url,
    check_stream_name,
)

__all__ = [
    "DUPLICATE_WINDOW_SECONDS",
    "MAX_AGE_SECONDS",
    "Bus",
    "BusError",
    "Claim",
    "Claims",
    "Consumer",
    "Delivery",
    "bus_label",
    "check_bus_url",
    "check_stream_name",
]
