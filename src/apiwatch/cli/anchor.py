"""``apiwatch anchor export`` and ``apiwatch move-signing-key``: tamper evidence that does not
rest on the files beside the store (see `apiwatch.store._anchor`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from apiwatch.cli._common import (
    open_configured_store,
    settings_for,
    signing_key_file_of,
    store_options,
)
from apiwatch.model import ConfigError
from apiwatch.store import Keyring

__all__ = ["anchor", "move_signing_key"]


@click.group()
def anchor() -> None:
    """Signed heads of the store, to keep elsewhere and check with `verify --anchor`."""


@anchor.command("export")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Append the anchor to FILE instead of printing it.")  # fmt: skip
@store_options
def export(out: Path | None, config: str | None, db: str | None) -> None:
    """Verify the store, then print its newest signed heads as one line (an anchor).

    Keep it where whoever can edit the store cannot (another machine, a ticket, paper): a later
    `apiwatch verify --anchor FILE` then fails if history up to it was rewritten — even with the
    signing key — or the store was truncated, rolled back or emptied.
    """
    store = open_configured_store(settings_for(config, db=db), announce=False)
    try:
        report = store.verify()
        latest = store.latest_heads()
    finally:
        store.close()
    if not report.ok:
        click.echo(f"TAMPERED: {report.problem} (nothing exported)", err=True)
        sys.exit(1)
    if latest.events is None and latest.ledger is None:
        raise ConfigError("nothing to anchor yet: the store has no signed checkpoint")
    line = latest.to_line() + "\n"
    if out is None:
        click.echo(line, nl=False)
        return
    try:
        fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as handle:
            handle.write(line)
    except OSError as exc:
        raise ConfigError(f"anchor {out}: cannot append ({exc.strerror or exc})") from None
    click.echo(f"anchor appended to {out}", err=True)


@click.command("move-signing-key")
@click.option(
    "--to",
    "target",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Where to keep it (default: signing_key_file, else under $APIWATCH_HOME).",
)
@store_options
def move_signing_key(target: Path | None, config: str | None, db: str | None) -> None:
    """Move the signing key out of an old key file that holds it (beside the store) into a file
    of its own, owner-only; the key file keeps the public key."""
    settings = settings_for(config, db=db)
    store = open_configured_store(settings, announce=False)
    keyring: Keyring = store.keyring
    store.close()
    destination = target or signing_key_file_of(settings)
    keyring.move_signing_key(destination)
    click.echo(f"the signing key is now in {destination} (owner-only); keep it off the data "
               "volume and back it up" + ("" if target is None else
               "; set signing_key_file (or APIWATCH_SIGNING_KEY_FILE) to it"))  # fmt: skip
