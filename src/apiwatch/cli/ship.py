"""``apiwatch ship FILE...``: send existing log files to a collector.

FILES are ECS NDJSON (sent line for line, as written) or any log `apiwatch scan` reads
(access logs, error logs, ECS, raw or inside syslog/CRI/Docker wrappers: parsed into ECS events
first, POSTs to ``--login-path`` routes read as login attempts), plain or gzip. Lines go in
batches of at most ``--batch-lines`` lines and ``_MAX_BATCH_BYTES`` bytes before compression,
under the collector's default 10 MB body limits (as sent and inflated) and 10,000-line limit,
as ``POST /v1/events`` (NDJSON, gzip).

Resumable: after each batch the collector acknowledged, the state file (``--state``) records,
per file (by its real path, device and inode), the last line sent. A new run starts after it;
a file whose identity changed or that shrank since (rotated, truncated) starts from its
beginning again. Every batch carries an ``Idempotency-Key`` made of the file's identity and its
line range, so a batch that was stored but whose answer was lost is not stored twice when the
run is resumed. Failures the collector calls transient (connection refused or reset, 408, 429,
503, other 5xx) are retried with back-off (``Retry-After`` honoured); anything else stops the
run with one line naming it, the state kept for the next one. Lines the collector rejects are
reported (file and line) and counted, and the run goes on.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import ssl
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import click
import httpx
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from apiwatch.cli._common import ca_file_option, log_format_option, login_path_option, unreadable
from apiwatch.model import EventDecodeError, encode_event, plural
from apiwatch.model import printable_text as safe
from apiwatch.sources import FormatUnknownError, LogFile, LoginPatterns
from apiwatch.sources.formats import Detected, LineParser, detect

__all__ = ["ship"]

_MAX_BATCH_BYTES: Final = 8 * 1024 * 1024  # under 10 MiB inflated, with room for a long line
_MAX_BATCH_LINES: Final = 10_000
_SAMPLE: Final = 20
_RETRYABLE: Final = frozenset({408, 429, 500, 502, 503, 504})
_SHOW_REJECTED: Final = 10


@dataclass
class _Totals:
    files: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    skipped: int = 0
    shown: int = 0


@dataclass
class _Batch:
    first: int = 0
    last: int = 0
    numbers: list[int] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    size: int = 0


class _State:
    """The last line sent of each file, kept in a JSON file rewritten atomically."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.files: dict[str, dict[str, Any]] = {}
        if path is not None and path.exists():
            try:
                self.files = dict(json.loads(path.read_text(encoding="utf-8"))["files"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise click.ClickException(f"cannot read the state file {path}: {exc}") from None

    def start(self, name: str, identity: str, size: int | None) -> int:
        """The line to start after for a file: 0 unless the state knows this very file."""
        known = self.files.get(name)
        if not known or known.get("identity") != identity:
            return 0
        if size is not None and size < int(known.get("size", 0)):
            return 0  # truncated since: what was sent is gone
        return int(known.get("line", 0))

    def save(self, name: str, identity: str, size: int | None, line: int) -> None:
        self.files[name] = {"identity": identity, "size": size or 0, "line": line}
        if self.path is None:
            return
        partial = self.path.with_name(self.path.name + ".tmp")
        partial.write_text(json.dumps({"files": self.files}, indent=1), encoding="utf-8")
        os.replace(partial, self.path)


class _Sender:
    """POSTs batches, retrying what the collector calls transient."""

    def __init__(
        self, url: str, key: str, retries: int, timeout: float, verify: ssl.SSLContext | bool
    ) -> None:
        self.endpoint = url.rstrip("/") + "/v1/events"
        self.client = httpx.Client(
            timeout=timeout,
            verify=verify,
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/x-ndjson",
                "Content-Encoding": "gzip",
            },
        )
        self.retries = retries

    def send(self, body: bytes, idempotency_key: str) -> dict[str, Any]:
        packed = gzip.compress(body, compresslevel=6)
        headers = {"Idempotency-Key": idempotency_key}
        for attempt in range(self.retries + 1):
            wait = min(2.0**attempt * 0.2, 30.0)
            try:
                response = self.client.post(self.endpoint, content=packed, headers=headers)
            except httpx.TransportError as exc:
                problem = f"cannot reach {self.endpoint}: {exc}"
            else:
                if response.status_code in (200, 202):
                    return dict(response.json())
                if response.status_code == 400 and "rejected" in response.text:
                    return {"accepted": 0, "duplicates": 0, **response.json()}
                problem = f"the collector answered {response.status_code}: {_said(response)}"
                if response.status_code not in _RETRYABLE:
                    raise click.ClickException(problem)
                wait = _retry_after(response, wait)
            if attempt < self.retries:
                time.sleep(wait)
        raise click.ClickException(
            f"{problem} (gave up after {plural(self.retries + 1, 'attempt')})"
        )

    def close(self) -> None:
        self.client.close()


def _said(response: httpx.Response) -> str:
    try:
        return safe(str(response.json().get("error", response.text)))[:300]
    except ValueError:
        return safe(response.text)[:300]


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(float(response.headers.get("retry-after", default)), 60.0)
    except ValueError:
        return default


def _identity(path: str) -> tuple[str, str]:
    """``(real path, device:inode)`` of a file; stdin has no identity (never resumed)."""
    if path == "-":
        return "-", ""
    stat = os.stat(path)
    return os.path.realpath(path), f"{stat.st_dev}:{stat.st_ino}"


@dataclass(frozen=True)
class _Reader:
    """How one file's lines become what is sent: ECS NDJSON as written, anything else parsed."""

    raw: bool
    parse: LineParser

    @classmethod
    def of(cls, sample: list[str], fmt: str | None, logins: LoginPatterns) -> _Reader:
        """The reader for a file whose first non-blank lines are ``sample`` (format ``fmt`` or,
        None, detected); `FormatUnknownError` when no format fits."""
        found = _detected(sample, fmt)
        return cls(found.formats == ("ecs",) and not found.wrappers, found.parser(logins))

    def payload(self, line: str) -> bytes | None:
        """What to send for one line (None: nothing, a blank line); `EventDecodeError` when
        the line does not parse."""
        if not line.strip():
            return None
        if self.raw:
            return line.rstrip("\r\n").encode("utf-8", "surrogateescape")
        event = self.parse(line)
        return encode_event(event) if event is not None else None


def _detected(sample: list[str], fmt: str | None) -> Detected:
    if not sample:
        return Detected((), (fmt or "ecs",))
    if fmt is None:
        return detect(sample)
    try:  # a given format is looked for inside wrappers too
        return detect(sample, (fmt,))
    except FormatUnknownError:
        return Detected((), (fmt,))  # every line not in it is then reported


def _lines(log: LogFile) -> tuple[list[str], Iterator[tuple[int, str]]]:
    """The file's first non-blank lines (to tell its format) and all its numbered lines."""
    numbered = enumerate(log.text, 1)
    head: list[tuple[int, str]] = []
    for number, line in numbered:
        head.append((number, line))
        if sum(1 for _, text in head if text.strip()) >= _SAMPLE:
            break

    def chained() -> Iterator[tuple[int, str]]:
        yield from head
        yield from numbered

    return [text for _, text in head if text.strip()], chained()


@dataclass
class _Run:
    """One ``ship`` run: where lines go, what has been reached, what happened."""

    state: _State
    sender: _Sender
    batch_lines: int
    err: Console
    progress: Progress
    logins: LoginPatterns
    totals: _Totals = field(default_factory=_Totals)

    def file(self, path: str, fmt: str | None) -> None:
        try:
            name, identity = _identity(path)
            log = LogFile(path)
        except OSError as exc:
            raise unreadable(path, exc) from None
        with log:
            target = _Target(path, name, identity, log.size)
            after = self.state.start(name, identity, log.size) if identity else 0
            sample, lines = _lines(log)
            try:
                reader = _Reader.of(sample, fmt, self.logins)
            except EventDecodeError as exc:
                raise click.ClickException(
                    f"{path}: {exc}; if it is one of them, name it with --format"
                ) from None
            if after:
                self.err.print(f"{safe(path)}: resuming after line {after:,}")
            task = self.progress.add_task(
                Path(path).name if path != "-" else "stdin", total=log.size
            )
            for number, line in lines:
                if number > after:
                    self.line(target, number, line, reader)
                if not number & 1023:
                    self.progress.update(task, completed=log.position())
            self.flush(target)
            self.progress.update(task, completed=log.size or log.position())
        self.totals.files += 1

    def line(self, target: _Target, number: int, line: str, reader: _Reader) -> None:
        try:
            payload = reader.payload(line)
        except EventDecodeError as exc:
            self.totals.skipped += 1
            self.report(target.path, number, exc.reason)
            payload = None
        batch = target.batch
        if batch.lines and (
            len(batch.lines) >= self.batch_lines
            or batch.size + len(payload or b"") + 1 > _MAX_BATCH_BYTES
        ):
            self.flush(target)
            batch = target.batch
        batch.last = number
        if payload is not None:
            batch.first = batch.first or number
            batch.numbers.append(number)
            batch.lines.append(payload)
            batch.size += len(payload) + 1

    def flush(self, target: _Target) -> None:
        """Send the file's batch; on success record its last line as reached."""
        batch, target.batch = target.batch, _Batch()
        if batch.lines:
            answer = self.sender.send(b"\n".join(batch.lines) + b"\n", target.key_for(batch))
            self.count(answer, target.path, batch)
        if target.identity and batch.last:
            self.state.save(target.name, target.identity, target.size, batch.last)

    def count(self, answer: dict[str, Any], path: str, batch: _Batch) -> None:
        self.totals.accepted += int(answer.get("accepted", 0))
        self.totals.duplicates += int(answer.get("duplicates", 0))
        for rejection in answer.get("rejected", []):
            self.totals.rejected += 1
            index = int(rejection.get("line", 0)) - 1
            number = batch.numbers[index] if 0 <= index < len(batch.numbers) else 0
            self.report(path, number, str(rejection.get("error", "")))

    def report(self, path: str, number: int, message: str) -> None:
        self.totals.shown += 1
        if self.totals.shown <= _SHOW_REJECTED:
            self.err.print(f"{safe(path)}:{number}: not stored: {safe(message)}")
        elif self.totals.shown == _SHOW_REJECTED + 1:
            self.err.print("... further lines not stored are counted, not shown")


@dataclass
class _Target:
    """The file being sent and its batch in the making."""

    path: str
    name: str
    identity: str
    size: int | None
    batch: _Batch = field(default_factory=_Batch)

    def key_for(self, batch: _Batch) -> str:
        """The batch's Idempotency-Key: the file's identity and the batch's line range, the
        same when a resumed run sends the same lines again (stdin: the batch's content)."""
        if self.identity:
            seed = f"{self.name}\x1f{self.identity}\x1f{batch.first}\x1f{batch.last}".encode(
                "utf-8", "surrogateescape"
            )
        else:
            seed = b"\n".join(batch.lines)
        return "ship-" + hashlib.sha256(seed).hexdigest()[:40]


@click.command()
@click.argument("files", nargs=-1, required=True)
@click.option(
    "--url",
    required=True,
    envvar="APIWATCH_URL",
    metavar="URL",
    help="The collector, e.g. https://collector:8470. Also APIWATCH_URL.",
)
@click.option(
    "--key",
    required=True,
    envvar="APIWATCH_KEY",
    metavar="SECRET",
    help="An ingest key. Also APIWATCH_KEY (better: not in the shell history).",
)
@ca_file_option
@log_format_option(
    "Log format; auto detects it per file from its first lines (as `apiwatch scan`)."
)
@login_path_option
@click.option(
    "--state",
    "state_file",
    default=".apiwatch-ship.json",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the line reached in each file is kept, to resume.",
)
@click.option("--restart", is_flag=True, help="Ignore the state file: send every file whole.")
@click.option(
    "--batch-lines",
    type=click.IntRange(1, _MAX_BATCH_LINES),
    default=5000,
    show_default=True,
    help="Lines per request.",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 100),
    default=5,
    show_default=True,
    help="Retries of a batch the collector could not take for now.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary on stderr.")
def ship(  # noqa: PLR0917 - one parameter per click option
    files: tuple[str, ...],
    url: str,
    key: str,
    verify: ssl.SSLContext | bool,
    fmt: str | None,
    logins: LoginPatterns,
    state_file: Path,
    restart: bool,
    batch_lines: int,
    retries: int,
    quiet: bool,
) -> None:
    """Send existing log FILES (plain or gzip, "-": stdin) to a collector, in batches, resuming
    where an earlier run stopped (see --state).

    ECS NDJSON (what the apiwatch sensor writes) is sent as written; any other format `apiwatch
    scan` reads (access and error logs, raw or in syslog, CRI or Docker JSON wrappers) is parsed
    into ECS events first, POSTs to login routes (--login-path) as login attempts. Lines the
    collector rejects or that do not parse are reported (file:line) and counted; the exit code is
    1 only when the run stops (the collector unreachable or refusing the key).
    """
    err = Console(
        stderr=True, highlight=False, emoji=False, markup=False, quiet=quiet, soft_wrap=True
    )
    state = _State(state_file)
    if restart:
        state.files = {}
    sender = _Sender(url, key, retries, timeout=60.0, verify=verify)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    show = not quiet and sys.stderr.isatty()
    try:
        with Progress(*columns, console=err, disable=not show, transient=True) as progress:
            run = _Run(state, sender, batch_lines, err, progress, logins)
            for path in files:
                run.file(path, fmt)
    finally:
        sender.close()
    t = run.totals
    err.print(
        f"shipped {plural(t.accepted, 'event')} from {plural(t.files, 'file')}: "
        f"{t.duplicates:,} already stored, {t.rejected:,} rejected, "
        f"{plural(t.skipped, 'unparsable line')} skipped"
    )
