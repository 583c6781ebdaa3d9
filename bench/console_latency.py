"""Console latency: the overview on a large SQLite store, and a 10,000-attacker incident page.

The store is a real apiwatch SQLite store (opened by `open_store`, served by `create_app` under
uvicorn on a free port of 127.0.0.1, a console user signed in over HTTP as a browser would). Its
``events`` table is filled by a direct bulk insert of N rows spread over 7 days (a recursive
CTE inside SQLite: ingesting millions of events through the API would take far longer than the
measurement), with the per-minute rollups ``event_minutes`` and ``address_minutes`` holding the
same totals per minute that ingest would have counted (100 addresses per minute). The payloads are
random bytes: no page decrypts events, and ``verify`` is not run. On top: 60 incidents spread
over the last hours, and one incident with 10,000 attackers (and as many accounts targeted) in
the final 30 minutes, whose attackers have requests in ``address_minutes``.

Measured (median and p95 of repeated requests, one client, keep-alive), each as a ratio to
``GET /healthz`` measured in the same run: the overview page ``/``, its live tables and its chart
data, the incidents list, the big incident's page and its timeline data. Goal: overview and
incident page under 300 ms.

A benchmark reports; the exit status does not depend on the goals.

Usage: ``.venv/bin/python bench/console_latency.py [--events N] [--rounds N]`` (default 1,000,000
events; ``--events 10000000`` for the issue's figure).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from apiwatch.cli._serving import Running
from apiwatch.model import Incident
from apiwatch.server import ServerSettings, create_app
from apiwatch.server.console._passwords import hash_password
from apiwatch.store import ConsoleUser, SqlStore, open_store

SPAN_MINUTES = 7 * 24 * 60
ADDRESSES_PER_MINUTE = 100
PASSWORD = "benchmark passphrase"  # noqa: S105 - the throwaway store's own user
GOAL_MS = 300.0
# Generated rows are numbered far above what the collector's own appends (console logins) take:
# they carry no checkpoint, so the chain's tip stays where the collector left it.
SEQ_OFFSET = 10**12


def micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def fill_events(store: SqlStore, path: Path, count: int, end: datetime) -> float:
    """``count`` event rows over the 7 days before ``end``, and their rollups; seconds taken."""
    import sqlite3

    started = time.perf_counter()
    start_us = micros(end) - SPAN_MINUTES * 60_000_000
    step = SPAN_MINUTES * 60_000_000 // count
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    # Indexes rebuilt after the insert: sorting once is far faster than random index inserts.
    indexes = connection.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql "
        "IS NOT NULL"
    ).fetchall()
    connection.execute("DROP INDEX events_event_id")
    connection.execute("DROP INDEX events_ts")
    connection.execute(
        f"""INSERT INTO events WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n
        WHERE x < {count}) SELECT {SEQ_OFFSET} + x, randomblob(16), {start_us} + x * {step},
        'bench', 'shop', 'web-' || (x % 4), NULL, CASE WHEN x % 20 = 0 THEN 'authn_login_fail' ELSE
        'http_request' END, CASE WHEN x % 20 = 0 THEN 'failure' ELSE 'success' END,
        CASE WHEN x % 20 = 0 THEN 401 WHEN x % 97 = 0 THEN 503 WHEN x % 13 = 0 THEN 404
        ELSE 200 END, '/api/orders/' || (x % 5000), NULL, 1, randomblob(200), randomblob(32)
        FROM n"""
    )
    for (sql,) in indexes:
        connection.execute(sql)
    per_minute = count // SPAN_MINUTES
    first_minute = start_us // 60_000_000
    connection.execute(
        f"""INSERT INTO event_minutes WITH RECURSIVE m(x) AS (SELECT 0 UNION ALL SELECT x + 1
        FROM m WHERE x < {SPAN_MINUTES - 1}) SELECT {first_minute} + x, {per_minute},
        {per_minute // 20}, {per_minute // 13}, {per_minute // 97} FROM m"""
    )
    each = max(per_minute // ADDRESSES_PER_MINUTE, 1)
    connection.execute(
        f"""INSERT INTO address_minutes WITH RECURSIVE m(x) AS (SELECT 0 UNION ALL SELECT x + 1
        FROM m WHERE x < {SPAN_MINUTES * ADDRESSES_PER_MINUTE - 1})
        SELECT {first_minute} + x / {ADDRESSES_PER_MINUTE},
        '198.18.' || ((x * 7919) % 60000 / 256) || '.' || ((x * 7919) % 60000 % 256),
        {each}, CASE WHEN x % 7 = 0 THEN {each} ELSE 0 END FROM m"""
    )
    connection.commit()
    connection.close()
    return time.perf_counter() - started


def big_incident(store: SqlStore, path: Path, end: datetime, attackers: int) -> Incident:
    """An incident with ``attackers`` attackers in the last 30 minutes, with their requests."""
    import sqlite3

    addresses = [f"100.{64 + i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(attackers)]
    first = end - timedelta(minutes=30)
    incident = Incident(
        id="bench-big",
        title="Distributed credential stuffing",
        severity="critical",
        first_seen=first,
        last_seen=end - timedelta(minutes=1),
        rules=["credential-stuffing-distributed"],
        alerts=3,
        attackers=addresses,
        user_agents=["python-requests/2.31"],
        accounts_targeted=[f"user{i}@example.com" for i in range(attackers)],
        accounts_compromised=[f"user{i}@example.com" for i in range(0, attackers, 500)],
        requests=attackers * 3,
    )
    others = [
        Incident(id=f"bench-{n}", title=f"Brute force {n}", severity=("high", "medium")[n % 2],
                 first_seen=end - timedelta(minutes=5 * n + 10),
                 last_seen=end - timedelta(minutes=5 * n), rules=["brute-force-account"],
                 attackers=[f"198.18.0.{n}"], accounts_targeted=[f"victim{n % 7}"], requests=40)
        for n in range(60)
    ]  # fmt: skip
    store.detections.save([], [incident, *others])
    first_minute = micros(first) // 60_000_000
    connection = sqlite3.connect(path)
    connection.executemany(
        "INSERT INTO address_minutes VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(first_minute + i % 29, a, 3, 3) for i, a in enumerate(addresses)],
    )
    connection.commit()
    connection.close()
    return incident


def measure(client: httpx.Client, path: str, rounds: int) -> list[float]:
    """Seconds per request, after two warm-up requests."""
    for _ in range(2):
        response = client.get(path)
        response.raise_for_status()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - started)
        response.raise_for_status()
    return times


def sign_in(client: httpx.Client) -> None:
    form = client.get("/login").text
    found = re.search(r'name="csrf" value="([^"]+)"', form)
    assert found is not None
    response = client.post("/login", data={"csrf": found.group(1), "username": "bench",
                                           "password": PASSWORD})  # fmt: skip
    assert response.status_code == 303, response.text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--attackers", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    with tempfile.TemporaryDirectory(prefix="apiwatch-console-bench-") as tmp:
        path = Path(tmp) / "bench.db"
        store = open_store(f"sqlite:///{path}", key_file=Path(tmp) / "keys",
                           signing_key_file=Path(tmp) / "signing")  # fmt: skip
        store.console.add_user(ConsoleUser("bench", "viewer", hash_password(PASSWORD), end))
        seconds = fill_events(store, path, args.events, end)
        print(f"filled {args.events:,} events and their rollups in {seconds:.1f} s "
              f"({path.stat().st_size / 1e9:.2f} GB)")  # fmt: skip
        incident = big_incident(store, path, end, args.attackers)
        running = Running(create_app(store, ServerSettings(detect=False)))
        try:
            with httpx.Client(base_url=running.url, timeout=60) as client:
                sign_in(client)
                report(client, incident, args)
        finally:
            running.stop()
            store.close()


def report(client: httpx.Client, incident: Incident, args: argparse.Namespace) -> None:
    baseline = statistics.median(measure(client, "/healthz", args.rounds * 3))
    print(f"baseline GET /healthz: median {baseline * 1000:.2f} ms\n")
    print(f"{'page':<42} {'median':>9} {'p95':>9} {'x healthz':>10}  goal")
    pages = [
        ("/", "overview page", True),
        ("/overview/live", "overview tables (htmx poll)", False),
        ("/overview/series.json", "overview chart data", False),
        ("/incidents", "incidents list", False),
        (f"/incidents/{incident.id}", f"incident, {args.attackers:,} attackers", True),
        (f"/incidents/{incident.id}/timeline.json", "incident timeline data", False),
    ]
    for path, label, goal in pages:
        times = sorted(measure(client, path, args.rounds))
        median = statistics.median(times)
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        verdict = ("met" if median * 1000 < GOAL_MS else "MISSED") if goal else ""
        print(f"{label:<42} {median * 1000:>7.1f}ms {p95 * 1000:>7.1f}ms "
              f"{median / baseline:>9.1f}x  {verdict}")  # fmt: skip
    print(
        f"\n{args.events:,} events in SQLite; goal: overview and incident page < {GOAL_MS:.0f} ms"
    )


if __name__ == "__main__":
    sys.exit(main())
