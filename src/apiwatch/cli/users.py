"""``apiwatch users``: the web console's local users (passwords stored as argon2 hashes)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import click
from rich.console import Console
from rich.table import Table

from apiwatch.cli._common import open_configured_store, settings_for, store_options
from apiwatch.model import ConfigError
from apiwatch.store import ROLES, ConsoleUser

__all__ = ["users"]

_PASSWORD_ENV = "APIWATCH_CONSOLE_PASSWORD"  # noqa: S105 - a variable name, not a secret


@click.group()
def users() -> None:
    """Add, list, delete console users and change their passwords.

    Roles: viewer (reads everything but the audit log), analyst (also acts on incidents and
    decisions), admin (also the allowlist and the audit log).
    """


def _password(prompt: bool) -> str:
    """The password from $APIWATCH_CONSOLE_PASSWORD, else asked twice (never an argument:
    arguments show in the process list and the shell history)."""
    from_env = os.environ.get(_PASSWORD_ENV)
    if from_env:
        return from_env
    if not prompt:
        raise click.ClickException(f"give the password in {_PASSWORD_ENV} or on a terminal")
    return str(click.prompt("password", hide_input=True, confirmation_prompt=True))


def _hash(password: str) -> str:
    from apiwatch.server.console._passwords import hash_password  # noqa: PLC0415 - server extra

    try:
        return hash_password(password)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise click.BadParameter("a user name of 1 to 100 printable characters", param_hint="NAME")
    return name


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="viewer, analyst or admin.")  # fmt: skip
@store_options
def add(name: str, role: str, config: str | None, db: str | None) -> None:
    """Add the user NAME; the password is read from $APIWATCH_CONSOLE_PASSWORD or asked for
    (at least 12 characters)."""
    name = _name(name)
    password_hash = _hash(_password(prompt=True))
    store = open_configured_store(settings_for(config, db=db), create=True)
    try:
        store.console.add_user(ConsoleUser(name, role, password_hash, datetime.now(UTC)))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(f"added console user {name} with role {role}")


@users.command("list")
@store_options
def list_users(config: str | None, db: str | None) -> None:
    """List the users and their roles (never their password hashes)."""
    store = open_configured_store(settings_for(config, db=db))
    try:
        found = store.console.users()
    finally:
        store.close()
    table = Table("name", "role", "created")
    for user in found:
        table.add_row(user.name, user.role, user.created_at.isoformat(timespec="seconds"))
    Console(markup=False).print(table)


@users.command("delete")
@click.argument("name")
@store_options
def delete(name: str, config: str | None, db: str | None) -> None:
    """Delete the user NAME (its sessions end at once)."""
    store = open_configured_store(settings_for(config, db=db))
    try:
        done = store.console.delete_user(name)
    finally:
        store.close()
    if not done:
        raise click.ClickException(f"no console user called {name!r}")
    click.echo(f"deleted console user {name}")


@users.command("passwd")
@click.argument("name")
@store_options
def passwd(name: str, config: str | None, db: str | None) -> None:
    """Set a new password for NAME ($APIWATCH_CONSOLE_PASSWORD or asked); its sessions end."""
    password_hash = _hash(_password(prompt=True))
    store = open_configured_store(settings_for(config, db=db))
    try:
        done = store.console.set_password(name, password_hash)
    finally:
        store.close()
    if not done:
        raise click.ClickException(f"no console user called {name!r}")
    click.echo(f"changed the password of console user {name}")
