"""``apiwatch demo``: a sample FastAPI shop with the sensor, real uvicorn, real HTTP traffic."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

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


def _summary(lines: list[str], arrived: list[dict[str, Any]], intact: bool, workdir: Path) -> None:
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console(markup=False, width=max(Console().width, 110))
    sent = {json.loads(line)["event"]["id"] for line in lines}
    stored = {event["event"]["id"] for event in arrived}
    table = Table(title=f"Security events: {len(sent)} written by the sensor, "
                        f"{len(sent & stored)} of them stored by the collector")  # fmt: skip
    for column in ("action", "outcome", "source.ip", "user.name", "status", "route"):
        table.add_column(column)
    for event in arrived:
        table.add_row(
            event["event"]["action"],
            event["event"].get("outcome", ""),
            event.get("source", {}).get("ip", ""),
            event.get("user", {}).get("name", ""),
            str(event.get("http", {}).get("response", {}).get("status_code", "")),
            event.get("labels", {}).get("route", ""),
            style="bold red" if event["event"]["action"] != "http_request" else None,
        )
    console.print(table)
    console.print(
        f"hash chain: {'intact' if intact else 'BROKEN'}; look around with\n"
        f"  apiwatch events --db sqlite:///{workdir / 'demo.db'} --action authn_login_fail\n"
        f"  apiwatch verify --db sqlite:///{workdir / 'demo.db'}"
    )


class _Running:
    """A uvicorn server in a background thread on a free loopback port."""

    def __init__(self, app: Any) -> None:
        import uvicorn  # noqa: PLC0415

        self.port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise click.ClickException("a demo server did not start")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def run_demo(*, burst: int, raw: bool, workdir: Path) -> None:
    """Collector on SQLite, the shop shipping to it, traffic; then what arrived, and verify."""
    _require_extra()
    from apiwatch.cli._shop import USERS, build_shop  # noqa: PLC0415
    from apiwatch.server import create_app  # noqa: PLC0415

    capture = _Capture(echo=True)
    events_logger = logging.getLogger(EVENTS_LOGGER)
    events_logger.handlers[:] = [capture]
    events_logger.setLevel(logging.INFO)
    events_logger.propagate = False
    store, ingest_key, read_key = _fresh_store(workdir)
    collector = _Running(create_app(store))
    try:
        shop = _Running(build_shop(collector=collector.url, api_key=ingest_key,
                                   spool_dir=str(workdir / "spool")))  # fmt: skip
        if not raw:
            click.echo(
                f"# collector on {collector.url} (SQLite {workdir / 'demo.db'}), "
                f"sample shop on {shop.url}; the sensor's ECS lines follow",
                err=True,
            )
        try:
            _traffic(shop.url, burst, USERS)
        finally:
            shop.stop()  # lifespan shutdown flushes the sensor's shipper into the collector
        arrived = _arrived(collector.url, read_key)
    finally:
        collector.stop()
        report = store.verify()
        store.close()
    if not raw:
        _summary(capture.lines, arrived, report.ok, workdir)


def _fresh_store(workdir: Path) -> tuple[Any, str, str]:
    from apiwatch.store import open_store  # noqa: PLC0415

    workdir.mkdir(parents=True, exist_ok=True)
    for old in workdir.glob("demo.db*"):
        old.unlink()
    store = open_store(f"sqlite:///{workdir / 'demo.db'}")
    _, ingest_key = store.create_key("demo-sensor", ["ingest"])
    _, read_key = store.create_key("demo-reader", ["read"])
    return store, ingest_key, read_key


def _arrived(collector: str, read_key: str) -> list[dict[str, Any]]:
    import httpx  # noqa: PLC0415

    response = httpx.get(
        f"{collector}/v1/events",
        params={"limit": 1000},
        headers={"Authorization": f"Bearer {read_key}"},
        timeout=10,
    )
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()["events"]
    return events
