"""Forwarding throughput: events/s a forwarder moves out of the store, against reading them.

One SQLite store is filled with N events (default 100,000; ECS lines of the shape the sensor
sends), then, in the same run:

1. **baseline** — reading every row back from the store in batches (`EventStore.after`:
   the query and the decryption), the least a forwarder must do;
2. **NDJSON file** — the `file` forwarder's pump (`ForwardPump`): read, turn each line into an
   ECS document, append to a file with an fsync per batch, save the cursor per batch;
3. **HTTP bulk** — the `elasticsearch` forwarder's pump against a local HTTP ``_bulk`` endpoint
   (``http.server`` on 127.0.0.1, in this process's thread, answering each bulk 200 with one
   item per document, as Elasticsearch does; it parses what it receives).

Each figure is events per second, and the ratio to the baseline. Batches of 1000 (the default).
A benchmark reports; the exit status does not depend on the figures.

Usage: ``.venv/bin/python bench/forward_throughput.py [--events N] [--batch N]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import CollectorRegistry

from apiwatch.forward import ForwardTarget, build_sink
from apiwatch.model import Event, encode_event
from apiwatch.model.event import (
    EventMeta,
    Host,
    Http,
    HttpRequest,
    HttpResponse,
    Service,
    Source,
    Url,
    User,
    UserAgent,
    new_event_id,
)
from apiwatch.server._forwarding import ForwardMetrics, ForwardPump
from apiwatch.store import Batch, Keyring, SqlStore, StoredLine
from apiwatch.store.sqlite import SqliteStore

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _fill(store: SqlStore, count: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for first in range(0, count, 10_000):
        lines = []
        for i in range(first, min(count, first + 10_000)):
            event = Event(
                timestamp=start + timedelta(milliseconds=i),
                event=EventMeta(action="http_request", outcome="success", id=new_event_id()),
                source=Source(ip=f"203.0.113.{i % 250}"),
                user=User(name=f"user{i % 5000}"),
                http=Http(
                    request=HttpRequest(method="GET"), response=HttpResponse(status_code=200)
                ),
                url=Url(path=f"/api/orders/{i}"),
                user_agent=UserAgent(original=UA),
                service=Service(name="shop"),
                host=Host(name="web-1"),
            )
            lines.append(StoredLine(event, encode_event(event)))
        store.events.append([Batch(lines, "bench")])


def _baseline(store: SqlStore, batch: int) -> float:
    began, after, seen = time.perf_counter(), 0, 0
    while rows := store.events.after(after, batch):
        after, seen = rows[-1][0], seen + len(rows)
    return seen / (time.perf_counter() - began)


def _pumped(store: SqlStore, target: ForwardTarget) -> float:
    sink = build_sink(target)
    pump = ForwardPump(store, target, sink, ForwardMetrics(CollectorRegistry()))
    began, total = time.perf_counter(), 0
    while delivered := pump.step():
        total += delivered
    elapsed = time.perf_counter() - began
    sink.close()
    return total / elapsed


class _Bulk(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        lines = body.splitlines()
        items = []
        for action in lines[::2]:
            meta = json.loads(action)["create"]
            items.append({"create": {"_index": meta["_index"], "_id": meta["_id"], "status": 201}})
        answer = json.dumps({"took": 1, "errors": False, "items": items}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        return None


@contextmanager
def _bulk_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bulk)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        store = SqliteStore(root / "bench.db", Keyring.load_or_create(root / "keys"))
        _fill(store, args.events)
        base = _baseline(store, args.batch)
        file_target = ForwardTarget(
            "file", "file", ("events",), args.batch, {"path": str(root / "out.ndjson")}
        )
        file_rate = _pumped(store, file_target)
        with _bulk_endpoint() as url:
            bulk_target = ForwardTarget(
                "bulk", "elasticsearch", ("events",), args.batch, {"url": url, "template": False}
            )
            bulk_rate = _pumped(store, bulk_target)
        store.close()
    print(f"forward_throughput: {args.events:,} events, batches of {args.batch}, SQLite store")
    print(f"{'path':<38}{'events/s':>12}{'vs read':>10}")
    for name, rate in (
        ("read from store (baseline)", base),
        ("NDJSON file forwarder", file_rate),
        ("HTTP _bulk forwarder (local)", bulk_rate),
    ):
        print(f"{name:<38}{rate:>12,.0f}{rate / base:>9.2f}x")


if __name__ == "__main__":
    main()
