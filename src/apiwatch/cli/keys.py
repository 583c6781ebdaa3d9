"""``apiwatch keys``: API keys for senders, readers, bouncers and admins."""

from __future__ import annotations

import click
from rich.table import Table

from apiwatch.cli._common import open_configured_store, settings_for, store_options
from apiwatch.cli._tables import console, print_table
from apiwatch.store import SCOPES, ApiKey

__all__ = ["keys"]


@click.group()
def keys() -> None:
    """Create, list and revoke API keys (stored only as hashes)."""


@keys.command("create")
@click.option("--name", required=True, help="A name for the key, e.g. api-1.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(SCOPES),
    help="What the key may do; repeat for several (ingest, read, bouncer, admin).",
)
@click.option("--service", "services", multiple=True, metavar="NAME",
              help="Bind the key: it may send events only with this service.name "
              "(repeatable).")  # fmt: skip
@click.option("--network", "networks", multiple=True, metavar="CIDR",
              help="Bind the key: it may send events only with a source.ip in this network, "
              "e.g. 10.0.0.0/8 (repeatable).")  # fmt: skip
@store_options
def create(
    *,
    name: str,
    scopes: tuple[str, ...],
    services: tuple[str, ...],
    networks: tuple[str, ...],
    config: str | None,
    db: str | None,
) -> None:
    """Create a key and print it once: it is the last word of the output.

    A key that sends events can get addresses banned (see docs/security.md): bind it with
    --service (and --network) to what it reports for, and the collector rejects its other lines.
    """
    store = open_configured_store(settings_for(config, db=db), create=True)
    try:
        key, secret = store.keys.create(name, scopes, services=services, networks=networks)
    finally:
        store.close()
    if key.allows("ingest") and not key.services:
        click.echo(f"note: key {key.name} may report events for any service, and so get any "
                   "address banned; bind it with --service NAME (and --network CIDR)",
                   err=True)  # fmt: skip
    click.echo(f"created key {key.name} ({key.id}) with scope {','.join(sorted(key.scopes))}"
               f"{_binding(key)}; it is shown only now: {secret}")  # fmt: skip


def _binding(key: ApiKey) -> str:
    """`` for services a, b from networks n`` for a bound key; empty for an unbound one."""
    out = f" for services {', '.join(sorted(key.services))}" if key.services else ""
    return out + (f" from networks {', '.join(key.networks)}" if key.networks else "")


@keys.command("list")
@store_options
def list_keys(config: str | None, db: str | None) -> None:
    """List keys (never their secrets)."""
    store = open_configured_store(settings_for(config, db=db))
    try:
        records = store.keys.all()
    finally:
        store.close()
    table = Table("name", "id", "scopes", "services", "networks", "created", "revoked")
    for key in records:
        table.add_row(
            key.name,
            key.id,
            ",".join(sorted(key.scopes)),
            ",".join(sorted(key.services)),
            ",".join(key.networks),
            key.created_at.isoformat(timespec="seconds"),
            key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "",
        )
    print_table(console(markup=False), table,
                empty="no keys: `apiwatch keys create` makes one")  # fmt: skip


@keys.command("revoke")
@click.argument("name")
@store_options
def revoke(name: str, config: str | None, db: str | None) -> None:
    """Revoke the key called NAME (or with that id).

    It stops working within a few seconds (the collector caches verified keys for 5 s).
    """
    store = open_configured_store(settings_for(config, db=db))
    try:
        done = store.keys.revoke(name)
    finally:
        store.close()
    if not done:
        raise click.ClickException(f"no active key called {name!r}")
    click.echo(f"revoked key {name}")
