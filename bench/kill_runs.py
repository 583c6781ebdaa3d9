"""Issue 15's kill runs at full size: SIGKILL one role of the scale-out while a large simulated
log streams in, and count what was lost, stored twice, and detected differently.

For each role named (``ingest``, ``writer``, ``detect``, ``nats``; default all four), a fresh
deployment: a ``nats-server -js`` of this run's own (its file store in a temporary directory, so
the NATS server can be killed without touching anyone else's), a PostgreSQL database, two
``--role ingest`` processes, one ``--role writer`` and two ``--role detect --shard I/2``. A
sender thread POSTs ``--events`` simulated events (``apiwatch.simulate``, seed 7: benign users
and traps and every attack type of the pack) in batches of 1,000, in the log's order, each batch
until it is answered 202; when its ingest process is gone it goes on with the other (what a
load balancer does). Once half the events are acknowledged, the role is
SIGKILLed:

* ``ingest``: ingest 1; a new ingest process is started;
* ``writer``: the writer; a new writer is started;
* ``detect``: detect shard 2 of 2; a new shard 2 is started (it rebuilds its state from the
  stream);
* ``nats``: the NATS server, started again on the same port and store after 12 s (longer than
  ingest waits for JetStream: senders are refused meanwhile, and retry).

Then, once every event is acknowledged and detection has settled, it prints: events
acknowledged, stored, lost, stored twice; ``apiwatch verify``'s exit status; and detection against
one undisturbed ``--role detect`` process run afterwards over the same stream into a database of
its own: alerts the same, different, missing and extra, and whether the incidents are the same
(``tests.bus.test_shards.check_same_incidents``: an incident joining a per-source and a
population rule arrives as one part per shard engine, a known difference).

Needs PostgreSQL (``APIWATCH_TEST_PG``, default postgresql://postgres@127.0.0.1:5432/test) and
Debian's ``nats-server`` on the PATH. A 1,000,000-event run of one role takes several minutes on
a 2-core machine. A benchmark reports; the exit status does not depend on the figures.

Usage: ``.venv/bin/python bench/kill_runs.py [--events 1000000] [--roles writer,nats]``.
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.bus.cluster import Cluster, NatsServer, postgres_database, scrape
from tests.bus.test_detect_shards import settled
from tests.bus.test_shards import Run, check_same_incidents, without_incident

ROLES = ("ingest", "writer", "detect", "nats")
BATCH = 1000
NATS_DOWN = 12.0  # seconds: longer than ingest waits for JetStream


class Sender(threading.Thread):
    """Takes the next batch of the log from ``batches`` (shared by the senders, so the stream
    stays in the log's order but for the batches in flight) and POSTs it until answered 202, to
    the first of ``urls`` that answers; a connection error or refusal moves it to the next URL
    after a pause."""

    def __init__(self, urls: list[str], key: str, batches: queue.SimpleQueue[bytes]) -> None:
        super().__init__(daemon=True)
        self.urls, self.key, self.batches = urls, key, batches
        self.acknowledged = 0
        self.refused = 0
        self.failed = ""

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/x-ndjson"}
        turn = 0
        with httpx.Client(timeout=60) as client:
            while True:
                try:
                    body = self.batches.get_nowait()
                except queue.Empty:
                    return
                deadline = time.monotonic() + 300
                while True:
                    url = self.urls[turn % len(self.urls)]
                    try:
                        status = client.post(f"{url}/v1/events", content=body,
                                             headers=headers).status_code  # fmt: skip
                    except httpx.HTTPError:
                        status = 0
                    if status == 202:
                        self.acknowledged += body.count(b"\n")
                        break
                    self.refused += 1
                    if time.monotonic() > deadline:
                        self.failed = f"a batch was refused for 300 s (last answer {status})"
                        return
                    turn += 1
                    time.sleep(0.3)


def _batches(events: int) -> list[bytes]:
    from apiwatch.simulate import ScenarioConfig, generate

    lines = list(generate(ScenarioConfig(seed=7, lines=events)).ecs_lines())
    return [b"\n".join(lines[i : i + BATCH]) + b"\n" for i in range(0, len(lines), BATCH)]


def _stored(cluster: Cluster) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(cluster.db) as connection:
        row = connection.execute(
            "SELECT COUNT(*), COUNT(DISTINCT (key_name, event_id)) FROM events"
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _caught_up(urls: list[str], timeout: float = 3600) -> None:
    """Wait until each detect process at ``urls`` has taken every message of the stream and
    its engines processed all they were handed (their count unchanged for 5 s): a loaded
    machine's engine can fall minutes behind, with no alert changing meanwhile."""
    deadline = time.monotonic() + timeout
    last: list[float] = []
    while time.monotonic() < deadline:
        samples = [scrape(url) for url in urls]
        counts = [m.get("apiwatch_detect_events_total", 0.0) for m in samples]
        idle = all(m.get("apiwatch_bus_pending", 1.0) == 0 for m in samples)
        if idle and counts == last:
            return
        last = counts
        time.sleep(5.0)


_LOSSES = ("late", "too_old", "skipped")


def _losses(urls: list[str]) -> str:
    """Events the detect processes at ``urls`` processed late, skipped as too old, or skipped
    at a full queue (their ``apiwatch_detect_*`` counters, summed), and the bus messages they
    read from the stream in place of ones their consumer delivered elsewhere."""
    samples = [scrape(url) for url in urls]
    counts = [sum(m.get(f"apiwatch_detect_{name}_events_total", 0.0) for m in samples)
              for name in _LOSSES]  # fmt: skip
    again = sum(m.get("apiwatch_bus_messages_read_again_total", 0.0) for m in samples)
    return (
        ", ".join(
            f"{name.replace('_', ' ')} {count:,.0f}"
            for name, count in zip(_LOSSES, counts, strict=True)
        )
        + f" (bus messages read again in order: {again:,.0f})"
    )


def _kill(role: str, cluster: Cluster, nats: NatsServer, procs: dict[str, object],
          detect: list[str]) -> None:  # fmt: skip
    """SIGKILL ``role`` and start what replaces it (``detect``: the detect processes' URLs)."""
    if role == "nats":
        nats.kill()
        time.sleep(NATS_DOWN)
        nats.start()
        return
    name = {"ingest": "ingest 1", "writer": "writer", "detect": "detect 2/2"}[role]
    process = procs[name]
    process.send_signal(signal.SIGKILL)  # type: ignore[attr-defined]
    process.wait(timeout=10)  # type: ignore[attr-defined]
    if role == "ingest":
        cluster.start("ingest")
    elif role == "writer":
        cluster.start("writer")
    else:
        detect[1] = cluster.start("detect", "--shard", "2/2")[1]


def _compare(single: Run, sharded: Run) -> str:
    ours, theirs = without_incident(sharded.alerts), without_incident(single.alerts)
    same = sum(1 for k in theirs if k in ours and ours[k] == theirs[k])
    differ = sorted(theirs[k].rule for k in theirs if k in ours and ours[k] != theirs[k])
    missing = sorted(theirs[k].rule for k in theirs.keys() - ours.keys())
    extra = sorted(ours[k].rule for k in ours.keys() - theirs.keys())
    try:
        check_same_incidents(single, sharded)
        incidents = f"incidents the same ({len(single.incidents)})"
    except (AssertionError, KeyError) as exc:
        first = (str(exc).splitlines() or [""])[0][:160]
        incidents = f"incidents DIFFER ({type(exc).__name__} {first})"
    return (f"alerts: {same} of {len(theirs)} the same; different {differ or 0}, missing "
            f"{missing or 0}, extra {extra or 0}; {incidents}")  # fmt: skip


def kill_run(role: str, batches: list[bytes], workdir: Path, settle: float) -> None:
    """One deployment, ``role`` killed midway; prints the figures (module docstring)."""
    total = sum(body.count(b"\n") for body in batches)
    nats = NatsServer(workdir / "nats")
    nats.directory.mkdir(parents=True)
    nats.start()
    with ExitStack() as stack:
        stack.callback(nats.kill)
        cluster = Cluster(stack.enter_context(postgres_database()), workdir, bus=nats.url)
        stack.callback(cluster.stop_all)
        key = cluster.setup()
        procs: dict[str, object] = {"writer": cluster.start("writer")[0]}
        urls = []
        for n in (1, 2):
            process, url = cluster.start("ingest")
            procs[f"ingest {n}"] = process
            urls.append(url)
        detect = []
        for index in (1, 2):
            process, url = cluster.start("detect", "--shard", f"{index}/2")
            procs[f"detect {index}/2"] = process
            detect.append(url)
        todo: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        for body in batches:
            todo.put(body)
        # One sender, so the stream keeps the log's order: the log packs hours of event time
        # into a minute of sending, and two senders' batches in flight would be minutes of event
        # time apart (late events, processed wherever a drain happens to fall).
        senders = [Sender(urls, key, todo)]
        started = time.monotonic()
        for sender in senders:
            sender.start()
        while sum(s.acknowledged for s in senders) < total // 2:
            time.sleep(0.05)
        at = sum(s.acknowledged for s in senders)
        _kill(role, cluster, nats, procs, detect)
        print(
            f"  SIGKILL {role} at {at:,} acknowledged events ({time.monotonic() - started:.0f} s)"
        )
        for sender in senders:
            sender.join()
        acknowledged = sum(s.acknowledged for s in senders)
        failed = "; ".join(s.failed for s in senders if s.failed)
        cluster.wait_stored(acknowledged, timeout=900)
        time.sleep(2.0)
        stored, distinct = _stored(cluster)
        verify = cluster.verify()
        print(f"  acknowledged {acknowledged:,} of {total:,} sent in "
              f"{time.monotonic() - started:.0f} s ({sum(s.refused for s in senders)} refusals "
              f"retried{'; ' + failed if failed else ''}); stored {stored:,} ({distinct:,} "
              f"distinct): lost {max(0, acknowledged - distinct):,}, stored twice "
              f"{stored - distinct:,}; verify exit {verify.returncode}")  # fmt: skip
        _caught_up(detect)
        sharded = settled(cluster, cluster.db, quiet=settle, timeout=1800)
        single_db = stack.enter_context(postgres_database())
        cluster.open_store(single_db).close()
        single_url = cluster.start("detect", config=cluster.config_for(single_db))[1]
        _caught_up([single_url])
        single = settled(cluster, single_db, quiet=settle, timeout=1800)
        fed = scrape(single_url).get("apiwatch_bus_events_fed_total", 0)
        print(f"  detect events: shards {_losses(detect)}; undisturbed run {_losses([single_url])}")
        print(f"  detection (undisturbed run fed {fed:,.0f} events): {_compare(single, sharded)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--roles", default=",".join(ROLES),
                        help="the roles to kill, one run each (default: all four)")  # fmt: skip
    parser.add_argument(
        "--settle",
        type=float,
        default=15.0,
        help="detection is done when nothing stored changed for this long (s)",
    )
    args = parser.parse_args()
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        parser.error(f"--roles: unknown role {', '.join(unknown)} (one of {', '.join(ROLES)})")
    load = os.getloadavg()
    print(f"kill runs: {args.events:,} simulated events per run, {os.cpu_count()} CPUs, load "
          f"average {load[0]:.1f} {load[1]:.1f}; generating the log ...", flush=True)  # fmt: skip
    batches = _batches(args.events)
    for role in roles:
        print(f"{role} killed mid-stream:", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"apiwatch-kill-{role}-") as tmp:
            kill_run(role, batches, Path(tmp), args.settle)


if __name__ == "__main__":
    main()
