"""The real thing: Debian's ``crowdsec-custom-bouncer`` (CrowdSec's go-cs-bouncer library)
pulling a live collector's decision stream and running our script for each ban and unban.

The bouncer is installed with apt when it is missing and the tests run as root (``.ci/run``
installs it, so CI never skips); elsewhere the test is skipped, saying why. Its config is the
package's own default with the collector's URL and key, a 1 s pull interval, and ``bin_path``
a script that appends its arguments to a file: the custom bouncer runs ``bin_path add <value>
<seconds left> <scenario> <decision JSON>`` and ``bin_path del ...`` the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from apiwatch.server import ServerSettings, create_app
from apiwatch.store import open_store

from .conftest import served

BINARY = "crowdsec-custom-bouncer"
PACKAGE_CONFIG = Path("/etc/crowdsec/bouncers/crowdsec-custom-bouncer.yaml")
WAIT = 15.0

RECORDER = """#!/bin/sh
# One line per call: the arguments, tab-separated (the bouncer runs one call at a time).
printf '%s\\t' "$@" >> "{calls}"
printf '\\n' >> "{calls}"
"""


def _install() -> str | None:
    """Why the bouncer cannot be had, or None once it is installed."""
    if shutil.which(BINARY):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"{BINARY} is not installed (apt-get install {BINARY}; .ci/run does it as root)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Without recommends: the crowdsec engine it recommends registers online on install.
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", BINARY]
    for command in (install, ["apt-get", "update", "-q"], install):
        subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
        if shutil.which(BINARY):
            return None
    return f"apt-get could not install {BINARY} (no package source reachable?)"


@pytest.fixture(scope="module")
def bouncer_binary() -> str:
    """The path of crowdsec-custom-bouncer, installed when missing (root only)."""
    problem = _install()
    if problem is not None:
        pytest.skip(problem)
    found = shutil.which(BINARY)
    assert found is not None
    return found


@dataclass
class Running:
    """A collector and a custom bouncer pulling from it; ``calls`` are the script's lines."""

    url: str
    admin: httpx.Client
    calls_file: Path
    log_file: Path

    def calls(self) -> list[list[str]]:
        if not self.calls_file.exists():
            return []
        lines = self.calls_file.read_text().splitlines()
        return [line.rstrip("\t").split("\t") for line in lines if line]

    def wait_for(self, what: str, found: Callable[[list[list[str]]], bool]) -> list[list[str]]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            calls = self.calls()
            if found(calls):
                return calls
            time.sleep(0.1)
        log = self.log_file.read_text()[-3000:] if self.log_file.exists() else ""
        pytest.fail(f"the bouncer did not {what} within {WAIT}s; calls: {self.calls()}\n{log}")


def _config(tmp_path: Path, url: str, key: str, script: Path) -> Path:
    """The package's default config, pointed at the collector and our script."""
    config: dict[str, Any] = yaml.safe_load(PACKAGE_CONFIG.read_text()) or {}
    config.update(
        bin_path=str(script),
        api_url=f"{url}/",  # the bouncer library appends v1/decisions/stream itself
        api_key=key,
        update_frequency="1s",
        cache_retention_duration="1s",
        feed_via_stdin=False,
        daemonize=False,
        log_mode="stdout",
        log_level="debug",
        piddir=str(tmp_path),
        prometheus={"enabled": False, "listen_addr": "127.0.0.1", "listen_port": 0},
    )
    path = tmp_path / "crowdsec-custom-bouncer.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def running(bouncer_binary: str, tmp_path: Path) -> Iterator[Running]:
    """A collector on a free port and the custom bouncer pulling it every second."""
    store = open_store(f"sqlite:///{tmp_path}/apiwatch.db", key_file=tmp_path / "keys")
    key = store.keys.create("custom-bouncer", ["bouncer"])[1]
    admin_key = store.keys.create("admin", ["admin"])[1]
    calls_file, log_file = tmp_path / "calls.tsv", tmp_path / "bouncer.log"
    script = tmp_path / "record.sh"
    script.write_text(RECORDER.format(calls=calls_file))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    try:
        with (
            served(create_app(store, ServerSettings(detect=False))) as url,
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_key}"}) as admin,
            log_file.open("w") as log,
        ):
            config = _config(tmp_path, url, key, script)
            process = subprocess.Popen([bouncer_binary, "-c", str(config)], stdout=log,
                                       stderr=subprocess.STDOUT)  # fmt: skip
            try:
                _wait_for_first_pull(url, process, log_file)
                yield Running(url, admin, calls_file, log_file)
            finally:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
    finally:
        store.close()


def _wait_for_first_pull(url: str, process: subprocess.Popen[bytes], log_file: Path) -> None:
    """Until the bouncer's startup pull was answered (the collector's metrics count it)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the bouncer exited ({process.returncode}): {log_file.read_text()}")
        metrics = httpx.get(f"{url}/metrics").text
        if 'apiwatch_decision_stream_requests_total{startup="true"} 1.0' in metrics:
            return
        time.sleep(0.1)
    pytest.fail(f"the bouncer made no startup pull: {log_file.read_text()[-3000:]}")


def _has(action: str, value: str) -> Callable[[list[list[str]]], bool]:
    return lambda calls: any(call[:2] == [action, value] for call in calls)


def _add(running: Running, body: dict[str, str]) -> int:
    answer = running.admin.post("/v1/decisions", json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def test_the_custom_bouncer_adds_and_deletes_what_the_collector_decides(running: Running) -> None:
    """A ban reaches the bouncer's script as `add`; deleting it, and the end of a 3 s ban,
    reach it as `del`; an account flag (not an Ip or Range) is never sent to it."""
    _add(running, {"username": "dana", "duration": "1h", "reason": "takeover"})
    long_ban = _add(running, {"ip": "203.0.113.9", "duration": "1h", "reason": "stuffing"})
    calls = running.wait_for("add 203.0.113.9", _has("add", "203.0.113.9"))
    call = next(c for c in calls if c[:2] == ["add", "203.0.113.9"])
    assert 3590 <= int(call[2]) <= 3600
    assert call[3] == "manual"
    sent = json.loads(call[4])
    assert (sent["id"], sent["scope"], sent["type"], sent["origin"]) == (long_ban, "Ip", "ban",
                                                                         "manual")  # fmt: skip

    assert running.admin.delete(f"/v1/decisions/{long_ban}").status_code == 200
    running.wait_for("del 203.0.113.9", _has("del", "203.0.113.9"))

    _add(running, {"ip": "203.0.113.10", "duration": "3s", "reason": "short"})
    running.wait_for("add 203.0.113.10", _has("add", "203.0.113.10"))
    calls = running.wait_for("del 203.0.113.10 on expiry", _has("del", "203.0.113.10"))
    assert not any("dana" in field for call in calls for field in call)
    assert [c[:2] for c in calls].count(["del", "203.0.113.10"]) == 1
