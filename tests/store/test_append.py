"""Appending: events are stored once, idempotency keys replay, batches commit together."""

from __future__ import annotations

from typing import Any

import pytest

from apiwatch.model import decode_event
from apiwatch.store import AppendResult, EventFilter, SqlStore, StoreUnavailableError

from .helpers import batch, line, lines


def stored_ids(store: SqlStore) -> list[str]:
    page = store.events.query(EventFilter(), cursor=None, limit=10_000)
    return [decode_event(raw).event.id for raw in page.lines]


def test_append_stores_the_exact_lines(store: SqlStore) -> None:
    """Appended events come back byte for byte, in the order they were appended."""
    sent = lines(3)
    assert store.events.append([batch(sent)]) == [AppendResult(stored=3, duplicates=0)]
    assert store.events.count() == 3
    assert store.events.query(EventFilter(), cursor=None, limit=10).lines == [
        s.payload for s in sent
    ]


def test_duplicate_ids_within_a_batch_are_stored_once(store: SqlStore) -> None:
    """An event.id repeated inside one batch is stored once and counted as a duplicate."""
    first, second = lines(2)
    assert store.events.append([batch([first, second, first])]) == [AppendResult(2, 1)]
    assert stored_ids(store) == [first.event.event.id, second.event.event.id]


def test_duplicate_ids_across_batches_are_stored_once(store: SqlStore) -> None:
    """A retried batch without an idempotency key is deduplicated by event.id."""
    sent = lines(4)
    store.events.append([batch(sent)])
    extra = line()
    assert store.events.append([batch([*sent, extra])]) == [AppendResult(1, 4)]
    assert store.events.count() == 5


def test_a_resent_id_in_a_group_leaves_its_other_batches_stored_and_the_chain_whole(
    store: SqlStore,
) -> None:
    """A stored id sent again beside new events (one group commit, sealed ahead): only the new
    ones are stored, numbered on from the last, and the chain verifies."""
    sent = lines(3)
    store.events.append([batch(store.events.seal(sent, "ingest-1"))])
    again = store.events.seal([line(), sent[1], line()], "ingest-1")
    fresh = store.events.seal(lines(2), "ingest-1")
    results = store.events.append([batch(again), batch(fresh)])
    assert results == [AppendResult(2, 1), AppendResult(2, 0)]
    assert store.events.count() == 7
    assert store.events.last_seq() == 7
    assert store.verify().ok


def test_duplicates_across_batches_of_one_append_are_stored_once(store: SqlStore) -> None:
    """Two batches of one group commit that share an event.id store it once."""
    shared = line()
    results = store.events.append([batch([shared, line()]), batch([shared])])
    assert results == [AppendResult(2, 0), AppendResult(0, 1)]
    assert store.events.count() == 2


def test_committed_idempotency_key_is_a_replay(store: SqlStore) -> None:
    """A batch whose idempotency key was committed stores nothing, even with new event ids."""
    store.events.append([batch(lines(2), idem="req-1")])
    again = store.events.append([batch(lines(3), idem="req-1")])
    assert again == [AppendResult(stored=0, duplicates=3, replayed=True)]
    assert store.events.count() == 2


def test_idempotency_keys_belong_to_their_api_key(store: SqlStore) -> None:
    """Another API key using the same idempotency key is not a replay (keys cannot be guessed
    to suppress someone else's events)."""
    store.events.append([batch(lines(2), key="sender-a", idem="req-1")])
    other = store.events.append([batch(lines(2), key="sender-b", idem="req-1")])
    assert other == [AppendResult(2, 0)]
    assert store.events.count() == 4


def test_several_batches_are_one_transaction(store: SqlStore) -> None:
    """A group commit gives one result per batch and one checkpoint for all of them."""
    results = store.events.append(
        [batch(lines(3), idem="a"), batch(lines(2), key="ingest-2"), batch(lines(1), idem="a")]
    )
    assert results == [AppendResult(3, 0), AppendResult(2, 0), AppendResult(0, 1, replayed=True)]
    report = store.verify()
    assert (report.ok, report.records, report.checkpoints) == (True, 5, 1)


def test_failed_group_commit_stores_none_of_its_batches(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the commit fails, no batch of it is stored and its idempotency keys stay unused."""
    store.events.append([batch(lines(2))])

    def broken_insert(connection: Any, rows: Any) -> None:
        for _ in rows:
            pass
        raise StoreUnavailableError("simulated failure")

    monkeypatch.setattr(store.db, "insert_rows", broken_insert)
    with pytest.raises(StoreUnavailableError):
        store.events.append([batch(lines(2), idem="x"), batch(lines(3), idem="y")])
    monkeypatch.undo()
    assert store.events.count() == 2
    assert store.events.append([batch(lines(2), idem="x")]) == [AppendResult(2, 0)]
    assert store.verify().ok


def test_empty_and_all_duplicate_appends_write_no_checkpoint(store: SqlStore) -> None:
    """Nothing new stored means no new checkpoint (the chain only grows with records)."""
    sent = lines(2)
    store.events.append([batch(sent)])
    assert store.events.append([batch([])]) == [AppendResult(0, 0)]
    assert store.events.append([batch(sent)]) == [AppendResult(0, 2)]
    assert store.verify().checkpoints == 1


def test_nul_in_a_clear_field_is_stored_and_searchable(store: SqlStore) -> None:
    """A NUL in a clear column (PostgreSQL text cannot hold it) does not fail the batch; the
    payload keeps the exact line and a prefix query still finds it."""
    hostile = line(path="/api/\x00admin", service="sh\x00p")
    assert store.events.append([batch([hostile, line()])]) == [AppendResult(2, 0)]
    found = store.events.query(EventFilter(path_prefix="/api/\x00"), cursor=None, limit=10)
    assert found.lines == [hostile.payload]
    assert store.verify().ok


def test_one_keys_event_ids_do_not_suppress_another_keys_events(store: SqlStore) -> None:
    """An ingest key sending another key's event ids stores its own copies; neither is lost."""
    sent = lines(3)
    assert store.events.append([batch(sent, key="intruder")]) == [AppendResult(3, 0)]
    assert store.events.append([batch(sent, key="ingest-1")]) == [AppendResult(3, 0)]
    assert store.events.append([batch(sent, key="ingest-1")]) == [AppendResult(0, 3)]
    assert store.events.count() == 6
    assert store.verify().ok


def test_shared_ids_across_keys_in_one_group_commit_are_kept_per_key(store: SqlStore) -> None:
    """Two keys' batches sharing event ids in one transaction each store their events."""
    sent = lines(2)
    results = store.events.append(
        [batch(sent, key="a"), batch(sent, key="b"), batch(sent, key="a")]
    )
    assert results == [AppendResult(2, 0), AppendResult(2, 0), AppendResult(0, 2)]
    assert store.events.count() == 4
