"""The console's tables on both back ends: per-minute rollups kept at ingest, users (ledgered),
sessions, incident states."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from apiwatch.store import ConsoleUser, IncidentState, SqlStore, StoredLine

from .helpers import T0, batch, line


def test_rollups_count_requests_failed_logins_and_errors_per_minute(store: SqlStore) -> None:
    """Each appended event lands in its event-time minute: requests, failed logins, 4xx, 5xx."""
    store.events.append([batch([
        line(at=T0, status=200),
        line(at=T0 + timedelta(seconds=30), action="authn_login_fail", status=401),
        line(at=T0 + timedelta(seconds=59), status=503),
        line(at=T0 + timedelta(minutes=2), status=404, ip="198.51.100.4"),
    ])])  # fmt: skip
    store.events.append([batch([line(at=T0 + timedelta(seconds=1), status=500)])])
    counts = store.console.minute_counts(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert [(c.minute, c.requests, c.login_failures, c.client_errors, c.server_errors)
            for c in counts] == [
        (T0, 4, 1, 1, 2),
        (T0 + timedelta(minutes=2), 1, 0, 1, 0),
    ]  # fmt: skip
    assert store.console.latest_minute() == T0 + timedelta(minutes=2)


def test_rollups_rank_addresses_by_failures(store: SqlStore) -> None:
    """Top addresses come from the per-address rollup, most failures first, with requests."""
    store.events.append([batch([
        *(line(ip="203.0.113.9", action="authn_login_fail", status=401) for _ in range(3)),
        *(line(ip="198.51.100.1", status=200) for _ in range(5)),
        line(ip="198.51.100.1", status=404),
    ])])  # fmt: skip
    assert store.console.top_addresses(T0 - timedelta(minutes=5), 10) == [
        ("203.0.113.9", 3, 3),
        ("198.51.100.1", 6, 1),
    ]
    assert store.console.address_requests(["203.0.113.9", "192.0.2.1"], T0, T0) == {
        "203.0.113.9": 3
    }


def test_console_users_are_stored_ledgered_and_removable(store: SqlStore) -> None:
    """A user is added once, listed, has its hash replaced and is deleted; verify stays ok."""
    store.console.add_user(ConsoleUser("alice", "analyst", "$argon2id$x", T0))
    with pytest.raises(ValueError, match="already exists"):
        store.console.add_user(ConsoleUser("alice", "admin", "$argon2id$y", T0))
    assert [u.name for u in store.console.users()] == ["alice"]
    assert store.console.set_password("alice", "$argon2id$z")
    found = store.console.user("alice")
    assert found is not None
    assert found.password_hash == "$argon2id$z"
    assert found.role == "analyst"
    assert store.verify().ok
    assert store.console.delete_user("alice")
    assert not store.console.delete_user("alice")
    assert store.console.user("alice") is None
    assert store.verify().ok


def test_sessions_expire_and_end_with_their_user(store: SqlStore) -> None:
    """A session is found by its token hash until it expires, and not after its user is gone."""
    store.console.add_user(ConsoleUser("bob", "viewer", "h", T0))
    store.console.add_session(b"t" * 32, "bob", "csrf", T0 + timedelta(hours=1), T0)
    found = store.console.session(b"t" * 32, T0)
    assert found is not None
    assert (found.user, found.role, found.csrf) == ("bob", "viewer", "csrf")
    assert store.console.session(b"t" * 32, T0 + timedelta(hours=2)) is None
    store.console.delete_session(b"t" * 32)
    assert store.console.session(b"t" * 32, T0) is None
    store.console.add_session(b"u" * 32, "bob", "csrf", T0 + timedelta(hours=1), T0)
    store.console.delete_user("bob")
    assert store.console.session(b"u" * 32, T0) is None


def test_incident_states_are_kept_and_replaced(store: SqlStore) -> None:
    """The latest state an operator set is the incident's; verify covers the table."""
    store.console.set_incident_state(IncidentState("inc-1", "acknowledged", "alice", T0))
    store.console.set_incident_state(IncidentState("inc-1", "resolved", "bob", T0, "done"))
    states = store.console.incident_states()
    assert states["inc-1"].status == "resolved"
    assert states["inc-1"].by == "bob"
    assert store.verify().ok


def test_retention_drops_old_rollup_minutes(store: SqlStore) -> None:
    """`expire` removes the rollups of the minutes it expires, and keeps the younger ones."""
    store.events.append([batch([line(at=T0), line(at=T0 + timedelta(hours=2))])])
    store.events.expire(T0 + timedelta(hours=1))
    counts = store.console.minute_counts(T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert [c.minute for c in counts] == [T0 + timedelta(hours=2)]
    assert store.console.top_addresses(T0 - timedelta(days=1), 5) == [("203.0.113.7", 1, 0)]


def test_many_addresses_are_counted_in_one_pass(store: SqlStore) -> None:
    """Requests of more addresses than one query binds (an incident's 2,000 attackers) are
    counted, per address and per minute, as for a few."""
    addresses = [f"198.51.{n // 250}.{n % 250}" for n in range(2000)]
    store.events.append([batch([line(ip=a, status=401) for a in addresses]),
                  batch([line(ip="192.0.2.1")])])  # fmt: skip
    counts = store.console.address_requests(addresses, T0, T0)
    assert len(counts) == 2000
    assert set(counts.values()) == {1}
    assert store.console.addresses_per_minute(addresses, T0, T0) == {T0: (2000, 2000)}
    assert store.console.addresses_per_minute(addresses[:3], T0, T0) == {T0: (3, 3)}
    assert store.console.address_requests([], T0, T0) == {}


def test_sealed_and_unsealed_lines_roll_up_alike(store: SqlStore) -> None:
    """Lines sealed ahead of the commit (their tally worked out then) count in the rollups as
    lines sealed at the commit do: same minutes, same addresses, same failures."""

    def events(at: datetime) -> list[StoredLine]:
        return [
            line(at=at, action="authn_login_fail", status=401, ip="203.0.113.9"),
            line(at=at + timedelta(seconds=59, microseconds=999_999), status=503),
            line(at=at + timedelta(minutes=1), status=200, ip="198.51.100.1"),
        ]

    later = T0 + timedelta(hours=2)
    store.events.append([batch(events(T0))])
    store.events.append([batch(store.events.seal(events(later), "ingest-1"))])
    first = store.console.minute_counts(T0, T0 + timedelta(minutes=5))
    second = store.console.minute_counts(later, later + timedelta(minutes=5))
    shape = [(c.minute - T0, c.requests, c.login_failures, c.client_errors, c.server_errors)
             for c in first]  # fmt: skip
    assert shape == [(c.minute - later, c.requests, c.login_failures, c.client_errors,
                      c.server_errors) for c in second]  # fmt: skip
    assert shape == [(timedelta(0), 2, 1, 1, 1), (timedelta(minutes=1), 1, 0, 0, 0)]
