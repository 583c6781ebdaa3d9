"""Large appends: more rows than one INSERT statement holds (SQLite sends up to 1,000 per
statement), rolled up, chained and verified as one transaction."""

from __future__ import annotations

from datetime import timedelta

from apiwatch.store import EventFilter, SqlStore, StoredLine

from .helpers import T0, Backend, batch, line, lines

MANY = 2345  # two full statements and a part


def many_sealed(store: SqlStore, count: int = MANY) -> list[StoredLine]:
    """``count`` events from as many addresses within one minute, sealed as ingest seals them;
    every fifth a 401."""
    sent = [
        line(at=T0 + timedelta(milliseconds=i), ip=f"198.51.{i // 250}.{i % 250}",
             status=401 if i % 5 == 0 else 200)
        for i in range(count)
    ]  # fmt: skip
    return store.events.seal(sent, "ingest-1")


def test_append_of_several_statements_is_stored_in_order_and_verifies(store: SqlStore) -> None:
    """2,345 events in one append are all stored, in order, under one checkpoint that verifies."""
    sent = many_sealed(store)
    (result,) = store.events.append([batch(sent)])
    assert (result.stored, result.duplicates) == (MANY, 0)
    page = store.events.query(EventFilter(), cursor=None, limit=MANY)
    assert page.lines == [s.payload for s in sent]
    report = store.verify()
    assert (report.ok, report.records, report.checkpoints) == (True, MANY, 1)


def test_altered_row_of_a_later_statement_fails_verify(store: SqlStore, backend: Backend) -> None:
    """A row changed by hand in the second statement's part of a large append is named."""
    store.events.append([batch(many_sealed(store))])
    backend.sql("UPDATE events SET status = 500 WHERE seq = 1500")
    report = store.verify()
    assert (report.ok, report.problem_seq) == (False, 1500)


def test_rollups_of_many_addresses_add_up_across_appends(store: SqlStore) -> None:
    """Per-address minute counts of 2,345 addresses (more than one statement) are each address's
    own, and a second append of the same addresses adds to them."""
    store.events.append([batch(many_sealed(store))])
    store.events.append([batch(many_sealed(store))])  # new ids, same addresses and minute
    top = store.console.top_addresses(T0 - timedelta(minutes=1), limit=10_000)
    assert len(top) == MANY
    assert {requests for _, requests, _ in top} == {2}
    assert sum(failures for _, _, failures in top) == 2 * len(range(0, MANY, 5))
    (minute,) = store.console.minute_counts(T0, T0 + timedelta(minutes=1))
    assert (minute.requests, minute.client_errors) == (2 * MANY, 2 * len(range(0, MANY, 5)))


def test_sealed_and_plain_copies_of_an_event_are_one_event(store: SqlStore) -> None:
    """An event sent sealed and again unsealed (or the reverse) is stored once: the duplicate
    check reads the same id from the sealed columns as from the event."""
    first, second = lines(2)
    store.events.append([batch(store.events.seal([first], "ingest-1")), batch([second])])
    again = [batch([first]), batch(store.events.seal([second], "ingest-1"))]
    assert [(r.stored, r.duplicates) for r in store.events.append(again)] == [(0, 1), (0, 1)]
    assert store.events.count() == 2
