"""`SqlReadAudit`: the audit of reads of event data (who read what, by which criteria, how
much), each record in the ledger; criteria name an account only by its blind index."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from apiwatch.store import _ledger
from apiwatch.store._rows import clear_text, from_micros, micros
from apiwatch.store.base import EventFilter, ReadRecord

if TYPE_CHECKING:
    from apiwatch.store._database import Database

__all__ = ["SqlReadAudit"]


class SqlReadAudit:
    """`ReadAudit` over a `Database`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def describe_filter(self, criteria: EventFilter) -> str:
        """The criteria as the read audit records them: an account as its blind index
        (``user.name=#<hex>``), never the name itself."""
        if criteria.user_name is None:
            return criteria.describe()
        hidden = "#" + self._db.keyring.blind_index(criteria.user_name).hex()
        return dataclasses.replace(criteria, user_name=hidden).describe()

    def record(self, record: ReadRecord) -> None:
        # The criteria are the reader's text: a NUL in a filter (which PostgreSQL text cannot
        # hold) is recorded as U+FFFD, as the filter itself is compared (`clear_text`).
        texts = (clear_text(record.key_name), clear_text(record.what), clear_text(record.criteria))
        with self._db.transaction(exclusive=True) as cursor:
            # RETURNING *: the ledger digests the row as the database holds it.
            cursor.execute(
                "INSERT INTO reads (at, key_name, what, criteria, returned) "
                f"VALUES ({self._db.marks(5)}) RETURNING *",
                (micros(record.at), *texts, record.returned),
            )
            self._db.record(cursor, [_ledger.returned_entry(cursor, "read")])

    def reads(self, limit: int = 100) -> list[ReadRecord]:
        rows = self._db.read_all(
            f"SELECT at, key_name, what, criteria, returned FROM reads "
            f"ORDER BY at DESC LIMIT {int(limit)}"
        )
        return [ReadRecord(from_micros(r[0]), r[1], r[2], r[3], int(r[4])) for r in rows]
