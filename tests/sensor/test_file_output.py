"""`FileOutput`: lines written in batches by a writer thread, in order, none lost unseen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from apiwatch.model import Action, Event, EventMeta
from apiwatch.sensor import FileOutput

from .apps import fastapi_app

_EVENT = Event(event=EventMeta(action=Action.HTTP_REQUEST.value))


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def test_lines_are_written_in_the_order_they_were_emitted(tmp_path: Path) -> None:
    """20,000 lines through small batches come out whole, once each, in emission order."""
    path = tmp_path / "events.log"
    output = FileOutput(path, interval=0.001, batch=64, max_pending=1000)
    sent = [b'{"n":%d}' % number for number in range(20_000)]
    for line in sent:
        output(_EVENT, line)
    output.close()
    assert _lines(path) == sent
    assert output.stats.written == len(sent) and output.stats.lost == 0
    assert output.stats.batches < len(sent)  # batched, not one write per line


def test_the_writer_thread_writes_without_being_asked(tmp_path: Path) -> None:
    """Lines reach the file within the interval, with no flush or close from the caller."""
    path = tmp_path / "events.log"
    output = FileOutput(path, interval=0.01)
    output(_EVENT, b'{"n":1}')
    for _ in range(500):
        if path.read_bytes():
            break
        threading.Event().wait(0.01)
    assert _lines(path) == [b'{"n":1}']
    output.close()


def test_lifespan_shutdown_writes_what_is_queued(tmp_path: Path) -> None:
    """Behind the middleware, the app's shutdown writes every event still queued (interval 1 h)."""
    path = tmp_path / "events.log"
    output = FileOutput(path, interval=3600, batch=10_000)
    with TestClient(fastapi_app(outputs=[output])) as client:
        for number in range(1, 51):
            client.get(f"/users/{number}")
        assert path.read_bytes() == b""  # still queued: the thread waits an hour
    events = [json.loads(line) for line in _lines(path)]
    assert [e["url"]["path"] for e in events] == [f"/users/{n}" for n in range(1, 51)]


def test_lines_emitted_after_close_are_written_at_once(tmp_path: Path) -> None:
    """After close (an app's own shutdown code emitting late), each line is still written."""
    path = tmp_path / "events.log"
    output = FileOutput(path)
    output(_EVENT, b"first")
    output.close()
    output(_EVENT, b"late")
    assert _lines(path) == [b"first", b"late"]


def test_queued_lines_are_written_when_the_process_exits(tmp_path: Path) -> None:
    """A process that exits without closing its output still writes every queued line."""
    path = tmp_path / "events.log"
    code = (
        "import sys\n"
        "from apiwatch.model import Event, EventMeta\n"
        "from apiwatch.sensor import FileOutput\n"
        "out = FileOutput(sys.argv[1], interval=3600, batch=60000)\n"
        "event = Event(event=EventMeta(action='http_request'))\n"
        "for n in range(1000):\n"
        "    out(event, b'line %d' % n)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env, timeout=60)
    assert _lines(path) == [b"line %d" % n for n in range(1000)]


def test_a_full_queue_makes_the_caller_write_and_loses_nothing(tmp_path: Path) -> None:
    """Behind a stalled reader (a FIFO) a full queue is written by the caller, counted, in order."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    received = bytearray()
    release = threading.Event()

    def reader() -> None:
        with open(fifo, "rb") as stream:  # a FIFO, read as a stream
            release.wait(30)  # the disk is stalled until released
            while chunk := stream.read(65536):
                received.extend(chunk)

    thread = threading.Thread(target=reader)
    thread.start()
    output = FileOutput(fifo, interval=0.001, batch=8, max_pending=64)
    sent = [b"x" * 200 + b"%06d" % n for n in range(2000)]  # far more than a pipe buffer
    emitter = threading.Thread(target=lambda: [output(_EVENT, line) for line in sent])
    emitter.start()
    emitter.join(0.5)
    assert emitter.is_alive()  # back-pressure: the caller waits for the stalled file
    release.set()
    emitter.join(30)
    output.close()
    thread.join(30)
    assert received.splitlines() == sent
    assert output.stats.inline_writes >= 1 and output.stats.lost == 0


def test_a_failing_write_is_counted_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    """Lines that cannot be written (/dev/full: no space left) are counted as lost and logged."""
    output = FileOutput("/dev/full", interval=3600)
    for number in range(10):
        output(_EVENT, b"line %d" % number)
    with caplog.at_level("WARNING", logger="apiwatch.sensor"):
        output.close()
    assert output.stats.lost == 10 and output.stats.written == 0
    assert "10 lines lost" in caplog.text


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    """A zero interval or a batch larger than the queue bound is a clear error."""
    with pytest.raises(ValueError, match="interval"):
        FileOutput(tmp_path / "a.log", interval=0)
    with pytest.raises(ValueError, match="batch"):
        FileOutput(tmp_path / "b.log", batch=100, max_pending=10)


def test_a_forked_child_writes_only_its_own_lines(tmp_path: Path) -> None:
    """A worker forked with lines queued does not write its parent's lines a second time."""
    path = tmp_path / "events.log"
    output = FileOutput(path, interval=3600, batch=60000)
    output(_EVENT, b"parent before fork")
    pid = os.fork()
    if pid == 0:  # the child: write its own line and leave without running the parent's hooks
        try:
            output(_EVENT, b"child")
            output.close()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    output(_EVENT, b"parent after fork")
    output.close()
    assert sorted(_lines(path)) == [b"child", b"parent after fork", b"parent before fork"]
