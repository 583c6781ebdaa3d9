"""Decisions and the allowlist in the store, on both back ends: ids, the bouncer stream's
cursor semantics, range matching, the allowlist, offences, encryption at rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apiwatch.model import AllowEntry, ConfigError, Decision
from apiwatch.store import DecisionFilter, SqlStore, stream_cursor

from .helpers import Backend

NOW = datetime.now(UTC).replace(microsecond=0)
ACCOUNT = "dana.private-account"


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def a_decision(
    value: str = "203.0.113.9",
    scope: str = "Ip",
    *,
    type: str = "ban",
    lasting: float = 3600,
    created: datetime = NOW,
    origin: str = "apiwatch",
    incident: str = "inc-1",
    simulated: bool = False,
    reason: str = "credential stuffing against dana.private-account",
) -> Decision:
    return Decision(
        id=0,
        type=type,
        scope=scope,
        value=value,
        created=created,
        until=created + seconds(lasting),
        origin=origin,
        scenario="credential-stuffing-source",
        reason=reason,
        incident=incident,
        simulated=simulated,
    )


def values(decisions: list[Decision]) -> list[str]:
    return [decision.value for decision in decisions]


def allow(value: str, scope: str = "Ip", reason: str = "office NAT") -> AllowEntry:
    return AllowEntry(scope=scope, value=value, reason=reason, created=NOW)


def test_ids_increase_across_batches_and_are_returned(store: SqlStore) -> None:
    """Ids are positive, increase in the order given, and keep increasing across batches."""
    first = store.decisions.add([a_decision("203.0.113.1"), a_decision("203.0.113.2")])
    second = store.decisions.add([a_decision("203.0.113.3")])
    ids = [d.id for d in first + second]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    assert ids[0] >= 1
    assert values(first + second) == ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
    assert store.decisions.add([]) == []


def test_values_are_stored_in_canonical_form(store: SqlStore) -> None:
    """An address or network is stored normalised, the scope as CrowdSec spells it."""
    added = store.decisions.add(
        [a_decision("2001:DB8:0:0::1", "ip"), a_decision("198.51.100.77/24", "range")]
    )
    assert [(d.scope, d.value) for d in added] == [("Ip", "2001:db8::1"),
                                                   ("Range", "198.51.100.0/24")]  # fmt: skip


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        (a_decision("not-an-ip"), "not an IP address"),
        (a_decision("10.0.0.0/33", "Range"), "not a network"),
        (a_decision(scope="Country"), "scope"),
        (a_decision(type="nuke"), "type"),
        (a_decision(lasting=-1), "until"),
    ],
)
def test_invalid_decisions_are_refused_and_nothing_is_stored(
    store: SqlStore, decision: Decision, message: str
) -> None:
    """A bad value, scope, type or time span is a ConfigError, and the batch stores nothing."""
    with pytest.raises(ConfigError, match=message):
        store.decisions.add([a_decision("203.0.113.1"), decision])
    assert store.decisions.query(DecisionFilter(include_expired=True)).items == []


@pytest.mark.parametrize(
    ("value", "scope"), [("fe80::1%x;\nallow all", "Ip"), ("2001:db8::%x y/64", "Range")]
)
def test_an_ipv6_zone_is_refused_in_decisions_and_the_allowlist(
    store: SqlStore, value: str, scope: str
) -> None:
    """An address or network with an IPv6 zone (any text after %) is a ConfigError, not stored."""
    with pytest.raises(ConfigError, match="zone"):
        store.decisions.add([a_decision(value, scope)])
    with pytest.raises(ConfigError, match="zone"):
        store.allowlist.add(allow(value, scope))
    assert store.decisions.query(DecisionFilter(include_expired=True)).items == []


def test_a_decision_with_an_id_is_refused(store: SqlStore) -> None:
    """Ids are the store's to give: a decision with one is refused."""
    given = a_decision()
    given.id = 7
    with pytest.raises(ConfigError, match="id"):
        store.decisions.add([given])


def test_startup_gives_every_decision_in_force_and_nothing_deleted(store: SqlStore) -> None:
    """No cursor: every active, non-simulated decision is new; expired, deleted, simulated not."""
    store.decisions.add([
        a_decision("203.0.113.1"),
        a_decision("203.0.113.2", lasting=10, created=NOW - seconds(60)),
        a_decision("203.0.113.3", simulated=True),
        a_decision("198.51.100.0/24", "Range"),
    ])  # fmt: skip
    gone = store.decisions.add([a_decision("203.0.113.4")])[0]
    store.decisions.delete(gone.id, at=NOW)
    changes = store.decisions.changes(None, now=NOW)
    assert values(changes.new) == ["203.0.113.1", "198.51.100.0/24"]
    assert changes.deleted == []


def test_deltas_give_each_new_decision_once(store: SqlStore) -> None:
    """After a pull, only decisions added since are new, and each only once."""
    store.decisions.add([a_decision("203.0.113.1")])
    first = store.decisions.changes(None, now=NOW)
    store.decisions.add([a_decision("203.0.113.2")])
    second = store.decisions.changes(first.cursor, now=NOW + seconds(1))
    assert values(second.new) == ["203.0.113.2"]
    third = store.decisions.changes(second.cursor, now=NOW + seconds(2))
    assert (third.new, third.deleted) == ([], [])


def test_a_deleted_decision_is_reported_deleted_once(store: SqlStore) -> None:
    """A delete after a pull shows in the next pull's deleted, and never again."""
    added = store.decisions.add([a_decision("203.0.113.1"), a_decision("203.0.113.2")])
    first = store.decisions.changes(None, now=NOW)
    deleted = store.decisions.delete(added[0].id, at=NOW + seconds(1))
    assert deleted is not None
    assert deleted.deleted == NOW + seconds(1)
    second = store.decisions.changes(first.cursor, now=NOW + seconds(2))
    assert [d.id for d in second.deleted] == [added[0].id]
    assert second.new == []
    third = store.decisions.changes(second.cursor, now=NOW + seconds(3))
    assert third.deleted == []


def test_an_expired_decision_is_reported_deleted_once(store: SqlStore) -> None:
    """A decision whose until passes between two pulls is in deleted once, then never."""
    store.decisions.add([a_decision("203.0.113.1", lasting=3), a_decision("203.0.113.2")])
    first = store.decisions.changes(None, now=NOW)
    assert values(first.new) == ["203.0.113.1", "203.0.113.2"]
    before = store.decisions.changes(first.cursor, now=NOW + seconds(2))
    assert before.deleted == []
    after = store.decisions.changes(before.cursor, now=NOW + seconds(4))
    assert values(after.deleted) == ["203.0.113.1"]
    later = store.decisions.changes(after.cursor, now=NOW + seconds(60))
    assert later.deleted == []


def test_an_empty_delta_can_be_skipped_without_losing_anything(store: SqlStore) -> None:
    """Pulling again from an older cursor gives the union of what happened since it."""
    added = store.decisions.add([a_decision("203.0.113.1", lasting=3)])
    first = store.decisions.changes(None, now=NOW)
    store.decisions.add([a_decision("203.0.113.2")])
    store.decisions.delete(added[0].id, at=NOW + seconds(1))
    late = store.decisions.changes(first.cursor, now=NOW + seconds(10))
    assert values(late.new) == ["203.0.113.2"]
    assert values(late.deleted) == ["203.0.113.1"]


def test_a_decision_added_and_deleted_between_pulls_is_never_sent(store: SqlStore) -> None:
    """A bouncer that never got a decision is not told to delete it."""
    first = store.decisions.changes(None, now=NOW)
    added = store.decisions.add([a_decision("203.0.113.1")])
    store.decisions.delete(added[0].id, at=NOW)
    second = store.decisions.changes(first.cursor, now=NOW + seconds(1))
    assert (second.new, second.deleted) == ([], [])


def test_a_value_still_under_another_decision_is_sent_again_after_a_delete(
    store: SqlStore,
) -> None:
    """Deleting one of two bans on an address re-sends the other, for bouncers keyed by value."""
    short, long = store.decisions.add([a_decision("203.0.113.1", lasting=600),
                                       a_decision("203.0.113.1", lasting=7200)])  # fmt: skip
    first = store.decisions.changes(None, now=NOW)
    store.decisions.delete(short.id, at=NOW)
    second = store.decisions.changes(first.cursor, now=NOW + seconds(1))
    assert [d.id for d in second.deleted] == [short.id]
    assert [d.id for d in second.new] == [long.id]


def test_the_stream_filters_by_scope_and_origin(store: SqlStore) -> None:
    """Scopes (any case) and origins limit both new and deleted; empty means all."""
    store.decisions.add([
        a_decision("203.0.113.1"),
        a_decision("198.51.100.0/24", "Range", origin="manual"),
        a_decision(ACCOUNT, "Username", type="flag"),
    ])  # fmt: skip
    assert values(store.decisions.changes(None, now=NOW, scopes=["ip", "range"]).new) == [
        "203.0.113.1", "198.51.100.0/24"]  # fmt: skip
    assert values(store.decisions.changes(None, now=NOW, scopes=["username"]).new) == [ACCOUNT]
    assert values(store.decisions.changes(None, now=NOW, origins=["manual"]).new) == [
        "198.51.100.0/24"]  # fmt: skip
    assert len(store.decisions.changes(None, now=NOW).new) == 3


def test_a_full_pull_page_by_page_is_what_was_in_force_at_a_change_number(
    store: SqlStore,
) -> None:
    """decisions_as_of pages (by id) through what was in force at a change number: added
    later, deleted at or before it, expired, simulated or of other scopes are left out."""
    assert store.decisions.change() == 0
    gone, *_ = store.decisions.add([
        a_decision("203.0.113.1"), a_decision("203.0.113.2"), a_decision("203.0.113.3",
        lasting=3), a_decision("203.0.113.4", simulated=True),
        a_decision(ACCOUNT, "Username", type="flag"),
    ])  # fmt: skip
    store.decisions.delete(gone.id, at=NOW)
    change = store.decisions.change()
    assert change == 2
    store.decisions.add([a_decision("203.0.113.5")])
    assert store.decisions.change() == 3
    first = store.decisions.as_of(change, now=NOW + seconds(4), scopes=["ip"], limit=1)
    assert values(first) == ["203.0.113.2"]
    rest = store.decisions.as_of(change, now=NOW + seconds(4), scopes=["ip"], after=first[0].id)
    assert rest == []
    early = store.decisions.as_of(change, now=NOW, scopes=["ip", "range"])
    assert values(early) == ["203.0.113.2", "203.0.113.3"]
    before_delete = store.decisions.as_of(1, now=NOW)
    assert values(before_delete) == ["203.0.113.1", "203.0.113.2", "203.0.113.3", ACCOUNT]
    assert early[0].reason == a_decision().reason  # decrypted whole, as decision_changes gives


def test_a_full_pull_as_of_a_change_number_chains_into_the_delta_stream(
    store: SqlStore,
) -> None:
    """After a full pull at change S and time T, decision_changes from stream_cursor(S, T)
    gives what was added and deleted since, each once."""
    first = store.decisions.add([a_decision("203.0.113.1"), a_decision("203.0.113.2")])[0]
    change = store.decisions.change()
    assert values(store.decisions.as_of(change, now=NOW)) == ["203.0.113.1", "203.0.113.2"]
    store.decisions.delete(first.id, at=NOW)
    store.decisions.add([a_decision("203.0.113.3")])
    delta = store.decisions.changes(stream_cursor(change, NOW), now=NOW + seconds(1))
    assert values(delta.new) == ["203.0.113.3"]
    assert values(delta.deleted) == ["203.0.113.1"]


def test_a_cursor_not_made_by_the_store_is_refused(store: SqlStore) -> None:
    """A made-up cursor is a ConfigError, never a database error."""
    for cursor in ("x", "1", "1.x", "-1.5", f"{2**64}.1"):
        with pytest.raises(ConfigError, match="cursor"):
            store.decisions.changes(cursor, now=NOW)


def test_bouncer_cursors_are_kept_per_bouncer_and_forgotten_when_unused(store: SqlStore) -> None:
    """A saved cursor is read back per bouncer; one unused for 30 days is forgotten."""
    assert store.decisions.bouncer_cursor("key-1") is None
    store.decisions.save_bouncer_cursor("key-1", "3.100", now=NOW - timedelta(days=31))
    store.decisions.save_bouncer_cursor("key-2", "4.200", now=NOW - timedelta(days=1))
    assert store.decisions.bouncer_cursor("key-1") == "3.100"
    store.decisions.save_bouncer_cursor("key-3", "5.300", now=NOW)
    assert store.decisions.bouncer_cursor("key-1") is None
    assert store.decisions.bouncer_cursor("key-2") == "4.200"


def test_an_address_matches_the_ranges_that_contain_it(store: SqlStore) -> None:
    """ip= finds Ip decisions on that address and Range decisions containing it (v4 and v6)."""
    store.decisions.add([
        a_decision("198.51.100.0/24", "Range"),
        a_decision("198.51.100.7"),
        a_decision("203.0.113.1"),
        a_decision("2001:db8::/32", "Range"),
    ])  # fmt: skip
    found = store.decisions.query(DecisionFilter(ip="198.51.100.7")).items
    assert values(found) == ["198.51.100.0/24", "198.51.100.7"]
    assert values(store.decisions.query(DecisionFilter(ip="198.51.100.0/25")).items) == [
        "198.51.100.0/24"]  # fmt: skip
    assert values(store.decisions.query(DecisionFilter(ip="2001:db8::99")).items) == [
        "2001:db8::/32"
    ]
    assert store.decisions.query(DecisionFilter(ip="192.0.2.1")).items == []
    with pytest.raises(ConfigError, match="ip"):
        store.decisions.query(DecisionFilter(ip="nope"))


def test_decisions_filter_by_value_origin_incident_and_state(store: SqlStore) -> None:
    """Value (accounts caselessly), origin, incident and the include flags all narrow a query."""
    kept, gone = store.decisions.add([
        a_decision("203.0.113.1", incident="inc-a"),
        a_decision("203.0.113.2", incident="inc-b", origin="manual"),
    ])  # fmt: skip
    store.decisions.add([
        a_decision(ACCOUNT, "Username", type="flag"),
        a_decision("203.0.113.3", lasting=5, created=NOW - seconds(60)),
        a_decision("203.0.113.4", simulated=True),
    ])  # fmt: skip
    store.decisions.delete(gone.id, at=NOW - seconds(1))
    assert values(store.decisions.query(DecisionFilter(value="203.0.113.1")).items) == [
        "203.0.113.1"
    ]
    assert values(store.decisions.query(DecisionFilter(value=ACCOUNT.upper())).items) == [ACCOUNT]
    assert values(store.decisions.query(DecisionFilter(incident="inc-a")).items) == ["203.0.113.1"]
    assert store.decisions.query(DecisionFilter(origins=("manual",))).items == []
    with_deleted = DecisionFilter(origins=("manual",), include_deleted=True)
    assert [d.id for d in store.decisions.query(with_deleted).items] == [gone.id]
    assert len(store.decisions.query(DecisionFilter()).items) == 2
    everything = DecisionFilter(include_deleted=True, include_expired=True, include_simulated=True)
    assert len(store.decisions.query(everything).items) == 5
    past = DecisionFilter(at=NOW - seconds(58))
    assert "203.0.113.3" in values(store.decisions.query(past).items)
    assert kept.id in [d.id for d in store.decisions.query(DecisionFilter(type="ban")).items]


def test_decisions_page_by_id(store: SqlStore) -> None:
    """A walk of pages gives every decision once, in id order."""
    store.decisions.add([a_decision(f"203.0.113.{i}") for i in range(1, 8)])
    seen: list[int] = []
    cursor = None
    while True:
        page = store.decisions.query(DecisionFilter(), cursor=cursor, limit=3)
        seen += [d.id for d in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(seen)
    assert len(seen) == 7


def test_delete_of_an_unknown_or_deleted_decision_gives_none(store: SqlStore) -> None:
    """Deleting twice, or an id never given, changes nothing and says None."""
    added = store.decisions.add([a_decision()])[0]
    assert store.decisions.delete(added.id, at=NOW) is not None
    assert store.decisions.delete(added.id, at=NOW) is None
    assert store.decisions.delete(9999, at=NOW) is None
    assert store.decisions.delete(2**70, at=NOW) is None


def test_offences_count_earlier_bans_of_that_value(store: SqlStore) -> None:
    """Bans count; flags, simulated bans and bans deleted by hand do not; per scope and value."""
    expired = a_decision("203.0.113.1", lasting=1, created=NOW - seconds(30))
    store.decisions.add([a_decision("203.0.113.1"), expired])
    store.decisions.add([a_decision("203.0.113.1", simulated=True),
                         a_decision("203.0.113.1", type="captcha")])  # fmt: skip
    undone = store.decisions.add([a_decision("203.0.113.1")])[0]
    store.decisions.delete(undone.id, at=NOW)
    assert store.decisions.offences("Ip", "203.0.113.1") == 2
    assert store.decisions.offences("ip", "203.0.113.2") == 0
    store.decisions.add([a_decision(ACCOUNT, "Username")])
    assert store.decisions.offences("Username", ACCOUNT.title()) == 1


def test_active_decision_counts_are_by_scope(store: SqlStore) -> None:
    """Only decisions in force count, by scope."""
    store.decisions.add([
        a_decision("203.0.113.1"), a_decision("203.0.113.2"),
        a_decision("198.51.100.0/24", "Range"), a_decision("203.0.113.3", simulated=True),
        a_decision("203.0.113.4", lasting=1, created=NOW - seconds(10)),
    ])  # fmt: skip
    assert store.decisions.active_counts(NOW) == {"Ip": 2, "Range": 1}


def test_the_allowlist_adds_lists_and_deletes(store: SqlStore) -> None:
    """Entries get ids; adding a value again keeps its id and takes the new reason."""
    first = store.allowlist.add(allow("203.0.113.10"))
    again = store.allowlist.add(allow("203.0.113.10", reason="partner scanner"))
    store.allowlist.add(allow(ACCOUNT, "Username", reason="the monitoring account"))
    assert again.id == first.id
    listed = store.allowlist.entries()
    assert [(e.scope, e.value, e.reason) for e in listed] == [
        ("Ip", "203.0.113.10", "partner scanner"),
        ("Username", ACCOUNT, "the monitoring account"),
    ]
    assert store.allowlist.delete("Ip", "203.0.113.10") is True
    assert store.allowlist.delete("Ip", "203.0.113.10") is False
    assert [e.value for e in store.allowlist.entries()] == [ACCOUNT]


def test_allowlist_containment(store: SqlStore) -> None:
    """An address inside an allowed range is allowed, as is a range overlapping an allowed
    address; accounts match caselessly; an IPv4-mapped IPv6 address is its IPv4 address."""
    store.allowlist.add(allow("192.0.2.0/24", "Range"))
    store.allowlist.add(allow("203.0.113.10"))
    store.allowlist.add(allow(ACCOUNT, "Username"))
    assert store.allowlist.is_allowed("Ip", "192.0.2.77")
    assert store.allowlist.is_allowed("Ip", "::ffff:192.0.2.77")
    assert store.allowlist.is_allowed("Range", "203.0.113.0/24")
    assert store.allowlist.is_allowed("Range", "192.0.0.0/16")
    assert store.allowlist.is_allowed("Username", ACCOUNT.upper())
    assert not store.allowlist.is_allowed("Ip", "192.0.3.1")
    assert not store.allowlist.is_allowed("Range", "198.51.100.0/24")
    assert not store.allowlist.is_allowed("Username", "someone-else")
    match = store.allowlist.allow_match("Ip", "192.0.2.77")
    assert match is not None
    assert (match.value, match.reason) == ("192.0.2.0/24", "office NAT")
    with pytest.raises(ConfigError):
        store.allowlist.is_allowed("Ip", "not-an-address")


def test_reasons_and_accounts_are_not_stored_in_clear(store: SqlStore, backend: Backend) -> None:
    """The reason, the account name and the allowlist reason are only in encrypted payloads."""
    store.decisions.add([a_decision(ACCOUNT, "Username", type="flag", reason="stuffing-secret")])
    store.allowlist.add(allow("203.0.113.10", reason="allow-secret-reason"))
    for table in ("decisions", "allowlist"):
        dump = repr(backend.sql(f"SELECT * FROM {table}"))  # noqa: S608
        for secret in ("stuffing-secret", ACCOUNT, "allow-secret-reason"):
            assert secret not in dump
    assert values(store.decisions.query(DecisionFilter()).items) == [ACCOUNT]


def test_decisions_and_allowlist_survive_key_rotation(store: SqlStore, backend: Backend) -> None:
    """rotate_key re-encrypts decision and allowlist payloads; they still read back."""
    store.decisions.add([a_decision(), a_decision(ACCOUNT, "Username", type="flag")])
    store.allowlist.add(allow("192.0.2.0/24", "Range"))
    before = {row[0] for row in backend.sql("SELECT key_id FROM decisions")}
    assert store.rotate_key() >= 3
    after = {row[0] for row in backend.sql("SELECT key_id FROM decisions")}
    assert before.isdisjoint(after)
    assert values(store.decisions.query(DecisionFilter()).items) == ["203.0.113.9", ACCOUNT]
    assert store.allowlist.entries()[0].reason == "office NAT"


def test_decisions_persist_across_reopening(backend: Backend, store: SqlStore) -> None:
    """A reopened store (schema created again if missing) keeps decisions, ids and cursors."""
    first = store.decisions.add([a_decision()])[0]
    changes = store.decisions.changes(None, now=NOW)
    store.decisions.save_bouncer_cursor("key-1", changes.cursor, now=NOW)
    again = backend.open(store.keyring)
    try:
        assert again.decisions.add([a_decision("203.0.113.2")])[0].id > first.id
        assert again.decisions.bouncer_cursor("key-1") == changes.cursor
        later = again.decisions.changes(changes.cursor, now=NOW + seconds(1))
        assert values(later.new) == ["203.0.113.2"]
    finally:
        again.close()


def _has_table(backend: Backend, table: str) -> bool:
    if backend.kind == "sqlite":
        return bool(backend.sql("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)))
    return backend.sql("SELECT to_regclass(?)", (table,))[0][0] is not None


def test_the_tables_are_made_when_the_store_opens(backend: Backend, store: SqlStore) -> None:
    """Opening a store makes the decision tables (a store that fills up before its first
    decision must still verify, and that reads them); reads find them empty."""
    for table in ("decisions", "allowlist", "decision_cursors"):
        assert _has_table(backend, table)
    assert store.allowlist.entries() == []
