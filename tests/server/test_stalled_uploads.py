"""Stalled uploads: a body that stops arriving is cut off, and one key holds at most its share
of the ingest slots, so a few senders holding connections open cannot starve every other."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

from apiwatch.server import ServerSettings
from tests.server.conftest import Collector, StoreFactory, collector_with
from tests.server.helpers import NDJSON, event, ndjson
from tests.server.raw_http import read_answer, read_status, start_upload

STALLED = 8  # the default max_concurrent_ingest


@contextmanager
def stalled(collector: Collector, count: int = STALLED) -> Iterator[list[socket.socket]]:
    """``count`` uploads with key ``ingest``, each one byte into a 100 kB body, then silent."""
    sockets = [start_upload(collector.url, collector.keys["ingest"]) for _ in range(count)]
    try:
        time.sleep(1.0)  # let them reach the server and take (or wait for) their slots
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def test_uploads_stalled_by_one_key_leave_room_for_another(make_store: StoreFactory) -> None:
    """With the default settings, eight stalled uploads of one key do not hold every ingest
    slot: a sender with another key is stored (202), not told to retry."""
    with (
        collector_with(make_store, ServerSettings()) as collector,
        stalled(collector),
        collector.client("other-ingest") as client,
    ):
        answer = client.post("/v1/events", content=ndjson([event()]), headers=NDJSON)
    assert answer.status_code == 202


def test_a_stalled_upload_is_answered_408_and_frees_its_slot(make_store: StoreFactory) -> None:
    """An upload whose body stops arriving for body_read_timeout seconds is answered 408 with
    a clear message and its connection closed; its slot is free again for the same key."""
    settings = ServerSettings(body_read_timeout=0.5, max_ingest_per_key=STALLED,
                              ingest_wait_seconds=1.0)  # fmt: skip
    with collector_with(make_store, settings) as collector, stalled(collector) as sockets:
        answers = [read_answer(sock) for sock in sockets]
        with collector.client() as client:
            later = client.post("/v1/events", content=ndjson([event()]), headers=NDJSON)
    assert [status for status, _, _ in answers] == [408] * STALLED
    assert {headers["connection"] for _, headers, _ in answers} == {"close"}
    assert json.loads(answers[0][2]) == {
        "error": "the body stopped arriving (nothing for 0.5 s); send it again"
    }
    assert later.status_code == 202


def test_one_key_holds_at_most_its_share_of_the_slots(make_store: StoreFactory) -> None:
    """By default a key holds at most half of max_concurrent_ingest: of eight stalled uploads
    of one key, four read their bodies (and time out, 408) and four are told to retry (503)."""
    settings = ServerSettings(body_read_timeout=3.0, ingest_wait_seconds=0.3)
    with collector_with(make_store, settings) as collector, stalled(collector) as sockets:
        statuses = sorted(read_status(sock) for sock in sockets)
    assert statuses == [408] * 4 + [503] * 4


def test_a_trickling_upload_is_cut_off_at_the_total_timeout(make_store: StoreFactory) -> None:
    """A body that keeps arriving a byte at a time, never silent for body_read_timeout, is
    answered 408 once it has taken body_total_timeout seconds."""
    settings = ServerSettings(body_read_timeout=10.0, body_total_timeout=1.0)
    with (
        collector_with(make_store, settings) as collector,
        start_upload(collector.url, collector.keys["ingest"]) as sock,
    ):
        for _ in range(300):  # a byte every 0.1 s until the server answers (30 s at most)
            sock.sendall(b" ")
            if select.select([sock], [], [], 0.1)[0]:
                break
        status, _, body = read_answer(sock)
    assert status == 408
    assert json.loads(body) == {"error": "the body did not all arrive within 1 s; send it again"}
