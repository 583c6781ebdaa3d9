"""Syslog: each record as one RFC 5424 message over TCP or TLS (RFC 6587 octet counting),
its MSG the ECS document as JSON (``format = "json"``, the default) or ArcSight CEF
(``format = "cef"``).

Plain syslog over TCP has no acknowledgement, so a batch is delivered on a connection of its
own, which is then half-closed: the batch counts as delivered only when the receiver, having
read to the end, closes its side too. A receiver that dies mid-batch leaves the batch to be
sent again (at least once; the record id is in the message: ``event.id`` in JSON,
``externalId`` in CEF, and the RFC 5424 MSGID is the kind).

CEF escaping is `apiwatch.model.syslog`'s. JSON escapes every control character, so a CR/LF in
a field never starts a new syslog line.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Sequence
from typing import Final

import msgspec

from apiwatch.forward._base import ForwardError
from apiwatch.forward._records import Record, dotted
from apiwatch.forward.config import ForwardTarget
from apiwatch.model.syslog import FACILITIES, LEVELS, cef_record, rfc5424_header

__all__ = ["SyslogSink", "cef_line", "syslog_message"]

_encode = msgspec.json.Encoder().encode
# The facilities a forwarder may name (codes from RFC 5424's table).
_FACILITIES: Final = {
    name: FACILITIES[name]
    for name in ("user", "daemon", "auth", "authpriv", "security", *(f"local{n}" for n in range(8)))
}
_EOF_WAIT: Final = 10.0


_EVENT_FIELDS: Final = (
    ("src", "source.ip"),
    ("suser", "user.name"),
    ("requestMethod", "http.request.method"),
    ("request", "url.path"),
    ("requestClientApplication", "user_agent.original"),
    ("outcome", "event.outcome"),
    ("cn1", "http.response.status_code"),
    ("dhost", "host.name"),
    ("dvchost", "service.name"),
)


def cef_line(record: Record) -> str:
    """The CEF record for ``record``."""
    doc = record.document
    _, severity = LEVELS.get(record.severity, (6, 1))
    fields = [("rt", str(int(record.timestamp.timestamp() * 1000))), ("externalId", record.id)]
    if record.kind == "events":
        signature = dotted(doc, "event.action") or "http_request"
        name = signature
        fields += [
            (key, str(v)) for key, path in _EVENT_FIELDS if (v := dotted(doc, path)) is not None
        ]
        if dotted(doc, "http.response.status_code") is not None:
            fields.append(("cn1Label", "httpStatus"))
    else:
        body = doc["apiwatch"][record.kind[:-1]]
        signature, name = dotted(doc, "rule.name") or record.kind, doc.get("message", "")
        attackers = body.get("attackers") or []
        fields += [
            ("cat", record.kind[:-1]),
            ("cs1Label", "attackers"),
            ("cs1", ",".join(attackers)[:4000]),
        ]
        if attackers:
            fields.append(("src", attackers[0]))
    return cef_record("1", signature, name, severity, fields)


def syslog_message(record: Record, *, facility: int, hostname: str, fmt: str) -> bytes:
    """The RFC 5424 message for ``record`` (unframed, UTF-8)."""
    level, _ = LEVELS.get(record.severity, (6, 1))
    head = rfc5424_header(
        facility=facility, level=level, moment=record.timestamp, hostname=hostname,
        msgid=record.kind[:-1],
    )  # fmt: skip
    body = record.raw if fmt == "json" else cef_line(record).encode()
    return head.encode() + body


class SyslogSink:
    """Delivers records to ``host``:``port`` (514 by default) by ``tcp`` or ``tls``."""

    def __init__(self, target: ForwardTarget) -> None:
        self.name = target.name
        self.host = str(target.option("host"))
        self.port = int(target.option("port", 514))
        self.protocol = target.option("protocol", "tcp")
        self.format = target.option("format", "json")
        self.timeout = float(target.option("timeout", 30.0))
        facility = target.option("facility", "local0")
        if self.protocol not in ("tcp", "tls") or self.format not in ("json", "cef"):
            raise ForwardError(f"{self.name}: protocol is tcp or tls, format json or cef")
        if facility not in _FACILITIES:
            raise ForwardError(f"{self.name}: facility is one of {', '.join(_FACILITIES)}")
        self.facility = _FACILITIES[facility]
        self.hostname = target.option("hostname") or socket.gethostname()
        self.ca_file = target.option("ca_file")

    def _framed(self, record: Record) -> bytes:
        message = syslog_message(
            record, facility=self.facility, hostname=self.hostname, fmt=self.format
        )
        return b"%d %s" % (len(message), message)

    def send(self, records: Sequence[Record]) -> int:
        data = b"".join(self._framed(record) for record in records)
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as raw:
                if self.protocol == "tls":
                    context = ssl.create_default_context(cafile=self.ca_file or None)
                    with context.wrap_socket(raw, server_hostname=self.host) as sock:
                        sock.sendall(data)
                        _finish_tls(sock)
                else:
                    raw.sendall(data)
                    _finish(raw)
        except (OSError, ssl.SSLError) as exc:
            raise ForwardError(f"{self.name}: {type(exc).__name__}: {exc}") from None
        return 0

    def close(self) -> None:
        return None


def _finish(sock: socket.socket) -> None:
    """Half-close and wait until the receiver closes too: it has read every byte."""
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(_EOF_WAIT)
    while sock.recv(4096):
        pass


def _finish_tls(sock: ssl.SSLSocket) -> None:
    """Send TLS close_notify and wait for the receiver's: it sees ours only after every record
    before it. A receiver that answers by closing the connection has read them all too."""
    sock.settimeout(_EOF_WAIT)
    try:
        plain = sock.unwrap()
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError):
        return
    plain.shutdown(socket.SHUT_WR)
    while plain.recv(4096):
        pass
    plain.close()
