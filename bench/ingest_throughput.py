"""Collector ingest throughput over HTTP, against the raw storage rate measured in the same run.

For each back end (SQLite, and PostgreSQL when reachable): one ``apiwatch serve`` process, fed by
``--clients`` loader processes POSTing NDJSON batches of 1,000 distinct events on
127.0.0.1, with encryption and the hash chain on (they always are). The baseline writes the same
rows the collector writes for such events (built, encrypted and chained before its clock starts)
with plain ``sqlite3.executemany`` (WAL, synchronous=FULL, the same
two indexes, 1,000 rows per transaction) or psycopg ``COPY`` (1,000 rows per transaction). Printed:
events/s over HTTP overall and over the first and last tenth of the run (sustained as the table
grows), raw rows/s, and their ratio. Goals (issue: the collector): >= 50,000 events/s into SQLite,
>= 100,000 into PostgreSQL, past 5 million stored events, HTTP >= 0.5 x raw. A benchmark
reports; the exit status does not depend on the goals.

Usage: ``.venv/bin/python bench/ingest_throughput.py [--events N] [--clients C] [--quick]
[--no-detect]`` (``--no-detect``: the collector runs with ``detect = false``, to see the ingest and
store path without live detection).
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

PG_URL = os.environ.get("APIWATCH_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
BATCH = 1000
_TEMPLATE = (
    '{"@timestamp":"2026-11-26T12:00:00.%06dZ","event":{"action":"authn_login_fail",'
    '"id":"%s","kind":"event","category":["authentication"],"type":["start"],'
    '"outcome":"failure","duration":250000,"severity":30},"log":{"level":"warn"},'
    '"source":{"ip":"198.51.%d.%d"},"http":{"request":{"method":"POST","id":"%s"},'
    '"response":{"status_code":401}},"url":{"path":"/users/login"},'
    '"user_agent":{"original":"Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0"},'
    '"user":{"name":"user%d@example.com"},"service":{"name":"shop"},"host":{"name":"web-1"},'
    '"labels":{"route":"/users/login"}}'
)


class _Bodies:
    """NDJSON batches of distinct events at almost no cost to the loader (the loader shares the
    machine with the server): one rendered batch split at its event ids, re-joined with new ids."""

    def __init__(self, prefix: str) -> None:
        marker = "%s"
        lines = [
            _TEMPLATE % (i * 997 % 1_000_000, marker, (i >> 8) & 255, i & 255, marker, i % 50_000)
            for i in range(BATCH)
        ]
        self.pieces = [piece.encode() for piece in ("\n".join(lines) + "\n").split(marker)]
        self.prefix = prefix

    def batch(self, number: int) -> bytes:
        ids = [f"{self.prefix}{number * BATCH + i:016x}".encode() for i in range(BATCH)]
        parts = [self.pieces[0]]
        for index, event_id in enumerate(ids):
            parts += [event_id, self.pieces[2 * index + 1], event_id, self.pieces[2 * index + 2]]
        return b"".join(parts)


def _loader(url: str, key: str, prefix: str, batches: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """POST ``batches`` bodies over one keep-alive connection with the standard library's
    http.client: a fraction of httpx's CPU, which matters when the loader shares the machine."""
    host, port = url.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    bodies = _Bodies(prefix)
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    stamps = []
    try:
        for n in range(batches):
            connection.request("POST", "/v1/events", body=bodies.batch(n), headers=headers)
            response = connection.getresponse()
            answer = response.read()
            if response.status != 202:
                raise SystemExit(f"ingest failed: {response.status} {answer[:200]!r}")
            stamps.append(time.monotonic())
    finally:
        connection.close()
    out.put(stamps)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(db: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "apiwatch", "serve", "--db", db, "--port", str(port),
         "--config", str(workdir / "none.toml")],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "APIWATCH_HOME": str(workdir)},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit("apiwatch serve did not start")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _http_rate(
    db: str, events: int, clients: int, workdir: Path, *, detect: bool = True
) -> tuple[float, float, float, float]:
    from apiwatch.store import open_store

    keys, signing = workdir / "bench.keys", workdir / "bench.signing"
    store = open_store(db, key_file=keys, signing_key_file=signing)
    _, key = store.keys.create(f"bench-{uuid.uuid4().hex[:6]}", ["ingest"])
    store.close()
    (workdir / "none.toml").write_text(
        f'key_file = "{keys}"\nsigning_key_file = "{signing}"\n'
        + ("" if detect else "detect = false\n")
    )
    server, url = _serve(db, workdir)
    try:
        per_client = max(1, events // BATCH // clients)
        queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        workers = [
            multiprocessing.Process(
                target=_loader, args=(url, key, os.urandom(8).hex(), per_client, queue)
            )
            for _ in range(clients)
        ]
        cpu_before = _cpu_seconds(server.pid)
        started = time.monotonic()
        for worker in workers:
            worker.start()
        stamps = sorted(s for _ in workers for s in queue.get())
        cpu_used = _cpu_seconds(server.pid) - cpu_before
        for worker in workers:
            worker.join()
    finally:
        server.terminate()
        server.wait(timeout=60)
    total = len(stamps) * BATCH
    tenth = max(1, len(stamps) // 10)
    overall = total / (stamps[-1] - started)
    first = tenth * BATCH / (stamps[tenth - 1] - started)
    last = tenth * BATCH / (stamps[-1] - stamps[-tenth - 1])
    return overall, first, last, cpu_used * 1e6 / total


def _store_rows(events: int, workdir: Path) -> list[list[tuple[object, ...]]]:
    """The rows the collector itself would write for these events (encrypted, chained), built
    before the clock starts: the baseline times only the database."""
    from apiwatch.server.ingest import decode_body
    from apiwatch.store._rows import build_rows
    from apiwatch.store.crypto import Keyring

    keyring = Keyring.load_or_create(workdir / "raw.keys")
    bodies = _Bodies(os.urandom(8).hex())
    batches, seq, chain = [], 1, b"\0" * 32
    for n in range(events // BATCH):
        lines = decode_body(bodies.batch(n), max_line_bytes=1 << 20).accepted
        rows, chain = build_rows([(line, "bench") for line in lines], keyring, seq, chain)
        batches.append(rows)
        seq += len(rows)
    return batches


_DDL = """CREATE TABLE events (seq {i} PRIMARY KEY, event_id {b} NOT NULL, ts {i} NOT NULL,
key_name TEXT, service TEXT, host TEXT, source_ip {b}, action TEXT, outcome TEXT, status INTEGER,
path TEXT, user_idx {b}, key_id INTEGER, payload {b}, chain {b})"""


def _raw_sqlite(batches: list[list[tuple[object, ...]]], workdir: Path) -> float:
    connection = sqlite3.connect(workdir / "raw.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute(_DDL.format(i="INTEGER", b="BLOB"))
    connection.execute("CREATE UNIQUE INDEX e_id ON events (event_id)")
    connection.execute("CREATE INDEX e_ts ON events (ts)")
    started = time.monotonic()
    for rows in batches:
        connection.execute("BEGIN")
        connection.executemany(f"INSERT INTO events VALUES ({', '.join('?' * 15)})", rows)
        connection.execute("COMMIT")
    elapsed = time.monotonic() - started
    connection.close()
    return len(batches) * BATCH / elapsed


def _raw_postgres(batches: list[list[tuple[object, ...]]]) -> float:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        with psycopg.connect(PG_URL, options=f"-csearch_path={schema}") as connection:
            connection.execute(_DDL.format(i="BIGINT", b="BYTEA"))
            connection.execute("CREATE UNIQUE INDEX e_id ON events (event_id)")
            connection.execute("CREATE INDEX e_ts ON events (ts)")
            connection.commit()
            started = time.monotonic()
            for rows in batches:
                with connection.cursor().copy("COPY events FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                connection.commit()
            elapsed = time.monotonic() - started
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
    return len(batches) * BATCH / elapsed


def _pg_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001
        return False


def _pg_db_url(workdir: Path) -> tuple[str, str]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    return f"{PG_URL}?options=-csearch_path%3D{schema}", schema


def _report(name: str, http: tuple[float, float, float, float], raw: float, goal: int) -> None:
    overall, first, last, cpu_us = http
    ratio = overall / raw
    print(f"\n{name}")
    print(f"  HTTP ingest      {overall:>10,.0f} events/s   (first tenth {first:,.0f}, "
          f"last tenth {last:,.0f})")  # fmt: skip
    print(f"  server CPU       {cpu_us:>10.1f} us/event   (all threads; capacity on one idle "
          f"core ~{1e6 / cpu_us:,.0f} events/s)")  # fmt: skip
    print(f"  raw storage      {raw:>10,.0f} rows/s")
    print(f"  HTTP / raw       {ratio:>10.2f}")
    verdict = "PASS" if overall >= goal and ratio >= 0.5 else "FAIL"
    print(f"  goal >= {goal:,} events/s and >= 0.5 x raw: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5_200_000, help="events per back end")
    parser.add_argument("--raw-events", type=int, default=300_000, help="rows for the baseline")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="200,000 events, for a smoke run")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--no-detect", action="store_true", help="serve with detect = false (ingest and store)"
    )
    args = parser.parse_args()
    events = 200_000 if args.quick else args.events
    print(f"apiwatch ingest benchmark: {events:,} events per back end in batches of {BATCH:,}, "
          f"{args.clients} loader processes, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="apiwatch-bench-") as tmp:
        workdir = Path(tmp)
        rows = _store_rows(min(args.raw_events, events), workdir)
        raw = _raw_sqlite(rows, workdir)
        db = f"sqlite:///{workdir / 'bench.db'}"
        http = _http_rate(db, events, args.clients, workdir, detect=not args.no_detect)
        _report("SQLite" + (", live detection off" if args.no_detect else ""), http, raw, 50_000)
        if args.skip_postgres or not _pg_reachable():
            print("\nPostgreSQL: skipped (not reachable at APIWATCH_BENCH_PG)")
            return
        raw = _raw_postgres(rows)
        url, schema = _pg_db_url(workdir)
        try:
            http = _http_rate(url, events, args.clients, workdir, detect=not args.no_detect)
        finally:
            import psycopg

            with psycopg.connect(PG_URL, autocommit=True) as admin:
                admin.execute(f"DROP SCHEMA {schema} CASCADE")
        _report("PostgreSQL", http, raw, 100_000)


if __name__ == "__main__":
    main()
