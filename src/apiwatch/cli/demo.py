"""``apiwatch demo``: a sample FastAPI shop with the sensor, real uvicorn, real HTTP traffic."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import click

from apiwatch.sensor import EcsFormatter
from apiwatch.sensor._outputs import EVENTS_LOGGER

__all__ = ["run_demo"]


def _require_extra() -> None:
    try:
        import fastapi  # noqa: F401, PLC0415
        import uvicorn  # noqa: F401, PLC0415
    except ImportError:
        raise click.ClickException(
            "apiwatch demo needs the demo extra: pip install 'apiwatch[demo]'"
        ) from None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Capture(logging.Handler):
    """Keeps each ECS line the sensor writes, and echoes it."""

    def __init__(self, echo: bool) -> None:
        super().__init__()
        self.setFormatter(EcsFormatter())
        self.lines: list[str] = []
        self.echo = echo

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        self.lines.append(line)
        click.echo(line)


def _traffic(base: str, burst: int, users: dict[str, str]) -> None:
    import httpx  # noqa: PLC0415

    browser = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0"}
    with httpx.Client(base_url=base, headers=browser, timeout=10) as client:
        client.get("/health")
        client.post("/users/login", json={"username": "alice", "password": users["alice"]})
        client.get("/orders/2", headers={"Authorization": "Bearer demo-token-alice"})
        client.get("/orders/3", headers={"Authorization": "Bearer demo-token-alice"})
        attacker = {"X-Forwarded-For": "203.0.113.66", "User-Agent": "python-requests/2.32"}
        for victim in ["bob", "carol", "dave", "erin", "frank", "grace", "heidi"][:burst]:
            client.post("/users/login", json={"username": victim, "password": "Summer2024!"},
                        headers=attacker)  # fmt: skip
        client.get("/orders/1?token=leaked-secret", headers={"User-Agent": "sqlmap/1.8#stable"})
        # A log-injection attempt: %0D%0A decodes to CR LF in the path; it stays one escaped line.
        client.get("/health%0D%0A%7B%22forged%22%3Atrue%7D",
                   headers={"User-Agent": "<script>alert(1)</script>"})  # fmt: skip


def _summary(lines: list[str]) -> None:
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="Security events written by the sensor")
    for column in ("action", "outcome", "source.ip", "user.name", "status", "route"):
        table.add_column(column)
    for line in lines:
        event = json.loads(line)
        table.add_row(
            event["event"]["action"],
            event["event"].get("outcome", ""),
            event.get("source", {}).get("ip", ""),
            event.get("user", {}).get("name", ""),
            str(event.get("http", {}).get("response", {}).get("status_code", "")),
            event.get("labels", {}).get("route", ""),
            style="bold red" if event["event"]["action"] != "http_request" else None,
        )
    Console(markup=False, width=max(Console().width, 110)).print(table)


def run_demo(*, burst: int, raw: bool) -> None:
    """Start the shop, drive traffic at it, print the ECS lines and a summary."""
    _require_extra()
    import uvicorn  # noqa: PLC0415

    capture = _Capture(echo=True)
    events_logger = logging.getLogger(EVENTS_LOGGER)
    events_logger.handlers[:] = [capture]
    events_logger.setLevel(logging.INFO)
    events_logger.propagate = False
    port = _free_port()
    from apiwatch.cli._shop import USERS, build_shop  # noqa: PLC0415 - needs the demo extra

    config = uvicorn.Config(build_shop(), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise click.ClickException("the demo server did not start")
        time.sleep(0.05)
    try:
        if not raw:
            click.echo(f"# sample shop on http://127.0.0.1:{port}; ECS lines follow", err=True)
        _traffic(f"http://127.0.0.1:{port}", burst, USERS)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    if not raw:
        _summary(capture.lines)
