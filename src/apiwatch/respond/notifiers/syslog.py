"""Syslog: each message as ArcSight CEF (``CEF:0|...``) inside an RFC 5424 syslog message,
sent over UDP (one datagram), TCP (RFC 6587 octet counting: ``LEN SP MSG``) or TLS (RFC 5425,
the same framing).

CEF escaping is `apiwatch.model.syslog`'s. Custom strings (``cs1``...) are cut to CEF's
4000-character limit.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Final

from apiwatch.model import plural
from apiwatch.model.syslog import FACILITIES, LEVELS, cef_record, rfc5424_header
from apiwatch.respond._config import Table
from apiwatch.respond.notifiers._http import tls_context
from apiwatch.respond.notifiers._settings import NotifierType, Secrets
from apiwatch.respond.notify import MAX_LISTED, Message, NotifyError, describe_decision

__all__ = ["FACILITIES", "NOTIFIER", "SyslogNotifier", "SyslogSettings", "cef", "rfc5424"]

_CS_MAX: Final = 4000


def _cut(value: str) -> str:
    return value if len(value) <= _CS_MAX else value[: _CS_MAX - 1] + "\u2026"


@cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("apiwatch")
    except PackageNotFoundError:
        return "0"


def _millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def cef(message: Message) -> str:
    """The CEF record for ``message``."""
    _, severity = LEVELS.get(message.severity, (5, 3))
    decisions = [describe_decision(d) for d in message.decisions]
    if len(decisions) > MAX_LISTED:
        decisions = [*decisions[:MAX_LISTED], f"+{len(decisions) - MAX_LISTED} more"]
    acts = sorted({("would " if d.simulated else "") + d.type for d in message.decisions})
    fields: list[tuple[str, str]] = [
        ("rt", _millis(message.last_seen)),
        ("start", _millis(message.first_seen)),
        ("end", _millis(message.last_seen)),
        ("externalId", message.incident),
        ("cat", ",".join(message.attacks) or "incident"),
        ("act", ",".join(acts) or "notify"),
        ("cnt", str(message.requests)),
        (
            "msg",
            f"{message.kind}: {plural(message.attackers_count, 'attacker')}, "
            f"{plural(message.accounts_targeted_count, 'account')} targeted, "
            f"{len(message.accounts_compromised)} compromised",
        ),
    ]
    first = message.attackers[0] if message.attackers else ""
    if first and ":" not in first:
        fields.append(("src", first))  # CEF's src is IPv4 only
    fields += [
        ("cn1Label", "attackerCount"),
        ("cn1", str(message.attackers_count)),
        ("cn2Label", "accountsTargeted"),
        ("cn2", str(message.accounts_targeted_count)),
        ("cn3Label", "accountsCompromised"),
        ("cn3", str(len(message.accounts_compromised))),
        ("cs1Label", "attackers"),
        ("cs1", _cut(",".join(message.attackers))),
        ("cs2Label", "accountsCompromised"),
        ("cs2", _cut(",".join(message.accounts_compromised))),
        ("cs3Label", "decisions"),
        ("cs3", _cut("; ".join(decisions))),
        ("cs4Label", "objectsExposed"),
        ("cs4", _cut(",".join(message.objects_exposed))),
        ("cs5Label", "link"),
        ("cs5", message.link),
        ("cs6Label", "changes"),
        ("cs6", _cut(",".join(message.changes))),
    ]
    signature = message.rules[0] if message.rules else "incident"
    return cef_record(_version(), signature, message.title, severity, fields)


def rfc5424(
    message: Message,
    *,
    facility: int = FACILITIES["local0"],
    hostname: str = "",
    timestamp: float | None = None,
) -> str:
    """The RFC 5424 syslog line carrying ``cef(message)`` (no framing, no trailing newline)."""
    level, _ = LEVELS.get(message.severity, (5, 3))
    moment = datetime.fromtimestamp(time.time() if timestamp is None else timestamp, UTC)
    head = rfc5424_header(
        facility=facility, level=level, moment=moment, hostname=hostname or socket.gethostname(),
        msgid="incident-update" if message.update else "incident",
    )  # fmt: skip
    return head + cef(message)


class SyslogNotifier:
    """Sends each message as RFC 5424 + CEF to ``host``:``port`` by ``udp``, ``tcp`` or ``tls``."""

    def __init__(
        self,
        host: str,
        port: int = 514,
        *,
        protocol: str = "udp",
        facility: str = "local0",
        hostname: str = "",
        ca_file: str = "",
        timeout: float = 10.0,
        name: str = "syslog",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if protocol not in ("udp", "tcp", "tls"):
            raise ValueError(f"protocol must be udp, tcp or tls, not {protocol!r}")
        self.host, self.port, self.protocol = host, port, protocol
        self.facility = FACILITIES[facility]
        self.hostname = hostname
        self.ca_file = ca_file
        self.timeout = timeout
        self.name = name
        self._clock = clock

    def __repr__(self) -> str:
        return f"SyslogNotifier({self.name!r}, {self.protocol}://{self.host}:{self.port})"

    def line(self, message: Message) -> bytes:
        """The syslog message for ``message``, UTF-8, unframed."""
        text = rfc5424(
            message, facility=self.facility, hostname=self.hostname, timestamp=self._clock()
        )
        return text.encode("utf-8")

    def send(self, message: Message) -> None:
        """Send ``message``; raise `NotifyError` when the socket fails."""
        data = self.line(message)
        try:
            if self.protocol == "udp":
                self._send_udp(data)
            else:
                self._send_stream(b"%d %s" % (len(data), data))
        except OSError as exc:
            raise NotifyError(f"{self.name}: {type(exc).__name__}: {exc}") from None

    def _send_udp(self, data: bytes) -> None:
        family, kind, proto, _, address = socket.getaddrinfo(
            self.host, self.port, type=socket.SOCK_DGRAM
        )[0]
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(self.timeout)
            sock.sendto(data, address)

    def _send_stream(self, framed: bytes) -> None:
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as raw:
            if self.protocol == "tls":
                context = tls_context(self.ca_file)
                with context.wrap_socket(raw, server_hostname=self.host) as sock:
                    sock.sendall(framed)
            else:
                raw.sendall(framed)


@dataclass(frozen=True, slots=True)
class SyslogSettings:
    """CEF in RFC 5424 syslog over ``udp``, ``tcp`` (octet counting) or ``tls``."""

    host: str
    port: int = 514
    protocol: str = "udp"
    facility: str = "local0"
    hostname: str = ""
    ca_file: str = ""
    timeout: float = 10.0

    @classmethod
    def from_table(cls, table: Table) -> SyslogSettings:
        """The ``type = "syslog"`` keys of ``table``."""
        protocol = table.string("protocol", "udp")
        if protocol not in ("udp", "tcp", "tls"):
            raise table.error("protocol", f"one of udp, tcp, tls, not {protocol!r}")
        facility = table.string("facility", "local0")
        if facility not in FACILITIES:
            raise table.error("facility", f"not a syslog facility: {facility!r}")
        return cls(
            host=table.string("host"),
            port=table.integer("port", 6514 if protocol == "tls" else 514, low=1, high=65535),
            protocol=protocol,
            facility=facility,
            hostname=table.string("hostname", ""),
            ca_file=table.string("ca_file", ""),
            timeout=table.duration("timeout", "10s"),
        )

    def build(self, name: str, template: str, secrets: Secrets) -> SyslogNotifier:
        """The syslog notifier these settings describe (CEF fields: no template, no secret)."""
        return SyslogNotifier(
            self.host,
            self.port,
            protocol=self.protocol,
            facility=self.facility,
            hostname=self.hostname,
            ca_file=self.ca_file,
            timeout=self.timeout,
            name=name,
        )


# Syslog carries CEF fields, not text: it takes no template.
NOTIFIER: Final = NotifierType("syslog", SyslogSettings.from_table, templated=False)
