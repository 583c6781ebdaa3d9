"""Tamper evidence: `verify` names the first altered, deleted or reordered record.

Each test edits the database directly (sqlite3 on the file, psycopg on the table), the way an
intruder with database access would. Fixture: three transactions of four events, so records
1-12 with signed checkpoints at 4, 8 and 12.
"""

from __future__ import annotations

import os

import pytest

from apiwatch.store import SqlStore
from apiwatch.store._rows import COLUMNS, digest_of
from apiwatch.store.chain import link

from .helpers import Backend, batch, lines

PAYLOAD = COLUMNS.index("payload")


@pytest.fixture
def filled(store: SqlStore) -> SqlStore:
    for _ in range(3):
        store.events.append([batch(lines(4))])
    return store


def test_intact_store_verifies(filled: SqlStore) -> None:
    """An untouched store is ok, with its record and checkpoint counts."""
    report = filled.verify()
    assert (report.ok, report.records, report.checkpoints) == (True, 12, 3)
    assert (report.problem, report.problem_seq, report.expired_records) == (None, None, 0)


def test_empty_store_verifies(store: SqlStore) -> None:
    """A store with nothing in it is intact."""
    report = store.verify()
    assert (report.ok, report.records, report.checkpoints) == (True, 0, 0)


def test_changed_clear_column_names_the_record(filled: SqlStore, backend: Backend) -> None:
    """Editing a clear column (the status code) of record 6 is reported at record 6."""
    backend.sql("UPDATE events SET status = 500 WHERE seq = 6")
    report = filled.verify()
    assert (report.ok, report.problem_seq) == (False, 6)
    assert "record 6 was altered" in (report.problem or "")


CHANGES = {"ts": 1, "key_name": "intruder", "source_ip": bytes(16), "path": "/x", "user_idx": b"1"}


@pytest.mark.parametrize("column", sorted(CHANGES))
def test_every_clear_column_is_covered(filled: SqlStore, backend: Backend, column: str) -> None:
    """Each indexed clear column is part of the chain: changing any of them breaks record 7."""
    replacement = CHANGES[column]
    statement = f"UPDATE events SET {column} = ? WHERE seq = 7"  # noqa: S608 - fixed names
    backend.sql(statement, (replacement,))
    assert filled.verify().problem_seq == 7


def test_changed_payload_names_the_record(filled: SqlStore, backend: Backend) -> None:
    """Flipping one byte of record 6's ciphertext fails authentication at record 6."""
    payload = bytearray(backend.row(6)[PAYLOAD])
    payload[20] ^= 0x01
    backend.sql("UPDATE events SET payload = ? WHERE seq = 6", (bytes(payload),))
    report = filled.verify()
    assert (report.ok, report.problem_seq) == (False, 6)
    assert "fails authentication" in (report.problem or "")


def test_deleted_middle_record_is_named(filled: SqlStore, backend: Backend) -> None:
    """Deleting record 6 is reported as record 6 deleted."""
    backend.sql("DELETE FROM events WHERE seq = 6")
    report = filled.verify()
    assert (report.ok, report.problem_seq) == (False, 6)
    assert "record 6 is deleted" in (report.problem or "")


def test_swapped_records_name_the_first(filled: SqlStore, backend: Backend) -> None:
    """Swapping the contents of records 5 and 6 (a reorder) is reported at record 5."""
    fifth, sixth = backend.row(5), backend.row(6)
    backend.sql("DELETE FROM events WHERE seq IN (5, 6)")
    backend.put_row((5, *sixth[1:]))
    backend.put_row((6, *fifth[1:]))
    report = filled.verify()
    assert (report.ok, report.problem_seq) == (False, 5)
    assert "record 5 was altered or reordered" in (report.problem or "")


def test_deleted_tail_under_its_checkpoint_is_detected(filled: SqlStore, backend: Backend) -> None:
    """Deleting records 11-12 while checkpoint 12 remains is reported at record 11."""
    backend.sql("DELETE FROM events WHERE seq > 10")
    report = filled.verify()
    assert (report.ok, report.problem_seq) == (False, 11)
    assert "record 11 is deleted" in (report.problem or "")


def test_forged_checkpoint_signature_is_detected(filled: SqlStore, backend: Backend) -> None:
    """A checkpoint whose signature is not the store's is reported at its record."""
    backend.sql("UPDATE checkpoints SET signature = ? WHERE seq = 8", (os.urandom(64),))
    report = filled.verify()
    assert (report.ok, report.problem_seq) == (False, 8)
    assert "checkpoint at record 8 is not validly signed" in (report.problem or "")


def test_moved_checkpoint_is_detected(filled: SqlStore, backend: Backend) -> None:
    """A checkpoint's signed record number cannot be changed."""
    backend.sql("UPDATE checkpoints SET seq = 7 WHERE seq = 8")
    assert filled.verify().problem_seq == 7


def test_rewritten_unsigned_tail_is_detected(filled: SqlStore, backend: Backend) -> None:
    """An intruder holding the keys edits record 11, recomputes the chain and drops checkpoint 12:
    records past the last valid checkpoint are reported, from record 9."""
    backend.sql("DELETE FROM checkpoints WHERE seq = 12")
    backend.sql("UPDATE events SET status = 204 WHERE seq = 11")
    chain = backend.row(8)[COLUMNS.index("chain")]
    for seq in (9, 10, 11, 12):
        row = backend.row(seq)
        plain = filled.keyring.decrypt(row[12], row[13], row[1])
        chain = link(chain, seq, digest_of(row, plain))
        backend.sql("UPDATE events SET chain = ? WHERE seq = ?", (chain, seq))
    report = filled.verify()
    assert (report.ok, report.problem_seq) == (False, 9)
    assert "not covered by a signed checkpoint" in (report.problem or "")


def test_rows_committed_during_verify_are_accepted(filled: SqlStore) -> None:
    """Records committed after verify read the checkpoints still verify (no false alarm)."""
    original = filled.db.iter_rows

    def iter_after_a_commit(after_seq: int):  # type: ignore[no-untyped-def]
        filled.events.append([batch(lines(3))])
        return original(after_seq)

    filled.db.iter_rows = iter_after_a_commit  # type: ignore[method-assign]
    report = filled.verify()
    assert (report.ok, report.records) == (True, 15)


WRONG_TYPES = {
    "events.key_id": ("events", "key_id", "'abc'", "seq = 6"),
    "events.status": ("events", "status", "'two hundred'", "seq = 6"),
    "events.payload": ("events", "payload", "'plain text'", "seq = 6"),
    "checkpoints.signed_at": ("checkpoints", "signed_at", "'noon'", "seq = 8"),
}


@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
def test_type_confused_column_is_reported_not_raised(
    filled: SqlStore, backend: Backend, case: str
) -> None:
    """Text where a number or bytes belong (edited by hand) is one line of tampering, naming
    the record (on PostgreSQL, the first one: the whole column changed type), never a
    traceback."""
    table, column, value, where = WRONG_TYPES[case]
    if backend.kind == "postgres":  # typed columns: the intruder changes the type first
        backend.sql(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE text")
    backend.sql(f"UPDATE {table} SET {column} = {value} WHERE {where}")  # noqa: S608
    report = filled.verify()
    assert not report.ok
    expected = (6, 8) if backend.kind == "sqlite" else (1, 4)
    assert report.problem_seq in expected
    assert "\n" not in (report.problem or "")
