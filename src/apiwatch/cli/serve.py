"""``apiwatch serve``: the collector, on uvicorn."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import click

from apiwatch.cli._common import open_configured_store, settings_for, store_options
from apiwatch.cli._config import Settings
from apiwatch.store import SqlStore

__all__ = ["serve"]

_RETENTION_EVERY = 3600.0


@click.command()
@store_options
@click.option("--host", help="Address to listen on (default 127.0.0.1; APIWATCH_HOST).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default 8470; APIWATCH_PORT).")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM private key.")
def serve(
    *,
    config: str | None,
    db: str | None,
    host: str | None,
    port: int | None,
    tls_cert: str | None,
    tls_key: str | None,
) -> None:
    """Run the collector: authenticated ingest at POST /v1/events, queries, health and metrics.

    Stores into embedded SQLite by default (sqlite:///./apiwatch.db) or PostgreSQL with
    --db postgresql://... . The first start creates the data and signing keys beside the store.
    """
    settings = settings_for(config, db=db, host=host, port=port, tls_cert=tls_cert,
                            tls_key=tls_key)  # fmt: skip
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    try:
        import uvicorn  # noqa: PLC0415

        from apiwatch.server import ServerSettings, create_app  # noqa: PLC0415
    except ImportError as exc:
        raise click.ClickException(
            f"apiwatch serve needs the server extra ({exc.name} is missing): "
            "pip install 'apiwatch[server]'"
        ) from None

    store = open_configured_store(settings, create=True)
    stop = threading.Event()
    if settings.retention_days:
        _start_retention(store, settings.retention_days, stop)
    app = create_app(store, ServerSettings(max_body_bytes=settings.max_body_bytes))
    scheme = "https" if settings.tls_cert else "http"
    click.echo(f"apiwatch: collecting on {scheme}://{settings.host}:{settings.port} "
               f"into {_safe_url(settings)}", err=True)  # fmt: skip
    try:
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            ssl_certfile=settings.tls_cert,
            ssl_keyfile=settings.tls_key,
            log_level=settings.log_level,
            access_log=False,
            server_header=False,
        )
    finally:
        stop.set()
        store.close()


def _safe_url(settings: Settings) -> str:
    """The store URL without any password it may contain (user:pass@ or ?password=)."""
    parts = urlsplit(settings.db)
    if not parts.netloc and not parts.query:
        return settings.db
    netloc = parts.netloc
    if "@" in netloc:
        credentials, _, location = netloc.rpartition("@")
        netloc = f"{credentials.split(':', 1)[0]}@{location}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))


def _start_retention(store: SqlStore, days: int, stop: threading.Event) -> None:
    def loop() -> None:
        while not stop.is_set():
            try:
                store.expire(datetime.now(UTC) - timedelta(days=days))
            except Exception as exc:  # noqa: BLE001 - retention retries next hour
                click.echo(f"apiwatch: retention failed: {exc}", err=True)
            stop.wait(_RETENTION_EVERY)

    threading.Thread(target=loop, name="apiwatch-retention", daemon=True).start()
