"""``apiwatch backup`` and ``apiwatch restore``: the database, copied whole while it is in use.

SQLite is copied with its online backup API (a consistent snapshot, WAL included, while the
collector writes); PostgreSQL with ``pg_dump --format=custom`` and restored with
``pg_restore``. The key file and the signing key are never put in the backup: the command says
where they are, to be backed up apart (the key file is needed to read and verify a restored
store; the signing key only to store more, and it must not sit beside the backup).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import click

from apiwatch.cli._common import (
    key_file_of,
    open_configured_store,
    password_of,
    settings_for,
    signing_key_file_of,
    store_options,
    without_password,
)
from apiwatch.cli._config import Settings
from apiwatch.model import ConfigError
from apiwatch.store._probe import check_sqlite_store

__all__ = ["backup", "restore"]


@click.command()
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@store_options
def backup(dest: Path, config: str | None, db: str | None) -> None:
    """Copy the store to DEST while it may be in use (SQLite's online backup; pg_dump for
    PostgreSQL). The key file and the signing key are not copied: back them up apart."""
    settings = settings_for(config, db=db)
    if dest.exists():
        raise ConfigError(f"{dest} exists: give a new file for the backup")
    store = open_configured_store(settings, announce=False)
    store.close()
    if settings.db.startswith("sqlite:"):
        _sqlite_copy(Path(store.path), dest)  # type: ignore[attr-defined]
    else:
        _run_pg(settings.db, "pg_dump", "--format=custom", "--no-owner", f"--file={dest}", "{db}")
    click.echo(f"backed up the store to {dest}")
    click.echo(_keys_note(settings))


@click.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@store_options
def restore(source: Path, config: str | None, db: str | None) -> None:
    """Restore a backup made by `apiwatch backup` into the configured store, which must not
    exist yet; then `apiwatch verify` checks it (with the store's key file in place)."""
    settings = settings_for(config, db=db)
    if settings.db.startswith("sqlite:"):
        target = _path(settings)
        if target.exists():
            raise ConfigError(f"{target} exists: restore into a new store (set --db)")
        check_sqlite_store(source)
        _sqlite_copy(source, target)
    else:
        _run_pg(settings.db, "pg_restore", "--no-owner", "--exit-on-error", "--dbname={db}",
                str(source))  # fmt: skip
    click.echo(f"restored {source} into {without_password(settings.db)}")
    key_file = key_file_of(settings)
    if not key_file.is_file():
        click.echo(f"note: put the store's key file at {key_file} (or set key_file) to read "
                   "and verify it", err=True)  # fmt: skip


def _path(settings: Settings) -> Path:
    url = settings.db
    return Path(url[len("sqlite:///") :] if url.startswith("sqlite:///") else url[9:])


def _sqlite_copy(source: Path, dest: Path) -> None:
    """A consistent copy of ``source`` (readers and a writer may go on) into a new ``dest``,
    owner-only like the store."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    origin = sqlite3.connect(f"{source.absolute().as_uri()}?mode=ro", uri=True)
    target = sqlite3.connect(dest)
    try:
        origin.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    except sqlite3.Error as exc:
        target.close()
        dest.unlink(missing_ok=True)
        raise ConfigError(f"cannot copy {source}: {exc}") from None
    finally:
        origin.close()
        target.close()


def _run_pg(url: str, tool: str, *args: str) -> None:
    """Run ``tool`` with ``args``, ``{db}`` in them standing for the store URL without its
    password: the password goes in PGPASSWORD, never on a command line `ps` shows."""
    if shutil.which(tool) is None:
        raise ConfigError(f"{tool} is not installed: install the PostgreSQL client tools")
    environment = dict(os.environ)
    password = password_of(url)
    if password is not None:
        environment["PGPASSWORD"] = password
    command = [tool, *(arg.replace("{db}", without_password(url)) for arg in args)]
    # The tool is found on PATH and given the configured URL: the operator's own settings.
    done = subprocess.run(command, capture_output=True, text=True, check=False,  # noqa: S603
                          env=environment)  # fmt: skip
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["failed"])[0]
        raise ConfigError(f"{tool}: {first}")


def _keys_note(settings: Settings) -> str:
    key_file = key_file_of(settings)
    signing = signing_key_file_of(settings)
    return (f"not in the backup, back them up apart: the key file {key_file} (without it the "
            f"backup cannot be read or verified) and the signing key {signing} (needed to store "
            "more; keep it away from the backup)")  # fmt: skip
