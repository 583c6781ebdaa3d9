"""Durable, encrypted, tamper-evident event storage: `open_store` picks the back end by URL.

``sqlite:///path/to/apiwatch.db`` (the default, embedded) or ``postgresql://user@host/db``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit

from apiwatch.model import ConfigError
from apiwatch.store._sql import SqlStore, StoreFullError, StoreUnavailableError
from apiwatch.store.base import (
    SCOPES,
    ApiKey,
    AppendResult,
    Batch,
    EventFilter,
    Page,
    ReadRecord,
    SourceInfo,
    Store,
    StoredLine,
    VerifyReport,
)
from apiwatch.store.crypto import Keyring

__all__ = [
    "DEFAULT_DB",
    "SCOPES",
    "ApiKey",
    "AppendResult",
    "Batch",
    "EventFilter",
    "Keyring",
    "Page",
    "ReadRecord",
    "SourceInfo",
    "SqlStore",
    "Store",
    "StoreFullError",
    "StoreUnavailableError",
    "StoredLine",
    "VerifyReport",
    "default_key_file",
    "open_store",
]

DEFAULT_DB = "sqlite:///./apiwatch.db"


def _sqlite_path(url: str) -> Path:
    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else url[len("sqlite://") :]
    if not path:
        raise ConfigError("db: a SQLite URL needs a path, e.g. sqlite:///./apiwatch.db")
    return Path(path)


def default_key_file(url: str) -> Path:
    """Beside the SQLite file; for PostgreSQL, under ``$APIWATCH_HOME`` (or ~/.local/share)."""
    if url.startswith("sqlite:"):
        path = _sqlite_path(url)
        return path.with_name(path.name + ".keys")
    home = Path(os.environ.get("APIWATCH_HOME") or Path.home() / ".local/share/apiwatch")
    parts = urlsplit(url)
    label = f"{parts.hostname or 'local'}-{parts.path.strip('/') or 'db'}"
    digest = hashlib.sha256(url.encode()).hexdigest()[:8]
    return home / f"{label}-{digest}.keys"


def open_store(
    url: str = DEFAULT_DB, *, key_file: Path | None = None, max_bytes: int | None = None
) -> SqlStore:
    """Open (creating if needed) the store at ``url`` with its keys."""
    keyring = Keyring.load_or_create(key_file or default_key_file(url))
    if url.startswith("sqlite:"):
        from apiwatch.store.sqlite import SqliteStore  # noqa: PLC0415

        return SqliteStore(_sqlite_path(url), keyring, max_bytes=max_bytes)
    if url.startswith(("postgresql:", "postgres:")):
        from apiwatch.store.postgres import PostgresStore  # noqa: PLC0415

        return PostgresStore(url, keyring)
    raise ConfigError(f"db: {url!r} is not a sqlite:/// or postgresql:// URL")
