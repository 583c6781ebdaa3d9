"""The demo's live source: an nginx access log the collector tails, written while it runs.

A legacy API behind nginx, with no sensor: the collector follows its access log (a
``[[sources]]`` file source). The demo writes a brute-force run against its login route into
the log, rotating the log half-way as logrotate would, and waits for the incident the tailed
lines raise.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apiwatch.sources.config import SourceConfig, parse_sources

__all__ = ["TAIL_ATTACKER", "TailedIncident", "tailed_source", "write_and_wait"]

TAIL_ATTACKER = "198.51.100.77"
_ATTEMPTS = 40
_WAIT = 30.0


class TailedIncident:
    """What the tailed log gave: the lines written, and the incident (None if none came)."""

    def __init__(self, log: Path, lines: int, incident: dict[str, Any] | None) -> None:
        self.log = log
        self.lines = lines
        self.incident = incident


def tailed_source(workdir: Path) -> SourceConfig:
    """The file source the demo's collector runs: ``<workdir>/nginx/access.log*``."""
    logs = workdir / "nginx"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("access.log*"):
        old.unlink()
    (logs / "access.log").write_text("")
    table = {
        "name": "legacy-nginx",
        "type": "file",
        "paths": [str(logs / "access.log*")],
        "poll_interval": 0.1,
    }
    return parse_sources([table], "demo")[0]


def write_and_wait(source: SourceConfig, collector: str, read_key: str) -> TailedIncident:
    """Write the brute-force run (rotating the log half-way) and wait for its incident."""
    log = Path(source.paths[0].removesuffix("*"))
    for attempt in range(_ATTEMPTS):
        if attempt == _ATTEMPTS // 2:
            log.rename(log.with_name("access.log.1"))  # logrotate; nginx reopens its log
        with log.open("a") as out:
            out.write(_line())
        time.sleep(0.01)
    return TailedIncident(log, _ATTEMPTS, _incident(collector, read_key))


def _line() -> str:
    when = datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (
        f'{TAIL_ATTACKER} - - [{when}] "POST /legacy/api/login HTTP/1.1" 401 27 "-" '
        '"python-requests/2.31"\n'
    )


def _incident(collector: str, read_key: str) -> dict[str, Any] | None:
    import httpx  # noqa: PLC0415

    headers = {"Authorization": f"Bearer {read_key}"}
    deadline = time.monotonic() + _WAIT
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{collector}/v1/incidents",
            params={"attacker.ip": TAIL_ATTACKER},
            headers=headers,
            timeout=10,
        )
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        if items:
            return items[0]
        time.sleep(0.3)
    return None
