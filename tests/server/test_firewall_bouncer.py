"""The real thing, firewall side: Debian's ``crowdsec-firewall-bouncer`` in iptables mode
(decisions in an ipset, one iptables rule dropping its members) pulling a live collector.

The bouncer runs inside a network namespace the test creates and deletes, so it only ever
changes that namespace's firewall, never the host's. A fresh namespace has only its own
loopback, so a veth pair joins it to the host in a private link-local /30 (169.254.x.y; no
route beyond the pair) and the collector listens on the host end. The ipset and the iptables
rules are read with ``ip netns exec NS ipset list`` and ``iptables -S``.

This needs root, ``ip netns``, and the bouncer, ``iptables`` and ``ipset`` packages; ``.ci/run``
installs them (as this module does when it can). Where they cannot be had the tests fail,
saying what is missing: they are never skipped silently.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from apiwatch.server import ServerSettings, create_app
from apiwatch.store import SqlStore, open_store
from tests._wait import wait_until

from .conftest import served

pytestmark = pytest.mark.slow

BINARY = "crowdsec-firewall-bouncer"
PACKAGES = (BINARY, "iptables", "ipset")
PACKAGE_CONFIG = Path("/etc/crowdsec/bouncers/crowdsec-firewall-bouncer.yaml")
IPSET = "crowdsec-blacklists"
WAIT = 20.0


def _missing() -> list[str]:
    return [name for name in PACKAGES if not shutil.which(name)]


def _install() -> str | None:
    """Why the bouncer and its tools cannot be had, or None once they are installed."""
    if not _missing():
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"{', '.join(_missing())} missing (apt-get install --no-install-recommends ...)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Without recommends: the crowdsec engine it recommends registers online on install.
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    for command in (install, ["apt-get", "update", "-q"], install):
        subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
        if not _missing():
            return None
    return f"apt-get could not install {', '.join(_missing())}"


@pytest.fixture(scope="module")
def bouncer_binary() -> str:
    """The path of crowdsec-firewall-bouncer, installed when missing (root only)."""
    problem = _install()
    if problem is not None:
        pytest.fail(f"the firewall bouncer test needs root and its packages: {problem}")
    found = shutil.which(BINARY)
    assert found is not None
    return found


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class Namespace:
    """A network namespace joined to the host by a veth pair: ``host_ip`` is the host end."""

    name: str
    host_ip: str

    def run(self, *command: str) -> str:
        """``command`` inside the namespace (its firewall, not the host's)."""
        return _run("ip", "netns", "exec", self.name, *command)

    def members(self) -> set[str]:
        """What the bouncer's ipset holds (empty when the set does not exist)."""
        listing = subprocess.run(
            ["ip", "netns", "exec", self.name, "ipset", "list", IPSET],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        if listing.returncode != 0:
            return set()
        members = listing.stdout.partition("Members:")[2].splitlines()
        return {line.split()[0] for line in members if line.strip()}

    def drop_rules(self) -> list[str]:
        """The namespace's iptables rules that match the bouncer's set."""
        return [rule for rule in self.run("iptables", "-S").splitlines() if IPSET in rule]


@contextmanager
def namespace() -> Iterator[Namespace]:
    """A fresh namespace and a veth pair in a /30 of 169.254.0.0/16; both gone afterwards."""
    if not shutil.which("ip") or os.geteuid() != 0:
        pytest.fail("the firewall bouncer test needs root and iproute2 (ip netns)")
    tag = f"{os.getpid() % 10000:04d}{secrets.randbelow(256):02x}"
    name, host_end, inner_end = f"apiwatch-fw-{tag}", f"awh{tag}", f"awn{tag}"
    third, fourth = 1 + secrets.randbelow(254), secrets.randbelow(64) * 4
    host_ip, inner_ip = f"169.254.{third}.{fourth + 1}", f"169.254.{third}.{fourth + 2}"
    _run("ip", "netns", "add", name)
    try:
        _run("ip", "link", "add", host_end, "type", "veth", "peer", "name", inner_end)
        _run("ip", "link", "set", inner_end, "netns", name)
        _run("ip", "addr", "add", f"{host_ip}/30", "dev", host_end)
        _run("ip", "link", "set", host_end, "up")
        _run("ip", "-n", name, "addr", "add", f"{inner_ip}/30", "dev", inner_end)
        _run("ip", "-n", name, "link", "set", inner_end, "up")
        _run("ip", "-n", name, "link", "set", "lo", "up")
        yield Namespace(name, host_ip)
    finally:
        # Deleting the namespace destroys the veth pair with it (both ends).
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
        subprocess.run(["ip", "link", "delete", host_end], capture_output=True, check=False)


@dataclass
class Running:
    """A collector, a firewall bouncer pulling it inside ``ns``, and the bouncer's log."""

    ns: Namespace
    store: SqlStore
    admin: httpx.Client
    process: subprocess.Popen[bytes]
    log_file: Path

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def wait_for(self, what: str, done: Callable[[], bool]) -> None:
        if wait_until(done, WAIT, 0.2):
            return
        pytest.fail(f"the bouncer did not {what} within {WAIT}s; set: {self.ns.members()}\n"
                    f"{self.log()[-3000:]}")  # fmt: skip

    def add(self, body: dict[str, str]) -> int:
        answer = self.admin.post("/v1/decisions", json=body)
        assert answer.status_code == 201, answer.text
        return int(answer.json()["id"])


def _config(tmp_path: Path, url: str, key: str) -> Path:
    """The package's default config in iptables mode (ipset + one DROP rule), IPv4 only."""
    config: dict[str, Any] = yaml.safe_load(PACKAGE_CONFIG.read_text()) or {}
    config.update(
        mode="iptables",
        api_url=f"{url}/",
        api_key=key,
        update_frequency="1s",
        daemonize=False,
        log_mode="stdout",
        log_level="debug",
        pid_dir=str(tmp_path),
        disable_ipv6=True,
        iptables_chains=["INPUT"],
        deny_action="DROP",
        prometheus={"enabled": False, "listen_addr": "127.0.0.1", "listen_port": 60601},
    )
    path = tmp_path / "crowdsec-firewall-bouncer.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def bouncer(
    binary: str, ns: Namespace, config: Path, log_file: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log_file.open("w") as log:
        process = subprocess.Popen(["ip", "netns", "exec", ns.name, binary, "-c", str(config)],
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


@pytest.fixture
def running(bouncer_binary: str, tmp_path: Path) -> Iterator[Running]:
    """A collector on the host end of the veth pair, and the bouncer pulling it every second."""
    store = open_store(f"sqlite:///{tmp_path}/apiwatch.db", key_file=tmp_path / "keys")
    key = store.keys.create("firewall", ["bouncer"])[1]
    admin_key = store.keys.create("admin", ["admin"])[1]
    log_file = tmp_path / "bouncer.log"
    try:
        with (
            namespace() as ns,
            served(create_app(store, ServerSettings(detect=False)), host=ns.host_ip) as url,
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_key}"}) as admin,
            bouncer(bouncer_binary, ns, _config(tmp_path, url, key), log_file) as process,
        ):
            run = Running(ns, store, admin, process, log_file)
            run.wait_for("create its ipset and DROP rule", lambda: bool(ns.drop_rules()))
            yield run
    finally:
        store.close()


def test_bans_reach_the_ipset_and_deletes_and_expiry_leave_it(running: Running) -> None:
    """An address ban and a range ban land in the namespace's ipset (the range whole, as a
    network); a deleted ban and an expired one leave it; the DROP rule matches the set."""
    assert any("DROP" in rule and "src" in rule for rule in running.ns.drop_rules())
    long_ban = running.add({"ip": "203.0.113.9", "duration": "1h", "reason": "stuffing"})
    running.add({"range": "198.51.100.0/24", "duration": "1h", "reason": "scanner"})
    running.add({"ip": "203.0.113.10", "duration": "4s", "reason": "short"})
    running.wait_for("ban all three", lambda: {"203.0.113.9", "198.51.100.0/24",
                                               "203.0.113.10"} <= running.ns.members())  # fmt: skip

    assert running.admin.delete(f"/v1/decisions/{long_ban}").status_code == 200
    running.wait_for("drop the deleted ban", lambda: "203.0.113.9" not in running.ns.members())
    running.wait_for("drop the expired ban", lambda: "203.0.113.10" not in running.ns.members())
    assert "198.51.100.0/24" in running.ns.members()


def _refusals(log: str) -> int:
    """How many refusals the bouncer's client reported (its ``API error: <message>`` line)."""
    return log.count("API error: the API key is not valid")


def test_the_bouncer_survives_its_key_being_revoked(running: Running) -> None:
    """Revoking the bouncer's key mid-run: it reports the collector's 403 on each pull and keeps
    running with its rules (CrowdSec's client panicked on apiwatch's old error body)."""
    running.add({"ip": "203.0.113.9", "duration": "1h", "reason": "stuffing"})
    running.wait_for("ban 203.0.113.9", lambda: "203.0.113.9" in running.ns.members())
    assert running.store.keys.revoke("firewall")
    running.wait_for("meet the refusal twice", lambda: _refusals(running.log()) >= 2
                     or running.process.poll() is not None)  # fmt: skip
    assert running.process.poll() is None, running.log()[-3000:]
    assert "panic" not in running.log()
    assert "203.0.113.9" in running.ns.members()


def test_a_wrong_key_at_start_is_reported_without_a_crash(
    bouncer_binary: str, tmp_path: Path
) -> None:
    """A bouncer started with a key the collector does not know reports the collector's
    reason instead of panicking (as CrowdSec's client did on apiwatch's old error body)."""
    store = open_store(f"sqlite:///{tmp_path}/apiwatch.db", key_file=tmp_path / "keys")
    log_file = tmp_path / "bouncer.log"
    try:
        with (
            namespace() as ns,
            served(create_app(store, ServerSettings(detect=False)), host=ns.host_ip) as url,
        ):
            config = _config(tmp_path, url, "aw_000000000000_not-a-key")
            with bouncer(bouncer_binary, ns, config, log_file) as process:
                deadline = time.monotonic() + WAIT
                # It either gives up (exits) or retries; either way it must say why, not panic.
                while _refusals(log_file.read_text()) < 2 and process.poll() is None:
                    if time.monotonic() > deadline:
                        pytest.fail(f"no refusal reported: {log_file.read_text()[-3000:]}")
                    time.sleep(0.2)
        log = log_file.read_text()
        assert _refusals(log) >= 1, log[-3000:]
        assert "panic" not in log, log[-3000:]
    finally:
        store.close()
