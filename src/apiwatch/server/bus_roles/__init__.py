"""The collector's scale-out roles over a NATS JetStream bus (`apiwatch.bus`), each its own
process (``apiwatch serve --role ...``), on one machine or many, sharing one PostgreSQL store:

* **ingest** (`BusPublisher`, in place of the group committer of `apiwatch.server.create_app`):
  authenticates, decodes, validates and seals each request as the embedded collector does, then
  publishes the sealed rows (`apiwatch.server.bus_roles.wire`) and answers 202 only once
  JetStream has acknowledged every message of the request (stored on disk, replicated when the
  stream is). Any number of them; they agree through JetStream key-value claims on which
  body an ``Idempotency-Key`` belongs to (another body under it is answered as a replay).
* **writer** (`Writer`): one per store, the single sequencer: a durable pull consumer taking
  many requests at a time, checking each row (its payload authenticates under a data key, its
  digest matches), then numbering, chaining and writing them in one transaction
  (`apiwatch.store._events.SqlEventStore.append_sealed`) and acknowledging after the commit. A
  delivery repeated after a crash stores nothing twice (ids already stored are skipped).
* **detect** (`DetectRole`): a durable consumer of its own that decrypts the rows and feeds live
  detection (`apiwatch.server._detection.Detector`); incidents and decisions go to the store, and
  the ingest processes serve them from there.
"""

from apiwatch.server.bus_roles.detect import DetectRole
from apiwatch.server.bus_roles.ingest import BusPublisher
from apiwatch.server.bus_roles.writer import Writer

__all__ = ["BusPublisher", "DetectRole", "Writer"]
