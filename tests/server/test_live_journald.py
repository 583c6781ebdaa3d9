"""A journald source over a real systemd-journald, run in a journal namespace of its own.

Debian's systemd-journald takes a namespace name: it then listens on
/run/systemd/journal.<namespace>/socket and keeps /var/log/journal/<machine-id>.<namespace>,
apart from the system journal, and ``journalctl --namespace`` reads it. Entries are written
through the native socket (what sd_journal_send does); the collector reads them with
``journalctl -o json --follow``. Needs root (the namespace's directories) and the binaries.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests._wait import wait_for
from tests.server.conftest import StoreFactory
from tests.server.live_helpers import access_line, live_collector

JOURNALD = Path("/usr/lib/systemd/systemd-journald")
pytestmark = pytest.mark.skipif(
    not JOURNALD.exists() or shutil.which("journalctl") is None or os.geteuid() != 0,
    reason="needs systemd-journald, journalctl and root",
)


@contextmanager
def journal_namespace() -> Iterator[tuple[str, Path]]:
    """A private systemd-journald; (namespace, its socket). Its journal is removed after."""
    namespace = f"apiwatch{secrets.token_hex(4)}"
    process = subprocess.Popen(
        [str(JOURNALD), namespace], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    sock = Path(f"/run/systemd/journal.{namespace}/socket")
    try:
        wait_for(sock.exists, "journald's socket")
        yield namespace, sock
    finally:
        process.terminate()
        process.wait(timeout=30)
        machine = Path("/etc/machine-id").read_text().strip()
        shutil.rmtree(f"/var/log/journal/{machine}.{namespace}", ignore_errors=True)
        shutil.rmtree(f"/run/systemd/journal.{namespace}", ignore_errors=True)


def _send(sock: Path, message: str, identifier: str = "nginx") -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
        client.sendto(f"MESSAGE={message}\nSYSLOG_IDENTIFIER={identifier}\n".encode(), str(sock))


def test_journal_entries_are_stored_once_across_a_restart(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """nginx lines sent to journald are stored; after a restart the collector resumes after
    its saved cursor: the new entries are stored, none twice."""
    with journal_namespace() as (namespace, sock):
        table = {
            "name": "journal",
            "type": "journald",
            "namespace": namespace,
            "identifiers": ["nginx"],
        }
        for n in range(5):
            _send(sock, access_line("203.0.113.20", f"/j/{n}"))
        _send(sock, "session opened", identifier="cron")  # another program: not asked for
        with live_collector(make_store, [table], tmp_path / "state") as live:
            wait_for(lambda: len(live.events("journal")) >= 5, "five journal events")
            assert live.stats("journal").refused == 0
        for n in range(5, 8):
            _send(sock, access_line("203.0.113.20", f"/j/{n}"))
        time.sleep(0.5)
        with live_collector(make_store, [table], tmp_path / "state", keys=False) as live:
            wait_for(lambda: len(live.events("journal")) >= 8, "eight journal events")
            time.sleep(1)  # anything read twice would have been stored by now
            paths = sorted(e["url"]["path"] for e in live.events("journal"))
            assert live.stats("journal").read == 3
    assert paths == [f"/j/{n}" for n in range(8)]
