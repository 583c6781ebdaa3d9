"""What the web console keeps in the store: its users, their sessions, the state an operator
gives an incident, and the per-minute rollups its charts read.

Users (``console_users``) hold only an argon2 hash of the password (hashed by the console, see
`apiwatch.server.console._passwords`); every write to them is in the ledger, so a user or a
role added to the database by hand fails `Store.verify`. Sessions (``console_sessions``) hold
the SHA-256 of the session token, never the token. Incident states (``incident_states``:
acknowledged, resolved, false positive, with who and when) are ledgered too.

Rollups are counted in the transaction that appends the events, by event time:
``event_minutes`` (requests, failed logins, 4xx, 5xx per minute) and ``address_minutes``
(requests and failures per source address per minute). The overview's charts and top lists
read these instead of scanning events, so they stay fast on a large store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from apiwatch.model import Event, EventDecodeError, decode_event
from apiwatch.store._rows import (
    TallyView,
    clear_text,
    event_tally,
    from_micros,
    micros,
    minute_of,
    minute_of_micros,
)
from apiwatch.store.base import ConsoleSession, ConsoleUser, IncidentState, MinuteCounts, Tally

if TYPE_CHECKING:
    from apiwatch.store._database import Database

__all__ = [
    "SqlConsoleStore", "count_minutes", "line_tally", "roll_up", "schema", "tallies",
    "trim_rollups",
]  # fmt: skip

_CHUNK = 900  # addresses per query: under every back end's limit of bound parameters
_viewed = msgspec.json.Decoder(TallyView).decode


def schema(blob: str, big: str) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS console_users (
            name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
            created_at {big} NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS console_sessions (
            token_hash {blob} PRIMARY KEY, name TEXT NOT NULL, csrf TEXT NOT NULL,
            expires {big} NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS incident_states (
            id TEXT PRIMARY KEY, status TEXT NOT NULL, by_name TEXT NOT NULL, at {big} NOT NULL,
            note TEXT NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS event_minutes (
            minute {big} PRIMARY KEY, requests {big} NOT NULL, login_failures {big} NOT NULL,
            client_errors {big} NOT NULL, server_errors {big} NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS address_minutes (
            minute {big} NOT NULL, ip TEXT NOT NULL, requests {big} NOT NULL,
            failures {big} NOT NULL, PRIMARY KEY (minute, ip))""",
        # No second index by address: it cost the single commit path about as much again as
        # the rollup itself; the console's reads by address are bounded to an incident's window.
    ]


def tallies(events: Iterable[Event]) -> Iterator[Tally]:
    """`event_tally` of each event (one minute worked out per distinct time object: parsers share
    one time object per distinct value)."""
    minutes: dict[datetime, int] = {}
    for event in events:
        moment = event.timestamp
        minute = minutes.get(moment)
        if minute is None:
            minute = minutes[moment] = minute_of(moment)
        yield event_tally(event, minute)


def line_tally(line: bytes, ts: int | None = None) -> Tally | None:
    """`event_tally` of a stored ECS line (a decrypted payload: what ingest accepted), or None when
    it is not an event. Only the fields counted are decoded (`TallyView`): ingest checked the
    whole line before it was sealed. ``ts``, the row's stored microseconds, spares working out
    the minute from the time again. A row that fails here is stored uncounted."""
    try:
        view = _viewed(line)
        return event_tally(view, None if ts is None else minute_of_micros(ts, view))
    except msgspec.MsgspecError:
        pass
    try:
        return event_tally(decode_event(line))
    except EventDecodeError:
        return None


def count_minutes(
    counted: Iterable[Tally],
) -> tuple[dict[int, list[int]], dict[tuple[int, str], int], dict[tuple[int, str], int]]:
    """Per minute: [requests, login failures, 4xx, 5xx]; per (minute, address): requests and
    failures (a failed login, a 4xx or a 5xx). Plain dicts rather than Counters: kept lean."""
    minutes: dict[int, list[int]] = {}
    requests: dict[tuple[int, str], int] = {}
    failures: dict[tuple[int, str], int] = {}
    for minute, ip, login_failed, status in counted:
        counts = minutes.get(minute)
        if counts is None:
            counts = minutes[minute] = [0, 0, 0, 0]
        counts[0] += 1
        if login_failed:
            counts[1] += 1
        erred = False
        if status is not None and status >= 400:
            erred = True
            counts[2 if status < 500 else 3] += 1
        if ip:
            key = (minute, ip)
            requests[key] = requests.get(key, 0) + 1
            if login_failed or erred:
                failures[key] = failures.get(key, 0) + 1
    return minutes, requests, failures


def roll_up(cursor: Any, db: Database, counted: Iterable[Tally]) -> None:
    """Add the events ``counted`` tallies to the per-minute rollups (inside the append
    transaction). Each key comes once per statement (they are counted first), as a multi-row
    upsert requires."""
    minutes, requests, failures = count_minutes(counted)
    db.insert_many(
        cursor,
        "INSERT INTO event_minutes",
        [(minute, *counts) for minute, counts in minutes.items()],
        5,
        """ON CONFLICT (minute) DO UPDATE SET
        requests = event_minutes.requests + excluded.requests,
        login_failures = event_minutes.login_failures + excluded.login_failures,
        client_errors = event_minutes.client_errors + excluded.client_errors,
        server_errors = event_minutes.server_errors + excluded.server_errors""",
    )
    db.insert_many(
        cursor,
        "INSERT INTO address_minutes",
        [
            (minute, ip, count, failures.get((minute, ip), 0))
            for (minute, ip), count in requests.items()
        ],
        4,
        """ON CONFLICT (minute, ip) DO UPDATE SET
        requests = address_minutes.requests + excluded.requests,
        failures = address_minutes.failures + excluded.failures""",
    )


def trim_rollups(cursor: Any, mark: str, before_us: int) -> None:
    """Drop the rollup minutes wholly before ``before_us`` (retention)."""
    minute = before_us // 60_000_000
    for table in ("event_minutes", "address_minutes"):
        cursor.execute(f"DELETE FROM {table} WHERE minute < {mark}", (minute,))


class SqlConsoleStore:
    """`ConsoleStore` over a `Database`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- rollups ----------------------------------------------------------------------------------

    def minute_counts(self, since: datetime, until: datetime) -> list[MinuteCounts]:
        """The rollup minutes in [since, until), oldest first (minutes without events absent)."""
        m = self._db.mark
        rows = self._db.read_all(
            f"SELECT minute, requests, login_failures, client_errors, server_errors FROM "
            f"event_minutes WHERE minute >= {m} AND minute < {m} ORDER BY minute",
            (micros(since) // 60_000_000, micros(until) // 60_000_000),
        )
        return [
            MinuteCounts(
                from_micros(int(r[0]) * 60_000_000), int(r[1]), int(r[2]), int(r[3]), int(r[4])
            )
            for r in rows
        ]

    def latest_minute(self) -> datetime | None:
        """The newest minute with events (by event time), or None for an empty store."""
        rows = self._db.read_all("SELECT MAX(minute) FROM event_minutes")
        value = rows[0][0] if rows else None
        return None if value is None else from_micros(int(value) * 60_000_000)

    def top_addresses(self, since: datetime, limit: int) -> list[tuple[str, int, int]]:
        """``(address, requests, failures)`` since ``since``, most failures first."""
        # Grouped by an expression, not the column: SQLite would otherwise walk the whole
        # (ip, minute) index in ip order instead of only the window's minutes.
        rows = self._db.read_all(
            f"SELECT ip || '' AS address, SUM(requests), SUM(failures) FROM address_minutes "
            f"WHERE minute >= {self._db.mark} GROUP BY ip || '' ORDER BY SUM(failures) DESC, "
            f"SUM(requests) DESC, address LIMIT {int(limit)}",
            (micros(since) // 60_000_000,),
        )
        return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]

    def address_requests(
        self, addresses: Sequence[str], since: datetime, until: datetime
    ) -> dict[str, int]:
        """Requests of each of ``addresses`` in the minutes from ``since`` through ``until``."""
        m = self._db.mark
        bounds = (micros(since) // 60_000_000, micros(until) // 60_000_000)
        window = f"minute >= {m} AND minute <= {m}"
        if len(addresses) > _CHUNK:  # one pass over the window beats a pass per chunk
            wanted = set(addresses)
            rows = self._db.read_all(
                f"SELECT ip, SUM(requests) FROM address_minutes WHERE {window} GROUP BY ip", bounds
            )
            return {str(r[0]): int(r[1]) for r in rows if r[0] in wanted}
        if not addresses:
            return {}
        rows = self._db.read_all(
            f"SELECT ip, SUM(requests) FROM address_minutes WHERE {window} AND ip IN "
            f"({', '.join([m] * len(addresses))}) GROUP BY ip",
            (*bounds, *addresses),
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def addresses_per_minute(
        self, addresses: Sequence[str], since: datetime, until: datetime
    ) -> dict[datetime, tuple[int, int]]:
        """Requests and failures of ``addresses`` together, per minute from the minute of
        ``since`` through that of ``until``."""
        m = self._db.mark
        bounds = (micros(since) // 60_000_000, micros(until) // 60_000_000)
        window = f"minute >= {m} AND minute <= {m}"
        found: dict[int, list[int]] = {}
        if len(addresses) > _CHUNK:  # one pass over the window, filtered here
            wanted = set(addresses)
            rows = self._db.read_all(
                f"SELECT minute, ip, requests, failures FROM address_minutes WHERE {window}",
                bounds,
            )
            picked = [(r[0], r[2], r[3]) for r in rows if r[1] in wanted]
        elif addresses:
            picked = self._db.read_all(
                f"SELECT minute, SUM(requests), SUM(failures) FROM address_minutes WHERE "
                f"{window} AND ip IN ({', '.join([m] * len(addresses))}) GROUP BY minute",
                (*bounds, *addresses),
            )
        else:
            picked = []
        for minute, requests, failures in picked:
            counts = found.setdefault(int(minute), [0, 0])
            counts[0] += int(requests)
            counts[1] += int(failures)
        return {from_micros(k * 60_000_000): (v[0], v[1]) for k, v in sorted(found.items())}

    # -- users ------------------------------------------------------------------------------------

    def add_user(self, user: ConsoleUser) -> None:
        """Store a new user; `ValueError` when the name is taken."""
        m = self._db.mark
        with self._db.transaction(exclusive=True) as cursor:
            cursor.execute(f"SELECT 1 FROM console_users WHERE name = {m}", (user.name,))
            if cursor.fetchone() is not None:
                raise ValueError(f"a user called {user.name!r} already exists")
            cursor.execute(
                f"INSERT INTO console_users VALUES ({m}, {m}, {m}, {m})",
                (user.name, user.role, user.password_hash, micros(user.created_at)),
            )
            self._db.ledger_rows(cursor, "console_user", [user.name])

    def user(self, name: str) -> ConsoleUser | None:
        rows = self._db.read_all(
            f"SELECT name, role, password_hash, created_at FROM console_users WHERE name = "
            f"{self._db.mark}",
            (clear_text(name),),
        )
        return _user(rows[0]) if rows else None

    def users(self) -> list[ConsoleUser]:
        rows = self._db.read_all(
            "SELECT name, role, password_hash, created_at FROM console_users ORDER BY name"
        )
        return [_user(row) for row in rows]

    def set_password(self, name: str, password_hash: str) -> bool:
        """Replace a user's password hash and end the user's sessions; whether the user exists."""
        m = self._db.mark
        with self._db.transaction(exclusive=True) as cursor:
            cursor.execute(
                f"UPDATE console_users SET password_hash = {m} WHERE name = {m}",
                (password_hash, name),
            )
            if cursor.rowcount != 1:
                return False
            cursor.execute(f"DELETE FROM console_sessions WHERE name = {m}", (name,))
            self._db.ledger_rows(cursor, "console_user", [name])
        return True

    def delete_user(self, name: str) -> bool:
        """Remove a user and the user's sessions; whether there was one."""
        m = self._db.mark
        with self._db.transaction(exclusive=True) as cursor:
            cursor.execute(f"DELETE FROM console_users WHERE name = {m}", (name,))
            if cursor.rowcount != 1:
                return False
            cursor.execute(f"DELETE FROM console_sessions WHERE name = {m}", (name,))
            self._db.ledger_rows(cursor, "console_user", [name])
        return True

    # -- sessions ---------------------------------------------------------------------------------

    def add_session(
        self, token_hash: bytes, name: str, csrf: str, expires: datetime, now: datetime
    ) -> None:
        """Store a session (its token only as a hash); expired sessions are dropped here."""
        m = self._db.mark
        with self._db.transaction() as cursor:
            cursor.execute(f"DELETE FROM console_sessions WHERE expires <= {m}", (micros(now),))
            cursor.execute(
                f"INSERT INTO console_sessions VALUES ({m}, {m}, {m}, {m})",
                (token_hash, name, csrf, micros(expires)),
            )

    def session(self, token_hash: bytes, now: datetime) -> ConsoleSession | None:
        """The session with this token hash, unexpired, of a user that still exists."""
        m = self._db.mark
        rows = self._db.read_all(
            f"SELECT s.name, u.role, s.csrf, s.expires FROM console_sessions s JOIN "
            f"console_users u ON u.name = s.name WHERE s.token_hash = {m} AND s.expires > {m}",
            (token_hash, micros(now)),
        )
        if not rows:
            return None
        r = rows[0]
        return ConsoleSession(str(r[0]), str(r[1]), str(r[2]), from_micros(int(r[3])))

    def delete_session(self, token_hash: bytes) -> None:
        with self._db.transaction() as cursor:
            cursor.execute(
                f"DELETE FROM console_sessions WHERE token_hash = {self._db.mark}", (token_hash,)
            )

    # -- incident states --------------------------------------------------------------------------

    def set_incident_state(self, state: IncidentState) -> None:
        """Record what an operator says of an incident (``open`` reopens it)."""
        m = self._db.mark
        with self._db.transaction(exclusive=True) as cursor:
            cursor.execute(
                f"""INSERT INTO incident_states VALUES ({m}, {m}, {m}, {m}, {m})
                ON CONFLICT (id) DO UPDATE SET status = excluded.status, by_name = excluded.by_name,
                at = excluded.at, note = excluded.note""",
                (clear_text(state.incident), state.status, clear_text(state.by),
                 micros(state.at), clear_text(state.note)),
            )  # fmt: skip
            self._db.ledger_rows(cursor, "incident_state", [clear_text(state.incident)])

    def incident_states(self) -> dict[str, IncidentState]:
        """Every incident state recorded, by incident id."""
        rows = self._db.read_all("SELECT id, status, by_name, at, note FROM incident_states")
        return {
            str(r[0]): IncidentState(
                str(r[0]), str(r[1]), str(r[2]), from_micros(int(r[3])), str(r[4])
            )
            for r in rows
        }


def _user(row: Any) -> ConsoleUser:
    return ConsoleUser(str(row[0]), str(row[1]), str(row[2]), from_micros(int(row[3])))
