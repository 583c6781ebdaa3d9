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

The tables are created when the store is opened (``CREATE ... IF NOT EXISTS``), so that a store
full before its first decision can still be verified. `SqlDecisionStore` is the decisions'
role store; the allowlist's is `apiwatch.store._allowlist.SqlAllowlist`, which shares the
canonical values and lookup keys defined here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import msgspec

from apiwatch.model import (
    DECISION_SCOPES,
    DECISION_TYPES,
    ConfigError,
    Decision,
    normalise_value,
    scope_name,
)
from apiwatch.store._rows import clear_text, from_micros, ip_range, micros
from apiwatch.store._where import Where, network
from apiwatch.store.base import DecisionChanges, DecisionFilter, DecisionPage
from apiwatch.store.crypto import Keyring

if TYPE_CHECKING:
    from apiwatch.store._database import Database

__all__ = [
    "SqlDecisionStore",
    "associated",
    "checked_value",
    "encode",
    "ip_columns",
    "rotate_table",
    "schema",
    "shown",
    "stream_cursor",
    "utc",
    "value_key",
]

logger = logging.getLogger("apiwatch.decisions")

_DECISION: Final = "decision"
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

encode = msgspec.json.Encoder().encode
_decode_decision = msgspec.json.Decoder(Decision).decode


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


def checked_value(scope: str, value: str) -> tuple[str, str]:
    """``(scope, value)`` in canonical form; `ConfigError` for an unknown scope or bad value."""
    name = scope_name(scope)
    if name is None:
        raise ConfigError(f"scope: {scope!r} is not one of {', '.join(DECISION_SCOPES)}")
    try:
        return name, clear_text(normalise_value(name, value)) or ""
    except ValueError as exc:
        raise ConfigError(f"value: {exc}") from None


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _checked(decision: Decision) -> Decision:
    """``decision`` ready to store (canonical scope and value, UTC times), or `ConfigError`."""
    if decision.id != 0:
        raise ConfigError("id: decision ids are given by the store; pass id=0")
    if decision.type not in DECISION_TYPES:
        raise ConfigError(f"type: {decision.type!r} is not one of {', '.join(DECISION_TYPES)}")
    scope, value = checked_value(decision.scope, decision.value)
    created, until = utc(decision.created), utc(decision.until)
    if until <= created:
        raise ConfigError("until: a decision must end after it is created")
    return msgspec.structs.replace(
        decision, scope=scope, value=value, created=created, until=until, deleted=None
    )


def associated(kind: str, record_id: int) -> bytes:
    """What a record's ciphertext is bound to: its table and id."""
    return f"{kind}\x1f{record_id}".encode()


def _format_cursor(change: int, at_us: int) -> str:
    return f"{change}.{at_us}"


def stream_cursor(change: int, at: datetime) -> str:
    """The stream cursor of a bouncer answered with what was in force at change number
    ``change`` and time ``at`` (what `SqlDecisionStore.as_of` gives)."""
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


def value_key(keyring: Keyring, scope: str, value: str) -> str:
    """The clear lookup key of a canonical value: an address or network as it is, an
    account as ``#`` and the hex of its blind index (of the case-folded name)."""
    if scope == "Username":
        return "#" + keyring.blind_index(value.casefold()).hex()
    return value


def ip_columns(scope: str, value: str) -> tuple[bytes | None, bytes | None]:
    if scope == "Username":
        return None, None
    return ip_range(value)


def shown(keyring: Keyring, scope: str, value: str) -> str:
    """A value as the log shows it: an account only as its blind index."""
    return value_key(keyring, scope, value) if scope == "Username" else value


def _in_force(mark: str) -> str:
    return _IN_FORCE_TEMPLATE.format(m=mark)


def rotate_table(db: Database, table: str, kind: str, new_id: int) -> int:
    """Re-encrypt every payload of ``table`` (records of ``kind``) not under ``new_id``."""
    m = db.mark
    done, after = 0, 0
    while True:
        rows = db.read_all(
            f"SELECT id, key_id, payload FROM {table} WHERE id > {m} AND key_id <> {m} "
            "ORDER BY id LIMIT 2000",
            (after, new_id),
        )
        if not rows:
            return done
        after = int(rows[-1][0])
        updates = list(_re_encrypted(db.keyring, rows, kind))
        with db.transaction(exclusive=True) as cursor:
            # Only if unchanged: an upsert since the read carries newer content.
            cursor.executemany(
                f"UPDATE {table} SET key_id = {m}, payload = {m} WHERE id = {m} AND payload = {m}",
                updates,
            )
            db.ledger_rows(cursor, kind, (row[2] for row in updates))
        done += len(updates)


def _re_encrypted(keyring: Keyring, rows: Iterable[Any], kind: str) -> Iterable[tuple[object, ...]]:
    for record_id, key_id, payload in rows:
        associated_data = associated(kind, int(record_id))
        plain = keyring.decrypt(int(key_id), bytes(payload), associated_data)
        new_key, sealed = keyring.encrypt(plain, associated_data)
        yield new_key, sealed, int(record_id), bytes(payload)


class SqlDecisionStore:
    """`DecisionStore` over a `Database` (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _decision_row(self, decision: Decision, change: int) -> tuple[object, ...]:
        low, high = ip_columns(decision.scope, decision.value)
        key_id, payload = self._db.keyring.encrypt(
            encode(decision), associated(_DECISION, decision.id)
        )
        return (
            decision.id, decision.type, decision.scope,
            value_key(self._db.keyring, decision.scope, decision.value), low, high,
            clear_text(decision.origin), clear_text(decision.scenario),
            clear_text(decision.incident), int(decision.simulated), micros(decision.created),
            micros(decision.until), change, key_id, payload,
        )  # fmt: skip

    def _decision(self, row: Sequence[Any]) -> Decision:
        """A decision from ``(id, deleted, key_id, payload)``: the payload, decrypted."""
        decision_id = int(row[0])
        plain = self._db.keyring.decrypt(
            int(row[2]), bytes(row[3]), associated(_DECISION, decision_id)
        )
        deleted = from_micros(int(row[1])) if row[1] is not None else None
        return msgspec.structs.replace(_decode_decision(plain), id=decision_id, deleted=deleted)

    # -- writing decisions -----------------------------------------------------------------------

    def add(self, decisions: Sequence[Decision], *, by: str = "") -> list[Decision]:
        prepared = [_checked(decision) for decision in decisions]
        if not prepared:
            return []
        columns = ", ".join(_DECISION_COLUMNS)
        marks = ", ".join([self._db.mark] * len(_DECISION_COLUMNS))
        with self._db.transaction(exclusive=True) as cursor:
            first = self._db.advance(cursor, "decision_id", len(prepared))
            change = self._db.advance(cursor, "decision_change", 1)
            stored = [
                msgspec.structs.replace(decision, id=first + index)
                for index, decision in enumerate(prepared)
            ]
            cursor.executemany(
                f"INSERT INTO decisions ({columns}) VALUES ({marks})",
                [self._decision_row(decision, change) for decision in stored],
            )
            self._db.ledger_rows(cursor, "decision", (decision.id for decision in stored))
        for decision in stored:
            logger.info(
                "decision %d added%s: %s %s %s until %s (origin %s%s)",
                decision.id, f" by {by}" if by else "", decision.type, decision.scope,
                shown(self._db.keyring, decision.scope, decision.value),
                decision.until.isoformat(timespec="seconds"), decision.origin,
                ", simulated" if decision.simulated else "",
            )  # fmt: skip
        return stored

    def delete(self, decision_id: int, *, at: datetime, by: str = "") -> Decision | None:
        if not 0 < decision_id <= _MAX_ID:
            return None
        m = self._db.mark
        with self._db.transaction(exclusive=True) as cursor:
            cursor.execute(
                f"SELECT {_READ} FROM decisions WHERE id = {m} AND deleted IS NULL", (decision_id,)
            )
            row = cursor.fetchone()
            if row is None:
                return None
            change = self._db.advance(cursor, "decision_change", 1)
            cursor.execute(
                f"UPDATE decisions SET deleted = {m}, deleted_change = {m} WHERE id = {m}",
                (micros(at), change, decision_id),
            )
            self._db.ledger_rows(cursor, "decision", [decision_id])
        decision = msgspec.structs.replace(self._decision(row), deleted=utc(at))
        logger.info(
            "decision %d deleted%s: %s %s %s", decision.id, f" by {by}" if by else "",
            decision.type, decision.scope, shown(self._db.keyring, decision.scope, decision.value),
        )  # fmt: skip
        return decision

    # -- reading decisions -----------------------------------------------------------------------

    def query(
        self, criteria: DecisionFilter, *, cursor: str | None = None, limit: int = 1000
    ) -> DecisionPage:
        where = self._where(criteria)
        if cursor:
            try:
                after = int(cursor)
            except ValueError:
                raise ConfigError("cursor: not a cursor this server gave out") from None
            where.add("id > {m}", min(max(after, 0), _MAX_ID))
        rows = self._db.read_all(
            f"SELECT {_READ} FROM decisions {where.where()} ORDER BY id LIMIT {int(limit) + 1}",
            where.params,
        )
        items = [self._decision(row) for row in rows[:limit]]
        more = len(rows) > limit > 0
        return DecisionPage(items, str(items[-1].id) if more else None)

    def every(self, criteria: DecisionFilter, *, most: int | None = None) -> list[Decision]:
        """Every decision matching ``criteria``, page after page, in id order (stopping once at
        least ``most`` are found, when given)."""
        found: list[Decision] = []
        cursor: str | None = None
        while most is None or len(found) < most:
            page = self.query(criteria, cursor=cursor, limit=1000)
            found += page.items
            if (cursor := page.next_cursor) is None:
                break
        return found

    def _where(self, criteria: DecisionFilter) -> Where:
        at = micros(criteria.at or datetime.now(UTC))
        where = Where(self._db.mark)
        if not criteria.include_expired:
            where.add("created <= {m} AND until > {m}", at, at)
        if not criteria.include_deleted:
            where.add("(deleted IS NULL OR deleted > {m})", at)
        if not criteria.include_simulated:
            where.add("simulated = 0")
        scopes = [_scope_key(s) for s in criteria.scopes]
        where.any_of("scope", scopes)
        where.any_of("origin", [clear_text(o) or "" for o in criteria.origins])
        if criteria.type is not None:
            where.add("type = {m}", clear_text(criteria.type))
        if criteria.incident is not None:
            where.add("incident = {m}", clear_text(criteria.incident))
        if criteria.value is not None:
            self._value_clause(where, criteria.value, scopes or list(DECISION_SCOPES))
        if criteria.ip is not None:
            low, high = network("ip", criteria.ip)
            if criteria.contains:
                where.add("ip_low <= {m} AND ip_high >= {m}", low, high)
            else:
                where.add("ip_low >= {m} AND ip_high <= {m}", low, high)
        return where

    def _value_clause(self, where: Where, value: str, scopes: Sequence[str]) -> None:
        """``value`` in any of ``scopes`` where it is a valid value (none: nothing matches)."""
        pairs = Where(self._db.mark)
        for scope in scopes:
            try:
                canonical = checked_value(scope, value)[1]
            except ConfigError:
                continue
            pairs.add("(scope = {m} AND value_key = {m})",
                      scope, value_key(self._db.keyring, scope, canonical))  # fmt: skip
        where.any_clause(pairs)

    def offences(self, scope: str, value: str) -> int:
        scope, value = checked_value(scope, value)
        m = self._db.mark
        rows = self._db.read_all(
            f"SELECT COUNT(*) FROM decisions WHERE value_key = {m} AND scope = {m}"
            " AND type = 'ban' AND simulated = 0 AND deleted IS NULL",
            (value_key(self._db.keyring, scope, value), scope),
        )
        return int(rows[0][0])

    def active_counts(self, now: datetime) -> dict[str, int]:
        at = micros(now)
        rows = self._db.read_all(
            f"SELECT scope, COUNT(*) FROM decisions WHERE simulated = 0 AND deleted IS NULL "
            f"AND created <= {self._db.mark} AND until > {self._db.mark} GROUP BY scope",
            (at, at),
        )
        return {str(scope): int(count) for scope, count in rows}

    # -- the stream ------------------------------------------------------------------------------

    def change(self) -> int:
        return self._db.current("decision_change")

    def as_of(
        self,
        change: int,
        *,
        now: datetime,
        scopes: Sequence[str] = (),
        origins: Sequence[str] = (),
        after: int = 0,
        limit: int = 1000,
    ) -> list[Decision]:
        filters, params = self._stream_filters(scopes, origins)
        m = self._db.mark
        rows = self._db.read_all(
            f"SELECT {_READ} FROM decisions WHERE id > {m} AND {_in_force(m)} AND "
            f"{filters} ORDER BY id LIMIT {max(int(limit), 0)}",
            [min(max(after, 0), _MAX_ID), change, change, micros(now), *params],
        )
        return [self._decision(row) for row in rows]

    def _stream_filters(
        self, scopes: Sequence[str], origins: Sequence[str]
    ) -> tuple[str, list[object]]:
        """The stream's row filter (not simulated, of ``scopes`` and ``origins``) and its
        parameters."""
        where = Where(self._db.mark)
        where.add("simulated = 0")
        where.any_of("scope", [_scope_key(s) for s in scopes])
        where.any_of("origin", [clear_text(o) or "" for o in origins])
        return where.sql(), where.params

    def changes(
        self,
        cursor: str | None,
        *,
        now: datetime,
        scopes: Sequence[str] = (),
        origins: Sequence[str] = (),
    ) -> DecisionChanges:
        since = _parse_cursor(cursor) if cursor else None
        change = self._db.current("decision_change")
        at = micros(now)
        m = self._db.mark
        filters, params = self._stream_filters(scopes, origins)
        new_rows = self._db.read_all(
            f"SELECT {_READ} FROM decisions WHERE created_change > {m} AND {_in_force(m)}"
            f" AND {filters} ORDER BY id",
            [since[0] if since else 0, change, change, at, *params],
        )
        deleted_rows: list[Any] = []
        if since is not None:
            deleted_rows = self._db.read_all(
                f"SELECT {_READ}, value_key FROM decisions WHERE {_in_force(m)} "
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
            found += self._db.read_all(
                f"SELECT {_READ} FROM decisions WHERE {_in_force(self._db.mark)} AND {filters} "
                f"AND value_key IN ({self._db.marks(len(part))}) ORDER BY id",
                [*in_force, *params, *part],
            )
        return found

    def bouncer_cursor(self, bouncer: str) -> str | None:
        rows = self._db.read_all(
            f"SELECT cursor FROM decision_cursors WHERE bouncer = {self._db.mark}",
            (clear_text(bouncer),),
        )
        return str(rows[0][0]) if rows else None

    def save_bouncer_cursor(self, bouncer: str, cursor: str, *, now: datetime) -> None:
        _parse_cursor(cursor)
        m = self._db.mark
        at = micros(now)
        with self._db.transaction() as sql:
            sql.execute(
                f"INSERT INTO decision_cursors VALUES ({m}, {m}, {m}) ON CONFLICT (bouncer) "
                "DO UPDATE SET cursor = excluded.cursor, at = excluded.at",
                (clear_text(bouncer), cursor, at),
            )
            forget = micros(now - timedelta(days=_CURSOR_DAYS))
            sql.execute(f"DELETE FROM decision_cursors WHERE at < {m}", (forget,))

    def rotate(self, new_id: int) -> int:
        """Re-encrypt every decision payload not under ``new_id``; rows done."""
        return rotate_table(self._db, "decisions", _DECISION, new_id)
