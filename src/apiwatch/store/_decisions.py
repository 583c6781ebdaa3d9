"""Decisions and the allowlist at rest, and what a bouncer's stream needs of them.

What is in clear, and why
    A decision on an address or a network must be served to every bouncer that asks for the
    decisions covering an address (``GET /v1/decisions?ip=``) or for what changed since its last
    pull; an allowlist lookup must find the range an address is in. So ``Ip`` and ``Range``
    values are kept in clear, as their text and as the inclusive 16-byte range they cover
    (IPv4 mapped into IPv6, as `apiwatch.store._rows.ip_range` makes it), the way events keep
    ``source.ip`` in clear. Account names (``Username``) are personal data: in clear there is
    only their keyed blind index (of the case-folded name, so a lookup is caseless, as the
    responder's allowlist is), never the name. Type, scope, origin, scenario (a rule name), the
    incident id (an opaque id, as alerts keep it), the times and the change numbers the stream
    runs on are clear columns too.

    The whole record (its msgspec JSON: value, reason, incident ...) is AES-GCM encrypted under
    the store's current data key, bound to its table and id, and re-encrypted by `rotate_key`.
    What is served (the value of an account decision, the ``until`` a duration is counted to)
    comes from that authenticated payload; the clear columns only select rows.

The stream
    Every write that changes what is in force takes the next *change number* (one counter in
    ``meta``): a batch of new decisions takes one, each delete one. Writers take the store's
    writer lock, so change numbers and ids commit in order. A stream cursor is ``S.T``: the
    change number and the time (µs) the bouncer was answered up to. A decision was *in force
    for the bouncer* at ``S.T`` when it was created at a change ≤ S, not deleted at a change ≤ S
    and its ``until`` was after T. A pull at change S' and time T' answers as ``new`` what is
    in force at ``S'.T'`` but was created after S, and as ``deleted`` what was in force at
    ``S.T`` and is not at ``S'.T'``; so over a chain of cursors every decision is new once and
    deleted (or expired) once. A decision applies from when it is stored (its ``created`` time
    is not consulted by the stream).

The tables are created on first use (``CREATE ... IF NOT EXISTS`` under the writer lock), not
when the store is opened: an existing store gains them when it first needs them, and a store
that never holds a decision is not made larger by them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec

from apiwatch.model import (
    DECISION_SCOPES,
    DECISION_TYPES,
    AllowEntry,
    ConfigError,
    Decision,
    normalise_value,
    scope_name,
)
from apiwatch.store._rows import clear_text, from_micros, ip_range, micros
from apiwatch.store.base import DecisionChanges, DecisionFilter, DecisionPage
from apiwatch.store.crypto import Keyring

__all__ = ["DecisionTables", "schema", "stream_cursor"]

logger = logging.getLogger("apiwatch.decisions")

_DECISION: Final = "decision"
_ALLOW: Final = "allow"
_CHUNK: Final = 500
_CURSOR_DAYS: Final = 30
_MAX_ID: Final = 2**63 - 1
_DECISION_COLUMNS: Final = (
    "id", "type", "scope", "value_key", "ip_low", "ip_high", "origin", "scenario", "incident",
    "simulated", "created", "until", "created_change", "key_id", "payload",
)  # fmt: skip
_READ: Final = "id, deleted, key_id, payload"
#: In force for a bouncer at change number S and time T (parameters: S, S, T in µs); the
#: placeholder is filled in per back end by `_in_force`.
_IN_FORCE_TEMPLATE: Final = (
    "created_change <= {m} AND (deleted_change IS NULL OR deleted_change > {m}) AND until > {m}"
)

_encode = msgspec.json.Encoder().encode
_decode_decision = msgspec.json.Decoder(Decision).decode
_decode_allow = msgspec.json.Decoder(AllowEntry).decode


def schema(blob: str, big: str) -> list[str]:
    """The tables and indexes; ``CREATE ... IF NOT EXISTS``, so an older store gains them."""
    return [
        f"""CREATE TABLE IF NOT EXISTS decisions (
            id {big} PRIMARY KEY, type TEXT NOT NULL, scope TEXT NOT NULL,
            value_key TEXT NOT NULL, ip_low {blob}, ip_high {blob}, origin TEXT NOT NULL,
            scenario TEXT NOT NULL, incident TEXT NOT NULL, simulated INTEGER NOT NULL,
            created {big} NOT NULL, until {big} NOT NULL, deleted {big},
            created_change {big} NOT NULL, deleted_change {big}, key_id INTEGER NOT NULL,
            payload {blob} NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS decisions_until ON decisions (until)",
        "CREATE INDEX IF NOT EXISTS decisions_value ON decisions (value_key, scope)",
        "CREATE INDEX IF NOT EXISTS decisions_ip ON decisions (ip_low, ip_high)",
        "CREATE INDEX IF NOT EXISTS decisions_created_change ON decisions (created_change)",
        "CREATE INDEX IF NOT EXISTS decisions_deleted_change ON decisions (deleted_change)",
        f"""CREATE TABLE IF NOT EXISTS allowlist (
            id {big} PRIMARY KEY, scope TEXT NOT NULL, value_key TEXT NOT NULL,
            ip_low {blob}, ip_high {blob}, created {big} NOT NULL, key_id INTEGER NOT NULL,
            payload {blob} NOT NULL, UNIQUE (scope, value_key))""",
        f"""CREATE TABLE IF NOT EXISTS decision_cursors (
            bouncer TEXT PRIMARY KEY, cursor TEXT NOT NULL, at {big} NOT NULL)""",
    ]


def _scope_key(text: str) -> str:
    """A scope filter as compared: its `DECISION_SCOPES` name, or (matching nothing) the text
    as a clear column holds it (a NUL, which PostgreSQL text cannot hold, as U+FFFD)."""
    return scope_name(text) or clear_text(text) or ""


def _checked_value(scope: str, value: str) -> tuple[str, str]:
    """``(scope, value)`` in canonical form; `ConfigError` for an unknown scope or bad value."""
    name = scope_name(scope)
    if name is None:
        raise ConfigError(f"scope: {scope!r} is not one of {', '.join(DECISION_SCOPES)}")
    try:
        return name, clear_text(normalise_value(name, value)) or ""
    except ValueError as exc:
        raise ConfigError(f"value: {exc}") from None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _checked(decision: Decision) -> Decision:
    """``decision`` ready to store (canonical scope and value, UTC times), or `ConfigError`."""
    if decision.id != 0:
        raise ConfigError("id: decision ids are given by the store; pass id=0")
    if decision.type not in DECISION_TYPES:
        raise ConfigError(f"type: {decision.type!r} is not one of {', '.join(DECISION_TYPES)}")
    scope, value = _checked_value(decision.scope, decision.value)
    created, until = _utc(decision.created), _utc(decision.until)
    if until <= created:
        raise ConfigError("until: a decision must end after it is created")
    return msgspec.structs.replace(
        decision, scope=scope, value=value, created=created, until=until, deleted=None
    )


def _associated(kind: str, record_id: int) -> bytes:
    """What a record's ciphertext is bound to: its table and id."""
    return f"{kind}\x1f{record_id}".encode()


def _format_cursor(change: int, at_us: int) -> str:
    return f"{change}.{at_us}"


def stream_cursor(change: int, at: datetime) -> str:
    """The stream cursor of a bouncer answered with what was in force at change number
    ``change`` and time ``at`` (what `DecisionTables.decisions_as_of` gives)."""
    return _format_cursor(change, micros(at))


def _parse_cursor(cursor: str) -> tuple[int, int]:
    """``(change, time µs)`` of a stream cursor; `ConfigError` for anything else."""
    change, _, at = cursor.partition(".")
    try:
        values = int(change), int(at)
    except ValueError:
        raise ConfigError("cursor: not a cursor this server gave out") from None
    if not all(0 <= value <= _MAX_ID for value in values):
        raise ConfigError("cursor: not a cursor this server gave out")
    return values


class DecisionTables:
    """The decision and allowlist part of `SqlStore` (see the module docstring); the store
    provides the connections, the placeholder ``mark`` and the ``keyring``."""

    mark: str
    blob_type: str
    int_type: str
    keyring: Keyring
    _decision_tables_made = False

    def _transaction(self, *, exclusive: bool = False) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _read_all(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        raise NotImplementedError

    def _ledger_rows(self, cursor: Any, kind: str, refs: Iterable[object]) -> None:
        """Record rows in the ledger (`apiwatch.store._ledger`) inside the transaction."""
        raise NotImplementedError

    def _tables(self) -> None:
        """Create the decision tables when this store object has not made sure of them yet."""
        if self._decision_tables_made:
            return
        with self._transaction(exclusive=True) as cursor:
            for statement in schema(self.blob_type, self.int_type):
                cursor.execute(statement)
        self._decision_tables_made = True

    # -- keys, rows, numbers ---------------------------------------------------------------------

    def _value_key(self, scope: str, value: str) -> str:
        """The clear lookup key of a canonical value: an address or network as it is, an
        account as ``#`` and the hex of its blind index (of the case-folded name)."""
        if scope == "Username":
            return "#" + self.keyring.blind_index(value.casefold()).hex()
        return value

    def _ip_columns(self, scope: str, value: str) -> tuple[bytes | None, bytes | None]:
        if scope == "Username":
            return None, None
        return ip_range(value)

    def _advance(self, cursor: Any, counter: str, count: int) -> int:
        """Take ``count`` numbers from ``counter`` (inside an exclusive transaction); the first."""
        m = self.mark
        cursor.execute(f"SELECT v FROM meta WHERE k = {m}", (counter,))
        row = cursor.fetchone()
        current = int(row[0]) if row else 0
        cursor.execute(
            f"INSERT INTO meta VALUES ({m}, {m}) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            (counter, str(current + count)),
        )
        return current + 1

    def _current(self, counter: str) -> int:
        rows = self._read_all(f"SELECT v FROM meta WHERE k = {self.mark}", (counter,))
        return int(rows[0][0]) if rows else 0

    def _decision_row(self, decision: Decision, change: int) -> tuple[object, ...]:
        low, high = self._ip_columns(decision.scope, decision.value)
        key_id, payload = self.keyring.encrypt(
            _encode(decision), _associated(_DECISION, decision.id)
        )
        return (
            decision.id, decision.type, decision.scope,
            self._value_key(decision.scope, decision.value), low, high,
            clear_text(decision.origin), clear_text(decision.scenario),
            clear_text(decision.incident), int(decision.simulated), micros(decision.created),
            micros(decision.until), change, key_id, payload,
        )  # fmt: skip

    def _decision(self, row: Sequence[Any]) -> Decision:
        """A decision from ``(id, deleted, key_id, payload)``: the payload, decrypted."""
        decision_id = int(row[0])
        plain = self.keyring.decrypt(
            int(row[2]), bytes(row[3]), _associated(_DECISION, decision_id)
        )
        deleted = from_micros(int(row[1])) if row[1] is not None else None
        return msgspec.structs.replace(_decode_decision(plain), id=decision_id, deleted=deleted)

    def _allow_entry(self, row: Sequence[Any]) -> AllowEntry:
        """An entry from ``(id, key_id, payload)``."""
        entry_id = int(row[0])
        plain = self.keyring.decrypt(int(row[1]), bytes(row[2]), _associated(_ALLOW, entry_id))
        return msgspec.structs.replace(_decode_allow(plain), id=entry_id)

    @property
    def _in_force(self) -> str:
        return _IN_FORCE_TEMPLATE.format(m=self.mark)

    def _shown(self, scope: str, value: str) -> str:
        """A value as the log shows it: an account only as its blind index."""
        return self._value_key(scope, value) if scope == "Username" else value

    # -- writing decisions -----------------------------------------------------------------------

    def add_decisions(self, decisions: Sequence[Decision], *, by: str = "") -> list[Decision]:
        self._tables()
        prepared = [_checked(decision) for decision in decisions]
        if not prepared:
            return []
        columns = ", ".join(_DECISION_COLUMNS)
        marks = ", ".join([self.mark] * len(_DECISION_COLUMNS))
        with self._transaction(exclusive=True) as cursor:
            first = self._advance(cursor, "decision_id", len(prepared))
            change = self._advance(cursor, "decision_change", 1)
            stored = [
                msgspec.structs.replace(decision, id=first + index)
                for index, decision in enumerate(prepared)
            ]
            cursor.executemany(
                f"INSERT INTO decisions ({columns}) VALUES ({marks})",
                [self._decision_row(decision, change) for decision in stored],
            )
            self._ledger_rows(cursor, "decision", (decision.id for decision in stored))
        for decision in stored:
            logger.info(
                "decision %d added%s: %s %s %s until %s (origin %s%s)",
                decision.id, f" by {by}" if by else "", decision.type, decision.scope,
                self._shown(decision.scope, decision.value),
                decision.until.isoformat(timespec="seconds"), decision.origin,
                ", simulated" if decision.simulated else "",
            )  # fmt: skip
        return stored

    def delete_decision(self, decision_id: int, *, at: datetime, by: str = "") -> Decision | None:
        self._tables()
        if not 0 < decision_id <= _MAX_ID:
            return None
        m = self.mark
        with self._transaction(exclusive=True) as cursor:
            cursor.execute(
                f"SELECT {_READ} FROM decisions WHERE id = {m} AND deleted IS NULL", (decision_id,)
            )
            row = cursor.fetchone()
            if row is None:
                return None
            change = self._advance(cursor, "decision_change", 1)
            cursor.execute(
                f"UPDATE decisions SET deleted = {m}, deleted_change = {m} WHERE id = {m}",
                (micros(at), change, decision_id),
            )
            self._ledger_rows(cursor, "decision", [decision_id])
        decision = msgspec.structs.replace(self._decision(row), deleted=_utc(at))
        logger.info(
            "decision %d deleted%s: %s %s %s", decision.id, f" by {by}" if by else "",
            decision.type, decision.scope, self._shown(decision.scope, decision.value),
        )  # fmt: skip
        return decision

    # -- reading decisions -----------------------------------------------------------------------

    def decisions(
        self, criteria: DecisionFilter, *, cursor: str | None = None, limit: int = 1000
    ) -> DecisionPage:
        self._tables()
        clauses, params = self._where(criteria)
        if cursor:
            try:
                after = int(cursor)
            except ValueError:
                raise ConfigError("cursor: not a cursor this server gave out") from None
            clauses.append(f"id > {self.mark}")
            params.append(min(max(after, 0), _MAX_ID))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read_all(
            f"SELECT {_READ} FROM decisions {where} ORDER BY id LIMIT {int(limit) + 1}", params
        )
        items = [self._decision(row) for row in rows[:limit]]
        more = len(rows) > limit > 0
        return DecisionPage(items, str(items[-1].id) if more else None)

    def _where(self, criteria: DecisionFilter) -> tuple[list[str], list[object]]:
        m = self.mark
        at = micros(criteria.at or datetime.now(UTC))
        clauses: list[str] = []
        params: list[object] = []
        if not criteria.include_expired:
            clauses.append(f"created <= {m} AND until > {m}")
            params += [at, at]
        if not criteria.include_deleted:
            clauses.append(f"(deleted IS NULL OR deleted > {m})")
            params.append(at)
        if not criteria.include_simulated:
            clauses.append("simulated = 0")
        scopes = [_scope_key(s) for s in criteria.scopes]
        self._any_of("scope", scopes, clauses, params)
        self._any_of("origin", [clear_text(o) or "" for o in criteria.origins], clauses, params)
        if criteria.type is not None:
            clauses.append(f"type = {m}")
            params.append(clear_text(criteria.type))
        if criteria.incident is not None:
            clauses.append(f"incident = {m}")
            params.append(clear_text(criteria.incident))
        if criteria.value is not None:
            self._value_clause(criteria.value, scopes or list(DECISION_SCOPES), clauses, params)
        if criteria.ip is not None:
            try:
                low, high = ip_range(criteria.ip)
            except ValueError:
                raise ConfigError(
                    f"ip: {criteria.ip!r} is not an address or a CIDR network"
                ) from None
            if criteria.contains:
                clauses.append(f"ip_low <= {m} AND ip_high >= {m}")
            else:
                clauses.append(f"ip_low >= {m} AND ip_high <= {m}")
            params += [low, high]
        return clauses, params

    def _any_of(
        self, column: str, values: Sequence[object], clauses: list[str], params: list[object]
    ) -> None:
        if values:
            clauses.append(f"{column} IN ({', '.join([self.mark] * len(values))})")
            params.extend(values)

    def _value_clause(
        self, value: str, scopes: Sequence[str], clauses: list[str], params: list[object]
    ) -> None:
        """``value`` in any of ``scopes`` where it is a valid value (none: nothing matches)."""
        pairs: list[str] = []
        for scope in scopes:
            try:
                canonical = _checked_value(scope, value)[1]
            except ConfigError:
                continue
            pairs.append(f"(scope = {self.mark} AND value_key = {self.mark})")
            params += [scope, self._value_key(scope, canonical)]
        clauses.append(f"({' OR '.join(pairs)})" if pairs else "1 = 0")

    def offences(self, scope: str, value: str) -> int:
        self._tables()
        scope, value = _checked_value(scope, value)
        rows = self._read_all(
            f"SELECT COUNT(*) FROM decisions WHERE value_key = {self.mark} AND scope = {self.mark}"
            " AND type = 'ban' AND simulated = 0 AND deleted IS NULL",
            (self._value_key(scope, value), scope),
        )
        return int(rows[0][0])

    def active_decision_counts(self, now: datetime) -> dict[str, int]:
        self._tables()
        at = micros(now)
        rows = self._read_all(
            f"SELECT scope, COUNT(*) FROM decisions WHERE simulated = 0 AND deleted IS NULL "
            f"AND created <= {self.mark} AND until > {self.mark} GROUP BY scope",
            (at, at),
        )
        return {str(scope): int(count) for scope, count in rows}

    # -- the stream ------------------------------------------------------------------------------

    def decision_change(self) -> int:
        self._tables()
        return self._current("decision_change")

    def decisions_as_of(
        self,
        change: int,
        *,
        now: datetime,
        scopes: Sequence[str] = (),
        origins: Sequence[str] = (),
        after: int = 0,
        limit: int = 1000,
    ) -> list[Decision]:
        self._tables()
        filters, params = self._stream_filters(scopes, origins)
        rows = self._read_all(
            f"SELECT {_READ} FROM decisions WHERE id > {self.mark} AND {self._in_force} AND "
            f"{filters} ORDER BY id LIMIT {max(int(limit), 0)}",
            [min(max(after, 0), _MAX_ID), change, change, micros(now), *params],
        )
        return [self._decision(row) for row in rows]

    def _stream_filters(
        self, scopes: Sequence[str], origins: Sequence[str]
    ) -> tuple[str, list[object]]:
        """The stream's row filter (not simulated, of ``scopes`` and ``origins``) and its
        parameters."""
        filters: list[str] = ["simulated = 0"]
        params: list[object] = []
        self._any_of("scope", [_scope_key(s) for s in scopes], filters, params)
        self._any_of("origin", [clear_text(o) or "" for o in origins], filters, params)
        return " AND ".join(filters), params

    def decision_changes(
        self,
        cursor: str | None,
        *,
        now: datetime,
        scopes: Sequence[str] = (),
        origins: Sequence[str] = (),
    ) -> DecisionChanges:
        self._tables()
        since = _parse_cursor(cursor) if cursor else None
        change = self._current("decision_change")
        at = micros(now)
        m = self.mark
        filters, params = self._stream_filters(scopes, origins)
        new_rows = self._read_all(
            f"SELECT {_READ} FROM decisions WHERE created_change > {m} AND {self._in_force}"
            f" AND {filters} ORDER BY id",
            [since[0] if since else 0, change, change, at, *params],
        )
        deleted_rows: list[Any] = []
        if since is not None:
            deleted_rows = self._read_all(
                f"SELECT {_READ}, value_key FROM decisions WHERE {self._in_force} "
                f"AND ((deleted_change IS NOT NULL AND deleted_change <= {m}) OR until <= {m}) "
                f"AND {filters} ORDER BY id",
                [since[0], since[0], since[1], change, at, *params],
            )
        new = [self._decision(row) for row in new_rows]
        deleted = [self._decision(row) for row in deleted_rows]
        if deleted_rows:
            given = {decision.id for decision in new}
            keys = sorted({str(row[4]) for row in deleted_rows})
            still = self._in_force_for(keys, [change, change, at], filters, params)
            new += [self._decision(row) for row in still if int(row[0]) not in given]
        at_least = max(at, since[1]) if since else at
        return DecisionChanges(new, deleted, _format_cursor(change, at_least))

    def _in_force_for(
        self,
        keys: Sequence[str],
        in_force: Sequence[object],
        filters: str,
        params: Sequence[object],
    ) -> list[Any]:
        """The rows in force (``_IN_FORCE`` with ``in_force``) whose value is one of ``keys``
        (the values just deleted)."""
        found: list[Any] = []
        for start in range(0, len(keys), _CHUNK):
            part = keys[start : start + _CHUNK]
            found += self._read_all(
                f"SELECT {_READ} FROM decisions WHERE {self._in_force} AND {filters} AND "
                f"value_key IN ({', '.join([self.mark] * len(part))}) ORDER BY id",
                [*in_force, *params, *part],
            )
        return found

    def bouncer_cursor(self, bouncer: str) -> str | None:
        self._tables()
        rows = self._read_all(
            f"SELECT cursor FROM decision_cursors WHERE bouncer = {self.mark}",
            (clear_text(bouncer),),
        )
        return str(rows[0][0]) if rows else None

    def save_bouncer_cursor(self, bouncer: str, cursor: str, *, now: datetime) -> None:
        self._tables()
        _parse_cursor(cursor)
        m = self.mark
        at = micros(now)
        with self._transaction() as sql:
            sql.execute(
                f"INSERT INTO decision_cursors VALUES ({m}, {m}, {m}) ON CONFLICT (bouncer) "
                "DO UPDATE SET cursor = excluded.cursor, at = excluded.at",
                (clear_text(bouncer), cursor, at),
            )
            forget = micros(now - timedelta(days=_CURSOR_DAYS))
            sql.execute(f"DELETE FROM decision_cursors WHERE at < {m}", (forget,))

    # -- the allowlist ---------------------------------------------------------------------------

    def allow_add(self, entry: AllowEntry, *, by: str = "") -> AllowEntry:
        self._tables()
        scope, value = _checked_value(entry.scope, entry.value)
        key = self._value_key(scope, value)
        low, high = self._ip_columns(scope, value)
        m = self.mark
        with self._transaction(exclusive=True) as cursor:
            cursor.execute(
                f"SELECT id, created FROM allowlist WHERE scope = {m} AND value_key = {m}",
                (scope, key),
            )
            row = cursor.fetchone()
            entry_id = int(row[0]) if row else self._advance(cursor, "allow_id", 1)
            created = from_micros(int(row[1])) if row else _utc(entry.created)
            stored = AllowEntry(
                scope=scope, value=value, reason=entry.reason, created=created, id=entry_id
            )
            key_id, payload = self.keyring.encrypt(_encode(stored), _associated(_ALLOW, entry_id))
            cursor.execute(
                f"INSERT INTO allowlist VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}) "
                "ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id, "
                "payload = excluded.payload",
                (entry_id, scope, key, low, high, micros(created), key_id, payload),
            )
            self._ledger_rows(cursor, "allow", [entry_id])
        logger.info("allowlist entry %d %s%s: %s %s", entry_id, "updated" if row else "added",
                    f" by {by}" if by else "", scope, self._shown(scope, value))  # fmt: skip
        return stored

    def allow_delete(self, scope: str, value: str, *, by: str = "") -> bool:
        self._tables()
        scope, value = _checked_value(scope, value)
        where = f"scope = {self.mark} AND value_key = {self.mark}"
        with self._transaction(exclusive=True) as cursor:
            cursor.execute(f"SELECT id FROM allowlist WHERE {where}",
                           (scope, self._value_key(scope, value)))  # fmt: skip
            ids = [int(row[0]) for row in cursor.fetchall()]
            cursor.execute(f"DELETE FROM allowlist WHERE {where}",
                           (scope, self._value_key(scope, value)))  # fmt: skip
            done = int(cursor.rowcount) > 0
            self._ledger_rows(cursor, "allow", ids)
        if done:
            logger.info("allowlist entry removed%s: %s %s", f" by {by}" if by else "", scope,
                        self._shown(scope, value))  # fmt: skip
        return done

    def allow_list(self) -> list[AllowEntry]:
        self._tables()
        rows = self._read_all("SELECT id, key_id, payload FROM allowlist ORDER BY id")
        return [self._allow_entry(row) for row in rows]

    def allow_match(self, scope: str, value: str) -> AllowEntry | None:
        self._tables()
        scope, value = _checked_value(scope, value)
        m = self.mark
        if scope == "Username":
            sql = f"scope = {m} AND value_key = {m}"
            params: tuple[object, ...] = (scope, self._value_key(scope, value))
        else:  # overlapping: an address is its own one-address range
            low, high = ip_range(value)
            sql, params = f"ip_low <= {m} AND ip_high >= {m}", (high, low)
        rows = self._read_all(
            f"SELECT id, key_id, payload FROM allowlist WHERE {sql} ORDER BY id LIMIT 1", params
        )
        return self._allow_entry(rows[0]) if rows else None

    def is_allowed(self, scope: str, value: str) -> bool:
        return self.allow_match(scope, value) is not None

    # -- key rotation ----------------------------------------------------------------------------

    def _rotate_decision_tables(self, new_id: int) -> int:
        """Re-encrypt every decision and allowlist payload not under ``new_id``; rows done."""
        self._tables()
        done = 0
        for table, kind in (("decisions", _DECISION), ("allowlist", _ALLOW)):
            done += self._rotate_table(table, kind, new_id)
        return done

    def _rotate_table(self, table: str, kind: str, new_id: int) -> int:
        m = self.mark
        done, after = 0, 0
        while True:
            rows = self._read_all(
                f"SELECT id, key_id, payload FROM {table} WHERE id > {m} AND key_id <> {m} "
                "ORDER BY id LIMIT 2000",
                (after, new_id),
            )
            if not rows:
                return done
            after = int(rows[-1][0])
            updates = list(self._re_encrypted(rows, kind))
            with self._transaction(exclusive=True) as cursor:
                # Only if unchanged: an upsert since the read carries newer content.
                cursor.executemany(
                    f"UPDATE {table} SET key_id = {m}, payload = {m} WHERE id = {m} "
                    f"AND payload = {m}",
                    updates,
                )
                self._ledger_rows(cursor, kind, (row[2] for row in updates))
            done += len(updates)

    def _re_encrypted(self, rows: Iterable[Any], kind: str) -> Iterable[tuple[object, ...]]:
        for record_id, key_id, payload in rows:
            associated = _associated(kind, int(record_id))
            plain = self.keyring.decrypt(int(key_id), bytes(payload), associated)
            new_key, sealed = self.keyring.encrypt(plain, associated)
            yield new_key, sealed, int(record_id), bytes(payload)
