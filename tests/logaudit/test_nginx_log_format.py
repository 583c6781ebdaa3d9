"""The nginx log_format `apiwatch audit` recommends, in Debian's real nginx: the log it writes
has every essential, leaks no query string, and `apiwatch scan` finds an attack in it with
the accounts named."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from apiwatch.logaudit import NGINX_ECS_LOG_FORMAT

from .helpers import audit_json

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed")


class _App(BaseHTTPRequestHandler):
    """The API behind nginx: a login that names the account in X-Apiwatch-User."""

    protocol_version = "HTTP/1.1"

    def _answer(self, status: int, user: str = "") -> None:
        self.send_response(status)
        if user:
            self.send_header("X-Apiwatch-User", user)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        user, password = form["user"][0], form["password"][0]
        self._answer(200 if password == "right" else 401, user)

    def do_GET(self) -> None:
        self._answer(200)

    def log_message(self, *args: object) -> None:
        return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _nginx(directory: Path, upstream: int) -> Iterator[tuple[int, Path]]:
    port, log = _free_port(), directory / "api.ndjson"
    log_format = NGINX_ECS_LOG_FORMAT.replace("/var/log/nginx/api.ndjson", str(log))
    temp = " ".join(
        f"{kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (directory / "nginx.conf").write_text(f"""
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"};
events {{ worker_connections 64; }}
http {{
  {temp}
  {log_format}
  set_real_ip_from 127.0.0.1;
  real_ip_header X-Forwarded-For;
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://127.0.0.1:{upstream}; proxy_hide_header X-Apiwatch-User; }}
  }}
}}
""")
    process = subprocess.Popen(
        [NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf"), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
    )
    try:
        _wait_listening(port, process)
        yield port, log
    finally:
        process.terminate()  # SIGTERM: nginx stops, its log written
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("nginx did not listen")


@pytest.fixture(scope="module")
def nginx_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The log nginx wrote for a credential-stuffing run, ordinary browsing and one request
    with a token in its query string."""
    app = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    try:
        directory = tmp_path_factory.mktemp("nginx")
        with (
            _nginx(directory, app.server_address[1]) as (port, log),
            httpx.Client(base_url=f"http://127.0.0.1:{port}") as client,
        ):
            for i in range(30):  # one address tries thirty accounts
                client.post(
                    "/api/login",
                    data={"user": f"user{i}", "password": "guess"},
                    headers={
                        "X-Forwarded-For": "203.0.113.66",
                        "User-Agent": "python-requests/2.32",
                    },
                )
            for i in range(10):
                client.get(
                    f"/api/orders/{i}?token=s3cr3t-{i}",
                    headers={"X-Forwarded-For": f"198.51.100.{i}", "User-Agent": "Mozilla/5.0"},
                )
                client.post(
                    "/api/login",
                    data={"user": f"client{i}", "password": "right"},
                    headers={"X-Forwarded-For": f"198.51.100.{i}"},
                )
        return log
    finally:
        app.shutdown()
        app.server_close()


def test_the_recommended_log_format_has_every_essential(nginx_log: Path) -> None:
    """Audited, the log nginx wrote with the recommended log_format lacks nothing and leaks
    nothing (the query string with its token is not logged)."""
    document = audit_json(nginx_log)
    assert document["format"] == "ecs"
    statuses = {item["name"]: item["status"] for item in document["essentials"]}
    assert set(statuses.values()) == {"present"}, document["essentials"]
    assert document["leaks"] == []
    assert "s3cr3t" not in nginx_log.read_text()


def test_scan_finds_the_attack_with_its_accounts(nginx_log: Path) -> None:
    """`apiwatch scan` on that log raises credential stuffing from the attacker, accounts named."""
    done = subprocess.run(
        [sys.executable, "-m", "apiwatch", "scan", "--json", "--quiet", str(nginx_log)],
        capture_output=True,
        text=True,
        check=True,
    )
    incidents = [json.loads(line) for line in done.stdout.splitlines()]
    stuffing = [i for i in incidents if any("credential-stuffing" in r for r in i["rules"])]
    assert stuffing, incidents
    assert stuffing[0]["attackers"] == ["203.0.113.66"]
    assert "user7" in stuffing[0]["accounts_targeted"]
