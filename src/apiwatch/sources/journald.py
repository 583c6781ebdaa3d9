"""The systemd journal, read through ``journalctl -o json --follow``, resumed from a cursor.

`JournalReader` runs ``journalctl`` (``--unit`` for each of ``units``, ``--identifier`` for each
of ``identifiers`` (syslog tags), ``--namespace`` for a journal namespace, ``--directory`` for a
journal kept elsewhere) and decodes each entry's ``MESSAGE`` as ``scan`` decodes the
``MESSAGE`` of a journal export: an nginx line, an ECS JSON line, ... (`LineDecoder`, each entry
detected on its own when the first format refuses it). ``MESSAGE`` may be text or, for
non-UTF-8 data, an array of bytes (journalctl's documented JSON form); entries without one are
skipped.

Each entry's ``__CURSOR`` is its id (`stable_id`) and, once its events are stored, the saved
position (`Positions`): a restart passes ``--after-cursor``, so nothing is read twice or lost.
With no cursor yet, ``start_at`` says whether to read the journal from its start (``beginning``)
or only what comes next (``end``). When ``journalctl`` ends (it should not), its last stderr
line is logged and it is started again after a pause. It runs under util-linux's
``setpriv --pdeathsig TERM`` when that is there, so that it ends with the collector even when
the collector is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from apiwatch.model import Event, EventDecodeError
from apiwatch.sources._positions import Positions
from apiwatch.sources.config import SourceConfig
from apiwatch.sources.live import Delivery, LineDecoder, SourceStats, stable_id
from apiwatch.sources.logins import DEFAULT_LOGINS, LoginPatterns

__all__ = ["JournalReader", "journal_command", "journal_message"]

logger = logging.getLogger("apiwatch.sources.journald")

_decode = msgspec.json.Decoder()
_MAX_BATCH = 2000
_RESTART_PAUSE = 5.0


def journal_message(entry: dict[str, Any]) -> str | None:
    """The ``MESSAGE`` of one ``journalctl -o json`` entry as text (a byte array decoded as
    UTF-8 with ``surrogateescape``); None when it has none."""
    message = entry.get("MESSAGE")
    if isinstance(message, str):
        return message
    if isinstance(message, list) and all(isinstance(b, int) and 0 <= b < 256 for b in message):
        return bytes(message).decode("utf-8", "surrogateescape")
    return None


def journal_command(config: SourceConfig, cursor: str | None) -> list[str]:
    """The ``journalctl`` command line for ``config``, resuming after ``cursor``."""
    command = [config.journalctl, "--output=json", "--follow", "--no-pager", "--quiet"]
    if config.journal_directory:
        command.append(f"--directory={config.journal_directory}")
    if config.namespace:
        command.append(f"--namespace={config.namespace}")
    command += [f"--unit={unit}" for unit in config.units]
    command += [f"--identifier={name}" for name in config.identifiers]
    if cursor:
        command.append(f"--after-cursor={cursor}")
    else:
        command.append("--lines=all" if config.start_at == "beginning" else "--lines=0")
    return command


class JournalReader:
    """Follows the journal for one ``[[sources]]`` table (see the module docstring)."""

    def __init__(
        self,
        config: SourceConfig,
        *,
        stats: SourceStats,
        deliver: Callable[[Delivery], Awaitable[None]],
        positions: Positions | None,
        logins: LoginPatterns | None = DEFAULT_LOGINS,
    ) -> None:
        self.config = config
        self.stats = stats
        self.deliver = deliver
        self.positions = positions
        self.decoder = LineDecoder(config.format, logins=logins, redetect=True)
        saved = positions.load() if positions is not None else {}
        self.cursor: str | None = (
            saved.get("cursor") if isinstance(saved.get("cursor"), str) else None
        )
        self.last_error = ""

    async def run(self) -> None:
        """Read until cancelled, restarting ``journalctl`` if it ends."""
        while True:
            await self._run_once()
            logger.warning(
                "journald %s: journalctl ended (%s); starting it again in %g s",
                self.config.name,
                self.last_error or "no message",
                _RESTART_PAUSE,
            )
            await asyncio.sleep(_RESTART_PAUSE)

    async def _run_once(self) -> None:
        command = journal_command(self.config, self.cursor)
        setpriv = shutil.which("setpriv")
        if setpriv is not None:  # journalctl ends with the collector, even one SIGKILLed
            command = [setpriv, "--pdeathsig", "TERM", "--", *command]
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=1 << 22,
            )
        except OSError as exc:
            self.last_error = f"cannot run {command[0]}: {exc.strerror or exc}"
            return
        assert process.stdout is not None  # noqa: S101 - stdout=PIPE
        assert process.stderr is not None  # noqa: S101 - stderr=PIPE
        errors = asyncio.ensure_future(process.stderr.read())
        try:
            await self._follow(process.stdout)
        except (ValueError, asyncio.LimitOverrunError) as exc:  # a line past the read limit
            logger.warning("journald %s: %s", self.config.name, exc)
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
            await process.wait()
            text = (await errors).decode("utf-8", "replace").strip()
            self.last_error = text.splitlines()[-1] if text else f"exit {process.returncode}"

    async def _follow(self, stdout: asyncio.StreamReader) -> None:
        while True:
            line = await stdout.readline()
            if not line:
                return
            batch = [line]
            while len(batch) < _MAX_BATCH and _buffered(stdout):
                batch.append(await stdout.readline())
            await self._deliver(batch)

    async def _deliver(self, batch: list[bytes]) -> None:
        events, refused, cursor = self.decode(batch)
        self.stats.count(len(batch), events, refused)
        if cursor is not None:
            await self.deliver(Delivery(events, lambda: self._save(cursor), len(batch)))

    def decode(self, lines: list[bytes]) -> tuple[list[Event], int, str | None]:
        """The events of ``journalctl -o json`` lines, how many were refused, the last cursor."""
        events: list[Event] = []
        refused = 0
        cursor = None
        for line in lines:
            try:
                entry = _decode.decode(line)
            except msgspec.DecodeError:
                refused += 1
                continue
            if not isinstance(entry, dict):
                refused += 1
                continue
            entry_cursor = entry.get("__CURSOR")
            if isinstance(entry_cursor, str):
                cursor = entry_cursor
            message = journal_message(entry)
            if message is None or not message.strip():
                continue
            try:
                event = self.decoder(message)
            except EventDecodeError:
                refused += 1
                continue
            if event is not None:
                event.event.id = stable_id("journald", cursor or line.decode("utf-8", "replace"))
                events.append(event)
        return events, refused, cursor

    def _save(self, cursor: str) -> None:
        self.cursor = cursor
        if self.positions is not None:
            self.positions.save({"cursor": cursor})


def _buffered(stream: asyncio.StreamReader) -> bool:
    """Whether a whole line is already buffered (read without waiting)."""
    return b"\n" in getattr(stream, "_buffer", b"")
