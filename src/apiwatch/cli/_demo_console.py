"""The end of ``apiwatch demo``: its store served with the web console until Ctrl-C."""

from __future__ import annotations

import contextlib
import secrets
import socket
from datetime import UTC, datetime
from pathlib import Path

import click

__all__ = ["CONSOLE_PORT", "serve_console"]

CONSOLE_PORT = 8470
DEMO_USER = "demo"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def serve_console(workdir: Path, port: int = CONSOLE_PORT) -> None:
    """Serve the demo's store (its incidents, decisions and events) with the console on
    127.0.0.1:``port`` until interrupted; a console admin ``demo`` gets a new random password,
    printed once."""
    import uvicorn  # noqa: PLC0415 - the demo extra

    from apiwatch.server import ServerSettings, create_app  # noqa: PLC0415
    from apiwatch.server.console._passwords import hash_password  # noqa: PLC0415
    from apiwatch.store import ConsoleUser, open_store  # noqa: PLC0415

    if not _port_free(port):
        raise click.ClickException(
            f"port {port} of 127.0.0.1 is taken: the console was not started (stop what uses "
            "it, or give --console-port)"
        )
    store = open_store(f"sqlite:///{workdir / 'demo.db'}", create=False)
    try:
        password = secrets.token_urlsafe(12)
        store.console.delete_user(DEMO_USER)
        store.console.add_user(
            ConsoleUser(DEMO_USER, "admin", hash_password(password), datetime.now(UTC))
        )
        click.echo(
            f"\nThe console: http://127.0.0.1:{port}/ with the demo's incidents; log in as "
            f"{DEMO_USER} with password {password}\nPress Ctrl-C to stop it."
        )
        config = uvicorn.Config(
            create_app(store, ServerSettings()), host="127.0.0.1", port=port,
            log_level="warning", proxy_headers=False,
        )  # fmt: skip
        # uvicorn shuts down on Ctrl-C, then raises the signal again for the caller.
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn.Server(config).run()
    finally:
        store.close()
    click.echo("console stopped")
