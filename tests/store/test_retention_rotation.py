"""Retention deletes whole old transactions and keeps the chain verifiable; key rotation
re-encrypts every record without breaking it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from apiwatch.store import EventFilter, Keyring, SqlStore
from apiwatch.store.chain import expiry_message

from .helpers import T0, Backend, batch, lines

DAY = timedelta(days=1)


def all_lines(store: SqlStore) -> list[bytes]:
    return store.events.query(EventFilter(), cursor=None, limit=10_000).lines


def test_expire_deletes_old_transactions_and_verify_still_passes(store: SqlStore) -> None:
    """Transactions entirely older than the cutoff go; newer events stay; the chain verifies."""
    old_1, old_2, young = lines(4, start=T0), lines(3, start=T0 + DAY), lines(5, start=T0 + 9 * DAY)
    for sent in (old_1, old_2, young):
        store.events.append([batch(sent)])
    assert store.events.expire(T0 + 5 * DAY) == 7
    assert all_lines(store) == [s.payload for s in young]
    report = store.verify()
    assert (report.ok, report.records, report.expired_records) == (True, 5, 7)
    assert report.checkpoints == 3
    assert store.events.expire(T0 + 5 * DAY) == 0


def test_expire_keeps_a_transaction_holding_a_young_event(store: SqlStore) -> None:
    """A transaction is deleted whole or not at all: one young event keeps its old neighbours."""
    store.events.append([batch(lines(2, start=T0))])
    mixed = [*lines(2, start=T0 + DAY), *lines(1, start=T0 + 10 * DAY)]
    store.events.append([batch(mixed)])
    assert store.events.expire(T0 + 5 * DAY) == 2
    assert all_lines(store) == [s.payload for s in mixed]
    assert store.verify().ok


def test_append_and_tamper_detection_continue_after_expiry(
    store: SqlStore, backend: Backend
) -> None:
    """After expiry new records chain on, and an edit behind the expiry point is still found."""
    store.events.append([batch(lines(3, start=T0))])
    store.events.append([batch(lines(3, start=T0 + 9 * DAY))])
    store.events.expire(T0 + 5 * DAY)
    store.events.append([batch(lines(2, start=T0 + 10 * DAY))])
    assert store.verify().ok
    assert store.events.count() == 5
    backend.sql("UPDATE events SET action = 'authn_login_success' WHERE seq = 5")
    report = store.verify()
    assert (report.ok, report.problem_seq) == (False, 5)


def test_expire_everything_then_start_again(store: SqlStore) -> None:
    """Expiring every record leaves an empty, verifiable store that accepts new events."""
    store.events.append([batch(lines(3, start=T0))])
    assert store.events.expire(T0 + 30 * DAY) == 3
    assert store.events.count() == 0
    assert store.verify().ok
    store.events.append([batch(lines(2, start=T0 + 31 * DAY))])
    report = store.verify()
    assert (report.ok, report.records, report.expired_records) == (True, 2, 3)


def test_rotate_key_re_encrypts_every_record(store: SqlStore, backend: Backend) -> None:
    """After rotation every row is under the new key id, queries decrypt, verify passes."""
    sent = [*lines(5), *lines(4, start=T0 + DAY)]
    store.events.append([batch(sent[:5])])
    store.events.append([batch(sent[5:])])
    old_id = store.keyring.current
    assert store.rotate_key() == 9
    new_id = store.keyring.current
    assert new_id != old_id
    assert {row[0] for row in backend.sql("SELECT DISTINCT key_id FROM events")} == {new_id}
    assert all_lines(store) == [s.payload for s in sent]
    assert store.verify().ok
    store.events.append([batch(lines(2, start=T0 + 2 * DAY))])
    assert store.verify().ok


def test_rotation_is_saved_to_the_key_file(store: SqlStore) -> None:
    """The key file keeps the old key (other rows or backups may need it) and the new current."""
    store.events.append([batch(lines(2))])
    old_id = store.keyring.current
    store.rotate_key()
    assert store.keyring.path is not None
    reloaded = Keyring.load(store.keyring.path)
    assert reloaded.current == store.keyring.current
    assert old_id in reloaded.data_keys


def test_rotate_an_empty_store(store: SqlStore) -> None:
    """Rotating with nothing stored re-encrypts nothing and still switches keys."""
    before = store.keyring.current
    assert store.rotate_key() == 0
    assert store.keyring.current != before


def test_hand_deleted_oldest_records_with_a_forged_retention_record_fail_verify(
    store: SqlStore, backend: Backend
) -> None:
    """Deleting the oldest records by hand and writing an unsigned retention record fails verify."""
    store.events.append([batch(lines(3, start=T0))])
    store.events.append([batch(lines(3, start=T0 + DAY))])
    backend.sql("DELETE FROM events WHERE seq <= 3")
    for forged in ("3", "3:0:0:" + "00" * 64, "3:0:0:nothex"):
        backend.sql(
            "INSERT INTO meta VALUES ('expired_through', ?) "
            "ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            (forged,),
        )
        report = store.verify()
        assert not report.ok
        assert "retention record is not validly signed" in (report.problem or "")


def test_retention_record_signed_by_another_key_fails_verify(
    store: SqlStore, backend: Backend, tmp_path: Path
) -> None:
    """A retention record signed with a key other than the store's does not pass verify."""
    store.events.append([batch(lines(3, start=T0))])
    store.events.append([batch(lines(3, start=T0 + 9 * DAY))])
    assert store.events.expire(T0 + 5 * DAY) == 3
    assert store.verify().ok
    other = Keyring.load_or_create(tmp_path / "other-keys")
    forged = f"3:0:0:{other.sign(expiry_message(3, 0, 0)).hex()}"
    backend.sql("UPDATE meta SET v = ? WHERE k = 'expired_through'", (forged,))
    assert not store.verify().ok


def test_expiry_during_verify_is_not_reported_as_deletion(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retention committing while verify walks the rows does not make verify report a deletion."""
    store.events.append([batch(lines(3, start=T0))])
    store.events.append([batch(lines(3, start=T0 + 9 * DAY))])
    walk = store.db.iter_rows
    raced: list[int] = []

    def expire_first(after_seq: int) -> Iterator[Any]:
        if not raced:  # the anchor is already read; retention moves it before any row is read
            raced.append(store.events.expire(T0 + 5 * DAY))
        yield from walk(after_seq)

    monkeypatch.setattr(store.db, "iter_rows", expire_first)
    report = store.verify()
    assert raced == [3]
    assert (report.ok, report.records, report.expired_records) == (True, 3, 3)
