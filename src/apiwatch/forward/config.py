"""``[[forward]]`` tables of ``apiwatch.toml``: where the collector forwards what it stores.

Each table names a forwarder (``name``, unique; its cursor is saved under it), its ``type``
and ``kinds`` (any of ``events``, ``alerts``, ``incidents``; all three by default), plus the
options of its type (`OPTIONS`). Secrets are never written in the file: ``*_env`` options name
the environment variable that holds them. An unknown type or option, a value of the wrong type
or a secret variable not set is a `ConfigError` naming the forwarder and the option.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from apiwatch.forward._records import KINDS
from apiwatch.model import ConfigError

__all__ = ["OPTIONS", "ForwardTarget", "parse_forward"]

_COMMON: Final = {"name": str, "type": str, "kinds": list, "batch": int}
_TLS: Final = {"ca_file": str, "timeout": float}
OPTIONS: Final[Mapping[str, Mapping[str, type]]] = {
    "elasticsearch": {
        "url": str,
        "index": str,
        "alerts_index": str,
        "incidents_index": str,
        "template": bool,
        "username": str,
        "password_env": str,
        "api_key_env": str,
        **_TLS,
    },
    "splunk": {"url": str, "token_env": str, "index": str, "source": str, "host": str, **_TLS},
    "syslog": {
        "host": str,
        "port": int,
        "protocol": str,
        "format": str,
        "facility": str,
        "hostname": str,
        **_TLS,
    },
    "otlp": {"url": str, "headers_env": str, **_TLS},
    "file": {"path": str, "max_bytes": int, "keep": int},
}
"""The options of each forwarder type (besides ``name``, ``type``, ``kinds``, ``batch``)."""
_ALIASES: Final = {"opensearch": "elasticsearch", "ndjson": "file"}
_REQUIRED: Final = {
    "elasticsearch": ("url",),
    "splunk": ("url", "token_env"),
    "syslog": ("host",),
    "otlp": ("url",),
    "file": ("path",),
}


@dataclass(frozen=True)
class ForwardTarget:
    """One checked ``[[forward]]`` table; ``secrets`` holds the values of its ``*_env``
    options (read from the environment when parsed), keyed by the option's name."""

    name: str
    type: str
    kinds: tuple[str, ...] = KINDS
    batch: int = 1000
    options: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)


def _typed(where: str, key: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}.{key}: must be a {kind.__name__}, not {value!r}")
    return value


def _kinds(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(v in KINDS for v in value):
        raise ConfigError(f"{where}.kinds: a non-empty list of {', '.join(KINDS)}, not {value!r}")
    return tuple(kind for kind in KINDS if kind in value)


def _one(table: Any, index: int, environ: Mapping[str, str]) -> ForwardTarget:
    where = f"forward[{index}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: each [[forward]] must be a table")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise ConfigError(f"{where}.name: give each forwarder a name (1 to 100 characters)")
    where = f"forward.{name}"
    given = table.get("type")
    kind = _ALIASES.get(str(given), str(given))
    if kind not in OPTIONS:
        known = ", ".join([*OPTIONS, *_ALIASES])
        raise ConfigError(f"{where}.type: one of {known}, not {given!r}")
    allowed = {**_COMMON, **OPTIONS[kind]}
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown option {', '.join(unknown)} for type {kind}")
    options = {k: _typed(where, k, v, allowed[k]) for k, v in table.items() if k not in _COMMON}
    if "@" in urlsplit(str(options.get("url", ""))).netloc:
        raise ConfigError(f"{where}.url: no credentials in the URL; use the *_env options")
    for required in _REQUIRED[kind]:
        if required not in options:
            raise ConfigError(f"{where}.{required}: required for type {kind}")
    batch = _typed(where, "batch", table.get("batch", 1000), int)
    if not 1 <= batch <= 10_000:
        raise ConfigError(f"{where}.batch: from 1 to 10000, not {batch}")
    kinds = _kinds(where, table["kinds"]) if "kinds" in table else KINDS
    return ForwardTarget(name, kind, kinds, batch, options, _secrets(where, options, environ))


def _secrets(where: str, options: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    secrets = {}
    for key, variable in options.items():
        if key.endswith("_env"):
            if variable not in environ:
                raise ConfigError(f"{where}.{key}: environment variable {variable} is not set")
            secrets[key[: -len("_env")]] = environ[variable]
    return secrets


def parse_forward(
    tables: Sequence[Any], *, environ: Mapping[str, str] | None = None
) -> tuple[ForwardTarget, ...]:
    """The checked forwarders of ``[[forward]]`` (see the module docstring)."""
    env = os.environ if environ is None else environ
    targets = tuple(_one(table, index, env) for index, table in enumerate(tables))
    names = [target.name for target in targets]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"forward.{name}: two forwarders have this name")
    return targets
