"""``apiwatch serve``: the collector, on uvicorn."""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from apiwatch.cli._common import (
    discard_new_store,
    open_configured_store,
    settings_for,
    store_options,
    without_password,
)
from apiwatch.cli._config import ROLES, Settings
from apiwatch.cli._listen import bound_port, check_tls, listen
from apiwatch.cli._roles import check_bus, check_role, run_role
from apiwatch.model import ConfigError, plural
from apiwatch.store import SqlStore
from apiwatch.store._filemode import check_private_file

if TYPE_CHECKING:
    from apiwatch.server import ServerSettings

__all__ = ["serve", "server_settings"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _setting(
    flag: str, metavar: str, what: str, default: str, after: str = ""
) -> Callable[[_F], _F]:
    """The flag of a setting: its help says the default and the environment variable, which
    is the flag's name as `apiwatch.cli._config.load_settings` reads it (``APIWATCH_NAME``)."""
    env = "APIWATCH_" + flag.removeprefix("--").replace("-", "_").upper()
    return click.option(flag, metavar=metavar, help=f"{what} (default {default}; {env}){after}.")


@click.command()
@store_options
@_setting("--host", "ADDRESS", "Address to listen on, e.g. 0.0.0.0 for every IPv4 one", "127.0.0.1")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default 8470; APIWATCH_PORT).")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="PEM certificate (chain) to serve HTTPS with, with --tls-key "
              "(APIWATCH_TLS_CERT).")  # fmt: skip
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="Its PEM private key, readable by its owner only "
              "(APIWATCH_TLS_KEY).")  # fmt: skip
@click.option(
    "--detect/--no-detect",
    default=None,
    help="Run live detection on what is stored (default on; APIWATCH_DETECT).",
)
@click.option("--rules", "rule_dirs", multiple=True, metavar="DIR",
              type=click.Path(exists=True, path_type=str),
              help="Extra rule directory or file, loaded with the built-in pack (repeatable; "
              "APIWATCH_RULES, ':'-separated).")  # fmt: skip
@click.option("--sigmahq/--no-sigmahq", default=None,
              help="Also run the optional SigmaHQ web server pack (default off; "
              "APIWATCH_SIGMAHQ).")  # fmt: skip
@_setting("--lateness", "SECONDS", "How far out of time order events may arrive, e.g. 2 or 2s", "2")
@_setting("--forwarded-allow-ips", "ADDRESSES", "Proxies whose X-Forwarded-For the collector "
          "believes, comma-separated addresses or networks", "none")  # fmt: skip
@_setting("--future-skew", "SECONDS", "Reject events dated more than this ahead of the "
          "collector's clock, e.g. 300 or 5m", "5m")  # fmt: skip
@_setting("--max-event-age", "SECONDS", "Reject events older than this, e.g. 30d", "3650d",
          "; younger ones are stored")  # fmt: skip
@_setting("--detect-max-lag", "SECONDS", "Live detection skips events this far behind the "
          "newest it has seen, e.g. 1h", "1h", "; they are stored all the same")  # fmt: skip
@click.option("--dry-run/--no-dry-run", default=None,
              help="Respond on paper only: decisions are recorded and notified as 'would "
              "ban', never served to sensors or bouncers nor exported (APIWATCH_DRY_RUN; "
              "overrides [respond] dry_run).")  # fmt: skip
@click.option("--role", type=click.Choice(ROLES),
              help="What this process runs (APIWATCH_ROLE): all (default: the embedded "
              "collector, no bus), or one scale-out role over --bus: ingest (HTTP API; events "
              "to the bus), writer (the one process that stores them), detect (live "
              "detection and response).")  # fmt: skip
@click.option("--shard", "detect_shard", metavar="I/M",
              help="With --role detect: run detect shard I of M (default 1/1; "
              "APIWATCH_DETECT_SHARD). Start M of them, one each of 1/M .. M/M; see "
              "docs/scaling.md.")  # fmt: skip
@_setting("--detect-replay", "SECONDS", "With --role detect: how much of the stream (the last "
          "SECONDS, e.g. 3h) a starting detect role feeds again up to where it had got, to "
          "rebuild its windows and incidents; 0: none", "3h")  # fmt: skip
@click.option("--bus", metavar="URL",
              help="Scale-out: the NATS JetStream bus the roles share, e.g. "
              "nats://127.0.0.1:4222 (APIWATCH_BUS; PostgreSQL stores only).")  # fmt: skip
def serve(*, config: str | None, rule_dirs: tuple[str, ...], **flags: Any) -> None:
    """Run the collector: authenticated ingest at POST /v1/events, live detection of attacks in
    what is stored (GET /v1/alerts, /v1/incidents), event search, health and metrics.

    Stores into embedded SQLite by default (sqlite:///./apiwatch.db) or PostgreSQL with
    --db postgresql://... . The first start creates the data keys beside the store and the
    signing key apart from it (signing_key_file); with anchor_file set, signed heads are
    appended to that file as the store grows (for `apiwatch verify --anchor`).

    Detection runs the built-in rules (plus --rules, and --sigmahq) on a thread of its own; if it
    falls behind, ingest goes on and the events it skips are counted in /metrics. It starts
    afresh at each start: correlation windows restart; stored alerts and incidents stay.

    Live sources follow the [[sources]] tables of apiwatch.toml (see docs/sources.md): log files
    tailed through rotation, the systemd journal, syslog over UDP/TCP/TLS; OpenTelemetry apps
    send their logs to POST /v1/logs (OTLP/HTTP) with an ingest key.

    Response follows the [respond] table of apiwatch.toml (policies, allowlist, notifiers; see
    docs/response.md): each incident can lead to ban decisions, served to sensors and CrowdSec
    bouncers at /v1/decisions/stream, and to one notification per incident. Active bans can be
    exported to files with export_nginx, export_nftables and export_ipset.

    The client of a request is the peer of its connection: X-Forwarded-For is believed only from
    the proxies given with --forwarded-allow-ips. Listening beyond loopback without TLS draws a
    warning; a TLS key or key file other users may read is refused.

    Scale-out (PostgreSQL and a NATS JetStream bus): run `--role ingest` processes (as many as
    needed; they answer 202 once JetStream has the events), one `--role writer` per store and
    a `--role detect` process, all with the same --db, --bus and key files (README: Scaling out).
    """
    # Each flag is the setting of its name (None: not given), loaded over file and environment.
    settings = settings_for(config, rules=rule_dirs or None, **flags)
    role = check_role(settings)
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if settings.tls_key:
        check_private_file(Path(settings.tls_key), "TLS key", group_may_read=True)
    try:
        import uvicorn  # noqa: PLC0415

        from apiwatch.server import create_app, load_ruleset  # noqa: PLC0415
        from apiwatch.server._sources import check_positions  # noqa: PLC0415
    except ImportError as exc:
        raise click.ClickException(
            f"apiwatch serve needs the server extra ({exc.name} is missing): "
            "pip install 'apiwatch[server]'"
        ) from None

    # Everything that can refuse the start does so before any store or key file is made:
    # the TLS pair, the address, the settings and the rules.
    if settings.tls_cert and settings.tls_key:
        check_tls(settings.tls_cert, settings.tls_key)
    collector = server_settings(settings)
    if role in ("writer", "detect"):
        _serve_role(role, settings, collector)
        return
    publisher = None
    if role == "ingest":  # detection and response run in the detect role
        from apiwatch.server.bus_roles import BusPublisher  # noqa: PLC0415

        collector = dataclasses.replace(collector, detect=False, respond=None)
        check_bus(settings)  # before anything is created
        publisher = BusPublisher(settings.bus or "", settings.bus_stream)
    check_positions(collector)
    ruleset = load_ruleset(collector) if collector.detect else None
    sock = listen(settings.host, settings.port)
    try:
        store = _open_for_serving(settings, anchor=publisher is None)
        app = _app_or_discard(store, settings, lambda: create_app(store, collector,
                              ruleset=ruleset, publisher=publisher))  # fmt: skip
    except BaseException:
        sock.close()
        raise
    _announce(settings, bound_port(sock), ruleset)
    server_config = uvicorn.Config(
        app,
        host=settings.host,
        port=bound_port(sock),
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
        log_level=settings.log_level,
        log_config=_log_config(settings.log_level),
        access_log=False,
        server_header=False,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: anything on the host
        # (or a proxy that passes the header on) could then choose the client address.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
    )
    try:
        uvicorn.Server(server_config).run(sockets=[sock])
    finally:
        sock.close()
        store.close()


def _serve_role(role: str, settings: Settings, collector: ServerSettings) -> None:
    """The writer or the detect role (HTTP on host:port for /healthz, /readyz and /metrics
    only) until SIGTERM or Ctrl-C; the writer keeps the anchor file and runs retention, as the
    single process writing events."""
    from apiwatch.server import load_ruleset  # noqa: PLC0415
    from apiwatch.server._retention import Retention  # noqa: PLC0415

    ruleset = load_ruleset(collector) if role == "detect" else None
    sock = listen(settings.host, settings.port)
    try:
        store = _open_for_serving(settings, anchor=role == "writer")
    except BaseException:
        sock.close()
        raise
    days = collector.retention_days if role == "writer" else None
    retention = Retention(store.events, days) if days else None
    if retention:
        retention.start()
    try:
        run_role(role, settings, store, collector, ruleset, sock=sock)
    finally:
        if retention:
            retention.stop()
        sock.close()
        store.close()


def _open_for_serving(settings: Settings, *, anchor: bool = True) -> SqlStore:
    """The store, created if missing; refused (and whatever was made for it removed) when the
    signing key is missing."""
    store = open_configured_store(settings, create=True, anchor=anchor)
    if not store.keyring.can_sign:  # refuse at start, not on every batch
        store.close()
        raise ConfigError(
            f"the signing key file {store.keyring.signing_path} is missing: the collector "
            "signs what it stores (set signing_key_file / APIWATCH_SIGNING_KEY_FILE to it)"
        )
    return store


def _app_or_discard(store: SqlStore, settings: Settings, make: Callable[[], Any]) -> Any:
    """``make()``; when it fails, the store is closed and, if this start created it, removed
    with its keys: a failed start leaves nothing behind."""
    try:
        return make()
    except BaseException:
        store.close()
        discard_new_store(store, settings.db)
        raise


def _announce(settings: Settings, port: int, ruleset: Any) -> None:
    """The start's lines: where it collects (the real port), exposure, the rules it runs."""
    scheme = "https" if settings.tls_cert else "http"
    click.echo(f"apiwatch: collecting on {scheme}://{settings.host}:{port} "
               f"into {_safe_url(settings)}", err=True)  # fmt: skip
    click.echo(f"apiwatch: the web console is at {scheme}://{settings.host}:{port}/ (log in "
               "as a user of `apiwatch users add NAME --role admin`)", err=True)  # fmt: skip
    _warn_if_exposed(settings)
    if ruleset is not None:
        unsupported = len(ruleset.unsupported)
        left_out = f" ({unsupported} unsupported, left out)" if unsupported else ""
        count = len(ruleset.rules)
        click.echo(f"apiwatch: detecting with {plural(count, 'rule')}{left_out}", err=True)
    for source in settings.sources:
        where = (
            ", ".join(source.paths)
            if source.type == "file"
            else (
                f"{source.protocol}://{source.listen}" if source.type == "syslog" else "journalctl"
            )
        )
        click.echo(f"apiwatch: live source {source.name} ({source.type}): {where}", err=True)


def _warn_if_exposed(settings: Settings) -> None:
    """One WARNING line when the collector listens beyond loopback in clear text."""
    if settings.tls_cert or _is_loopback(settings.host):
        return
    click.echo(f"apiwatch: WARNING: listening on {settings.host} without TLS: API keys and "
               "events cross the network in clear text; give --tls-cert and --tls-key, or "
               "listen on 127.0.0.1 behind a TLS proxy", err=True)  # fmt: skip


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to anything


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, with apiwatch's own loggers on its console handler at ``level``
    (without this, only their warnings would reach stderr, unformatted)."""
    from uvicorn.config import LOGGING_CONFIG  # noqa: PLC0415 - the server extra

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["apiwatch"] = {
        "handlers": ["default"], "level": level.upper(), "propagate": False,
    }  # fmt: skip
    return config


def server_settings(settings: Settings) -> ServerSettings:
    """The collector's settings from the command's (`ConfigError` for a value it refuses)."""
    from apiwatch.server import ServerSettings  # noqa: PLC0415 - the server extra

    return ServerSettings.from_options(vars(settings))


def _safe_url(settings: Settings) -> str:
    """The store URL without any password it may contain (user:pass@ or ?password=)."""
    return without_password(settings.db)
