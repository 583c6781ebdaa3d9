"""Options and helpers every store command shares."""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import click

from apiwatch.cli._config import Settings, load_settings
from apiwatch.model import ConfigError
from apiwatch.sources import DEFAULT_LOGINS, FORMATS, LoginPatterns
from apiwatch.store import SqlStore, default_key_file, default_signing_key_file, open_store

__all__ = [
    "ca_file_option",
    "discard_new_store",
    "key_file_of",
    "log_format_option",
    "login_path_option",
    "login_patterns_of",
    "open_configured_store",
    "parse_since",
    "password_of",
    "settings_for",
    "signing_key_file_of",
    "since_callback",
    "store_options",
    "unreadable",
    "without_password",
]

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


def _trust(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> ssl.SSLContext | bool:
    if value is None:
        return True  # the system's CAs (certifi's, or $SSL_CERT_FILE)
    try:
        return ssl.create_default_context(cafile=value)
    except (OSError, ssl.SSLError) as exc:
        raise click.BadParameter(f"cannot load {value}: {exc}", param_hint="--ca-file") from None


def ca_file_option(function: F) -> F:
    """``--ca-file FILE``, given to the command as ``verify``: what https connections to the
    collector trust (an `ssl.SSLContext` with only that bundle's CAs, or True: the system's)."""
    return click.option(
        "--ca-file",
        "verify",
        metavar="FILE",
        type=click.Path(exists=True, dir_okay=False),
        callback=_trust,
        help="Trust only this PEM CA bundle for an https collector (a private CA).",
    )(function)


def _detect_when_auto(_ctx: click.Context, _param: click.Parameter, value: str) -> str | None:
    return None if value == "auto" else value


def log_format_option(help_text: str) -> Callable[[F], F]:
    """``--format NAME|auto`` (default auto), given to the command as ``fmt``: one of `FORMATS`,
    or None for auto (each file's format detected from its first lines)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["auto", *FORMATS]),
        default="auto",
        show_default=True,
        callback=_detect_when_auto,
        help=help_text,
    )


def login_patterns_of(paths: tuple[str, ...]) -> LoginPatterns:
    """The `LoginPatterns` of ``--login-path`` regexes (`DEFAULT_LOGINS` for none);
    `click.BadParameter` naming ``--login-path`` for a bad one."""
    if not paths:
        return DEFAULT_LOGINS
    try:
        return LoginPatterns.from_strings(paths)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--login-path") from None


def _login_patterns(
    _ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]
) -> LoginPatterns:
    return login_patterns_of(value)


def login_path_option(function: F) -> F:
    """``--login-path REGEX`` (repeatable), given to the command as ``logins``: the
    `LoginPatterns` access-log lines are read with (`DEFAULT_LOGINS` when not given)."""
    return click.option(
        "--login-path",
        "logins",
        multiple=True,
        metavar="REGEX",
        callback=_login_patterns,
        help="Access logs: a path regex of login routes, whose POSTs are login attempts "
        "(repeatable; replaces the defaults: …/login, …/signin, …/session, …/token).",
    )(function)


def unreadable(path: str, exc: OSError) -> click.ClickException:
    """The one line (exit 1) for an input file ``path`` that cannot be opened or read."""
    return click.ClickException(f"cannot read {path}: {exc.strerror or exc}")


def open_configured_store(
    settings: Settings, *, announce: bool = True, create: bool = False, anchor: bool = False
) -> SqlStore:
    """Open the configured store; say once when its keys had to be created, and every time
    when its signing key still sits inside the key file.

    Only ``create`` makes a missing store (and its keys): commands that just use one get a
    `ConfigError` instead of a new, empty store in the wrong place. ``anchor`` appends signed
    heads to the configured ``anchor_file`` (the collector).
    """
    key_file = key_file_of(settings)
    store = open_store(
        settings.db,
        key_file=key_file,
        signing_key_file=signing_key_file_of(settings),
        anchor_file=Path(settings.anchor_file) if anchor and settings.anchor_file else None,
        create=create,
    )
    keyring = store.keyring
    if announce and keyring.created:
        click.echo(
            f"apiwatch: created the data and signing keys: data keys in {key_file}, signing key "
            f"in {keyring.signing_path} (owner-only); back both up: without the key file the "
            "stored events cannot be read, without the signing key nothing more can be stored.",
            err=True,
        )
    if keyring.signing_inline:
        click.echo(
            f"apiwatch: warning: the signing key is inside {key_file}: whoever can read it and "
            "edit the database can rewrite history unnoticed; `apiwatch move-signing-key` "
            "moves it apart.",
            err=True,
        )
    return store


def without_password(url: str) -> str:
    """``url`` without the password it may hold (``user:pass@``, ``?password=``): what may be
    printed, logged or put on a command line other users can list."""
    parts = urlsplit(url)
    if not parts.netloc and not parts.query:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        credentials, _, location = netloc.rpartition("@")
        netloc = f"{credentials.split(':', 1)[0]}@{location}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))


def password_of(url: str) -> str | None:
    """The password ``url`` holds (``user:pass@`` or ``?password=``), or None."""
    parts = urlsplit(url)
    if parts.password is not None:
        return parts.password
    return dict(parse_qsl(parts.query)).get("password")


def key_file_of(settings: Settings) -> Path:
    return Path(settings.key_file) if settings.key_file else default_key_file(settings.db)


def signing_key_file_of(settings: Settings) -> Path:
    if settings.signing_key_file:
        return Path(settings.signing_key_file)
    return default_signing_key_file(key_file_of(settings))


def settings_for(config: str | None, **flags: Any) -> Settings:
    return load_settings(config, **flags)


_RELATIVE = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNIT_SECONDS = (604800, 86400, 3600, 60, 1)


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """A moment given as a time ago (``30m``, ``1h``, ``2d``, ``1h30m``, ``1w``) or as ISO 8601
    (``2026-03-01``, ``2026-03-01T12:00:00+01:00``; without an offset: UTC); aware, in UTC.

    `click.BadParameter` (one line, naming both accepted forms) for anything else; usable as a
    click option callback through `since_callback`.
    """
    value = text.strip()
    match = _RELATIVE.fullmatch(value.lower())
    if value and match is not None:
        seconds = sum(
            int(n or 0) * unit for n, unit in zip(match.groups(), _UNIT_SECONDS, strict=True)
        )
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a time ago (30m, 1h, 2d, 1h30m) nor an ISO 8601 time"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def since_callback(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> datetime | None:
    """`parse_since` for a click option (None stays None)."""
    return None if value is None else parse_since(value)


def discard_new_store(store: SqlStore, url: str) -> None:
    """Remove a closed store that was created just now, with the keys made for it (a failed
    start leaves nothing behind). A store whose keys already existed is left alone; for
    PostgreSQL only the key files go (the tables stay, empty)."""
    keyring = store.keyring
    if not keyring.created:
        return
    if url.startswith("sqlite:") and isinstance(getattr(store, "path", None), Path):
        path: Path = store.path  # type: ignore[attr-defined]
        for suffix in ("", "-wal", "-shm", "-journal"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    if keyring.path is not None:
        keyring.path.unlink(missing_ok=True)
    if keyring.created_signing and keyring.signing_path is not None:
        keyring.signing_path.unlink(missing_ok=True)
