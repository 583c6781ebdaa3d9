"""Scale-out ingest over NATS JetStream against the single-process collector, in the same run.

Configurations, each on a fresh PostgreSQL database (and a JetStream stream of its own), detection
off everywhere (this measures the ingest path), fed by ``--clients`` loader processes POSTing
batches of 1,000 distinct events (``ingest_throughput._Bodies``) spread over the ingest
processes:

* ``single``: one ``apiwatch serve`` (embedded, role all) on PostgreSQL: the baseline;
* ``bus, N ingest``: N ``--role ingest`` processes + one ``--role writer`` + the NATS server;
  "acked/s" is what the senders got 202 for (JetStream has it), "stored/s" the end-to-end rate
  (until the writer has committed the last event);
* ``writer alone``: events published with the writer stopped, then one writer started: its
  drain rate into PostgreSQL, against raw binary COPY of the same rows (1,000 per transaction,
  timed in this process).

Printed per configuration: events/s, the ratio to the baseline, and each process's CPU µs per
event (from /proc), which is what the scaling model in docs/scaling.md is built from. On a
shared machine throughput moves with the neighbours' load (the header prints the load average);
the CPU columns are the robust figures.

``--kill writer|ingest`` instead streams ``--events`` (e.g. 1,000,000) through 2 ingest processes
and a writer, SIGKILLs that role midway (a new writer is started; the senders of a killed ingest
process stop, the others go on), and checks: every acknowledged event stored, none twice, ``apiwatch
verify`` passes.

``--detect-shards 1,2,3`` instead puts ``--events`` simulated events (benign users and every
attack of the pack) in the stream and the store, then runs 1, 2 and 3 detect shards over the
whole stream in turn: events/s until every shard has taken every message, against one shard in
the same run, and each process's CPU µs per event.

Usage: ``.venv/bin/python bench/scaleout.py [--events 150000] [--clients 4]``
or ``.venv/bin/python bench/scaleout.py --kill writer --events 1000000``.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).parent))

from ingest_throughput import BATCH, _Bodies

PG_URL = os.environ.get("APIWATCH_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
NATS_URL = os.environ.get("APIWATCH_BENCH_NATS", "nats://127.0.0.1:4222")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _nats_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "nats-server":
                    return int(entry.name)
            except OSError:
                continue
    return None


@contextmanager
def _database() -> Iterator[str]:
    name = f"bench_scale_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _delete_stream(stream: str) -> None:
    async def delete() -> None:
        import nats

        connection = await nats.connect(NATS_URL)
        try:
            for name in (stream, f"KV_{stream}-idempotency"):  # and the ingest role's claims
                try:
                    await connection.jetstream().delete_stream(name)
                except Exception as exc:  # noqa: BLE001 - already gone
                    print(f"  (stream {name} not deleted: {exc})")
        finally:
            await connection.close()

    asyncio.run(delete())


@dataclass
class Deployment:
    """One store, one stream, the processes started on them, and an ingest key."""

    db: str
    workdir: Path
    stream: str = field(default_factory=lambda: f"BENCH_{uuid.uuid4().hex[:10]}")
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    key: str = ""

    def setup(self) -> None:
        from apiwatch.store import open_store

        keys, signing = self.workdir / "b.keys", self.workdir / "b.signing"
        (self.workdir / "apiwatch.toml").write_text(
            f'db = "{self.db}"\nkey_file = "{keys}"\nsigning_key_file = "{signing}"\n'
            f'bus_stream = "{self.stream}"\nlog_level = "warning"\ndetect = false\n'
        )
        store = open_store(self.db, key_file=keys, signing_key_file=signing)
        self.key = store.keys.create(f"bench-{uuid.uuid4().hex[:6]}", ["ingest"])[1]
        store.close()

    def start(self, name: str, role: str, *args: str) -> str:
        port = _free_port()
        extra = [] if role == "all" else ["--role", role, "--bus", NATS_URL, *args]
        log_name = name.replace(" ", "-").replace("/", "of")
        with (self.workdir / f"{log_name}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "apiwatch", "serve", "--config", "apiwatch.toml",
                 "--port", str(port), *extra],
                cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "APIWATCH_HOME": str(self.workdir)},
            )  # fmt: skip
        self.processes[name] = process
        url = f"http://127.0.0.1:{port}"
        if role in ("all", "ingest"):
            _wait_ready(url, process)
        return url

    def stored(self) -> int:
        with psycopg.connect(self.db) as connection:
            row = connection.execute("SELECT COALESCE(MAX(seq), 0) FROM checkpoints").fetchone()
        return int(row[0]) if row else 0

    def cpu(self) -> dict[str, float]:
        return {name: _cpu_seconds(p.pid) for name, p in self.processes.items()}

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(f"apiwatch serve exited ({process.returncode})")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("apiwatch serve did not start")


def _loader(url: str, key: str, prefix: str, batches: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """POST ``batches`` bodies over one keep-alive connection; puts the number acknowledged."""
    host, port = url.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    bodies = _Bodies(prefix)
    done = 0
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        for n in range(batches):
            connection.request("POST", "/v1/events", body=bodies.batch(n), headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status == 202:
                done += 1
    except (OSError, http.client.HTTPException):
        pass  # the process was killed (--kill ingest): what was acknowledged is counted
    finally:
        connection.close()
        out.put(done)


def _load(urls: list[str], key: str, events: int, clients: int) -> tuple[float, int]:
    """Seconds until every loader finished, and events acknowledged."""
    per_client = max(1, events // BATCH // clients)
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    workers = [
        multiprocessing.Process(
            target=_loader, args=(urls[i % len(urls)], key, os.urandom(8).hex(), per_client, queue)
        )
        for i in range(clients)
    ]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    acknowledged = sum(queue.get() for _ in workers) * BATCH
    elapsed = time.monotonic() - started
    for worker in workers:
        worker.join()
    return elapsed, acknowledged


@dataclass
class Result:
    name: str
    acked_rate: float
    stored_rate: float
    cpu_us: dict[str, float]


def _wait_stored(deployment: Deployment, count: int, timeout: float = 120) -> float:
    deadline = time.monotonic() + timeout
    while deployment.stored() < count:
        if time.monotonic() > deadline:
            for log in deployment.workdir.glob("*.log"):
                print(f"--- {log.name}\n{log.read_text()[-2000:]}")
            raise SystemExit(f"only {deployment.stored():,} of {count:,} events were stored")
        time.sleep(0.05)
    return time.monotonic()


def _run(name: str, ingest: int, events: int, clients: int, workdir: Path) -> Result:
    with _database() as db:
        deployment = Deployment(db, workdir / uuid.uuid4().hex[:8])
        deployment.workdir.mkdir()
        deployment.setup()
        nats_pid = _nats_pid()
        try:
            if ingest == 0:
                urls = [deployment.start("collector", "all")]
            else:
                deployment.start("writer", "writer")
                urls = [deployment.start(f"ingest {i + 1}", "ingest") for i in range(ingest)]
            before = deployment.cpu()
            nats_before = _cpu_seconds(nats_pid) if nats_pid else 0.0
            started = time.monotonic()
            elapsed, acknowledged = _load(urls, deployment.key, events, clients)
            finished = _wait_stored(deployment, acknowledged)
            after = deployment.cpu()
            cpu = {n: (after[n] - before[n]) * 1e6 / acknowledged for n in after}
            if ingest and nats_pid:
                cpu["nats-server"] = (_cpu_seconds(nats_pid) - nats_before) * 1e6 / acknowledged
            return Result(name, acknowledged / elapsed, acknowledged / (finished - started), cpu)
        finally:
            deployment.stop()
            if ingest:
                _delete_stream(deployment.stream)


def _writer_alone(events: int, clients: int, workdir: Path) -> tuple[float, dict[str, float]]:
    """Events published with no writer running, then the writer's drain rate."""
    with _database() as db:
        deployment = Deployment(db, workdir / uuid.uuid4().hex[:8])
        deployment.workdir.mkdir()
        deployment.setup()
        try:
            urls = [deployment.start("ingest", "ingest")]
            _, acknowledged = _load(urls, deployment.key, events, clients)
            deployment.start("writer", "writer")
            pid = deployment.processes["writer"].pid
            while deployment.stored() == 0:  # started, connected, first commit (not timed)
                time.sleep(0.01)
            first, started, cpu_before = deployment.stored(), time.monotonic(), _cpu_seconds(pid)
            finished = _wait_stored(deployment, acknowledged)
            drained = acknowledged - first
            cpu = (_cpu_seconds(pid) - cpu_before) * 1e6 / max(1, drained)
            return drained / (finished - started), {"writer": cpu}
        finally:
            deployment.stop()
            _delete_stream(deployment.stream)


def _raw_copy(events: int, workdir: Path) -> float:
    """Rows/s of raw binary COPY of collector rows, 1,000 per transaction (a fresh database)."""
    from apiwatch.server.ingest import decode_body
    from apiwatch.store._rows import build_rows
    from apiwatch.store.crypto import Keyring
    from apiwatch.store.postgres import _COPY, _COPY_TYPES

    keyring = Keyring.load_or_create(workdir / "raw.keys")
    bodies = _Bodies(os.urandom(8).hex())
    batches, seq, chain = [], 1, b"\0" * 32
    for n in range(events // BATCH):
        lines = decode_body(bodies.batch(n), max_line_bytes=1 << 20).accepted
        rows, chain = build_rows([(line, "bench") for line in lines], keyring, seq, chain)
        batches.append(rows)
        seq += len(rows)
    with _database() as db:
        from apiwatch.store import open_store

        open_store(db, key_file=workdir / "raw-s.keys",
                   signing_key_file=workdir / "raw-s.signing").close()  # fmt: skip
        with psycopg.connect(db) as connection:
            started = time.monotonic()
            for rows in batches:
                with connection.cursor() as cursor, cursor.copy(_COPY) as copy:
                    copy.set_types(_COPY_TYPES)
                    for row in rows:
                        copy.write_row(row)
                connection.commit()
            return len(batches) * BATCH / (time.monotonic() - started)


def _report(results: list[Result], writer: tuple[float, dict[str, float]], raw: float) -> None:
    base = results[0].stored_rate
    print(f"\n  {'configuration':<18}{'acked/s':>10}{'stored/s':>10}{'vs single':>11}   "
          "CPU us per event, by process")  # fmt: skip
    for result in results:
        cpu = ", ".join(f"{name} {us:.1f}" for name, us in result.cpu_us.items())
        print(f"  {result.name:<18}{result.acked_rate:>10,.0f}{result.stored_rate:>10,.0f}"
              f"{result.stored_rate / base:>10.2f}x   {cpu}")  # fmt: skip
    rate, cpu_us = writer
    print(f"\n  writer alone (drain) {rate:>10,.0f} events/s  {rate / raw:.2f} x raw COPY "
          f"({raw:,.0f} rows/s); writer CPU {cpu_us['writer']:.1f} us/event")  # fmt: skip
    best = max(results[1:], key=lambda r: r.stored_rate, default=None)
    if best is not None:
        ratio = results[-1].stored_rate / base
        print(f"  goals: 2 ingest + writer >= 1.7 x single: {ratio:.2f} x; "
              f"writer >= 0.8 x raw COPY: {rate / raw:.2f} x")  # fmt: skip


def _kill_run(role: str, events: int, clients: int, workdir: Path) -> None:
    with _database() as db:
        deployment = Deployment(db, workdir / "kill")
        deployment.workdir.mkdir()
        deployment.setup()
        try:
            deployment.start("writer", "writer")
            urls = [deployment.start(f"ingest {i + 1}", "ingest") for i in range(2)]
            queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
            per_client = events // BATCH // clients
            workers = [
                multiprocessing.Process(target=_loader, args=(
                    urls[i % 2], deployment.key, os.urandom(8).hex(), per_client, queue))
                for i in range(clients)
            ]  # fmt: skip
            for worker in workers:
                worker.start()
            while deployment.stored() < events // 2:
                time.sleep(0.1)
            victim = "writer" if role == "writer" else "ingest 1"
            deployment.processes[victim].send_signal(signal.SIGKILL)
            print(f"  SIGKILL {victim} at {deployment.stored():,} stored events")
            if role == "writer":
                deployment.start("writer 2", "writer")
            acknowledged = sum(queue.get() for _ in workers) * BATCH
            _wait_stored(deployment, acknowledged, timeout=900)
            time.sleep(2)
            with psycopg.connect(db) as connection:
                total, distinct = connection.execute(
                    "SELECT COUNT(*), COUNT(DISTINCT (key_name, event_id)) FROM events"
                ).fetchone() or (0, 0)
            verify = subprocess.run(
                [sys.executable, "-m", "apiwatch", "verify", "--config", "apiwatch.toml"],
                cwd=deployment.workdir, capture_output=True, text=True, check=False,
                env={**os.environ, "APIWATCH_HOME": str(deployment.workdir)},
            )  # fmt: skip
            print(f"  acknowledged {acknowledged:,}; stored {total:,} ({distinct:,} distinct); "
                  f"lost {max(0, acknowledged - total):,}; duplicates {total - distinct:,}; "
                  f"verify exit {verify.returncode}")  # fmt: skip
        finally:
            deployment.stop()
            _delete_stream(deployment.stream)


def _detect_runs(events: int, shards: list[int], workdir: Path) -> None:
    """The simulated attack log (``apiwatch.simulate``, seed 7) in the stream and stored, then
    detected by 1, 2, ... detect shards in turn (each configuration its own durable consumers,
    reading the whole stream from its start): wall events/s until every shard has taken every
    message and its detectors' queues are empty, and each process's CPU µs per event."""
    from apiwatch.simulate import ScenarioConfig, generate

    _engine_shares(generate(ScenarioConfig(seed=7, lines=events)), shards)
    lines = list(generate(ScenarioConfig(seed=7, lines=events)).ecs_lines())
    with _database() as db:
        deployment = Deployment(db, workdir / uuid.uuid4().hex[:8])
        deployment.workdir.mkdir()
        deployment.setup()
        try:
            url = deployment.start("ingest", "ingest")
            deployment.start("writer", "writer")
            messages = _send_lines(url, deployment.key, lines)
            _wait_stored(deployment, len(lines), timeout=600)
            print(f"detect shards: {len(lines):,} simulated events ({messages} messages) stored")
            print(f"  {'shards':>6} {'events/s':>10} {'vs 1':>6}   CPU µs per event, by process")
            base = None
            sources = [_source(line) for line in lines]
            for count in shards:
                rate, cpu = _detect_run(deployment, count, sources)
                base = base or rate
                spread = ", ".join(f"{name} {us:.1f}" for name, us in cpu.items())
                print(f"  {count:>6} {rate:>10,.0f} {rate / base:>6.2f}   {spread}")
        finally:
            deployment.stop()
            _delete_stream(deployment.stream)


def _engine_shares(scenario: Any, shards: list[int]) -> None:
    """The CPU time of each shard's engines over the same events, in this process (best of 2),
    against one engine with the whole pack: the figure the load of the machine moves least."""
    from apiwatch.detect import Engine, builtin_dir, load_rules
    from apiwatch.server.bus_roles.shards import Shard, split_rules
    from apiwatch.store._rows import ip_bytes

    events = list(scenario.events())
    ruleset = load_rules([builtin_dir()])
    per_source, population = split_rules(ruleset)

    def cpu(rules: Any, fed: list[Any]) -> float:
        best = float("inf")
        for _ in range(2):
            engine, started = Engine(rules), time.process_time()
            for event in fed:
                engine.feed(event)
            engine.flush()
            best = min(best, time.process_time() - started)
        return best

    whole = cpu(ruleset, events)
    shared = cpu(population, events)
    print(f"engine CPU by shard, as a share of one engine with the whole pack "
          f"({whole * 1e6 / len(events):.1f} µs per event; population rules on every event: "
          f"{shared / whole:.2f})")  # fmt: skip
    for count in shards:
        shares = []
        for index in range(1, count + 1):
            shard = Shard(index, count)
            mine = [e for e in events if shard.owns(ip_bytes(e.source.ip if e.source else None))]
            share = cpu(per_source, mine) if count > 1 and mine else 0.0
            share += shared if shard.population else 0.0
            shares.append(whole if count == 1 else share)
        listed = ", ".join(f"{index}/{count} {share / whole:.2f}"
                           for index, share in enumerate(shares, 1))  # fmt: skip
        print(f"  {count} shards: {listed}; bound {whole / max(shares):.2f} x one engine")


def _send_lines(url: str, key: str, lines: list[bytes]) -> int:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    sent = 0
    with httpx.Client(timeout=60) as client:
        for start in range(0, len(lines), BATCH):
            body = b"\n".join(lines[start : start + BATCH]) + b"\n"
            response = client.post(f"{url}/v1/events", content=body, headers=headers)
            if response.status_code != 202:
                raise SystemExit(f"ingest answered {response.status_code}: {response.text}")
            sent += 1
    return sent


def _source(line: bytes) -> bytes | None:
    from apiwatch.model import decode_event
    from apiwatch.store._rows import ip_bytes

    event = decode_event(line)
    return ip_bytes(event.source.ip if event.source else None)


def _detect_run(deployment: Deployment, count: int,
                sources: list[bytes | None]) -> tuple[float, dict[str, float]]:  # fmt: skip
    """Detect shards 1..count over the whole stream: events/s until each shard's engines have
    processed all they are fed (their own sources' events, and every event for shard 1's
    population engine), and each process's CPU µs per event of the stream."""
    from apiwatch.server.bus_roles.shards import Shard

    events = len(sources)
    names = [f"detect {i}/{count}" for i in range(1, count + 1)]
    expected = []
    for index in range(1, count + 1):
        shard = Shard(index, count)
        expected.append(sum(map(shard.owns, sources)) + (events if shard.population else 0))
    urls = [deployment.start(name, "detect", "--shard", name.split()[1]) for name in names]
    for name, url in zip(names, urls, strict=True):
        _wait_ready(url, deployment.processes[name])
    before = {name: _cpu_seconds(deployment.processes[name].pid) for name in names}
    started = time.monotonic()
    while not all(map(_detect_done, urls, expected)):
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    cpu = {n: (_cpu_seconds(deployment.processes[n].pid) - before[n]) * 1e6 / events
           for n in names}  # fmt: skip
    for name in names:
        process = deployment.processes.pop(name)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    return events / elapsed, cpu


def _detect_done(url: str, expected: int) -> bool:
    """Whether the shard's engines have processed ``expected`` events."""
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("apiwatch_detect_events_total "):
            return float(line.rpartition(" ")[2]) >= expected
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--kill", choices=["writer", "ingest"])
    parser.add_argument("--detect-shards", metavar="1,2,3",
                        help="measure detection instead, with these numbers of shards")  # fmt: skip
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"apiwatch scale-out benchmark: {args.events:,} events per configuration, "
          f"{args.clients} loader processes, {os.cpu_count()} CPUs, load average "
          f"{load[0]:.1f} {load[1]:.1f} (a shared machine: throughput moves with it)")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="apiwatch-scale-") as tmp:
        workdir = Path(tmp)
        if args.kill:
            _kill_run(args.kill, args.events, args.clients, workdir)
            return
        if args.detect_shards:
            shards = [int(n) for n in args.detect_shards.split(",")]
            _detect_runs(args.events, shards, workdir)
            return
        results = [
            _run("single process", 0, args.events, args.clients, workdir),
            _run("bus, 1 ingest", 1, args.events, args.clients, workdir),
            _run("bus, 2 ingest", 2, args.events, args.clients, workdir),
        ]
        writer = _writer_alone(args.events, args.clients, workdir)
        raw = _raw_copy(min(args.events, 100_000), workdir)
    _report(results, writer, raw)


if __name__ == "__main__":
    main()
