"""The ledger: one signed hash chain over every write to the tables that are not events.

Covered (`COVERED`): the read audit, the API keys, alerts, incidents, decisions, the allowlist,
the console's users and the incident states operators set.
Events are append-only and have their own chain (`apiwatch.store.chain`); these tables are
updated in place (a key is revoked, an alert grows, a decision is deleted, rotation re-encrypts),
so a chain over their rows cannot work. Instead, every transaction that writes one of them reads
back the rows it wrote (`SELECT *`: the row as the database holds it, whatever its columns) and
appends one entry per row to ``ledger``: ``(seq, kind, ref, digest, chain)``, with ``ref`` the
row's key (empty for the append-only read audit), ``digest`` a SHA-256 over the row's table and
its non-NULL ``(column, value)`` pairs (empty for a deleted row), and ``chain`` linked exactly as
events are. The transaction ends by signing the ledger's head into ``ledger_heads``.

`check` then proves, for a snapshot of the database: the ledger chain is unbroken and its last
entry is signed; every row of a covered table is the one its latest entry describes (an edited,
rolled-back, type-confused or hand-inserted row fails, so does a deleted one); the read audit
holds exactly the rows the ledger recorded.

Why this design (and not rows in the event chain, or a chain per table): one extra small row per
written record and one signature per transaction, off the event ingest path; one generic digest,
so a column added to a covered table later is covered without code changes (its value is in
``SELECT *``; NULL columns are left out, so adding a nullable column does not change the digest
of existing rows — a column added with a non-NULL default would, and needs its rows re-recorded
with `record` in the same migration). A store written before the ledger existed has its rows
adopted as found when first opened with the signing key (`adopt`; noted by verify with the date).
What the ledger cannot prove alone: that its newest entries were not removed together with their
heads (a rollback to an older signed state); an anchor holding its head proves that.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

import msgspec

from apiwatch.store._anchor import SignedHead
from apiwatch.store.chain import GENESIS, ChainChecker, ledger_head_message, link
from apiwatch.store.crypto import Keyring

__all__ = ["COVERED", "LedgerReport", "adopt", "check", "record", "schema", "tip_head"]

#: kind -> (table, key column); None: an append-only table, compared as a multiset of rows.
COVERED: Final[dict[str, tuple[str, str | None]]] = {
    "read": ("reads", None),
    "api_key": ("api_keys", "id"),
    "alert": ("alerts", "id"),
    "incident": ("incidents", "id"),
    "decision": ("decisions", "id"),
    "allow": ("allowlist", "id"),
    "console_user": ("console_users", "name"),
    "incident_state": ("incident_states", "id"),
}
_NAMES: Final = {
    "read": "read audit record",
    "api_key": "API key",
    "alert": "alert",
    "incident": "incident",
    "decision": "decision",
    "allow": "allowlist entry",
    "console_user": "console user",
    "incident_state": "incident state",
}
_CHUNK = 500
_frame = msgspec.msgpack.Encoder().encode
DELETED = b""


def schema(blob: str, big: str) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS ledger (
            seq {big} PRIMARY KEY, kind TEXT NOT NULL, ref TEXT NOT NULL, digest {blob} NOT NULL,
            chain {blob} NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS ledger_heads (
            seq {big} PRIMARY KEY, chain {blob} NOT NULL, signed_at {big} NOT NULL,
            signature {blob} NOT NULL)""",
    ]


# -- digests -------------------------------------------------------------------------------------


def _plain(value: object) -> object:
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if value is None or isinstance(value, int | str | bytes | float):
        return value
    return f"{type(value).__name__}:{value}"  # a type no column of ours holds: still framed


def row_digest(table: str, names: Sequence[str], values: Sequence[object]) -> bytes:
    """The digest of one row: its table and its non-NULL ``(column, value)`` pairs, by name."""
    given = zip(names, values, strict=True)
    pairs = sorted((name, _plain(value)) for name, value in given if value is not None)
    return hashlib.sha256(_frame([table, pairs])).digest()


def entry_digest(kind: str, ref: str, digest: bytes) -> bytes:
    return hashlib.sha256(_frame([kind, ref, digest])).digest()


def _key_index(kind: str, names: Sequence[str]) -> int | None:
    key = COVERED[kind][1]
    return None if key is None else list(names).index(key)


def _names(cursor: Any) -> list[str]:
    return [str(column[0]).lower() for column in cursor.description]


# -- writing -------------------------------------------------------------------------------------


def record(
    cursor: Any, mark: str, kind: str, refs: Iterable[object]
) -> list[tuple[str, str, bytes]]:
    """The entries for rows ``refs`` of ``kind`` as they are now in this transaction (a ref with
    no row: deleted). Pass them to `append`."""
    table, key = COVERED[kind]
    wanted = sorted({str(ref) for ref in refs})
    found: dict[str, bytes] = {}
    for start in range(0, len(wanted), _CHUNK):
        part = wanted[start : start + _CHUNK]
        cursor.execute(
            f"SELECT * FROM {table} WHERE {key} IN ({', '.join([mark] * len(part))})",
            tuple(_key_value(kind, ref) for ref in part),
        )
        names = _names(cursor)
        index = names.index(str(key))
        for row in cursor.fetchall():
            found[str(row[index])] = row_digest(table, names, row)
    return [(kind, ref, found.get(ref, DELETED)) for ref in wanted]


def _key_value(kind: str, ref: str) -> object:
    return int(ref) if kind in ("decision", "allow") else ref


def returned_entry(cursor: Any, kind: str) -> tuple[str, str, bytes]:
    """The entry for the row an ``INSERT ... RETURNING *`` just gave (append-only tables)."""
    table = COVERED[kind][0]
    row = cursor.fetchone()
    return (kind, "", row_digest(table, _names(cursor), row))


def tip_head(cursor: Any) -> tuple[int, bytes]:
    cursor.execute("SELECT seq, chain FROM ledger_heads ORDER BY seq DESC LIMIT 1")
    row = cursor.fetchone()
    return (int(row[0]), bytes(row[1])) if row else (0, GENESIS)


def append(
    cursor: Any, mark: str, keyring: Keyring, entries: Sequence[tuple[str, str, bytes]], now: int
) -> SignedHead | None:
    """Chain ``entries`` on and sign the new head (inside the caller's exclusive transaction)."""
    if not entries:
        return None
    seq, chain = tip_head(cursor)
    rows = []
    for kind, ref, digest in entries:
        seq += 1
        chain = link(chain, seq, entry_digest(kind, ref, digest))
        rows.append((seq, kind, ref, digest, chain))
    cursor.executemany(f"INSERT INTO ledger VALUES ({', '.join([mark] * 5)})", rows)
    head = SignedHead(seq, chain, now, keyring.sign(ledger_head_message(seq, chain, now)))
    cursor.execute(
        f"INSERT INTO ledger_heads VALUES ({', '.join([mark] * 4)})",
        (head.seq, head.chain, head.signed_at_us, head.signature),
    )
    return head


def adopt(cursor: Any, tables: Iterable[str]) -> list[tuple[str, str, bytes]]:
    """Entries for every row of the covered ``tables`` that exist (a store from before the
    ledger: its rows are taken as found)."""
    entries: list[tuple[str, str, bytes]] = []
    for kind, (table, _) in COVERED.items():
        if table not in tables:
            continue
        cursor.execute(f"SELECT * FROM {table}")
        names = _names(cursor)
        index = _key_index(kind, names)
        for row in cursor.fetchall():
            ref = "" if index is None else str(row[index])
            entries.append((kind, ref, row_digest(table, names, row)))
    return entries


# -- checking ------------------------------------------------------------------------------------


class LedgerReport(msgspec.Struct):
    entries: int = 0
    heads: int = 0
    problem: str | None = None
    #: seq -> chain of every head (for anchors).
    head_chains: dict[int, bytes] = msgspec.field(default_factory=dict)


def check(rows: Iterator[Any], heads: Sequence[Any], keyring: Keyring,
          table_rows: Any) -> LedgerReport:  # fmt: skip
    """Check the ledger ``rows`` (seq order) against its signed ``heads``, then every covered
    table: ``table_rows(table)`` gives ``(column names, rows)`` of a table."""
    report = LedgerReport(heads=len(heads))
    latest: dict[tuple[str, str], bytes] = {}
    reads: Counter[bytes] = Counter()
    problem = _bad_heads(heads, keyring, report.head_chains)
    if problem is None:
        latest, reads, problem = _walk(rows, report)
    if problem is None:
        tip = max(report.head_chains, default=0)
        if report.entries < tip:
            problem = f"ledger entry {report.entries + 1} is deleted (its head {tip} signed it)"
        elif report.entries > tip:
            problem = (f"ledger entry {tip + 1} is not covered by a signed head (the last head "
                       f"is at entry {tip})")  # fmt: skip
    if problem is None:
        problem = _compare_tables(latest, reads, table_rows)
    report.problem = problem
    return report


def _bad_heads(heads: Sequence[Any], keyring: Keyring, chains: dict[int, bytes]) -> str | None:
    previous = 0
    for seq, chain, signed_at, signature in heads:
        try:
            message = ledger_head_message(int(seq), _blob(chain), int(signed_at))
            valid = int(seq) > previous and keyring.signature_ok(message, _blob(signature))
        except (TypeError, ValueError, OverflowError):
            valid = False
        if not valid:
            return f"ledger head at entry {seq} is not validly signed"
        previous = int(seq)
        chains[previous] = _blob(chain)
    return None


def _walk(
    rows: Iterator[Any], report: LedgerReport
) -> tuple[dict[tuple[str, str], bytes], Counter[bytes], str | None]:
    checker = ChainChecker(0, GENESIS, noun="ledger entry")
    latest: dict[tuple[str, str], bytes] = {}
    reads: Counter[bytes] = Counter()
    for row in rows:
        try:
            seq, kind, ref = int(row[0]), str(row[1]), str(row[2])
            digest, chain = _blob(row[3]), _blob(row[4])
        except (TypeError, ValueError, OverflowError):
            problem = f"ledger entry {checker.expected_seq} holds a value of the wrong type"
            return latest, reads, problem
        if kind not in COVERED or not checker.feed(seq, entry_digest(kind, ref, digest), chain):
            return latest, reads, checker.problem or f"ledger entry {seq} names no known table"
        signed = report.head_chains.get(seq)
        if signed is not None and signed != chain:
            return latest, reads, f"ledger entry {seq} does not match its signed head"
        if kind == "read":
            reads[digest] += 1
        else:
            latest[(kind, ref)] = digest
        report.entries += 1
    return latest, reads, None


def _compare_tables(
    latest: dict[tuple[str, str], bytes], reads: Counter[bytes], table_rows: Any
) -> str | None:
    for kind, (table, _) in COVERED.items():
        names, rows = table_rows(table)
        if kind == "read":
            found = Counter(row_digest(table, names, row) for row in rows)
            if found != reads:
                return _reads_problem(found, reads)
            continue
        index = _key_index(kind, names)
        assert index is not None  # noqa: S101 - every other kind has a key
        seen: set[str] = set()
        for row in rows:
            ref = str(row[index])
            seen.add(ref)
            expected = latest.get((kind, ref))
            if expected is None or expected == DELETED:
                return f"{_NAMES[kind]} {ref} was added outside apiwatch (no ledger entry)"
            if row_digest(table, names, row) != expected:
                return f"{_NAMES[kind]} {ref} was altered (it is not what the ledger recorded)"
        for (entry_kind, ref), digest in latest.items():
            if entry_kind == kind and digest != DELETED and ref not in seen:
                return f"{_NAMES[kind]} {ref} was deleted (the ledger records it)"
    return None


def _reads_problem(found: Counter[bytes], recorded: Counter[bytes]) -> str:
    missing = sum((recorded - found).values())
    extra = sum((found - recorded).values())
    if missing and extra:
        return f"the read audit was altered ({missing} recorded reads changed or deleted)"
    if missing:
        return f"the read audit was altered ({missing} recorded reads deleted)"
    return f"the read audit was altered ({extra} reads added outside apiwatch)"


def _blob(value: object) -> bytes:
    """A BLOB/BYTEA column's bytes; TypeError for anything else (bytes(5) is not a blob)."""
    if isinstance(value, bytes | memoryview | bytearray):
        return bytes(value)
    raise TypeError(type(value).__name__)
