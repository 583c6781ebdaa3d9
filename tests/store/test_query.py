"""Queries: every filter of `EventFilter`, on both back ends, and cursor pagination."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apiwatch.model import ConfigError, decode_event
from apiwatch.store import EventFilter, SqlStore

from .helpers import T0, batch, line

# name -> fields; the name is carried in the event's path suffix so results are easy to read.
EVENTS = {
    "v4-a": {"ip": "10.1.2.3", "user": "alice", "status": 200, "at": T0},
    "v4-b": {"ip": "10.1.2.200", "user": "bob", "status": 401, "action": "authn_login_fail",
             "outcome": "failure", "at": T0 + timedelta(minutes=1)},
    "v4-c": {"ip": "10.9.0.1", "user": "alice", "status": 403, "action": "authz_fail",
             "outcome": "failure", "at": T0 + timedelta(minutes=2)},
    "v6-a": {"ip": "2001:db8:1:2::10", "user": "bob", "status": 200,
             "at": T0 + timedelta(minutes=3)},
    "v6-b": {"ip": "2001:db8:ffff::1", "user": None, "status": 500,
             "at": T0 + timedelta(minutes=4)},
    "none": {"ip": None, "user": "Alice", "status": None, "outcome": None,
             "at": T0 + timedelta(minutes=5)},
}  # fmt: skip


@pytest.fixture
def filled(store: SqlStore) -> SqlStore:
    prefixes = {"v4-a": "/api/orders/", "v4-b": "/login/", "v4-c": "/api/admin/", "v6-a": "/api/o/"}
    sent = [
        line(path=f"{prefixes.get(name, '/other/')}{name}", **fields)  # type: ignore[arg-type]
        for name, fields in EVENTS.items()
    ]
    store.events.append([batch(sent[:3]), batch(sent[3:], key="ingest-2")])
    return store


def names(store: SqlStore, criteria: EventFilter) -> list[str]:
    page = store.events.query(criteria, cursor=None, limit=100)
    assert page.next_cursor is None
    paths = [decode_event(raw).url for raw in page.lines]
    return [url.path.rsplit("/", 1)[-1] if url and url.path else "?" for url in paths]


def test_no_criteria_returns_everything_in_order(filled: SqlStore) -> None:
    """An empty filter returns every event in storage order."""
    assert names(filled, EventFilter()) == list(EVENTS)


def test_time_range_includes_since_and_excludes_until(filled: SqlStore) -> None:
    """since is inclusive, until exclusive."""
    window = EventFilter(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
    assert names(filled, window) == ["v4-b", "v4-c"]
    assert names(filled, EventFilter(since=T0 + timedelta(minutes=4))) == ["v6-b", "none"]


@pytest.mark.parametrize(
    ("criterion", "expected"),
    [
        ("10.1.2.3", ["v4-a"]),
        ("10.1.2.0/24", ["v4-a", "v4-b"]),
        ("10.0.0.0/8", ["v4-a", "v4-b", "v4-c"]),
        ("0.0.0.0/0", ["v4-a", "v4-b", "v4-c"]),
        ("2001:db8:1:2::10", ["v6-a"]),
        ("2001:db8:1:2::/64", ["v6-a"]),
        ("2001:db8::/32", ["v6-a", "v6-b"]),
        ("192.0.2.0/24", []),
    ],
)
def test_source_ip_exact_and_cidr(filled: SqlStore, criterion: str, expected: list[str]) -> None:
    """source.ip matches an address exactly or any address inside a network, per family."""
    assert names(filled, EventFilter(source_ip=criterion)) == expected


def test_bad_source_ip_is_a_config_error(filled: SqlStore) -> None:
    """A source.ip that is neither an address nor a network is a clear ConfigError."""
    with pytest.raises(ConfigError, match=r"source\.ip"):
        filled.events.query(EventFilter(source_ip="10.0.0.300"), cursor=None, limit=10)


def test_user_name_through_the_blind_index(filled: SqlStore) -> None:
    """user.name matches exactly (case-sensitive) through the blind index."""
    assert names(filled, EventFilter(user_name="alice")) == ["v4-a", "v4-c"]
    assert names(filled, EventFilter(user_name="Alice")) == ["none"]
    assert names(filled, EventFilter(user_name="mallory")) == []


def test_action_outcome_and_status(filled: SqlStore) -> None:
    """event.action, event.outcome and the status code filter by equality, and combine."""
    assert names(filled, EventFilter(action="authz_fail")) == ["v4-c"]
    assert names(filled, EventFilter(outcome="failure")) == ["v4-b", "v4-c"]
    assert names(filled, EventFilter(status=200)) == ["v4-a", "v6-a"]
    both = EventFilter(outcome="failure", user_name="bob", source_ip="10.0.0.0/8")
    assert names(filled, both) == ["v4-b"]


def test_path_prefix_is_literal(filled: SqlStore) -> None:
    """url.path matches by prefix, with no wildcard meaning for % or _."""
    assert names(filled, EventFilter(path_prefix="/api/o")) == ["v4-a", "v6-a"]
    assert names(filled, EventFilter(path_prefix="/api/orders/")) == ["v4-a"]
    assert names(filled, EventFilter(path_prefix="/api/%")) == []
    assert names(filled, EventFilter(path_prefix="/_pi")) == []


def test_cursor_pagination_walks_every_event_once(store: SqlStore) -> None:
    """Following next_cursor visits every matching event exactly once, in order."""
    sent = [line(status=200 if i % 3 else 500) for i in range(23)]
    store.events.append([batch(sent[:10]), batch(sent[10:])])
    wanted = [s.payload for i, s in enumerate(sent) if i % 3]
    seen: list[bytes] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = store.events.query(EventFilter(status=200), cursor=cursor, limit=4)
        seen += page.lines
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == wanted
    assert pages == 4  # 15 events: 4 + 4 + 4 + 3


@pytest.mark.parametrize("cursor", ["abc", "-1", "1.5", str(2**63), ""])
def test_bad_cursor_is_a_config_error(filled: SqlStore, cursor: str) -> None:
    """A cursor this store never gave out is a ConfigError (an empty one means the start)."""
    if cursor == "":
        assert len(filled.events.query(EventFilter(), cursor=cursor, limit=100).lines) == len(
            EVENTS
        )
        return
    with pytest.raises(ConfigError, match="cursor"):
        filled.events.query(EventFilter(), cursor=cursor, limit=10)
