"""``apiwatch backup`` copies a live store whole (keys apart) and ``apiwatch restore`` brings
back a store that ``apiwatch verify`` accepts, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from apiwatch.cli._common import password_of, without_password
from apiwatch.model import Event, EventMeta, Source, encode_event
from apiwatch.store import Batch, SqlStore, StoredLine, open_store

APIWATCH = Path(sys.executable).with_name("apiwatch")


def _run(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("APIWATCH_") or k == "APIWATCH_HOME"}  # fmt: skip
    result = subprocess.run([str(APIWATCH), *args], cwd=workdir, env=environment,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr
    return result


def _append(store: SqlStore, count: int) -> None:
    lines = []
    for i in range(count):
        event = Event(event=EventMeta(action="authn_login_fail"), source=Source(ip=f"192.0.2.{i}"))
        lines.append(StoredLine(event, encode_event(event)))
    store.events.append([Batch(lines, "api-1")])


def test_a_backup_of_a_live_sqlite_store_restores_and_verifies(tmp_path: Path) -> None:
    """`backup` copies a store that is in use (its WAL included), names the key files to keep
    apart without copying them; `restore` of it verifies intact with all its records."""
    store = open_store(f"sqlite:///{tmp_path / 'live.db'}")
    _append(store, 3)
    try:
        made = _run(tmp_path, "backup", "backups/live.bak", "--db", "sqlite:///live.db")
    finally:
        store.close()
    assert made.returncode == 0, made.stderr
    assert "the key file" in made.stdout and "the signing key" in made.stdout
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == ["live.bak"]
    restored = _run(tmp_path, "restore", "backups/live.bak", "--db", "sqlite:///new/r.db")
    assert restored.returncode == 0, restored.stderr
    assert "put the store's key file at" in restored.stderr
    shutil.copy(tmp_path / "live.db.keys", tmp_path / "new" / "r.db.keys")
    checked = _run(tmp_path, "verify", "--db", "sqlite:///new/r.db")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("intact: 3 records")


def test_restore_refuses_to_overwrite_a_store(tmp_path: Path) -> None:
    """`restore` into a store that exists is refused in one line."""
    open_store(f"sqlite:///{tmp_path / 'a.db'}").close()
    result = _run(tmp_path, "restore", "a.db", "--db", "sqlite:///a.db")
    assert result.returncode == 1
    assert result.stderr.strip() == "apiwatch: a.db exists: restore into a new store (set --db)"


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """Two fresh PostgreSQL databases (origin, restore target), dropped afterwards."""
    names = [f"apiwatch_backup_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    admin = "postgresql://postgres@127.0.0.1:5432/test"
    with psycopg.connect(admin, autocommit=True) as connection:
        for name in names:
            connection.execute(f"CREATE DATABASE {name}")
    try:
        yield tuple(f"postgresql://postgres@127.0.0.1:5432/{name}" for name in names)  # type: ignore[misc]
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            for name in names:
                connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.slow
def test_a_postgresql_backup_restores_and_verifies(
    tmp_path: Path, databases: tuple[str, str]
) -> None:
    """`backup` of a PostgreSQL store (pg_dump) restores (pg_restore) into an empty database
    that verifies intact with the original's key file; a password in the URL is never shown."""
    origin, target = databases
    key_file = tmp_path / "pg.keys"
    store = open_store(origin, key_file=key_file)
    _append(store, 2)
    store.close()
    made = _run(
        tmp_path, "backup", "pg.dump", "--db", origin, "--config", _config(tmp_path, key_file)
    )
    assert made.returncode == 0, made.stderr
    # A password in the URL (trust auth ignores it) reaches pg_restore through PGPASSWORD and
    # is never printed.
    with_password = target.replace("postgres@", "postgres:s3cret-pw@")
    restored = _run(tmp_path, "restore", "pg.dump", "--db", with_password)
    assert restored.returncode == 0, restored.stderr
    assert "s3cret-pw" not in restored.stdout + restored.stderr
    assert f"into {target}" in restored.stdout
    checked = _run(tmp_path, "verify", "--db", target, "--config", _config(tmp_path, key_file))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("intact: 2 records")


def _config(tmp_path: Path, key_file: Path) -> str:
    path = tmp_path / "apiwatch.toml"
    path.write_text(f'key_file = "{key_file}"\n')
    return str(path)


@pytest.mark.parametrize(
    ("url", "shown", "password"),
    [
        ("postgresql://app:pw@db:5432/apiwatch", "postgresql://app@db:5432/apiwatch", "pw"),
        ("postgresql://app@db/apiwatch?password=pw&sslmode=require",
         "postgresql://app@db/apiwatch?sslmode=require", "pw"),
        ("postgresql://app@db/apiwatch", "postgresql://app@db/apiwatch", None),
        ("sqlite:///./apiwatch.db", "sqlite:///./apiwatch.db", None),
    ],
)  # fmt: skip
def test_a_store_url_is_shown_without_its_password(
    url: str, shown: str, password: str | None
) -> None:
    """The URL printed (and given to pg_dump/pg_restore) drops the password, which goes apart."""
    assert without_password(url) == shown
    assert password_of(url) == password
