"""The syslog receiver with real senders: util-linux ``logger`` and Debian's rsyslog forwarding."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from tests._wait import wait_for
from tests.server.conftest import StoreFactory
from tests.server.live_helpers import access_line, live_collector
from tests.tls_helpers import write_self_signed

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
needs_rsyslog = pytest.mark.skipif(not Path(RSYSLOGD).exists(), reason="rsyslog not installed")
needs_logger = pytest.mark.skipif(shutil.which("logger") is None, reason="no logger (bsdutils)")


def _syslog(name: str, protocol: str, **extra: str) -> dict[str, str]:
    return {"name": name, "type": "syslog", "listen": "127.0.0.1:0", "protocol": protocol, **extra}


def _logger(port: int, message: str, *options: str) -> None:
    subprocess.run(
        [
            "logger",
            "--server",
            "127.0.0.1",
            "--port",
            str(port),
            "--tag",
            "nginx",
            *options,
            message,
        ],
        check=True,
        timeout=30,
    )


def _paths(events: list[dict[str, object]]) -> list[str]:
    return sorted(str(e["url"]["path"]) for e in events)  # type: ignore[index]


@needs_logger
def test_logger_over_tcp_udp_both_framings_and_both_rfcs(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """logger's RFC 5424 and RFC 3164 messages, newline-framed and octet-counted over TCP and
    as UDP datagrams, each carrying an nginx line, become one event each."""
    tables = [_syslog("tcp", "tcp"), _syslog("udp", "udp")]
    with live_collector(make_store, tables, tmp_path / "state") as live:
        tcp, udp = live.port("tcp"), live.port("udp")
        _logger(tcp, access_line("203.0.113.1", "/tcp-5424"), "--tcp", "--rfc5424")
        _logger(tcp, access_line("203.0.113.2", "/tcp-octets"), "--tcp", "--octet-count")
        _logger(tcp, access_line("203.0.113.3", "/tcp-3164"), "--tcp", "--rfc3164")
        _logger(udp, access_line("203.0.113.4", "/udp-5424"), "--udp")
        _logger(udp, access_line("203.0.113.5", "/udp-3164"), "--udp", "--rfc3164")
        by_tcp = wait_for(lambda: _full(live.events("tcp"), 3), "three TCP events")
        by_udp = wait_for(lambda: _full(live.events("udp"), 2), "two UDP events")
    assert _paths(by_tcp) == ["/tcp-3164", "/tcp-5424", "/tcp-octets"]
    assert _paths(by_udp) == ["/udp-3164", "/udp-5424"]
    assert {e["source"]["ip"] for e in by_tcp} == {"203.0.113.1", "203.0.113.2", "203.0.113.3"}


def _full(events: list[dict[str, object]], count: int) -> list[dict[str, object]] | None:
    return events if len(events) >= count else None


@needs_logger
def test_json_messages_are_ecs_events(make_store: StoreFactory, tmp_path: Path) -> None:
    """A syslog message holding an ECS JSON line is that event (account, action kept)."""
    ecs = {
        "@timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "event": {"action": "authn_login_fail", "outcome": "failure"},
        "source": {"ip": "198.51.100.9"},
        "user": {"name": "alice"},
    }
    with live_collector(make_store, [_syslog("app", "tcp")], tmp_path / "state") as live:
        _logger(live.port("app"), json.dumps(ecs), "--tcp")
        events = wait_for(lambda: live.events("app"), "the JSON event")
    assert events[0]["user"]["name"] == "alice"
    assert events[0]["event"]["action"] == "authn_login_fail"


def test_tls_receiver_takes_octet_counted_and_newline_frames(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """Over TLS (a Python ssl client verifying the collector's certificate): both framings."""
    cert, key = write_self_signed(tmp_path)
    table = _syslog("tls", "tls", tls_cert=str(cert), tls_key=str(key))
    with live_collector(make_store, [table], tmp_path / "state") as live:
        context = ssl.create_default_context(cafile=str(cert))
        first = f"<13>1 - host nginx - - - {access_line('203.0.113.7', '/octets')}".encode()
        second = f"<13>Dec  4 10:00:00 host nginx: {access_line('203.0.113.8', '/newline')}\n"
        with (
            socket.create_connection(("127.0.0.1", live.port("tls"))) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(str(len(first)).encode() + b" " + first + second.encode())
        events = wait_for(lambda: _full(live.events("tls"), 2), "two TLS events")
    assert _paths(events) == ["/newline", "/octets"]


def test_a_message_with_no_log_line_is_counted_as_refused(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """A syslog message apiwatch cannot read is refused and counted; the next is stored."""
    with live_collector(make_store, [_syslog("tcp", "tcp")], tmp_path / "state") as live:
        with socket.create_connection(("127.0.0.1", live.port("tcp"))) as sock:
            sock.sendall(b"<13>Dec  4 10:00:00 host cron: nothing to see \x1b[31m here\n")
            sock.sendall(
                f"<13>Dec  4 10:00:00 host nginx: {access_line('203.0.113.9', '/ok')}\n".encode()
            )
        wait_for(lambda: live.events("tcp"), "the good event")
        stats = live.stats("tcp")
    assert (stats.read, stats.parsed, stats.refused) == (2, 1, 1)


@needs_rsyslog
def test_rsyslog_forwards_a_file_over_tcp_udp_and_tls(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """rsyslogd (imfile) forwards an nginx log over TCP (octet-counted, RFC 5424), UDP (its
    traditional RFC 3164 format) and TLS (gtls): every line arrives through each."""
    cert, key = write_self_signed(tmp_path)
    tables = [
        _syslog("tcp", "tcp"),
        _syslog("udp", "udp"),
        _syslog("tls", "tls", tls_cert=str(cert), tls_key=str(key)),
    ]
    log = tmp_path / "nginx.log"
    log.write_text("".join(access_line(f"203.0.113.{n}", f"/r/{n}") + "\n" for n in range(20)))
    with live_collector(make_store, tables, tmp_path / "state") as live:
        ports = {name: live.port(name) for name in ("tcp", "udp", "tls")}
        rsyslog = _run_rsyslog(tmp_path, log, ports, cert)
        try:
            for name in ("tcp", "udp", "tls"):
                wait_for(lambda name=name: _full(live.events(name), 20), f"20 via {name}", 30)
        finally:
            rsyslog.terminate()
            rsyslog.wait(timeout=30)
        for name in ("tcp", "udp", "tls"):
            assert _paths(live.events(name)) == sorted(f"/r/{n}" for n in range(20))


def _run_rsyslog(
    directory: Path, log: Path, ports: dict[str, int], ca: Path
) -> subprocess.Popen[bytes]:
    """rsyslogd in the foreground with a private configuration: imfile in, omfwd out."""
    work = directory / "rsyslog"
    work.mkdir()
    conf = work / "rsyslog.conf"
    conf.write_text(f"""
global(workDirectory="{work}" defaultNetstreamDriverCAFile="{ca}")
module(load="imfile" mode="polling" PollingInterval="1")
input(type="imfile" File="{log}" Tag="nginx:" ruleset="forward")
ruleset(name="forward") {{
  action(type="omfwd" target="127.0.0.1" port="{ports["tcp"]}" protocol="tcp"
         TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
  action(type="omfwd" target="127.0.0.1" port="{ports["udp"]}" protocol="udp")
  action(type="omfwd" target="127.0.0.1" port="{ports["tls"]}" protocol="tcp"
         StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="anon")
}}
""")
    return subprocess.Popen(
        [RSYSLOGD, "-n", "-f", str(conf), "-i", str(work / "rsyslogd.pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
