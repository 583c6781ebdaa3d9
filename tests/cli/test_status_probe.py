"""`apiwatch status` asks the collector itself (/healthz, /readyz) besides reading its store:
a real `apiwatch serve` on a free port is "live, ready" (exit 0); a closed port is
"UNREACHABLE" (exit 3), the store's part printed all the same."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from apiwatch.cli._config import Settings
from apiwatch.cli._probe import collector_url
from apiwatch.server import create_app
from apiwatch.store import open_store
from tests.server.conftest import add_keys
from tests.server.conftest import served as served_app
from tests.server.helpers import NDJSON, event, ndjson
from tests.server.test_full_store import fill
from tests.tls_helpers import write_self_signed

APIWATCH = Path(sys.executable).with_name("apiwatch")
KEY = "very-long-sensor-name-for-the-payments-service-eu-west"
SERVICE = "payments-api-eu-west-production"
HOST = "ip-10-20-30-40.eu-west-1.compute.internal"


def _environment(**extra: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items()
            if not k.startswith("APIWATCH_") or k == "APIWATCH_HOME"}  # fmt: skip
    return {**kept, **extra}


def _apiwatch(workdir: Path, *args: str, columns: int = 200) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(APIWATCH), *args], cwd=workdir, capture_output=True, text=True,
                            env=_environment(COLUMNS=str(columns)), timeout=120,
                            check=False)  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr
    return result


@dataclass
class Served:
    workdir: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`apiwatch serve --port 0` over a fresh store holding one batch from a long-named key."""
    workdir = tmp_path_factory.mktemp("status")
    created = _apiwatch(workdir, "keys", "create", "--name", KEY, "--scope", "ingest",
                        "--service", SERVICE, "--db", "sqlite:///s.db")  # fmt: skip
    secret = created.stdout.split()[-1]
    process = subprocess.Popen([str(APIWATCH), "serve", "--db", "sqlite:///s.db", "--port", "0"],
                               cwd=workdir, env=_environment(), stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    try:
        assert process.stderr is not None
        line = next(line for line in process.stderr if "collecting on" in line)
        port = int(line.split("http://127.0.0.1:")[1].split()[0].rstrip(";,"))
        body = ndjson([event(service=SERVICE, host=HOST, at=datetime.now(UTC))])
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/events", content=body, timeout=30,
                            headers={"Authorization": f"Bearer {secret}",
                                     "Content-Type": "application/x-ndjson"})  # fmt: skip
        assert answer.status_code == 202, answer.text
        yield Served(workdir, port)
    finally:
        process.terminate()
        process.communicate(timeout=30)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_a_running_collector_is_live_and_ready(served: Served) -> None:
    """Against the running collector, `status --url` says "live, ready" and exits 0."""
    result = _apiwatch(served.workdir, "status", "--url", served.url, "--db", "sqlite:///s.db")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"collector {served.url}: live, ready"
    state = json.loads(_apiwatch(served.workdir, "status", "--json", "--url", served.url,
                                 "--db", "sqlite:///s.db").stdout)  # fmt: skip
    assert state["collector"] == {"url": served.url, "live": True, "ready": True,
                                  "problem": None}  # fmt: skip
    assert state["events"] == 1


@pytest.mark.slow
def test_without_url_the_collector_is_found_where_the_settings_make_it_listen(
    served: Served,
) -> None:
    """With no --url, status probes the host and port of the settings file `serve` reads."""
    (served.workdir / "apiwatch.toml").write_text(f'db = "sqlite:///s.db"\nport = {served.port}\n')
    try:
        result = _apiwatch(served.workdir, "status")
    finally:
        (served.workdir / "apiwatch.toml").unlink()
    assert result.returncode == 0, result.stderr
    assert f"collector {served.url}: live, ready" in result.stdout


@pytest.mark.slow
def test_the_sources_table_keeps_long_names_whole_at_60_columns(served: Served) -> None:
    """`status` at 60 columns prints the long key, service and host names whole."""
    result = _apiwatch(served.workdir, "status", "--url", served.url, "--db", "sqlite:///s.db",
                       columns=60)  # fmt: skip
    for name in (KEY, SERVICE, HOST):
        assert name in result.stdout, name
    assert "…" not in result.stdout


@pytest.mark.slow
def test_a_closed_port_is_unreachable_and_exits_3(served: Served) -> None:
    """Nothing listening: status says UNREACHABLE (connection refused), still prints what the
    store holds, and exits 3; --json says so in its collector object."""
    url = f"http://127.0.0.1:{_closed_port()}"
    result = _apiwatch(served.workdir, "status", "--url", url, "--db", "sqlite:///s.db")
    assert result.returncode == 3
    assert f"collector {url}: UNREACHABLE (connection refused)" in result.stdout
    assert "events stored: 1;" in result.stdout
    as_json = _apiwatch(served.workdir, "status", "--json", "--url", url, "--db", "sqlite:///s.db")
    assert as_json.returncode == 3
    collector = json.loads(as_json.stdout)["collector"]
    assert collector == {"url": url, "live": False, "ready": False,
                         "problem": "connection refused"}  # fmt: skip


def test_no_probe_reads_the_store_alone(tmp_path: Path) -> None:
    """--no-probe leaves the collector alone: no collector line, exit 0 with none running."""
    _apiwatch(
        tmp_path, "keys", "create", "--name", "r", "--scope", "read", "--db", "sqlite:///a.db"
    )
    result = _apiwatch(tmp_path, "status", "--no-probe", "--db", "sqlite:///a.db")
    assert result.returncode == 0, result.stderr
    assert "collector" not in result.stdout
    assert json.loads(_apiwatch(tmp_path, "status", "--no-probe", "--json", "--db",
                                "sqlite:///a.db").stdout)["collector"] is None  # fmt: skip


@pytest.mark.slow
def test_a_collector_with_a_full_store_is_live_but_not_ready(tmp_path: Path) -> None:
    """A collector whose store is full answers /healthz but not /readyz: status says "live,
    NOT READY (the event store is full …)" and exits 3."""
    store = open_store(f"sqlite:///{tmp_path}/full.db", key_file=tmp_path / "keys",
                       max_bytes=256 * 1024)  # fmt: skip
    headers = {**NDJSON, "Authorization": f"Bearer {add_keys(store)['ingest']}"}
    _apiwatch(
        tmp_path, "keys", "create", "--name", "r", "--scope", "read", "--db", "sqlite:///a.db"
    )
    try:
        with served_app(create_app(store)) as base, httpx.Client(base_url=base) as client:
            fill(client, headers)
            result = _apiwatch(tmp_path, "status", "--url", base, "--db", "sqlite:///a.db")
    finally:
        store.close()
    assert result.returncode == 3
    assert f"collector {base}: live, NOT READY (the event store is full" in result.stdout


@pytest.mark.parametrize(
    ("host", "tls", "url"),
    [
        ("127.0.0.1", False, "http://127.0.0.1:8470"),
        ("0.0.0.0", False, "http://127.0.0.1:8470"),
        ("::", True, "https://[::1]:8470"),
        ("collector.example", True, "https://collector.example:8470"),
    ],
)
def test_the_default_url_is_where_serve_listens(host: str, tls: bool, url: str) -> None:
    """Without --url, status asks where the settings make `serve` listen: a wildcard host on
    loopback, https when a TLS certificate is set."""
    settings = Settings(host=host, tls_cert="cert.pem" if tls else None)
    assert collector_url(settings) == url


@pytest.mark.slow
def test_the_collector_line_stands_when_the_store_cannot_be_read(served: Served) -> None:
    """On a machine without the store, status still says the collector is live and ready,
    then the store's error in one line (exit 1)."""
    result = _apiwatch(served.workdir, "status", "--url", served.url, "--db",
                       "sqlite:///elsewhere.db")  # fmt: skip
    assert result.returncode == 1
    assert result.stdout.strip() == f"collector {served.url}: live, ready"
    assert result.stderr.startswith("apiwatch: no apiwatch store at ")


@dataclass
class TlsServed:
    workdir: Path
    port: int
    cert: Path
    key: Path
    secret: str

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def tls_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServed]:
    """`apiwatch serve --port 0` over HTTPS with a self-signed certificate, and an ingest key."""
    workdir = tmp_path_factory.mktemp("tls")
    cert, key = write_self_signed(workdir)
    created = _apiwatch(workdir, "keys", "create", "--name", "ship", "--scope", "ingest",
                        "--service", "shop", "--db", "sqlite:///s.db")  # fmt: skip
    process = subprocess.Popen([str(APIWATCH), "serve", "--db", "sqlite:///s.db", "--port", "0",
                                "--tls-cert", str(cert), "--tls-key", str(key)], cwd=workdir,
                               env=_environment(), stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert process.stderr is not None
        line = next(line for line in process.stderr if "collecting on" in line)
        port = int(line.split("https://127.0.0.1:")[1].split()[0].rstrip(";,"))
        yield TlsServed(workdir, port, cert, key, created.stdout.split()[-1])
    finally:
        process.terminate()
        process.communicate(timeout=30)


@pytest.mark.slow
def test_a_tls_collector_is_trusted_with_ca_file_and_its_settings_give_https(
    tls_served: TlsServed,
) -> None:
    """With a self-signed certificate: status without --ca-file says the certificate is not
    trusted and points at --ca-file (exit 3); with it, "live, ready"; and with the TLS settings
    in apiwatch.toml, no --url is needed (https on the configured port)."""
    served, url = tls_served, tls_served.url
    untrusted = _apiwatch(served.workdir, "status", "--url", url, "--db", "sqlite:///s.db")
    trusted = _apiwatch(served.workdir, "status", "--url", url, "--ca-file", str(served.cert),
                        "--db", "sqlite:///s.db")  # fmt: skip
    settings = served.workdir / "apiwatch.toml"
    settings.write_text(f'db = "sqlite:///s.db"\nport = {served.port}\n'
                        f'tls_cert = "{served.cert}"\ntls_key = "{served.key}"\n')  # fmt: skip
    try:
        configured = _apiwatch(served.workdir, "status", "--ca-file", str(served.cert))
    finally:
        settings.unlink()
    assert untrusted.returncode == 3
    first = untrusted.stdout.splitlines()[0]
    assert first.startswith(f"collector {url}: UNREACHABLE (its certificate is not trusted: ")
    assert first.endswith("; --ca-file trusts a private CA)")
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert trusted.stdout.splitlines()[0] == f"collector {url}: live, ready"
    assert configured.returncode == 0, configured.stdout + configured.stderr
    assert configured.stdout.splitlines()[0] == f"collector {url}: live, ready"


@pytest.mark.slow
def test_ship_trusts_a_private_ca_with_ca_file(tls_served: TlsServed) -> None:
    """`ship --ca-file` sends to a collector whose certificate only that file vouches for;
    without it the run stops in one line naming the certificate problem."""
    log = tls_served.workdir / "app.ndjson"
    log.write_text(json.dumps(event(service="shop", at=datetime.now(UTC))) + "\n")
    common = ("ship", "--url", tls_served.url, "--key", tls_served.secret, "--retries", "0",
              "--state", "state.json")  # fmt: skip
    refused = _apiwatch(tls_served.workdir, *common, str(log))
    shipped = _apiwatch(tls_served.workdir, *common, "--ca-file", str(tls_served.cert), str(log))
    assert refused.returncode == 1
    assert refused.stderr.startswith("apiwatch: cannot reach ") and "CERTIFICATE" in refused.stderr
    assert shipped.returncode == 0, shipped.stderr
    assert "shipped 1 event from 1 file:" in shipped.stderr


def test_an_unreadable_ca_file_is_a_usage_error(tmp_path: Path) -> None:
    """A --ca-file that is no PEM bundle is one usage line naming the option (exit 2)."""
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    result = _apiwatch(tmp_path, "status", "--ca-file", str(bogus), "--url", "https://x:1")
    assert result.returncode == 2
    assert "--ca-file" in result.stderr and "cannot load" in result.stderr
