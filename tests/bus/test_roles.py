"""The scale-out pieces in one process: which settings start a role, the bus message format, and
what the writer refuses (on a SQLite store: `SqlEventStore.append_sealed` is the same code)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from apiwatch.cli import cli
from apiwatch.detect import Engine, builtin_dir, load_rules
from apiwatch.server._detection import Detector
from apiwatch.server.bus_roles import DetectRole
from apiwatch.server.bus_roles.wire import WireError, decode_message, encode_batch
from apiwatch.server.bus_roles.writer import Writer
from apiwatch.server.ingest import decode_body
from apiwatch.server.metrics import Metrics
from apiwatch.store import Batch, Sealed, SealedBatch, SqlStore, open_store
from tests.bus.cluster import body, new_ids
from tests.store.helpers import T0, line


@pytest.fixture
def store(tmp_path: Path) -> SqlStore:
    opened = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    yield opened  # type: ignore[misc]
    opened.close()


def _batch(store: SqlStore, count: int, idempotency_key: str | None = None) -> Batch:
    lines = decode_body(body(new_ids(count)), max_line_bytes=1 << 20).accepted
    return Batch(store.events.seal(lines, "sender"), "sender", idempotency_key)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "writer"], "needs a bus"),
        (["--role", "ingest", "--bus", "nats://127.0.0.1:4222"], "PostgreSQL"),
        (["--bus", "nats://127.0.0.1:4222"], "role all is the embedded collector"),
        (["--role", "detect", "--bus", "http://x"], "nats:// URL"),
    ],
)
def test_a_role_without_a_bus_or_postgresql_is_refused_with_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """`serve --role` needs a nats:// bus and a PostgreSQL store, and the embedded collector
    takes no bus: each mistake is one error line, before anything is created."""
    db = f"sqlite:///{tmp_path / 'x.db'}"
    result = CliRunner().invoke(cli, ["serve", "--db", db, *args])
    assert result.exit_code != 0
    assert message in str(result.exception) + result.output
    assert not (tmp_path / "x.db").exists()


def test_a_large_request_is_split_into_messages_that_decode_to_its_rows(store: SqlStore) -> None:
    """A request over the message size is split; the parts decode to its sealed rows in order,
    each part with its own numbered idempotency key and a stable message id."""
    batch = _batch(store, 300, idempotency_key="req-1")
    messages = encode_batch(batch, max_bytes=40_000)
    assert len(messages) > 1
    assert all(len(data) <= 40_000 for _, data in messages)
    decoded = [decode_message(data) for _, data in messages]
    rows = [row for part in decoded for row in part.rows]
    assert [row.payload for row in rows] == [line.sealed.payload for line in batch.lines]  # type: ignore[union-attr]
    assert len({part.idempotency_key for part in decoded}) == len(messages)
    assert [mid for mid, _ in encode_batch(batch, max_bytes=40_000)] == [m for m, _ in messages]


def test_a_message_that_is_not_a_batch_of_rows_is_a_wire_error() -> None:
    """Garbage, or another format version, is refused as a `WireError` naming the problem."""
    with pytest.raises(WireError, match="not a batch"):
        decode_message(b"\x93not msgpack of rows")


def test_sealed_rows_appended_twice_are_stored_once_and_verify(store: SqlStore) -> None:
    """`append_sealed` of the same messages again (a redelivery after a writer crash) stores
    nothing twice, and the chain verifies."""
    messages = encode_batch(_batch(store, 200), max_bytes=1 << 20)
    batches = [decode_message(data) for _, data in messages]
    first = store.events.append_sealed(batches)
    again = store.events.append_sealed(batches)
    assert [r.stored for r in first] == [200]
    assert [(r.stored, r.duplicates) for r in again] == [(0, 200)]
    assert store.events.count() == 200
    assert store.verify().ok


def test_the_writer_refuses_rows_that_do_not_authenticate(store: SqlStore, tmp_path: Path) -> None:
    """Rows sealed with another store's keys, or whose digest was changed, are not stored (a
    publisher without this store's keys cannot put rows on its chain), and are counted; the
    good rows are stored."""
    other = open_store(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        foreign = decode_message(encode_batch(_batch(other, 3), 1 << 20)[0][1])
    finally:
        other.close()
    good = decode_message(encode_batch(_batch(store, 3), 1 << 20)[0][1])
    altered = [Sealed(r.key_name, r.columns, bytes(32), r.key_id, r.payload) for r in good.rows]
    mixed = SealedBatch([*foreign.rows, *altered[:1], *good.rows[1:]], "sender")
    writer = Writer(store)
    checked = writer._checked([_Delivery(mixed)])  # type: ignore[list-item]
    assert len(checked[0].rows) == 2
    assert writer.stats.refused_rows == 4
    assert writer.metrics.registry.get_sample_value("apiwatch_bus_rows_refused_total") == 4
    store.events.append_sealed(checked)
    assert store.events.count() == 2
    assert store.verify().ok


def test_the_writer_keeps_the_console_rollups_as_the_single_process_does(
    store: SqlStore, tmp_path: Path
) -> None:
    """Rows committed by the writer count in the console's per-minute rollups (requests,
    failed logins, 4xx, 5xx, per address) exactly as the same events appended in one process
    do, and a redelivered message counts nothing twice."""
    at = T0 + timedelta(seconds=5)
    events = [
        line(at=at, status=200),
        line(at=at, action="authn_login_fail", status=401, ip="198.51.100.4"),
        line(at=at + timedelta(minutes=1), status=503, ip="2001:db8::1"),
        line(at=at + timedelta(minutes=1), status=404, ip=None),
    ]
    single = open_store(f"sqlite:///{tmp_path / 'single.db'}")
    try:
        single.events.append([Batch(events, "sender")])
        expected = _rollups(single)
    finally:
        single.close()
    sealed = Batch(store.events.seal(events, "sender"), "sender")
    deliveries = [_Delivery(decode_message(data)) for _, data in encode_batch(sealed, 1 << 20)]
    writer = Writer(store)
    for _ in range(2):  # the second time: a redelivery after a crash, all duplicates
        store.events.append_sealed(writer._checked(deliveries))  # type: ignore[arg-type]
    assert _rollups(store) == expected
    assert expected[0] == [(T0, 2, 1, 1, 0), (T0 + timedelta(minutes=1), 2, 0, 1, 1)]


def _rollups(store: SqlStore) -> tuple[list[tuple[object, ...]], list[tuple[str, int, int]]]:
    since, until = T0 - timedelta(hours=1), T0 + timedelta(hours=1)
    minutes = [(c.minute, c.requests, c.login_failures, c.client_errors, c.server_errors)
               for c in store.console.minute_counts(since, until)]  # fmt: skip
    return minutes, store.console.top_addresses(since, 10)


class _Delivery:
    def __init__(self, batch: SealedBatch) -> None:
        from apiwatch.server.bus_roles.wire import _encode, _Message, _Row

        rows = [_Row(r.columns, r.digest, r.key_id, r.payload) for r in batch.rows]  # type: ignore[arg-type]
        self.data = _encode(_Message(1, batch.key_name, batch.idempotency_key, rows))

    async def ack(self) -> None:
        await asyncio.sleep(0)


def test_an_ingest_role_whose_bus_is_down_refuses_to_start_in_one_line(tmp_path: Path) -> None:
    """`serve --role ingest` with nothing listening at the bus URL exits 1 with one line naming
    the bus (without its password), before any key file is made."""
    import os
    import subprocess
    import sys

    from tests.bus.cluster import free_port

    bus = f"nats://someone:s3cret@127.0.0.1:{free_port()}"
    result = subprocess.run(
        [sys.executable, "-m", "apiwatch", "serve", "--role", "ingest", "--bus", bus,
         "--db", "postgresql://postgres@127.0.0.1:5432/none_such", "--port", "0"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
        env={**os.environ, "APIWATCH_HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("apiwatch: bus: cannot connect to nats://127.0.0.1:")
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_config_check_says_which_role_and_bus_and_refuses_a_role_without_one(
    tmp_path: Path,
) -> None:
    """`apiwatch config check` names the role and the bus (never its password) for a scale-out
    role, and refuses a role without a bus as `serve` would."""
    config = tmp_path / "apiwatch.toml"
    config.write_text(
        'db = "postgresql://postgres@127.0.0.1:5432/x"\nrole = "writer"\ndetect = false\n'
        'bus = "nats://w:s3cret@127.0.0.1:4222"\n'
    )
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "role writer on nats://127.0.0.1:4222 (APIWATCH_EVENTS)" in result.output
    assert "s3cret" not in result.output
    config.write_text('db = "postgresql://postgres@127.0.0.1:5432/x"\nrole = "detect"\n')
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(config)])
    assert result.exit_code != 0
    assert "needs a bus" in str(result.exception)


class _Message:
    """A bus message as `DetectRole` reads it (its data)."""

    def __init__(self, data: bytes) -> None:
        self.data = data


def test_a_detect_role_feeds_a_group_larger_than_the_detection_queue_in_parts(
    store: SqlStore,
) -> None:
    """Messages holding more events than the detection queue takes (a rebuild's replay fetches
    256 messages at once) are fed in parts as the queue drains, none skipped."""
    messages = [
        _Message(data) for _ in range(3) for _, data in encode_batch(_batch(store, 100), 1 << 20)
    ]
    metrics = Metrics()
    detector = Detector(Engine(load_rules([builtin_dir()])), store.detections.save, metrics,
                        capacity=120)  # fmt: skip
    role = DetectRole(detector, store.keyring, max_backlog=60)
    detector.start()
    try:
        asyncio.run(role._feed(messages))  # type: ignore[arg-type]
    finally:
        detector.stop()
    assert role.fed == 300
    assert detector.engine.stats.events == 300
    assert metrics.registry.get_sample_value("apiwatch_detect_skipped_events_total") == 0
