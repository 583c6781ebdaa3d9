"""What only the PostgreSQL back end has: several writer processes, connection handling,
error messages without the password."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from apiwatch.model import ConfigError
from apiwatch.store import EventFilter, Keyring, StoreUnavailableError, open_store
from apiwatch.store.postgres import PostgresStore

from .conftest import PG_URL
from .helpers import Backend, batch, lines


def test_two_collectors_on_one_database_interleave_safely(
    pg_backend: Backend, keyring: Keyring
) -> None:
    """Two stores (as two collector processes) appending at once keep one gap-free chain: the
    advisory lock serialises their sequence numbers."""
    stores = [PostgresStore(pg_backend.target, keyring) for _ in range(2)]
    errors: list[BaseException] = []

    def ship(store: PostgresStore) -> None:
        try:
            for _ in range(15):
                store.events.append([batch(lines(20), key=f"edge-{id(store)}")])
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=ship, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        report = stores[0].verify()
        assert (report.ok, report.records, report.checkpoints) == (True, 600, 30)
    finally:
        for store in stores:
            store.close()


def test_readers_are_not_left_idle_in_transaction(pg_backend: Backend, keyring: Keyring) -> None:
    """After queries, verify and key checks, no apiwatch connection sits in a transaction."""
    store = PostgresStore(pg_backend.target, keyring)
    try:
        store.events.append([batch(lines(5))])
        _, secret = store.keys.create("api-1", ["read"])
        store.events.query(EventFilter(), cursor=None, limit=2)
        store.keys.authenticate(secret)
        store.events.sources(lines(1)[0].event.timestamp)
        assert store.verify().ok
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            states = admin.execute(
                "SELECT state FROM pg_stat_activity WHERE application_name = %s",
                (pg_backend.session_name,),
            ).fetchall()
        assert states
        assert all(state == "idle" for (state,) in states), states
    finally:
        store.close()


def test_lost_connections_are_replaced(pg_backend: Backend, keyring: Keyring) -> None:
    """After the server drops the store's connections, reads reconnect at once, and the one
    write that meets the dead connection fails as StoreUnavailableError (the sender retries)."""
    store = PostgresStore(pg_backend.target, keyring)
    try:
        store.events.append([batch(lines(2))])
        assert store.events.count() == 2
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (pg_backend.session_name,),
            )
        with pytest.raises(StoreUnavailableError) as lost_writer:
            store.events.append([batch(lines(2))])
        assert "\n" not in str(lost_writer.value)
        assert store.events.count() == 2
        assert store.events.append([batch(lines(3))])[0].stored == 3
        assert store.events.count() == 5
        assert store.verify().ok
    finally:
        store.close()


def test_concurrent_reads_share_a_small_pool(pg_backend: Backend, keyring: Keyring) -> None:
    """Many reading threads do not leave a connection each behind: at most a few stay open."""
    store = PostgresStore(pg_backend.target, keyring)
    try:
        store.events.append([batch(lines(50))])
        counts: list[int] = []
        threads = [
            threading.Thread(target=lambda: counts.append(store.events.count())) for _ in range(16)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert counts == [50] * 16
        # A closed connection's server process ends a moment after close() returns: poll.
        deadline = time.monotonic() + 5
        while (open_connections := _sessions(pg_backend)) > 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open_connections <= 5  # the writer and at most four idle readers
    finally:
        store.close()


def test_unreachable_server_is_one_line_without_the_password(tmp_path: Path) -> None:
    """A server that cannot be reached gives StoreUnavailableError: one line, naming the host,
    never the password."""
    url = "postgresql://apiwatch:s3cret-Passw0rd@127.0.0.1:1/logs?connect_timeout=3"
    with pytest.raises(StoreUnavailableError) as caught:
        open_store(url, key_file=tmp_path / "keys")
    message = str(caught.value)
    assert "s3cret-Passw0rd" not in message
    assert "\n" not in message
    assert "apiwatch@127.0.0.1:1/logs" in message


def test_server_errors_never_show_the_password(pg_backend: Backend, keyring: Keyring) -> None:
    """A driver message that happens to quote the password has it masked."""
    target = pg_backend.target.replace("postgres@", "postgres:hunter2-secret@")
    store = PostgresStore(target, keyring)  # trust authentication ignores the password
    try:
        leaked = psycopg.OperationalError("password authentication failed: hunter2-secret")
        assert "hunter2-secret" not in str(store.db.translate(leaked))
    finally:
        store.close()


def test_malformed_url_is_a_config_error(tmp_path: Path) -> None:
    """A URL libpq cannot parse is a ConfigError that does not echo it."""
    with pytest.raises(ConfigError, match="db:") as caught:
        open_store("postgresql://u:pw-9@[::1/db", key_file=tmp_path / "keys")
    assert "pw-9" not in str(caught.value)


def _sessions(backend: Backend) -> int:
    """How many server sessions the store under test has open."""
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        (count,) = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (backend.session_name,),
        ).fetchone() or (0,)
    return int(count)
