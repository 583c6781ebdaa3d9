"""Where one event's ingest CPU goes in the single-process collector, stage by stage.

Stages, each timed as this process's CPU time (``time.process_time``: preemption by other jobs
on a shared machine does not count) over the same ``--events`` events of the throughput bench
(``ingest_throughput._Bodies``: sensor-shaped login failures, 1,000 per body):

* decode + validate: `apiwatch.server.ingest.decode_body` with an admission (what a request runs),
  against the msgspec-native typed decode alone (``msgspec.json.Decoder(Event)``), the floor;
* seal: `apiwatch.store._rows.seal_lines` (clear columns and blind index, AES-GCM, row digest),
  then each part alone, and sealing per batch (one AES-GCM and one SHA-256 over a whole body's
  payloads) to see whether batching the crypto changes the picture;
* chain: numbering and linking presealed rows (`RowBuilder.rows`);
* chain + write, SQLite: `SqliteStore.append` of presealed batches (this process's CPU and the
  wall time) against plain ``executemany`` of the same rows into the same schema;
* chain + write: `PostgresStore.append` of presealed batches (dedup lookup, chain, binary COPY,
  checkpoint, sources), this process's CPU and the wall time, against raw binary COPY of the same
  rows (``--pg``; skipped when PostgreSQL is not reachable).

Printed: µs per event of each stage and its share of the whole request path. A benchmark reports;
the exit status does not depend on the figures.

Usage: ``.venv/bin/python bench/ingest_costs.py [--events 20000] [--pg URL]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).parent))

from ingest_throughput import BATCH, _Bodies

PG_URL = os.environ.get("APIWATCH_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _cpu(work: Callable[[], object], rounds: int = 3) -> float:
    """Best CPU seconds of ``rounds`` runs of ``work``."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def _decode_figures(bodies: list[bytes], events: int) -> dict[str, float]:
    from apiwatch.model import Event
    from apiwatch.server import ServerSettings
    from apiwatch.server.ingest import admission_for, decode_body
    from apiwatch.store import ApiKey

    key = ApiKey("k", "bench", frozenset({"ingest"}), datetime.now(UTC))
    admission = admission_for(ServerSettings(), key)
    typed = msgspec.json.Decoder(Event).decode

    def full() -> None:
        for body in bodies:
            decode_body(body, max_line_bytes=1 << 20, max_lines=10_000, admission=admission)

    def native() -> None:
        for body in bodies:
            for line in body.split(b"\n"):
                if line:
                    typed(line)

    return {
        "decode + validate (decode_body)": _cpu(full) / events,
        "  msgspec-native typed decode alone": _cpu(native) / events,
    }


def _seal_figures(lines: list[list[object]], events: int, workdir: Path) -> dict[str, float]:
    from apiwatch.store._rows import _clear_columns, micros, seal_lines
    from apiwatch.store.chain import row_digest
    from apiwatch.store.crypto import Keyring

    keyring = Keyring.load_or_create(workdir / "seal.keys")
    _, cipher = keyring.cipher()

    def seal() -> None:
        for batch in lines:
            seal_lines(batch, "bench", keyring)  # type: ignore[arg-type]

    def columns() -> None:
        keyring._index_cache.clear()  # the cache helps repeated accounts; count it cold per run
        for batch in lines:
            for line in batch:
                event = line.event  # type: ignore[attr-defined]
                _clear_columns(event, "bench", micros(event.timestamp), keyring)

    def encrypt() -> None:
        nonce = os.urandom(12)
        for batch in lines:
            for line in batch:
                cipher.encrypt(nonce, line.payload, b"0123456789abcdef")  # type: ignore[attr-defined]

    def digest() -> None:
        cols = (b"0123456789abcdef", 1, "bench", "shop", "web-1", None, "a", "b", 401, "/", None)
        for batch in lines:
            for line in batch:
                row_digest(cols, line.payload)  # type: ignore[attr-defined]

    def per_batch() -> None:
        nonce = os.urandom(12)
        for batch in lines:
            blob = b"".join(line.payload for line in batch)  # type: ignore[attr-defined]
            cipher.encrypt(nonce, blob, b"batch")
            hashlib.sha256(blob).digest()

    return {
        "seal per row (seal_lines)": _cpu(seal) / events,
        "  clear columns + blind index": _cpu(columns) / events,
        "  AES-GCM per row": _cpu(encrypt) / events,
        "  row digest (msgpack + SHA-256)": _cpu(digest) / events,
        "  seal per batch (one AES-GCM + SHA-256)": _cpu(per_batch) / events,
    }


def _chain_figure(sealed: list[list[object]], events: int, workdir: Path) -> float:
    from apiwatch.store._rows import RowBuilder
    from apiwatch.store.crypto import Keyring

    keyring = Keyring.load_or_create(workdir / "seal.keys")

    def chain() -> None:
        builder = RowBuilder(keyring, 1, b"\0" * 32)
        for batch in sealed:
            for _ in builder.rows([(line, "bench") for line in batch]):  # type: ignore[misc]
                pass

    return _cpu(chain) / events


def _pg_figures(url: str, bodies: list[bytes], workdir: Path) -> dict[str, float] | None:
    import psycopg

    name = f"bench_costs_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
    except psycopg.Error as exc:
        print(f"PostgreSQL not reachable ({exc}); the write stage is left out")
        return None
    db = url.rsplit("/", 1)[0] + f"/{name}"
    try:
        return _pg_write(db, bodies, workdir)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _pg_write(db: str, bodies: list[bytes], workdir: Path) -> dict[str, float]:
    import psycopg

    from apiwatch.server.ingest import decode_body
    from apiwatch.store import Batch, open_store
    from apiwatch.store._rows import build_rows
    from apiwatch.store.postgres import _COPY, _COPY_TYPES

    store = open_store(db, key_file=workdir / "pg.keys", signing_key_file=workdir / "pg.sig")
    groups = []
    for index in range(0, len(bodies), 10):  # ten bodies per group commit, as under load
        part = bodies[index : index + 10]
        groups.append([
            Batch(
                store.events.seal(decode_body(body, max_line_bytes=1 << 20).accepted, "bench"),
                "bench",
            )
            for body in part
        ])  # fmt: skip
    events = sum(len(batch.lines) for group in groups for batch in group)
    wall, cpu = time.perf_counter(), time.process_time()
    for group in groups:
        store.events.append(group)
    append_wall, append_cpu = time.perf_counter() - wall, time.process_time() - cpu
    rows = []
    chain, seq = b"\0" * 32, 1
    for group in groups:
        for batch in group:
            built, chain = build_rows([(line, "raw") for line in batch.lines], store.keyring,
                                      seq, chain)  # fmt: skip
            rows.append(built)
            seq += len(built)
    store.close()
    with psycopg.connect(db) as connection:
        connection.execute("CREATE TABLE raw (LIKE events INCLUDING ALL)")
        connection.commit()
        wall = time.perf_counter()
        for index in range(0, len(rows), 10):
            with connection.cursor() as cursor, cursor.copy(_COPY.replace("events", "raw")) as copy:
                copy.set_types(_COPY_TYPES)
                for batch_rows in rows[index : index + 10]:
                    for row in batch_rows:
                        copy.write_row(row)
            connection.commit()
        copy_wall = time.perf_counter() - wall
    return {
        "chain + write (PostgresStore.append), CPU": append_cpu / events,
        "chain + write (PostgresStore.append), wall": append_wall / events,
        "raw binary COPY of the same rows, wall": copy_wall / events,
    }


def _sqlite_write(bodies: list[bytes], workdir: Path) -> dict[str, float]:
    """`SqliteStore.append` of presealed groups (ten bodies each, as under load), against
    plain ``executemany`` of the same rows into the same schema (WAL, synchronous=FULL, the same
    indexes), one transaction per group: the store's writer against the raw insert rate."""
    import sqlite3

    from apiwatch.server.ingest import decode_body
    from apiwatch.store import Batch, open_store
    from apiwatch.store._rows import COLUMNS, build_rows

    store = open_store(f"sqlite:///{workdir / 'costs.db'}", key_file=workdir / "sq.keys",
                       signing_key_file=workdir / "sq.sig")  # fmt: skip
    groups = [
        [Batch(store.events.seal(decode_body(body, max_line_bytes=1 << 20).accepted, "bench"),
               "bench") for body in bodies[index : index + 10]]
        for index in range(0, len(bodies), 10)
    ]  # fmt: skip
    events = sum(len(batch.lines) for group in groups for batch in group)
    wall, cpu = time.perf_counter(), time.process_time()
    for group in groups:
        store.events.append(group)
    append_wall, append_cpu = time.perf_counter() - wall, time.process_time() - cpu
    rows, chain, seq = [], b"\0" * 32, 1
    for group in groups:
        lines = [(line, "bench") for batch in group for line in batch.lines]
        built, chain = build_rows(lines, store.keyring, seq, chain)
        rows.append(built)
        seq += len(built)
    store.close()
    connection = sqlite3.connect(workdir / "costs.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    for (sql,) in connection.execute("SELECT sql FROM sqlite_master WHERE tbl_name = 'events' "
                                     "AND sql IS NOT NULL").fetchall():  # fmt: skip
        connection.execute(sql.replace("events", "raw", 1).replace(" ON events ", " ON raw "))
    insert = f"INSERT INTO raw VALUES ({', '.join('?' * len(COLUMNS))})"
    wall = time.perf_counter()
    for group_rows in rows:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(insert, group_rows)
        connection.execute("COMMIT")
    raw_wall = time.perf_counter() - wall
    connection.close()
    return {
        "chain + write (SqliteStore.append), CPU": append_cpu / events,
        "chain + write (SqliteStore.append), wall": append_wall / events,
        "raw executemany of the same rows, wall": raw_wall / events,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--pg", default=PG_URL)
    args = parser.parse_args()
    from apiwatch.server.ingest import decode_body
    from apiwatch.store.crypto import Keyring

    source = _Bodies(os.urandom(6).hex())
    bodies = [source.batch(n) for n in range(max(1, args.events // BATCH))]
    events = len(bodies) * BATCH
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        lines = [decode_body(body, max_line_bytes=1 << 20).accepted for body in bodies]
        keyring = Keyring.load_or_create(workdir / "seal.keys")
        from apiwatch.store._rows import seal_lines

        sealed = [seal_lines(batch, "bench", keyring) for batch in lines]
        figures = _decode_figures(bodies, events)
        figures |= _seal_figures(lines, events, workdir)  # type: ignore[arg-type]
        figures["chain (number + link presealed rows)"] = _chain_figure(sealed, events, workdir)  # type: ignore[arg-type]
        lite = _sqlite_write(bodies, workdir)
        written = _pg_figures(args.pg, bodies, workdir)
    _report(figures, written or {}, events, lite)


def _report(
    figures: dict[str, float], written: dict[str, float], events: int, lite: dict[str, float]
) -> None:
    load = os.getloadavg()[0]
    print(f"ingest costs, {events:,} events, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {load:.1f} "
          "(CPU times: robust to sharing; wall times are not)")  # fmt: skip
    request = figures["decode + validate (decode_body)"] + figures["seal per row (seal_lines)"]
    for name, seconds in (figures | lite | written).items():
        share = "" if name.startswith("  ") or "wall" in name else f"{seconds / request:>7.2f} x"
        print(f"  {name:<48}{seconds * 1e6:>8.2f} us/event {share}")
    print(f"  (x: ratio to the request path's per-event CPU, decode+validate+seal "
          f"= {request * 1e6:.2f} us)")  # fmt: skip
    cpu = lite["chain + write (SqliteStore.append), CPU"]
    wall = lite["chain + write (SqliteStore.append), wall"]
    raw = lite["raw executemany of the same rows, wall"]
    print(f"  SQLite writer: {1 / wall:,.0f} events/s = {raw / wall:.2f} x raw executemany "
          f"at {1 / raw:,.0f} rows/s (goal >= 0.8 x); its CPU allows {1 / cpu:,.0f}/s")  # fmt: skip
    total = request + cpu
    print(f"  ingest CPU per event, request path + SQLite writer: {total * 1e6:.2f} us "
          "(goal <= 15 us)")  # fmt: skip
    if written:
        cpu = written["chain + write (PostgresStore.append), CPU"]
        wall = written["chain + write (PostgresStore.append), wall"]
        raw = written["raw binary COPY of the same rows, wall"]
        print(f"  writer ceiling from its wall time: {1 / wall:,.0f} events/s "
              f"({raw / wall:.2f} x raw COPY at {1 / raw:,.0f} rows/s); "
              f"its own CPU allows {1 / cpu:,.0f}/s")  # fmt: skip
        print(
            f"  ingest CPU per event / writer CPU per event: {request / cpu:.1f} "
            "(how many ingest cores one writer core keeps up with)"
        )


if __name__ == "__main__":
    main()
