"""Options and helpers every store command shares."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from apiwatch.cli._config import Settings, load_settings
from apiwatch.store import SqlStore, default_key_file, open_store

__all__ = ["open_configured_store", "store_options"]

F = TypeVar("F", bound=Callable[..., Any])


def store_options(function: F) -> F:
    """``--config`` and ``--db`` (which also reads ``APIWATCH_DB``)."""
    function = click.option(
        "--db",
        metavar="URL",
        help="Store URL: sqlite:///path.db (default sqlite:///./apiwatch.db) or "
        "postgresql://user@host/db. Also APIWATCH_DB.",
    )(function)
    return click.option(
        "--config",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        help="Settings file (default ./apiwatch.toml when present).",
    )(function)


def open_configured_store(
    settings: Settings, *, announce: bool = True, create: bool = False
) -> SqlStore:
    """Open the configured store; say once when its key file had to be created.

    Only ``create`` makes a missing store (and its keys): commands that just use one get a
    `ConfigError` instead of a new, empty store in the wrong place.
    """
    key_file = Path(settings.key_file) if settings.key_file else default_key_file(settings.db)
    store = open_store(settings.db, key_file=key_file, create=create)
    if announce and store.keyring.created:
        click.echo(
            f"apiwatch: created the data and signing keys in {key_file} (owner-only); "
            "back this file up: without it the stored events cannot be read or verified.",
            err=True,
        )
    return store


def settings_for(config: str | None, **flags: Any) -> Settings:
    return load_settings(config, **flags)
