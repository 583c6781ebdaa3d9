"""Durable, encrypted, tamper-evident storage of events, alerts, incidents, decisions and the
allowlist: `open_store` picks the back end by URL.

``sqlite:///path/to/apiwatch.db`` (the default, embedded) or ``postgresql://user@host/db``.

Keys: the key file (data keys, public key) beside a SQLite store or under ``$APIWATCH_HOME``
for PostgreSQL (`default_key_file`); the signing key in a file of its own under
``$APIWATCH_HOME/signing`` (`default_signing_key_file`), apart from the data directory. Anchors
(`Anchor`, `read_anchors`) are signed heads kept elsewhere that `SqlStore.verify` checks.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from types import ModuleType

from apiwatch.model import ConfigError
from apiwatch.store._anchor import Anchor, AnchorWriter, read_anchors
from apiwatch.store._console import line_tally
from apiwatch.store._decisions import stream_cursor
from apiwatch.store._probe import check_sqlite_store, postgres_module_missing
from apiwatch.store._sql import SqlStore, StoreFullError, StoreUnavailableError
from apiwatch.store.base import (
    INCIDENT_STATES,
    ROLES,
    SCOPES,
    AllowlistStore,
    ApiKey,
    AppendResult,
    Batch,
    ConsoleSession,
    ConsoleStore,
    ConsoleUser,
    DecisionChanges,
    DecisionFilter,
    DecisionPage,
    DecisionStore,
    DetectionFilter,
    DetectionPage,
    DetectionStore,
    EventFilter,
    EventStore,
    IncidentState,
    KeyStore,
    MinuteCounts,
    Page,
    ReadAudit,
    ReadRecord,
    Sealed,
    SealedBatch,
    SourceInfo,
    Store,
    StoredLine,
    Tally,
    VerifyReport,
)
from apiwatch.store.crypto import Keyring

__all__ = [
    "DEFAULT_DB",
    "INCIDENT_STATES",
    "ROLES",
    "SCOPES",
    "AllowlistStore",
    "Anchor",
    "ApiKey",
    "AppendResult",
    "Batch",
    "ConsoleSession",
    "ConsoleStore",
    "ConsoleUser",
    "DecisionChanges",
    "DecisionFilter",
    "DecisionPage",
    "DecisionStore",
    "DetectionFilter",
    "DetectionPage",
    "DetectionStore",
    "EventFilter",
    "EventStore",
    "IncidentState",
    "KeyStore",
    "Keyring",
    "MinuteCounts",
    "Page",
    "ReadAudit",
    "ReadRecord",
    "Sealed",
    "SealedBatch",
    "SourceInfo",
    "SqlStore",
    "Store",
    "StoreFullError",
    "StoreUnavailableError",
    "StoredLine",
    "Tally",
    "VerifyReport",
    "default_key_file",
    "default_signing_key_file",
    "line_tally",
    "open_store",
    "read_anchors",
    "stream_cursor",
]

DEFAULT_DB = "sqlite:///./apiwatch.db"


def _sqlite_path(url: str) -> Path:
    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else url[len("sqlite://") :]
    if not path:
        raise ConfigError("db: a SQLite URL needs a path, e.g. sqlite:///./apiwatch.db")
    return Path(path)


def default_key_file(url: str) -> Path:
    """Beside the SQLite file; for PostgreSQL, under ``$APIWATCH_HOME`` (or ~/.local/share),
    named after the host, port, database and search_path only (never the password)."""
    if url.startswith("sqlite:"):
        path = _sqlite_path(url)
        return path.with_name(path.name + ".keys")
    _check_scheme(url)
    key_file_label = _postgres().key_file_label
    home = _home()
    label, identity = key_file_label(url)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
    return home / f"{re.sub(r'[^A-Za-z0-9._-]', '_', label)}-{digest}.keys"


def _postgres() -> ModuleType:
    """`apiwatch.store.postgres`, or a `ConfigError` naming the extra that brings psycopg."""
    try:
        from apiwatch.store import postgres  # noqa: PLC0415 - the postgres extra
    except ImportError:
        raise postgres_module_missing() from None
    return postgres


def _home() -> Path:
    return Path(os.environ.get("APIWATCH_HOME") or Path.home() / ".local/share/apiwatch")


def default_signing_key_file(key_file: Path) -> Path:
    """Where a new key file's signing key goes by default: under ``$APIWATCH_HOME/signing``
    (or ~/.local/share/apiwatch/signing), apart from the data directory, named after the key
    file's absolute path."""
    absolute = str(key_file.absolute())
    digest = hashlib.sha256(absolute.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", key_file.name)
    return _home() / "signing" / f"{name}-{digest}.signing"


def _check_scheme(url: str) -> None:
    if not url.startswith(("sqlite:", "postgresql:", "postgres:")):
        raise ConfigError(f"db: {url!r} is not a sqlite:/// or postgresql:// URL")


def open_store(
    url: str = DEFAULT_DB,
    *,
    key_file: Path | None = None,
    signing_key_file: Path | None = None,
    anchor_file: Path | None = None,
    max_bytes: int | None = None,
    create: bool = True,
) -> SqlStore:
    """Open the store at ``url`` with its keys, creating both when missing if ``create``.

    The signing key is read from (or created in) ``signing_key_file``, by default
    `default_signing_key_file`; a key file from before the split keeps it inside (see
    `Keyring.signing_inline`). With ``anchor_file``, signed heads are appended to it after
    commits (see `apiwatch.store._anchor`). Raises `ConfigError` when the key file belongs to
    another store, and (with ``create`` false) when there is no store at ``url`` or its key file
    is missing; a missing signing key file only stops what signs.
    """
    _check_scheme(url)
    key_path = key_file or default_key_file(url)
    if not create:
        _require_existing(url, key_path)
    signing_path = signing_key_file or default_signing_key_file(key_path)
    keyring = Keyring.load_or_create(key_path, signing_path)
    try:
        store = _open(url, keyring, max_bytes)
    except BaseException:
        # Made just now for a store that could not be opened (another's, an unreachable or
        # missing database): a failed open leaves no key files behind.
        if keyring.created:
            key_path.unlink(missing_ok=True)
            if keyring.created_signing and keyring.signing_path is not None:
                keyring.signing_path.unlink(missing_ok=True)
        raise
    if anchor_file is not None:
        store.anchor_to(AnchorWriter(anchor_file, keyring.public_key_bytes()))
    return store


def _open(url: str, keyring: Keyring, max_bytes: int | None) -> SqlStore:
    if url.startswith("sqlite:"):
        from apiwatch.store.sqlite import SqliteStore  # noqa: PLC0415

        return SqliteStore(_sqlite_path(url), keyring, max_bytes=max_bytes)
    return _postgres().PostgresStore(url, keyring)  # type: ignore[no-any-return]


def _require_existing(url: str, key_path: Path) -> None:
    """For commands that only use a store: it and its key file must already exist."""
    if url.startswith("sqlite:"):
        where = str(_sqlite_path(url))
        exists = _sqlite_path(url).is_file()
    else:
        postgres = _postgres()
        where = postgres.key_file_label(url)[0]
        exists = postgres.store_exists(url)
    if not exists:
        raise ConfigError(
            f"no apiwatch store at {where}; `apiwatch serve` or `apiwatch keys create` creates one"
        )
    if not key_path.is_file():
        raise ConfigError(
            f"key file {key_path} is missing: the store at {where} cannot be read or verified "
            "without its keys (set key_file / APIWATCH_KEY_FILE to where they are)"
        )
    if url.startswith("sqlite:"):
        check_sqlite_store(_sqlite_path(url))
