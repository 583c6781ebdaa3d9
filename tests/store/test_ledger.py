"""The ledger: `verify` detects the read audit, API keys, alerts, incidents, decisions and the
allowlist altered, deleted or added by hand, on both back ends.

Each test writes through the store, then edits the database directly the way an intruder with
database access would, then verifies.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apiwatch.model import AllowEntry
from apiwatch.store import ReadRecord, SqlStore

from .helpers import Backend, batch, lines
from .test_decisions import a_decision
from .test_detections import an_alert, an_incident

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def written(store: SqlStore) -> SqlStore:
    """A store holding some of everything the ledger covers."""
    store.events.append([batch(lines(4))])
    store.audit.record(ReadRecord(NOW, "reader-1", "events", "all", 4))
    store.audit.record(ReadRecord(NOW, "reader-1", "events", "event.action=x", 0))
    store.keys.create("api-1", ["ingest"])
    store.keys.create("gone", ["read"])
    store.keys.revoke("gone")
    store.detections.save([an_alert("a"), an_alert("b")], [an_incident("a")])
    store.decisions.add([a_decision("203.0.113.9"), a_decision("198.51.100.0/24", "Range")])
    store.decisions.delete(2, at=NOW)
    store.allowlist.add(AllowEntry(scope="Ip", value="192.0.2.1", reason="office", created=NOW))
    return store


def problem_of(store: SqlStore) -> str:
    report = store.verify()
    assert not report.ok, "the edit was not detected"
    assert report.problem is not None
    assert "\n" not in report.problem
    return report.problem


def test_everything_written_through_the_store_verifies(written: SqlStore) -> None:
    """Writes through the store (including updates, deletes and key rotation) verify intact."""
    written.allowlist.delete("Ip", "192.0.2.1")
    written.rotate_key()
    report = written.verify()
    assert report.ok, report.problem
    assert report.ledger_entries > 0


def test_altered_read_audit_record_is_detected(written: SqlStore, backend: Backend) -> None:
    """Changing how many events an audited read returned is detected."""
    backend.sql("UPDATE reads SET returned = 999999 WHERE returned = 4")
    assert "the read audit was altered" in problem_of(written)


def test_deleted_read_audit_record_is_detected(written: SqlStore, backend: Backend) -> None:
    """Deleting an audited read (covering one's tracks) is detected."""
    backend.sql("DELETE FROM reads WHERE criteria = 'event.action=x'")
    assert "1 recorded reads deleted" in problem_of(written)


def test_un_revoked_api_key_is_detected(written: SqlStore, backend: Backend) -> None:
    """Setting a revoked key's revoked_at back to NULL (reviving it) is detected."""
    key_id = backend.sql("SELECT id FROM api_keys WHERE name = 'gone'")[0][0]
    backend.sql("UPDATE api_keys SET revoked_at = NULL WHERE name = 'gone'")
    assert f"API key {key_id} was altered" in problem_of(written)


def test_widened_api_key_scope_is_detected(written: SqlStore, backend: Backend) -> None:
    """Giving an ingest key the admin scope by hand is detected."""
    backend.sql("UPDATE api_keys SET scopes = 'admin' WHERE name = 'api-1'")
    assert "was altered" in problem_of(written)


def test_api_key_inserted_by_hand_is_detected(written: SqlStore, backend: Backend) -> None:
    """A key row added outside apiwatch (a backdoor) is detected."""
    backend.sql(
        "INSERT INTO api_keys (id, name, scopes, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)",
        ("0123456789ab", "backdoor", "admin", bytes(32), 1),
    )
    assert "API key 0123456789ab was added outside apiwatch" in problem_of(written)


def test_altered_alert_is_detected(written: SqlStore, backend: Backend) -> None:
    """Lowering an alert's severity by hand is detected."""
    backend.sql("UPDATE alerts SET severity = 0 WHERE id = 'al-a'")
    assert "alert al-a was altered" in problem_of(written)


def test_deleted_incident_is_detected(written: SqlStore, backend: Backend) -> None:
    """Deleting an incident is detected."""
    backend.sql("DELETE FROM incidents WHERE id = 'inc-a'")
    assert "incident inc-a was deleted" in problem_of(written)


def test_extended_decision_is_detected(written: SqlStore, backend: Backend) -> None:
    """Changing a ban's end time in its clear column is detected."""
    backend.sql("UPDATE decisions SET until = until + 1 WHERE id = 1")
    assert "decision 1 was altered" in problem_of(written)


def test_undeleted_decision_is_detected(written: SqlStore, backend: Backend) -> None:
    """Bringing a deleted decision back (deleted set to NULL) is detected."""
    backend.sql("UPDATE decisions SET deleted = NULL, deleted_change = NULL WHERE id = 2")
    assert "decision 2 was altered" in problem_of(written)


def test_deleted_allowlist_entry_is_detected(written: SqlStore, backend: Backend) -> None:
    """Removing an allowlist entry by hand is detected."""
    backend.sql("DELETE FROM allowlist")
    assert "allowlist entry 1 was deleted" in problem_of(written)


def test_type_confused_api_key_row_is_detected(written: SqlStore, backend: Backend) -> None:
    """Text where a number belongs in a covered table is reported as tampering, not raised."""
    if backend.kind == "postgres":
        backend.sql("ALTER TABLE api_keys ALTER COLUMN created_at TYPE text")
    backend.sql("UPDATE api_keys SET created_at = 'yesterday' WHERE name = 'api-1'")
    assert "was altered" in problem_of(written)


def test_edited_ledger_entry_is_detected(written: SqlStore, backend: Backend) -> None:
    """Editing the ledger itself to match an edited row breaks its chain."""
    backend.sql("UPDATE ledger SET digest = ? WHERE seq = 3", (bytes(32),))
    assert "ledger entry 3 was altered or reordered" in problem_of(written)


def test_forged_ledger_head_is_detected(written: SqlStore, backend: Backend) -> None:
    """A ledger head not signed with the store's key is detected."""
    backend.sql("UPDATE ledger_heads SET signature = ?", (bytes(64),))
    assert "is not validly signed" in problem_of(written)


def test_deleted_ledger_start_record_is_detected(written: SqlStore, backend: Backend) -> None:
    """Wiping the ledger with its start record cannot pass for a store from before the ledger."""
    for table in ("ledger", "ledger_heads", "reads", "api_keys", "alerts", "incidents",
                  "decisions", "allowlist"):  # fmt: skip
        backend.sql(f"DELETE FROM {table}")  # noqa: S608 - fixed names
    backend.sql("DELETE FROM meta WHERE k = 'ledger_started'")
    assert "the ledger's start record is missing" in problem_of(written)


def test_rows_of_a_store_from_before_the_ledger_are_adopted(
    backend: Backend, store: SqlStore
) -> None:
    """A store written before the ledger existed verifies after its first open, with a note;
    later edits of its rows are detected."""
    store.keys.create("old", ["read"])
    store.decisions.add([a_decision()])
    store.close()
    for table in ("ledger", "ledger_heads"):
        backend.sql(f"DROP TABLE {table}")
    backend.sql("DELETE FROM meta WHERE k = 'ledger_started'")
    reopened = backend.open(store.keyring)
    try:
        report = reopened.verify()
        assert report.ok, report.problem
        assert any("2 rows written before the ledger began" in note for note in report.notes)
        backend.sql("UPDATE api_keys SET scopes = 'admin'")
        assert "was altered" in problem_of(reopened)
    finally:
        reopened.close()


def test_a_new_decision_is_recorded_with_every_column(written: SqlStore, backend: Backend) -> None:
    """A column the store does not know of (added by a later migration) is covered too."""
    backend.sql("ALTER TABLE decisions ADD COLUMN note TEXT")
    added = written.decisions.add([a_decision("192.0.2.77", lasting=60)])
    assert written.verify().ok
    backend.sql("UPDATE decisions SET note = 'x' WHERE id = ?", (added[0].id,))
    assert f"decision {added[0].id} was altered" in problem_of(written)
