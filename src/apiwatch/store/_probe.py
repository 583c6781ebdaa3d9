"""Is this file an apiwatch SQLite store? Asked before a command that only uses a store opens
it, so that a damaged file or some other database is refused in one line and never written to.

`check_sqlite_store` raises `ConfigError` naming what is wrong; it reads the file's header and
table names through a read-only connection (which sees a live store's WAL like any reader).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from apiwatch.model import ConfigError

__all__ = ["check_sqlite_store", "postgres_module_missing"]

_MAGIC = b"SQLite format 3\x00"
_WAL_MODE = 2  # header bytes 18 and 19 (read and write format versions) in WAL mode
_OURS = frozenset({"events", "checkpoints", "meta"})


def check_sqlite_store(path: Path) -> None:
    """Refuse a file that is not an SQLite database holding apiwatch's tables."""
    with path.open("rb") as file:
        header = file.read(100)
    if header and not header.startswith(_MAGIC):
        raise ConfigError(f"{path} is not an apiwatch store: not an SQLite database (damaged, or "
                          "another kind of file)")  # fmt: skip
    tables = _table_names(path)
    if tables >= _OURS:
        return
    wal_mode = len(header) > 19 and header[18] == header[19] == _WAL_MODE
    if not tables and wal_mode:
        raise ConfigError(
            f"{path} looks emptied: an SQLite file in WAL mode with no tables, as when a live "
            f"store is copied without its {path.name}-wal file (its contents were there); "
            "`apiwatch backup` copies a live store whole"
        )
    raise ConfigError(f"{path} is not an apiwatch store (it lacks apiwatch's tables)")


def _table_names(path: Path) -> set[str]:
    uri = f"{path.absolute().as_uri()}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True)
        try:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            return {str(row[0]) for row in rows}
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise ConfigError(f"{path} is not an apiwatch store: {exc} (damaged, or another kind of "
                          "file)") from None  # fmt: skip


def postgres_module_missing() -> ConfigError:
    """The one-line error for a PostgreSQL URL when psycopg is not installed."""
    return ConfigError("db: a postgresql:// store needs the postgres extra: "
                       "pip install 'apiwatch[postgres]'")  # fmt: skip
