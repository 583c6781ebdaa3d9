"""What the reading commands (incidents, alerts, explain, status, decisions) share: the store
opened for one command, who is reading (for the read audit), every page of a query, and the
one-line text of a time.

Everything printed from the store came from events (account names, user agents, titles quoting
them): it goes through `apiwatch.model.printable_text` (and rich's `escape` in markup) first.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
import msgspec

from apiwatch.cli._common import open_configured_store, settings_for
from apiwatch.cli._tables import console
from apiwatch.model import ApiwatchError
from apiwatch.model.alert import Alert, Incident
from apiwatch.store import DetectionFilter, DetectionPage, SqlStore

__all__ = [
    "all_detections",
    "complete",
    "console",
    "echo_json",
    "moment",
    "opened",
    "who",
]

Record = TypeVar("Record", Alert, Incident)


@contextmanager
def opened(config: str | None, db: str | None) -> Iterator[SqlStore]:
    """The configured store (which must exist); its errors as one clear line."""
    try:
        store = open_configured_store(settings_for(config, db=db))
    except ApiwatchError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield store
    except ApiwatchError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


def who() -> str:
    """The OS account running the command, for the log and the read audit."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def moment(value: datetime) -> str:
    """A time as ``2026-03-01T12:00:00Z``."""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def all_detections(
    read: Callable[..., DetectionPage[Record]], criteria: DetectionFilter, limit: int | None
) -> list[Record]:
    """Up to ``limit`` (None: all) records of ``read`` (`SqlDetectionStore.alerts` or `.incidents`)
    matching ``criteria``, the most recently seen ones, oldest first."""
    found: list[Record] = []
    cursor: str | None = None
    while True:
        page = read(criteria, cursor=cursor, limit=1000)
        found += page.items
        if limit is not None and len(found) > limit:
            found = found[-limit:]  # bounded memory: only the newest ``limit`` are kept
        if (cursor := page.next_cursor) is None:
            return found


def complete(record: msgspec.Struct) -> dict[str, Any]:
    """A record as JSON-ready builtins with every field present (defaults included)."""
    data: dict[str, Any] = msgspec.to_builtins(record)
    for field in msgspec.structs.fields(record):
        data.setdefault(field.encode_name, msgspec.to_builtins(getattr(record, field.name)))
    return data


def echo_json(value: object) -> None:
    """``value`` as indented JSON on stdout; non-ASCII escaped, so no control or bidi character
    of an event's text reaches the terminal raw."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=True))
