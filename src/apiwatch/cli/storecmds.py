"""Commands on the store itself: verify, rotate-key, keygen, expire, events."""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.console import Console

from apiwatch.cli._common import (
    open_configured_store,
    settings_for,
    since_callback,
    store_options,
)
from apiwatch.model import plural, printable_json
from apiwatch.store import EventFilter, ReadRecord, VerifyReport, read_anchors
from apiwatch.store.crypto import generate_data_key

__all__ = ["events", "expire", "keygen", "rotate_key", "summary", "verify"]


@click.command()
@click.option("--anchor", "anchor_files", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Also check the signed heads in FILE (from `apiwatch anchor export` or the "
              "collector's anchor_file); repeatable.")  # fmt: skip
@store_options
def verify(anchor_files: tuple[Path, ...], config: str | None, db: str | None) -> None:
    """Check the hash chain, the signed checkpoints, the ledger over the other tables and any
    anchors; exit 1 naming the first problem."""
    anchors = [anchor for path in anchor_files for anchor in read_anchors(path)]
    store = open_configured_store(settings_for(config, db=db), announce=False)
    try:
        with Console(stderr=True).status("verifying the hash chain..."):
            report = store.verify(anchors)
    finally:
        store.close()
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    if not report.ok:
        click.echo(f"TAMPERED: {report.problem}", err=True)
        sys.exit(1)
    click.echo(summary(report))


def summary(report: VerifyReport) -> str:
    """One line saying what a successful verify proved (and nothing more)."""
    if not report.proven:
        records = plural(report.records, "record")
        return (f"no signed checkpoint: nothing proven ({records}; an empty store and one "
                "emptied by hand look alike without an anchor)")  # fmt: skip
    expired = report.expired_records
    return (
        f"intact: {plural(report.records, 'record')}, "
        f"{plural(report.checkpoints, 'signed checkpoint')}"
        + (f", {plural(report.ledger_entries, 'ledger entry', 'ledger entries')}"
           if report.ledger_entries else "")
        + (f", {plural(expired, 'earlier record')} expired by retention" if expired else "")
        + (f"; matches {plural(report.anchors, 'anchor')}" if report.anchors else "")
    )  # fmt: skip


@click.command("rotate-key")
@store_options
def rotate_key(config: str | None, db: str | None) -> None:
    """Make a new data key current and re-encrypt every stored event under it."""
    store = open_configured_store(settings_for(config, db=db))
    try:
        with Console(stderr=True).status("re-encrypting..."):
            done = store.rotate_key()
    finally:
        store.close()
    done_text = plural(done, "record")
    click.echo(f"data key {store.keyring.current} is current; {done_text} re-encrypted")


@click.command()
def keygen() -> None:
    """Print a new data key (base64, 256 bits) for APIWATCH_DATA_KEY or a secret manager."""
    click.echo(generate_data_key())


@click.command()
@click.option("--days", type=click.IntRange(min=1), required=True,
              help="Delete events older than this many days.")  # fmt: skip
@store_options
def expire(days: int, config: str | None, db: str | None) -> None:
    """Apply retention now; the remaining chain stays verifiable."""
    store = open_configured_store(settings_for(config, db=db))
    try:
        deleted = store.events.expire(datetime.now(UTC) - timedelta(days=days))
    finally:
        store.close()
    click.echo(f"expired {plural(deleted, 'record')} older than {plural(days, 'day')}")


@click.command()
@click.option("--since", callback=since_callback, metavar="TIME",
              help="Events at or after this time: 30m, 1h, 2d ago or ISO 8601 (UTC).")  # fmt: skip
@click.option("--until", callback=since_callback, metavar="TIME",
              help="Events before this time: 30m, 1h, 2d ago or ISO 8601 (UTC).")  # fmt: skip
@click.option("--ip", "source_ip", metavar="ADDRESS|CIDR",
              help="source.ip: an address, or a network such as 203.0.113.0/24.")  # fmt: skip
@click.option("--user", "user_name", metavar="NAME", help="user.name (exact).")
@click.option("--action", metavar="ACTION", help="event.action, e.g. authn_login_fail.")
@click.option("--outcome", type=click.Choice(["success", "failure", "unknown"]),
              help="event.outcome.")  # fmt: skip
@click.option("--path", "path_prefix", metavar="PREFIX",
              help="url.path starting with this, e.g. /orders/.")  # fmt: skip
@click.option("--status", type=click.IntRange(100, 599), metavar="CODE",
              help="http.response.status_code, e.g. 401.")  # fmt: skip
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True,
              help="At most this many events, in the order stored; a note on stderr "
              "says when more match.")  # fmt: skip
@store_options
def events(config: str | None, db: str | None, limit: int, **criteria: object) -> None:
    """Print stored events as ECS JSON lines (the read is recorded in the access audit)."""
    wanted = EventFilter(**criteria)  # type: ignore[arg-type]
    store = open_configured_store(settings_for(config, db=db))
    try:
        page = store.events.query(wanted, cursor=None, limit=limit)
        criteria_text = store.audit.describe_filter(wanted)
        store.audit.record(
            ReadRecord(datetime.now(UTC), f"cli:{_who()}", "events", criteria_text, len(page.lines))
        )
    finally:
        store.close()
    out = sys.stdout.buffer
    for line in page.lines:
        # A stored line is the sender's, whatever it holds: control, bidi and line-separator
        # characters are written as JSON escapes (the same JSON value), never raw to a terminal.
        out.write(printable_json(line.decode("utf-8", "replace")).encode() + b"\n")
    if page.next_cursor is not None:
        click.echo(f"note: more events match than the {plural(limit, 'event')} shown: raise "
                   "--limit or narrow the filter", err=True)  # fmt: skip


def _who() -> str:
    """The OS account running the command, for the read audit."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
