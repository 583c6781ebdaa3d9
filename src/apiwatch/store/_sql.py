"""`SqlStore`: the role stores composed over one `Database`.

Each role store is small enough to read whole and is what a caller takes when it needs only that
part: ``store.events`` (`SqlEventStore`), ``store.keys``, ``store.audit``, ``store.detections``,
``store.decisions``, ``store.allowlist`` and ``store.console``. What concerns the store as a
whole — verify, rotating the data key, the space probe, anchors, forwarders' cursors, closing —
stays here.
"""

from __future__ import annotations

from collections.abc import Sequence

from apiwatch.model import ConfigError
from apiwatch.store._allowlist import SqlAllowlist
from apiwatch.store._anchor import Anchor, AnchorWriter
from apiwatch.store._audit import SqlReadAudit
from apiwatch.store._console import SqlConsoleStore
from apiwatch.store._database import Database, StoreFullError, StoreUnavailableError
from apiwatch.store._decisions import SqlDecisionStore
from apiwatch.store._detections import SqlDetectionStore
from apiwatch.store._events import SqlEventStore
from apiwatch.store._keys import SqlKeyStore
from apiwatch.store._rows import clear_text
from apiwatch.store._verify import Verifier
from apiwatch.store.base import VerifyReport

__all__ = ["SqlStore", "StoreFullError", "StoreUnavailableError"]

# Forwarders' cursors live in ``meta`` under ``forward:<name>``, so that they are backed up,
# restored and shared with the store itself.
_FORWARD_PREFIX = "forward:"
_MAX_FORWARD_NAME = 200


class SqlStore:
    """The `Store` over one `Database`: its role stores, and the whole-store operations."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.keyring = db.keyring
        self.events = SqlEventStore(db)
        self.keys = SqlKeyStore(db)
        self.audit = SqlReadAudit(db)
        self.detections = SqlDetectionStore(db)
        self.decisions = SqlDecisionStore(db)
        self.allowlist = SqlAllowlist(db)
        self.console = SqlConsoleStore(db)

    def verify(self, anchors: Sequence[Anchor] = ()) -> VerifyReport:
        """Check the event chain, the ledger over the other tables and each anchor; see
        `apiwatch.store._verify` for what it proves and what it cannot."""
        return Verifier(self.db).verify(anchors)

    def latest_heads(self) -> Anchor:
        """The store's newest signed heads as an anchor (checked by `verify` before export)."""
        return Verifier(self.db).latest_heads()

    def anchor_to(self, writer: AnchorWriter) -> None:
        """Append signed heads to ``writer``'s file from now on, starting with the newest."""
        latest = self.latest_heads()
        writer.offer(latest.events, latest.ledger)
        self.db.anchor_writer = writer

    def full_reason(self) -> str | None:
        """None while writes succeed; after a write failed for lack of space, why, for as long
        as a write the size of the failed append (tried on each call, then undone) still fails."""
        return self.db.full_reason()

    def rotate_key(self) -> int:
        """Make a new data key current and re-encrypt every row under it; returns rows done."""
        new_id = self.keyring.new_data_key()
        done = self.events.rotate(new_id) + self.detections.rotate(new_id)
        return done + self.decisions.rotate(new_id) + self.allowlist.rotate(new_id)

    def forward_cursor(self, name: str) -> str | None:
        """The cursor a forwarder saved under ``name`` (`save_forward_cursor`), or None."""
        rows = self.db.read_all(f"SELECT v FROM meta WHERE k = {self.db.mark}", (_key(name),))
        return str(rows[0][0]) if rows else None

    def save_forward_cursor(self, name: str, cursor: str) -> None:
        """Remember a forwarder's ``cursor`` under ``name``, durably (committed before this
        returns), so that a restarted collector resumes there."""
        m = self.db.mark
        with self.db.transaction() as sql:
            sql.execute(
                f"INSERT INTO meta VALUES ({m}, {m}) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                (_key(name), cursor),
            )

    def close(self) -> None:
        """Flush the anchor file and close every connection."""
        self.db.flush_anchor()
        self.db.close()


def _key(name: str) -> str:
    if not name or len(name) > _MAX_FORWARD_NAME:
        raise ConfigError(
            f"forward cursor: a name of 1 to {_MAX_FORWARD_NAME} characters, not {name!r}"
        )
    return _FORWARD_PREFIX + (clear_text(name) or "")
