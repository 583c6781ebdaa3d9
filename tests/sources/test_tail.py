"""`FileTailer`: complete lines once, through rotation, truncation, deletion and restarts."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

from apiwatch.model import ConfigError
from apiwatch.sources._positions import Positions
from apiwatch.sources.live import SourceStats
from apiwatch.sources.tail import FileTailer, line_id

LINE = '203.0.113.{n} - - [10/Oct/2026:13:55:{s:02} +0000] "GET /item/{n} HTTP/1.1" 200 5 "-" "t"\n'


def lines(*numbers: int) -> str:
    return "".join(
        LINE.format(n=n % 250, s=n % 60).replace(f"/item/{n % 250}", f"/item/{n}") for n in numbers
    )


def append(path: Path, text: str) -> None:
    with path.open("a") as file:
        file.write(text)


def tailer(directory: Path, pattern: str = "access.log*", **options: object) -> FileTailer:
    positions = Positions(directory / "state" / "web.json")
    return FileTailer(
        [str(directory / pattern)], stats=SourceStats("web", "file"), positions=positions, **options
    )  # type: ignore[arg-type]


def take(tail: FileTailer) -> list[str]:
    """The paths of the events of one poll, checkpointed."""
    delivery = tail.poll()
    delivery.checkpoint()
    return [event.url.path for event in delivery.events if event.url and event.url.path]


def items(*numbers: int) -> list[str]:
    return [f"/item/{n}" for n in numbers]


def test_complete_lines_are_read_once_and_a_partial_line_waits(tmp_path: Path) -> None:
    """Only lines ending in a newline are read; the rest of a line is read when it comes."""
    log = tmp_path / "access.log"
    full = lines(1, 2)
    log.write_text(full[:-20])
    tail = tailer(tmp_path)
    assert take(tail) == items(1)
    assert take(tail) == []
    append(log, full[-20:])
    assert take(tail) == items(2)
    assert tail.stats.read == 2 and tail.stats.parsed == 2


def test_rename_rotation_reads_the_rest_of_the_old_file_then_the_new(tmp_path: Path) -> None:
    """After access.log -> access.log.1, lines still written to the old file are read, then
    the new file from its start."""
    log = tmp_path / "access.log"
    log.write_text(lines(1, 2))
    tail = tailer(tmp_path, "access.log")
    assert take(tail) == items(1, 2)
    log.rename(tmp_path / "access.log.1")
    append(tmp_path / "access.log.1", lines(3))
    log.write_text(lines(4))
    assert sorted(take(tail)) == items(3, 4)
    append(log, lines(5))
    assert take(tail) == items(5)


def test_copytruncate_reads_the_lines_left_in_the_copy(tmp_path: Path) -> None:
    """copytruncate: the lines written after the last poll are read from the copy (which the
    pattern matches), the truncated file from its start, nothing twice."""
    log = tmp_path / "access.log"
    log.write_text(lines(1, 2))
    tail = tailer(tmp_path)
    assert take(tail) == items(1, 2)
    append(log, lines(3))
    shutil.copy(log, tmp_path / "access.log.1")
    with log.open("w"):
        pass
    append(log, lines(4))
    assert sorted(take(tail)) == items(3, 4)
    assert take(tail) == []


def test_truncation_in_place_starts_over(tmp_path: Path) -> None:
    """A file emptied in place (> access.log) is read again from its start, as new lines."""
    log = tmp_path / "access.log"
    log.write_text(lines(1, 2, 3))
    tail = tailer(tmp_path, "access.log")
    assert take(tail) == items(1, 2, 3)
    log.write_text(lines(9))
    assert take(tail) == items(9)


def test_deleted_and_recreated_file_is_read_anew(tmp_path: Path) -> None:
    """A deleted file is let go; one created again at its path is read from its start."""
    log = tmp_path / "access.log"
    log.write_text(lines(1))
    tail = tailer(tmp_path, "access.log")
    assert take(tail) == items(1)
    log.unlink()
    assert take(tail) == []
    assert tail.files == {}
    log.write_text(lines(2))
    assert take(tail) == items(2)


def test_a_new_file_matching_the_glob_is_picked_up(tmp_path: Path) -> None:
    """Files created after the start are followed when the pattern matches them."""
    (tmp_path / "a.log").write_text(lines(1))
    tail = tailer(tmp_path, "*.log")
    assert take(tail) == items(1)
    (tmp_path / "b.log").write_text(lines(2))
    assert take(tail) == items(2)


def test_a_restart_resumes_where_the_checkpoint_was(tmp_path: Path) -> None:
    """A new tailer over the saved positions reads only what came after the checkpoint; what
    was polled but not checkpointed is read again with the same event ids."""
    log = tmp_path / "access.log"
    log.write_text(lines(1, 2))
    first = tailer(tmp_path)
    assert take(first) == items(1, 2)
    append(log, lines(3))
    unsaved = first.poll()  # polled, never checkpointed: a crash before the commit
    first.close()
    second = tailer(tmp_path)
    again = second.poll()
    assert [e.event.id for e in again.events] == [e.event.id for e in unsaved.events]
    again.checkpoint()
    second.close()
    assert take(tailer(tmp_path)) == []


def test_a_restart_after_rotation_finds_the_renamed_file(tmp_path: Path) -> None:
    """A file renamed while apiwatch was down is resumed by its inode and head, not re-read."""
    log = tmp_path / "access.log"
    log.write_text(lines(1, 2))
    first = tailer(tmp_path)
    assert take(first) == items(1, 2)
    first.close()
    log.rename(tmp_path / "access.log.1")
    append(tmp_path / "access.log.1", lines(3))
    log.write_text(lines(4))
    assert sorted(take(tailer(tmp_path))) == items(3, 4)


def test_a_file_replaced_while_down_is_read_from_its_start(tmp_path: Path) -> None:
    """Same path, other content (the head changed): read from the start, as a new file."""
    log = tmp_path / "access.log"
    log.write_text(lines(1, 2, 3))
    first = tailer(tmp_path)
    assert take(first) == items(1, 2, 3)
    first.close()
    log.write_text(lines(7, 8, 9, 10))
    assert take(tailer(tmp_path)) == items(7, 8, 9, 10)


def test_compressed_rotations_are_left_alone(tmp_path: Path) -> None:
    """A gzip file the pattern matches (access.log.2.gz) is not read: its lines were."""
    (tmp_path / "access.log.2.gz").write_bytes(gzip.compress(lines(1).encode()))
    (tmp_path / "access.log").write_text(lines(2))
    assert take(tailer(tmp_path)) == items(2)


def test_start_at_end_skips_what_is_there_at_the_first_start(tmp_path: Path) -> None:
    """start_at = end: existing content is skipped at the very first start only."""
    log = tmp_path / "access.log"
    log.write_text(lines(1))
    tail = tailer(tmp_path, start_at="end")
    assert take(tail) == []
    append(log, lines(2))
    assert take(tail) == items(2)


def test_malformed_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    """A line the format refuses is counted as refused; the next ones are read."""
    log = tmp_path / "access.log"
    log.write_text(lines(1, 2, 3, 4, 5) + "garbage \x1b[31m line\n" + lines(6))
    tail = tailer(tmp_path)
    assert take(tail) == items(1, 2, 3, 4, 5, 6)
    assert tail.stats.refused == 1 and tail.stats.read == 7


def test_a_damaged_state_file_is_refused_with_its_name(tmp_path: Path) -> None:
    """A state file apiwatch did not write stops the source, naming the file."""
    state = tmp_path / "state" / "web.json"
    state.parent.mkdir()
    state.write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"web\.json"):
        tailer(tmp_path)


def test_the_state_file_is_private(tmp_path: Path) -> None:
    """Positions name log files: the state file is readable by its owner only."""
    (tmp_path / "access.log").write_text(lines(1))
    take(tailer(tmp_path))
    assert os.stat(tmp_path / "state" / "web.json").st_mode & 0o077 == 0


def test_ids_rise_with_the_offset_and_are_the_same_when_read_again(tmp_path: Path) -> None:
    """A file's event ids are `line_id` of its basis and each line's offset: in file order,
    sorted as the file is, and given again to the same lines by a tailer that starts over."""
    log = tmp_path / "access.log"
    log.write_text(lines(*range(1, 40)))
    tail = tailer(tmp_path)
    ids = [event.event.id for event in tail.poll().events]
    starts = [0]
    for text in log.read_text().splitlines(keepends=True)[:-1]:
        starts.append(starts[-1] + len(text.encode()))
    (followed,) = tail.files.values()
    assert ids == [line_id(followed.basis, offset) for offset in starts]
    assert ids == sorted(ids) and len(set(ids)) == 39
    again = tailer(tmp_path).poll()  # nothing checkpointed: read again from the start
    assert [event.event.id for event in again.events] == ids


def test_non_ascii_lines_keep_their_text_and_byte_offsets(tmp_path: Path) -> None:
    """Lines with UTF-8 and invalid bytes are read as ``scan`` reads them (surrogateescape), and
    the ids and the saved offset count bytes, not characters."""
    log = tmp_path / "access.log"
    odd = lines(2).replace("/item/2", "/item/caf\u00e9").encode() + lines(3).replace(
        "/item/3", "/item/\udcff"
    ).encode("utf-8", "surrogateescape")
    log.write_bytes(lines(1).encode() + odd + lines(4).encode())
    tail = tailer(tmp_path)
    delivery = tail.poll()
    (followed,) = tail.files.values()
    raw = log.read_bytes()
    starts = [0, *(i + 1 for i, byte in enumerate(raw[:-1]) if byte == ord("\n"))]
    assert [event.event.id for event in delivery.events] == [
        line_id(followed.basis, offset) for offset in starts
    ]
    assert [e.url.path for e in delivery.events if e.url] == [
        "/item/1", "/item/caf\u00e9", "/item/\\xff", "/item/4"
    ]  # fmt: skip
    assert followed.offset == len(raw)
