"""`open_store`: a store is tied to the keys it was created with, and read-only opens never
create a store or keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from apiwatch.model import ConfigError
from apiwatch.store import StoreUnavailableError, default_key_file, open_store

from .conftest import PG_URL
from .helpers import Backend, batch, lines


def url_of(backend: Backend) -> str:
    return f"sqlite:///{backend.target}" if backend.kind == "sqlite" else backend.target


def test_store_records_its_signing_key_and_refuses_another_key_file(
    backend: Backend, tmp_path: Path
) -> None:
    """Opening a store with a key file it was not created with is a ConfigError naming it."""
    open_store(url_of(backend), key_file=tmp_path / "keys").close()
    other = tmp_path / "other-keys"
    with pytest.raises(ConfigError, match=re.escape(f"the key file {other} does not belong")):
        open_store(url_of(backend), key_file=other)
    assert not other.exists()  # created by the refused open, so removed again
    open_store(url_of(backend), key_file=tmp_path / "keys").close()


def test_existing_foreign_key_file_is_refused_and_kept(backend: Backend, tmp_path: Path) -> None:
    """A key file that existed before the refused open is left alone."""
    open_store(url_of(backend), key_file=tmp_path / "keys").close()
    other = tmp_path / "other-keys"
    open_store(f"sqlite:///{tmp_path / 'elsewhere.db'}", key_file=other).close()
    with pytest.raises(ConfigError, match="does not belong to this store"):
        open_store(url_of(backend), key_file=other)
    assert other.exists()


def test_read_only_open_of_a_missing_store_creates_nothing(
    backend: Backend, tmp_path: Path
) -> None:
    """With create=False a missing store is a ConfigError and no store or key file appears."""
    keys = tmp_path / "keys"
    with pytest.raises(ConfigError, match=r"no apiwatch store at .*`apiwatch serve`"):
        open_store(url_of(backend), key_file=keys, create=False)
    assert not keys.exists()
    if backend.kind == "sqlite":
        assert not Path(backend.target).exists()
    else:
        assert backend.sql("SELECT to_regclass('events')") == [(None,)]


def test_read_only_open_without_the_key_file_is_a_config_error(
    backend: Backend, tmp_path: Path
) -> None:
    """With create=False an existing store whose key file is missing never gets new keys."""
    store = open_store(url_of(backend), key_file=tmp_path / "keys")
    store.events.append([batch(lines(2))])
    store.close()
    missing = tmp_path / "moved-keys"
    with pytest.raises(ConfigError, match=re.escape(f"key file {missing} is missing")):
        open_store(url_of(backend), key_file=missing, create=False)
    assert not missing.exists()
    reopened = open_store(url_of(backend), key_file=tmp_path / "keys", create=False)
    assert reopened.verify().ok
    reopened.close()


def test_postgres_default_key_file_ignores_password_and_other_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PostgreSQL key file is named by host, port, database and search_path only."""
    monkeypatch.setenv("APIWATCH_HOME", str(tmp_path))
    base = default_key_file("postgresql://u@db.example:5432/logs")
    assert default_key_file("postgresql://u:secret@db.example:5432/logs") == base
    assert default_key_file("postgresql://u@db.example/logs?password=x&sslmode=require") == base
    assert default_key_file("postgresql://u@db.example:5432/logs?application_name=y") == base
    assert "secret" not in str(base)
    other_schema = "postgresql://u@db.example/logs?options=-csearch_path%3Dother"
    assert default_key_file(other_schema) != base
    assert default_key_file("postgresql://u@db.example:5433/logs") != base
    assert default_key_file("postgresql://u@db.example/other") != base
    assert base.parent == tmp_path and base.name.startswith("db.example-logs-")


def test_postgres_read_only_open_of_an_unreachable_server_is_one_clear_error(
    tmp_path: Path,
) -> None:
    """With create=False an unreachable PostgreSQL server is an error naming it, no keys made."""
    url = PG_URL.replace("5432", "1") + "?connect_timeout=2"
    with pytest.raises(StoreUnavailableError, match="cannot connect to"):
        open_store(url, key_file=tmp_path / "keys", create=False)
    assert not (tmp_path / "keys").exists()


def test_uncreatable_sqlite_file_is_a_config_error(tmp_path: Path) -> None:
    """A SQLite path that cannot be created is a ConfigError, and its new key file is removed."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    keys = tmp_path / "keys"
    with pytest.raises(ConfigError, match=re.escape(f"db: cannot create {blocker / 'x.db'}")):
        open_store(f"sqlite:///{blocker / 'x.db'}", key_file=keys)
    assert not keys.exists()
