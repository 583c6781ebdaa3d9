"""`new_event_id`: 32 hex characters, never repeated, across batches, threads and forks."""

from __future__ import annotations

import os
import re
import threading

import pytest

from apiwatch.model import new_event_id

_ID = re.compile(r"[0-9a-f]{32}")


def test_ids_are_distinct_across_batches_and_threads() -> None:
    """Four threads taking 5,000 ids each (many batch refills) never get the same id twice."""
    taken: list[list[str]] = [[] for _ in range(4)]

    def take(into: list[str]) -> None:
        into.extend(new_event_id() for _ in range(5_000))

    threads = [threading.Thread(target=take, args=(into,)) for into in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [one for into in taken for one in into]
    assert len(set(ids)) == len(ids) == 20_000
    assert all(_ID.fullmatch(one) for one in ids)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_makes_ids_of_its_own() -> None:
    """A child forked with ids batched in the parent starts from a fresh random prefix."""
    parent = new_event_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, new_event_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert _ID.fullmatch(child) and child[:16] != parent[:16]
    assert new_event_id()[:16] == parent[:16]
