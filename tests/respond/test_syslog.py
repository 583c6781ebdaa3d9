"""The syslog notifier: RFC 5424 lines carrying CEF, over real UDP, TCP and TLS sockets."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import pytest

from apiwatch.respond import Message, NotifyError, Responder, SyslogNotifier, parse_config
from apiwatch.respond.notifiers import cef

from ..tls_helpers import write_self_signed
from .helpers import NOW, incident, policy
from .receivers import free_port, stream_receiver, udp_receiver

RFC5424 = re.compile(
    r"<(?P<pri>\d{1,3})>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (?P<host>\S+) "
    r"(?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) (?P<sd>-) (?P<msg>.*)",
    re.DOTALL,
)
CLOCK = NOW.timestamp()


def parse_cef(text: str) -> tuple[list[str], dict[str, str]]:
    """Split a CEF record into its seven header fields and its extension (unescaped)."""
    header, rest, pos = [], "", 0
    for _ in range(7):
        match = re.compile(r"((?:[^|\\]|\\.)*)\|").match(text, pos)
        assert match is not None, text
        header.append(re.sub(r"\\(.)", r"\1", match.group(1)))
        pos = match.end()
    rest = text[pos:]
    extension = {}
    for key, value in re.findall(r"(\w+)=((?:[^=\\]|\\.)*?)(?= \w+=|$)", rest):
        extension[key] = value.replace("\\n", "\n").replace("\\r", "\r")
        extension[key] = re.sub(r"\\([=\\])", r"\1", extension[key])
    return header, extension


def message() -> Message:
    case = incident(accounts_compromised=["bob", "erin"])
    decided = Responder(parse_config({"policy": [policy()]})).decide(case, now=NOW)
    return Message.build(case, decided.decisions, base_url="https://aw.example")


def check_line(line: str) -> dict[str, str]:
    match = RFC5424.fullmatch(line)
    assert match is not None, line
    assert int(match["pri"]) == 16 * 8 + 3  # local0, err (a high incident)
    assert match["ts"] == "2024-05-01T12:00:00.000000Z"
    assert (match["host"], match["app"], match["msgid"]) == ("web-1", "apiwatch", "incident")
    header, extension = parse_cef(match["msg"])
    assert header[0] == "CEF:0"
    assert header[1:3] == ["apiwatch", "apiwatch"]
    assert header[4:] == ["credential-stuffing-source", "Credential stuffing from one source", "8"]
    return extension


def test_udp_sends_one_datagram_with_rfc5424_and_cef() -> None:
    """A UDP receiver gets one datagram: an RFC 5424 header and a parseable CEF record."""
    with udp_receiver() as sock:
        port = sock.getsockname()[1]
        SyslogNotifier("127.0.0.1", port, hostname="web-1", clock=lambda: CLOCK).send(message())
        data, _ = sock.recvfrom(65535)
    extension = check_line(data.decode())
    assert extension["externalId"] == "inc-1"
    assert extension["src"] == "203.0.113.9"
    assert extension["cs2Label"] == "accountsCompromised"
    assert extension["cs2"] == "bob,erin"
    assert extension["cn1"] == "3"
    assert extension["act"] == "ban"
    assert extension["cs5"] == "https://aw.example/v1/incidents/inc-1"
    assert extension["cs3"].startswith("ban Ip 203.0.113.9 for 4h0m0s")


def test_tcp_uses_octet_counting_framing() -> None:
    """Over TCP the message is framed as ``LENGTH SP MESSAGE`` (RFC 6587 octet counting)."""
    with stream_receiver() as receiver:
        SyslogNotifier(
            "127.0.0.1", receiver.port, protocol="tcp", hostname="web-1", clock=lambda: CLOCK
        ).send(message())
        assert receiver.done.wait(10)
    length, _, rest = bytes(receiver.data).partition(b" ")
    assert int(length) == len(rest)
    check_line(rest.decode())


def test_tls_is_verified_and_framed(tmp_path: Path) -> None:
    """Over TLS the receiver's certificate is verified against ca_file; framing as TCP."""
    cert, key = write_self_signed(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    with stream_receiver(tls=server) as receiver:
        SyslogNotifier(
            "127.0.0.1",
            receiver.port,
            protocol="tls",
            hostname="web-1",
            ca_file=str(cert),
            clock=lambda: CLOCK,
        ).send(message())
        assert receiver.done.wait(10)
    length, _, rest = bytes(receiver.data).partition(b" ")
    assert int(length) == len(rest)
    check_line(rest.decode())


def test_tls_refuses_an_unknown_certificate(tmp_path: Path) -> None:
    """Without the receiver's CA, the TLS handshake fails and nothing is sent in clear."""
    cert, key = write_self_signed(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    with (
        stream_receiver(tls=server) as receiver,
        pytest.raises(NotifyError, match="SSLCertVerificationError"),
    ):
        SyslogNotifier("127.0.0.1", receiver.port, protocol="tls", timeout=5).send(message())
    assert receiver.data == b""


def test_a_closed_tcp_port_raises() -> None:
    """A receiver that is down is a NotifyError naming the notifier."""
    with pytest.raises(NotifyError, match=r"^siem: ConnectionRefusedError"):
        SyslogNotifier("127.0.0.1", free_port(), protocol="tcp", name="siem").send(message())


def test_cef_escapes_header_and_extension_characters() -> None:
    """``|`` and ``\\`` are escaped in the header; ``=``, ``\\`` and line breaks in extensions."""
    case = incident(
        title="Probe | with \\ pipes\nand lines",
        accounts_compromised=["a=b", "c\\d"],
        objects_exposed=["/x/{id}=1"],
    )
    record = cef(Message.build(case, base_url="http://x"))
    assert "\n" not in record and "\r" not in record
    assert "|Probe \\| with \\\\ pipes" in record
    header, extension = parse_cef(record)
    assert header[5].startswith("Probe | with \\ pipes")
    assert extension["cs2"] == "a=b,c\\d"
    assert extension["cs4"] == "/x/{id}=1"
