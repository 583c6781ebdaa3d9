"""Decoding ``journalctl -o json`` output, recorded from the real journalctl (systemd 252).

tests/sources/data/journalctl-o-json.ndjson was written by ``journalctl --namespace=... -o
json`` over a journal that Debian's systemd-journald (run in a namespace of its own) filled
through its native socket: two journald notices, an nginx line, an ECS JSON line, an nginx line
with a byte that is not UTF-8 (which journalctl writes as an array of bytes), and a cron line.
"""

from __future__ import annotations

import json
from pathlib import Path

from apiwatch.sources._positions import Positions
from apiwatch.sources.config import parse_sources
from apiwatch.sources.journald import JournalReader, journal_command, journal_message
from apiwatch.sources.live import Delivery, SourceStats

RECORDED = Path(__file__).parent / "data" / "journalctl-o-json.ndjson"


def _reader(tmp_path: Path, **table: object) -> JournalReader:
    config = parse_sources([{"name": "journal", "type": "journald", **table}], "test")[0]

    async def deliver(delivery: Delivery) -> None:
        raise AssertionError("not called by decode")

    return JournalReader(
        config,
        stats=SourceStats("journal", "journald"),
        deliver=deliver,
        positions=Positions(tmp_path / "journal.json"),
    )


def test_recorded_entries_become_events(tmp_path: Path) -> None:
    """nginx and ECS messages are events; journald's notices and cron's line are refused; the
    last cursor is the one to save."""
    lines = RECORDED.read_bytes().splitlines()
    events, refused, cursor = _reader(tmp_path).decode(lines)
    assert [e.url.path if e.url else e.user.name for e in events] == [  # type: ignore[union-attr]
        "/login",
        "alice",
        "/caf\\xe9",
    ]
    assert events[0].event.action == "authn_login_fail"
    assert refused == 3
    assert cursor == json.loads(lines[-1])["__CURSOR"]


def test_event_ids_come_from_cursors(tmp_path: Path) -> None:
    """The same entry read twice (after a restart) gets the same event id."""
    lines = RECORDED.read_bytes().splitlines()
    first, _, _ = _reader(tmp_path).decode(lines)
    again, _, _ = _reader(tmp_path).decode(lines)
    assert [e.event.id for e in first] == [e.event.id for e in again]
    assert len({e.event.id for e in first}) == 3


def test_a_message_sent_as_bytes_is_decoded(tmp_path: Path) -> None:
    """journalctl's byte-array form of MESSAGE is text again, the odd byte kept recoverable."""
    entry = json.loads(RECORDED.read_bytes().splitlines()[4])
    assert isinstance(entry["MESSAGE"], list)
    assert "/caf\udce9 " in (journal_message(entry) or "")
    assert journal_message({"MESSAGE": None}) is None


def test_the_command_resumes_after_the_saved_cursor(tmp_path: Path) -> None:
    """With a cursor, journalctl is asked for what follows it; without, for all or for new."""
    config = parse_sources(
        [{"name": "j", "type": "journald", "units": ["nginx.service"], "identifiers": ["nginx"]}],
        "t",
    )[0]
    assert journal_command(config, "s=1;i=2")[-3:] == [
        "--unit=nginx.service",
        "--identifier=nginx",
        "--after-cursor=s=1;i=2",
    ]
    assert journal_command(config, None)[-1] == "--lines=all"
    end = parse_sources([{"name": "j", "type": "journald", "start_at": "end"}], "t")[0]
    assert journal_command(end, None)[-1] == "--lines=0"
