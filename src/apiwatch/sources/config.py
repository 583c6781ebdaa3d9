"""The ``[[sources]]`` tables of ``apiwatch.toml``: what the collector reads besides its API.

Each table is one live source, checked here into a frozen `SourceConfig`; an unknown key, a
missing one or a value that cannot work is a `ConfigError` naming the table and the key::

    [[sources]]
    name = "web"                        # unique; its events are stored under key "source:web"
    type = "file"                       # file | journald | syslog
    paths = ["/var/log/nginx/access.log*"]
    format = "nginx"                    # optional: detected per file as scan does
    silent_after = "15m"                # optional: the source-silent alarm

See docs/sources.md for every key of every type.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from apiwatch.model import ConfigError
from apiwatch.sources.formats import FORMATS

__all__ = ["KINDS", "PROTOCOLS", "SourceConfig", "parse_sources"]

KINDS = ("file", "journald", "syslog")
PROTOCOLS = ("udp", "tcp", "tls")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_REQUIRED = {"file": ("paths",), "journald": (), "syslog": ("listen",)}
_ONLY = {
    "paths": "file",
    "units": "journald",
    "identifiers": "journald",
    "namespace": "journald",
    "journalctl": "journald",
    "journal_directory": "journald",
    "listen": "syslog",
    "protocol": "syslog",
    "tls_cert": "syslog",
    "tls_key": "syslog",
}


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One live source (see the module docstring and docs/sources.md)."""

    name: str
    type: str
    paths: tuple[str, ...] = ()
    format: str | None = None
    start_at: str = "beginning"
    login_paths: tuple[str, ...] = ()
    silent_after: float | None = None
    poll_interval: float = 0.25
    units: tuple[str, ...] = ()
    identifiers: tuple[str, ...] = ()
    namespace: str | None = None
    journalctl: str = "journalctl"
    journal_directory: str | None = None
    listen: str = ""
    protocol: str = "udp"
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def key_name(self) -> str:
        """The sender name its events are stored under (``apiwatch status`` lists it)."""
        return f"source:{self.name}"

    def address(self) -> tuple[str, int]:
        """``listen`` as (host, port); ``[::1]:514`` for IPv6."""
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)


_FIELDS = {f.name: f for f in fields(SourceConfig)}


def parse_sources(tables: Sequence[Any], where: str) -> tuple[SourceConfig, ...]:
    """The ``[[sources]]`` array as checked configs; `ConfigError` naming what is wrong."""
    if not isinstance(tables, list | tuple):
        raise ConfigError(f"{where}: sources must be an array of tables ([[sources]])")
    parsed = tuple(_parse(table, f"{where}: [[sources]] #{i}") for i, table in enumerate(tables, 1))
    names = [source.name for source in parsed]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError(f"{where}: [[sources]]: the name {twice[0]!r} is used more than once")
    return parsed


def _parse(table: Any, where: str) -> SourceConfig:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table")
    unknown = sorted(set(table) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(_FIELDS)})")
    kind = table.get("type")
    if kind not in KINDS:
        raise ConfigError(f"{where}: type must be one of {', '.join(KINDS)}, not {kind!r}")
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: name must be 1-63 letters, digits, '.', '_' or '-'")
    where = f"{where} ({name})"
    for key in table:
        if _ONLY.get(key, kind) != kind:
            raise ConfigError(f"{where}: {key} is for type {_ONLY[key]} sources, not {kind}")
    for key in _REQUIRED[kind]:
        if not table.get(key):
            raise ConfigError(f"{where}: a {kind} source needs {key}")
    values = {key: _value(key, value, where) for key, value in table.items()}
    config = SourceConfig(**values)
    _check(config, where)
    return config


def _value(key: str, value: Any, where: str) -> Any:
    kind = str(_FIELDS[key].type)
    if kind.startswith("tuple"):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{where}: {key} must be a list of strings")
        return tuple(value)
    if "float" in kind:
        return _seconds(key, value, where)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string, not {value!r}")
    return value


def _seconds(key: str, value: Any, where: str) -> float:
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        try:
            seconds = float(text[:-1]) * units[text[-1]] if text[-1:] in units else float(text)
        except ValueError:
            seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{where}: {key} must be a duration such as 30s or 15m, not {value!r}")
    return seconds


def _check(config: SourceConfig, where: str) -> None:
    if config.format is not None and config.format not in FORMATS:
        raise ConfigError(f"{where}: format must be one of {', '.join(FORMATS)}")
    if config.start_at not in ("beginning", "end"):
        raise ConfigError(f"{where}: start_at must be beginning or end")
    if config.type != "syslog":
        return
    if config.protocol not in PROTOCOLS:
        raise ConfigError(f"{where}: protocol must be one of {', '.join(PROTOCOLS)}")
    try:
        port = config.address()[1]
    except ValueError:
        raise ConfigError(f"{where}: listen must be host:port, not {config.listen!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{where}: listen: port {port} is out of range")
    if (config.protocol == "tls") != bool(config.tls_cert and config.tls_key):
        raise ConfigError(f"{where}: protocol tls goes with tls_cert and tls_key (and only it)")
