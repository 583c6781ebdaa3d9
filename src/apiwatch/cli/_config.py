"""``apiwatch.toml``, ``APIWATCH_*`` environment variables and CLI flags, in that order of power.

Every setting has a default that runs everything embedded; a file adds to it, an environment
variable overrides the file, a flag overrides both. An unknown key in the file is an error naming
the file and the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import ipaddress
import math
import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apiwatch.model import ConfigError
from apiwatch.store import DEFAULT_DB

if TYPE_CHECKING:
    from apiwatch.detect import SyntheticTraffic

__all__ = ["Settings", "load_settings", "synthetic_traffic"]


@dataclass(frozen=True)
class Settings:
    """Everything the commands need; see the README's configuration table."""

    db: str = DEFAULT_DB
    key_file: str | None = None
    #: The checkpoint-signing private key, apart from the store (default under $APIWATCH_HOME).
    signing_key_file: str | None = None
    #: A file (ideally on another machine) the collector appends signed heads to.
    anchor_file: str | None = None
    host: str = "127.0.0.1"
    port: int = 8470
    tls_cert: str | None = None
    tls_key: str | None = None
    retention_days: int | None = None
    max_body_bytes: int = 10 * 1024 * 1024
    log_level: str = "info"
    #: Live detection in the collector: on by default.
    detect: bool = True
    #: Extra rule directories or files, loaded together with the built-in pack.
    rules: tuple[str, ...] = ()
    #: Also run the optional SigmaHQ web server pack.
    sigmahq: bool = False
    #: MaxMind-format databases (.mmdb: country or city, and ASN) for detection's GeoIP.
    geoip: tuple[str, ...] = ()
    #: Synthetic traffic, never an attack: uptime monitors (by account or user agent, and by
    #: network when given), test accounts, load-test networks. Patterns may hold ``*``.
    monitor_accounts: tuple[str, ...] = ()
    monitor_agents: tuple[str, ...] = ()
    monitor_networks: tuple[str, ...] = ()
    test_accounts: tuple[str, ...] = ()
    loadtest_networks: tuple[str, ...] = ()
    #: The ``[placeholders]`` table: values of Sigma ``expand`` placeholders (file only).
    placeholders: dict[str, Any] | None = None
    #: Seconds of event time events may arrive out of order (or a duration: 2s, 1m).
    lateness: float = 2.0
    #: Ingest rejects events dated more than this ahead of the collector's clock (5 min).
    future_skew: float = 300.0
    #: Ingest rejects events older than this (ten years); younger ones are stored (backfill).
    max_event_age: float = 3650 * 86400.0
    #: Live detection skips stored events this far behind the newest it has seen (1 h).
    detect_max_lag: float = 3600.0
    #: The ``[respond]`` table as written (policies, allowlist, notifiers); file only.
    respond: dict[str, Any] | None = None
    #: Decide and notify, but serve and export nothing ("would ban ..."); overrides the file's.
    dry_run: bool | None = None
    #: Files the active bans are exported to (nginx include, nftables set, ipset restore).
    export_nginx: str | None = None
    export_nftables: str | None = None
    export_ipset: str | None = None
    #: Ingest requests reading their bodies at once, and how many of them one key may hold
    #: (None: half, at least one).
    max_concurrent_ingest: int = 8
    max_ingest_per_key: int | None = None
    #: Seconds a body may stop arriving, and may take in all, before it is answered 408.
    body_read_timeout: float = 10.0
    body_total_timeout: float = 120.0
    #: Proxies whose X-Forwarded-For / X-Forwarded-Proto the collector believes (comma-separated
    #: addresses or networks, or *); None: none, the client is the peer of the connection.
    forwarded_allow_ips: str | None = None
    #: The ``[[forward]]`` tables as written (forwarders to SIEMs); file only.
    forward: list[dict[str, Any]] | None = None
    #: The ``[[sources]]`` tables (live files, journald, syslog), checked; file only.
    sources: tuple[Any, ...] = ()
    #: Where live sources keep their positions (default: beside the store's key file).
    sources_state_dir: str | None = None
    #: Scale-out: the NATS JetStream bus the roles share (``nats://host:4222``; PostgreSQL only).
    bus: str | None = None
    #: The JetStream stream on the bus (letters, digits, _ and -).
    bus_stream: str = "APIWATCH_EVENTS"
    #: What ``apiwatch serve`` runs: all (embedded, no bus), or one scale-out role.
    role: str = "all"
    #: Which detect shard this process is, ``I/M`` (docs/scaling.md); 1/1: unsharded.
    detect_shard: str = "1/1"
    #: Seconds of the stream a detect role feeds again when it starts (its engines' state).
    detect_replay: float = 10800.0


_TYPES = {f.name: f.type for f in fields(Settings)}
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
#: Inclusive bounds of the whole-number settings that have them.
_RANGES = {
    "retention_days": (1, None),
    "port": (0, 65535),
    "max_body_bytes": (1, None),
    "max_concurrent_ingest": (1, None),
    "max_ingest_per_key": (1, None),
}
ROLES = ("all", "ingest", "writer", "detect")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


_TABLES = frozenset({"respond", "placeholders", "sources"})
"""Settings that are whole TOML tables (or, for ``[[sources]]``, arrays of tables), file only,
checked by their own parser (``[respond]`` when the collector starts, ``[[sources]]`` here)."""
_ARRAYS = frozenset({"forward"})
"""Settings that are arrays of TOML tables (``[[forward]]``), kept as written likewise."""
_WORDS = frozenset(
    {"monitor_accounts", "monitor_agents", "monitor_networks", "test_accounts", "loadtest_networks"}
)
"""Settings that are lists of names, patterns or networks: a TOML array, or (from the
environment or a flag) one text split on commas (``:`` would split IPv6 networks)."""


def _coerce(name: str, value: Any, where: str) -> Any:
    kind = str(_TYPES[name])
    if name == "sources":
        from apiwatch.sources.config import parse_sources  # noqa: PLC0415

        return parse_sources(value, where)
    if name in _TABLES:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: [{name}] must be a table")
        return value
    if name in _ARRAYS:
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise ConfigError(f"{where}: {name} must be written as [[{name}]] tables")
        return value
    if name == "forwarded_allow_ips" and isinstance(value, list):
        value = ",".join(str(item) for item in value)  # a TOML array of addresses
    if kind.startswith("bool"):
        value = _boolean(name, value, where)
    elif kind == "float":
        value = _seconds(name, value, where)
    elif kind.startswith("tuple"):
        value = _paths(name, value, where)
    elif "int" in kind and not isinstance(value, int):
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {name} must be a whole number, not {value!r}") from None
    elif "str" in kind and value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}: {name} must be a string, not {value!r}")
    return _checked(name, value, where)


def _words(name: str, value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ConfigError(f"{where}: {name} must be a list of strings, not {value!r}")


def _boolean(name: str, value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ConfigError(f"{where}: {name} must be true or false, not {value!r}")


def _seconds(name: str, value: Any, where: str) -> float:
    """A number of seconds, or a duration such as ``2s``, ``1m``, ``2h`` or ``30d``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
        scale = units.get(text[-1:], 1.0)
        try:
            seconds = float(text[:-1] if text[-1:] in units else text) * scale
        except ValueError:
            raise ConfigError(
                f"{where}: {name} must be a number of seconds (or e.g. 2s, 1m), not {value!r}"
            ) from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(f"{where}: {name} must be 0 or more seconds, not {value!r}")
    return seconds


def _paths(name: str, value: Any, where: str) -> tuple[str, ...]:
    """A list of paths: a TOML array, or (from the environment) one text split on ``:``."""
    if name in _WORDS:
        return _words(name, value, where)
    if isinstance(value, str):
        return tuple(part for part in value.split(os.pathsep) if part)
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ConfigError(f"{where}: {name} must be a list of paths, not {value!r}")


def _checked(name: str, value: Any, where: str) -> Any:
    """``value`` if it is allowed for setting ``name``; else a `ConfigError` naming both."""
    low, high = _RANGES.get(name, (None, None))
    if isinstance(value, int) and low is not None and not low <= value <= (high or value):
        allowed = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise ConfigError(f"{where}: {name} must be {allowed}, not {value!r}")
    if name == "log_level" and value not in _LOG_LEVELS:
        raise ConfigError(
            f"{where}: log_level must be one of {', '.join(_LOG_LEVELS)}, not {value!r}"
        )
    if name in ("body_read_timeout", "body_total_timeout") and value == 0:
        raise ConfigError(f"{where}: {name} must be more than 0 seconds")
    if name == "forwarded_allow_ips" and value is not None:
        return _proxies(value, where)
    if name == "role" and value not in ROLES:
        raise ConfigError(f"{where}: role must be one of {', '.join(ROLES)}, not {value!r}")
    if name == "detect_shard" and not _shard_ok(value):
        raise ConfigError(f"{where}: detect_shard must be I/M with 1 <= I <= M, not {value!r}")
    if name == "bus" and value is not None and not value.startswith(("nats://", "tls://")):
        raise ConfigError(f"{where}: bus must be a nats:// URL, e.g. nats://127.0.0.1:4222")
    return value


def _shard_ok(value: object) -> bool:
    """Whether ``value`` is ``I/M`` with 1 <= I <= M (a detect shard)."""
    index, _, count = str(value).partition("/")
    if not (index.isdigit() and count.isdigit()):
        return False
    return 1 <= int(index) <= int(count)


def _proxies(value: str, where: str) -> str:
    """``forwarded_allow_ips`` with each entry checked: an address, a network, or ``*``."""
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    for entry in entries:
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(
                f"{where}: forwarded_allow_ips: {entry!r} is not an address or network "
                "(give e.g. 10.0.0.5,10.1.0.0/16, or *)"
            ) from None
    return ",".join(entries)


def _from_file(path: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    flat: dict[str, Any] = {}
    for key, value in document.items():
        if key in _TABLES or key in _ARRAYS:
            flat[key] = value
        elif isinstance(value, dict):  # [server] host = ... is the same as server_host? keep flat
            for inner, inner_value in value.items():
                flat[inner] = inner_value
        else:
            flat[key] = value
    unknown = sorted(set(flat) - set(_TYPES))
    if unknown:
        noun = "setting" if len(unknown) == 1 else "settings"
        raise ConfigError(f"{path}: unknown {noun} {', '.join(unknown)}")
    return {k: _coerce(k, v, str(path)) for k, v in flat.items()}


def load_settings(config: str | None, **flags: Any) -> Settings:
    """Defaults, then ``config`` (or ./apiwatch.toml when present), then env, then flags."""
    settings = Settings()
    path = Path(config) if config else Path("apiwatch.toml")
    if config or path.exists():
        settings = replace(settings, **_from_file(path))
    env = {
        name: _coerce(name, os.environ[f"APIWATCH_{name.upper()}"], f"APIWATCH_{name.upper()}")
        for name in _TYPES
        if f"APIWATCH_{name.upper()}" in os.environ and name not in _TABLES | _ARRAYS
    }
    settings = replace(settings, **env)
    given = {
        k: _coerce(k, v, f"--{k.replace('_', '-')}") for k, v in flags.items() if v is not None
    }
    return replace(settings, **given)


def synthetic_traffic(settings: Settings) -> SyntheticTraffic:
    """What the settings declare synthetic (monitors, test accounts, load tests)."""
    from apiwatch.detect import SyntheticTraffic  # noqa: PLC0415 - the cli extra

    return SyntheticTraffic.from_options(vars(settings))
