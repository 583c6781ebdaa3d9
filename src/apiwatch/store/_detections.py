"""Alerts and incidents at rest: encrypted JSON records with a few clear columns to filter on.

An incident names the accounts an attacker tried and the ones it got into, and both kinds of
record name attacker addresses and user agents: the same personal and security-sensitive data
as the events they come from. So they are kept the way events are: the whole record (its msgspec
JSON) is AES-GCM encrypted under the store's current data key (re-encrypted by `rotate_key`),
bound to its kind and id as associated data so that a payload moved to another row fails to
decrypt. In clear stays only what the filters need, as events keep ``source.ip`` in clear:

* ``alerts``: id, rule, severity (its rank in `SEVERITIES`), first/last seen, incident id;
* ``incidents``: id, severity, first/last seen; their rule names in ``incident_rules``;
* ``detection_attackers``: the attacker addresses of each record, 16 bytes each (IPv4 mapped),
  so that one range query answers both an address and a CIDR network.

Account names, user agents, objects, titles and descriptions are never in clear. A record is
upserted by id; a record older (by ``last_seen``) than the stored one is ignored. The engine only
ever adds attackers and rules to a record, so their index rows are only ever added.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

import msgspec

from apiwatch.model import ConfigError
from apiwatch.model.alert import Alert, Incident, severity_rank
from apiwatch.store._rows import clear_text, ip_bytes, micros
from apiwatch.store._where import Where, network
from apiwatch.store.base import DetectionFilter, DetectionPage
from apiwatch.store.crypto import Keyring

if TYPE_CHECKING:
    from apiwatch.store._database import Database

__all__ = [
    "ALERT",
    "INCIDENT",
    "SAVED_COLUMNS",
    "SAVED_INDEXES",
    "SqlDetectionStore",
    "decode_page",
    "mark_saved",
    "re_encrypt_sql",
    "save",
    "saved_cursor",
    "saved_sql",
    "schema",
    "select_sql",
]

ALERT: Final = "alert"
INCIDENT: Final = "incident"
_TABLES: Final = {ALERT: "alerts", INCIDENT: "incidents"}
_NONCE = 12
_CHUNK = 500

Record = TypeVar("Record", Alert, Incident)
_encode = msgspec.json.Encoder().encode
_ALERT_DECODER = msgspec.json.Decoder(Alert)
_INCIDENT_DECODER = msgspec.json.Decoder(Incident)
_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    ALERT: _ALERT_DECODER,
    INCIDENT: _INCIDENT_DECODER,
}
_SAVED_COUNTER = "detections_saved"


def schema(blob: str, big: str) -> list[str]:
    """The tables and indexes; ``CREATE ... IF NOT EXISTS``, so an older store gains them."""
    return [
        f"""CREATE TABLE IF NOT EXISTS alerts (
            id TEXT PRIMARY KEY, rule TEXT NOT NULL, severity INTEGER NOT NULL,
            first_seen {big} NOT NULL, last_seen {big} NOT NULL, incident TEXT NOT NULL,
            attackers {big} NOT NULL, key_id INTEGER NOT NULL, payload {blob} NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS alerts_last_seen ON alerts (last_seen, id)",
        "CREATE INDEX IF NOT EXISTS alerts_rule ON alerts (rule, last_seen)",
        f"""CREATE TABLE IF NOT EXISTS incidents (
            id TEXT PRIMARY KEY, severity INTEGER NOT NULL, first_seen {big} NOT NULL,
            last_seen {big} NOT NULL, attackers {big} NOT NULL, key_id INTEGER NOT NULL,
            payload {blob} NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS incidents_last_seen ON incidents (last_seen, id)",
        """CREATE TABLE IF NOT EXISTS incident_rules (
            incident_id TEXT NOT NULL, rule TEXT NOT NULL, PRIMARY KEY (incident_id, rule))""",
        "CREATE INDEX IF NOT EXISTS incident_rules_rule ON incident_rules (rule)",
        f"""CREATE TABLE IF NOT EXISTS detection_attackers (
            kind TEXT NOT NULL, id TEXT NOT NULL, ip {blob} NOT NULL,
            PRIMARY KEY (kind, id, ip))""",
        "CREATE INDEX IF NOT EXISTS detection_attackers_ip ON detection_attackers (kind, ip)",
    ]


#: The write order of alerts and incidents (what forwarders follow: a record saved later, even
#: with an older ``last_seen``, comes later). Added to stores made before it, so nullable: rows
#: saved before it was added have none and come first, by id.
SAVED_COLUMNS: Final = (("alerts", "saved", "BIGINT"), ("incidents", "saved", "BIGINT"))
SAVED_INDEXES: Final = (
    "CREATE INDEX IF NOT EXISTS alerts_saved ON alerts (saved, id)",
    "CREATE INDEX IF NOT EXISTS incidents_saved ON incidents (saved, id)",
)


# -- writing -------------------------------------------------------------------------------------


def save(
    cursor: Any,
    mark: str,
    keyring: Keyring,
    alerts: Sequence[Alert],
    incidents: Sequence[Incident],
) -> None:
    """Upsert ``alerts`` and ``incidents`` with ``cursor`` (inside the caller's transaction)."""
    writer = _Writer(cursor, mark, keyring)
    writer.upsert(ALERT, list({alert.id: alert for alert in alerts}.values()))  # last one wins
    writer.upsert(INCIDENT, list({incident.id: incident for incident in incidents}.values()))


class _Writer:
    """Writes records of one transaction, all under the current data key."""

    def __init__(self, cursor: Any, mark: str, keyring: Keyring) -> None:
        self.cursor = cursor
        self.mark = mark
        self.key_id, self.cipher = keyring.cipher()

    def upsert(self, kind: str, records: Sequence[Alert | Incident]) -> None:
        if not records:
            return
        table, mark = _TABLES[kind], self.mark
        known = self._attacker_counts(table, [_id(r) for r in records])
        nonces = os.urandom(_NONCE * len(records))
        rows, attackers, rules = [], [], []
        for index, record in enumerate(records):
            record_id = _id(record)
            ips = sorted({ip for ip in map(ip_bytes, record.attackers) if ip is not None})
            nonce = nonces[index * _NONCE : (index + 1) * _NONCE]
            sealed = self.cipher.encrypt(nonce, _encode(record), associated(kind, record_id))
            rows.append((*_columns(record), len(ips), self.key_id, nonce + sealed))
            if known.get(record_id) != len(ips):
                attackers += [(kind, record_id, ip) for ip in ips]
            if isinstance(record, Incident):
                rules += [(record_id, clear_text(rule)) for rule in record.rules]
        columns = _COLUMNS[kind]
        updates = ", ".join(f"{name} = excluded.{name}" for name in columns[1:])
        marks = ", ".join([mark] * len(columns))
        self.cursor.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT (id) "
            f"DO UPDATE SET {updates} WHERE excluded.last_seen >= {table}.last_seen",
            rows,
        )
        self._insert_ignoring("detection_attackers", 3, attackers)
        self._insert_ignoring("incident_rules", 2, rules)

    def _insert_ignoring(self, table: str, width: int, rows: Sequence[tuple[object, ...]]) -> None:
        if rows:
            marks = ", ".join([self.mark] * width)
            self.cursor.executemany(
                f"INSERT INTO {table} VALUES ({marks}) ON CONFLICT DO NOTHING", rows
            )

    def _attacker_counts(self, table: str, ids: Sequence[str]) -> dict[str, int]:
        """How many attacker addresses are indexed for each of ``ids`` already stored."""
        found: dict[str, int] = {}
        for start in range(0, len(ids), _CHUNK):
            part = ids[start : start + _CHUNK]
            self.cursor.execute(
                f"SELECT id, attackers FROM {table} "
                f"WHERE id IN ({', '.join([self.mark] * len(part))})",
                tuple(part),
            )
            found.update((str(row[0]), int(row[1])) for row in self.cursor.fetchall())
        return found


_COLUMNS: Final = {
    ALERT: ("id", "rule", "severity", "first_seen", "last_seen", "incident", "attackers",
            "key_id", "payload"),
    INCIDENT: ("id", "severity", "first_seen", "last_seen", "attackers", "key_id", "payload"),
}  # fmt: skip


def _id(record: Alert | Incident) -> str:
    return clear_text(record.id) or ""


def _columns(record: Alert | Incident) -> tuple[object, ...]:
    """The clear columns of a record up to (not including) ``attackers``."""
    common = (severity_rank(record.severity), micros(record.first_seen), micros(record.last_seen))
    if isinstance(record, Alert):
        return (_id(record), clear_text(record.rule), *common, clear_text(record.incident) or "")
    return (_id(record), *common)


def associated(kind: str, record_id: str) -> bytes:
    """What a record's ciphertext is bound to: its kind and id."""
    return f"{kind}\x1f{record_id}".encode("utf-8", "surrogatepass")


def re_encrypt_sql(kind: str, mark: str) -> tuple[str, str]:
    """``(select, update)`` for `rotate_key`: a chunk of rows not under a key, after an id; and
    the update of one row's key and payload, done only if its payload is still the one read."""
    table = _TABLES[kind]
    return (
        f"SELECT id, key_id, payload FROM {table} WHERE id > {mark} AND key_id <> {mark} "
        f"ORDER BY id LIMIT 2000",
        f"UPDATE {table} SET key_id = {mark}, payload = {mark} WHERE id = {mark} "
        f"AND payload = {mark}",
    )


def mark_saved(cursor: Any, mark: str, kind: str, ids: Sequence[str], first: int) -> None:
    """Number the records just saved, ``first`` onwards, in the order given."""
    cursor.executemany(
        f"UPDATE {_TABLES[kind]} SET saved = {mark} WHERE id = {mark}",
        [(first + index, clear_text(record_id)) for index, record_id in enumerate(ids)],
    )


# -- reading -------------------------------------------------------------------------------------


def saved_sql(kind: str, cursor: str | None, limit: int, mark: str) -> tuple[str, list[object]]:
    """The query for up to ``limit`` records of ``kind`` saved after ``cursor`` (a
    `saved_cursor`), in write order: rows (id, last_seen, key_id, payload, saved)."""
    order = "COALESCE(saved, 0)"
    where, params = "", []
    if cursor:
        saved, after_id = _decode_saved(cursor)
        where = f"WHERE {order} > {mark} OR ({order} = {mark} AND id > {mark})"
        params = [saved, saved, after_id]
    sql = (
        f"SELECT id, last_seen, key_id, payload, saved FROM {_TABLES[kind]} {where} "
        f"ORDER BY {order}, id LIMIT {max(0, int(limit))}"
    )
    return sql, params


def saved_cursor(row: Sequence[Any]) -> str:
    """The `saved_sql` cursor after a row it returned."""
    return f"{int(row[4] or 0)}:{row[0]}"


def _decode_saved(cursor: str) -> tuple[int, str]:
    saved, _, record_id = cursor.partition(":")
    try:
        value = int(saved)
    except ValueError:
        raise ConfigError("cursor: not a forwarding cursor") from None
    if not record_id or not 0 <= value < 2**63:
        raise ConfigError("cursor: not a forwarding cursor")
    return value, record_id


def select_sql(
    kind: str, criteria: DetectionFilter, cursor: str | None, limit: int, mark: str
) -> tuple[str, list[object]]:
    """The query for a page of ``kind`` records: ``limit + 1`` rows, to tell if more follow."""
    where = _where(kind, criteria, mark)
    if cursor:
        last_seen, after_id = _decode_cursor(cursor)
        where.add("(last_seen > {m} OR (last_seen = {m} AND id > {m}))",
                  last_seen, last_seen, after_id)  # fmt: skip
    sql = (
        f"SELECT id, last_seen, key_id, payload FROM {_TABLES[kind]} {where.where()} "
        f"ORDER BY last_seen, id LIMIT {int(limit) + 1}"
    )
    return sql, where.params


def _where(kind: str, criteria: DetectionFilter, mark: str) -> Where:
    where = Where(mark)
    where.span("last_seen", criteria.since, criteria.until)
    if criteria.severity is not None:
        where.add("severity >= {m}", severity_rank(criteria.severity))
    if criteria.rule is not None:
        if kind == ALERT:
            clause = "rule = {m}"
        else:
            clause = "id IN (SELECT incident_id FROM incident_rules WHERE rule = {m})"
        where.add(clause, clear_text(criteria.rule))
    if criteria.attacker_ip:
        low, high = network("attacker.ip", criteria.attacker_ip)
        where.add("id IN (SELECT id FROM detection_attackers WHERE kind = {m} "
                  "AND ip BETWEEN {m} AND {m})", kind, low, high)  # fmt: skip
    return where


def decode_page(
    rows: Sequence[Any],
    limit: int,
    keyring: Keyring,
    kind: str,
    decoder: msgspec.json.Decoder[Record],
) -> DetectionPage[Record]:
    """The records of up to ``limit`` rows (id, last_seen, key_id, payload), decrypted, and the
    cursor after the last one when more rows follow."""
    items = [decode_row(row, keyring, kind, decoder) for row in rows[:limit]]
    more = len(rows) > limit > 0
    return DetectionPage(items, _encode_cursor(rows[limit - 1]) if more else None)


def decode_row(
    row: Sequence[Any], keyring: Keyring, kind: str, decoder: msgspec.json.Decoder[Record]
) -> Record:
    record_id = str(row[0])
    plain = keyring.decrypt(int(row[2]), bytes(row[3]), associated(kind, record_id))
    return decoder.decode(plain)


def _encode_cursor(row: Sequence[Any]) -> str:
    text = f"{int(row[1])}:{row[0]}".encode("utf-8", "surrogatepass")
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    """``(last_seen, id)`` of the record a page ended with; `ConfigError` for anything else."""
    wrong = ConfigError("cursor: not a cursor this server gave out")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        last_seen, _, record_id = text.partition(":")
        value = int(last_seen)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise wrong from None
    if not record_id or not -(2**63) <= value < 2**63:
        raise wrong
    return value, clear_text(record_id) or ""


class SqlDetectionStore:
    """`DetectionStore` over a `Database` (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, alerts: Sequence[Alert], incidents: Sequence[Incident]) -> None:
        if not alerts and not incidents:
            return
        db = self._db
        with db.transaction(exclusive=True) as cursor:
            save(cursor, db.mark, db.keyring, alerts, incidents)
            self._mark_saved(cursor, alerts, incidents)
            db.ledger_rows(cursor, "alert", (clear_text(a.id) or "" for a in alerts))
            db.ledger_rows(cursor, "incident", (clear_text(i.id) or "" for i in incidents))

    def _mark_saved(
        self, cursor: Any, alerts: Sequence[Alert], incidents: Sequence[Incident]
    ) -> None:
        """Number the records of one `save` in write order (inside its transaction, which
        holds the store's write lock: numbers are committed in increasing order)."""
        for kind, records in ((ALERT, alerts), (INCIDENT, incidents)):
            ids = list(dict.fromkeys(record.id for record in records))
            if ids:
                first = self._db.advance(cursor, _SAVED_COUNTER, len(ids))
                mark_saved(cursor, self._db.mark, kind, ids, first)

    def alerts(
        self, criteria: DetectionFilter, *, cursor: str | None, limit: int
    ) -> DetectionPage[Alert]:
        sql, params = select_sql(ALERT, criteria, cursor, limit, self._db.mark)
        rows = self._db.read_all(sql, params)
        return decode_page(rows, limit, self._db.keyring, ALERT, _ALERT_DECODER)

    def incidents(
        self, criteria: DetectionFilter, *, cursor: str | None, limit: int
    ) -> DetectionPage[Incident]:
        sql, params = select_sql(INCIDENT, criteria, cursor, limit, self._db.mark)
        rows = self._db.read_all(sql, params)
        return decode_page(rows, limit, self._db.keyring, INCIDENT, _INCIDENT_DECODER)

    def incident(self, incident_id: str) -> Incident | None:
        rows = self._db.read_all(
            f"SELECT id, last_seen, key_id, payload FROM incidents WHERE id = {self._db.mark}",
            (clear_text(incident_id),),
        )
        if not rows:
            return None
        return decode_row(rows[0], self._db.keyring, INCIDENT, _INCIDENT_DECODER)

    def after(
        self, kind: str, cursor: str | None, limit: int
    ) -> tuple[list[Alert] | list[Incident], str | None]:
        """Up to ``limit`` alerts (``kind`` ``alert``) or incidents saved after ``cursor`` (None:
        from the first), in the order they were saved, and the cursor after the last (None when
        there was none)."""
        sql, params = saved_sql(kind, cursor, limit, self._db.mark)
        rows = self._db.read_all(sql, params)
        decoder = _DECODERS[kind]
        records = [decode_row(row, self._db.keyring, kind, decoder) for row in rows]
        return records, saved_cursor(rows[-1]) if rows else None

    def rotate(self, new_id: int) -> int:
        """Re-encrypt every alert and incident not under data key ``new_id``; rows done."""
        return sum(self._rotate(kind, new_id) for kind in (ALERT, INCIDENT))

    def _rotate(self, kind: str, new_id: int) -> int:
        select, update = re_encrypt_sql(kind, self._db.mark)
        done = 0
        after = ""
        while True:
            rows = self._db.read_all(select, (after, new_id))
            if not rows:
                return done
            after = str(rows[-1][0])
            updates = []
            for record_id, key_id, payload in rows:
                bound = associated(kind, str(record_id))
                plain = self._db.keyring.decrypt(int(key_id), bytes(payload), bound)
                _, sealed = self._db.keyring.encrypt(plain, bound)
                # Only if unchanged: a save since the read carries newer content.
                updates.append((new_id, sealed, str(record_id), bytes(payload)))
            with self._db.transaction(exclusive=True) as cursor:
                cursor.executemany(update, updates)
                self._db.ledger_rows(cursor, kind, (row[2] for row in updates))
            done += len(updates)
