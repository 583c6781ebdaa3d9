"""Syslog RFC 5424 (JSON or CEF) over TCP and TLS into Debian's rsyslogd, the real receiver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apiwatch.forward import ForwardError
from apiwatch.store import SqlStore
from tests.tls_helpers import write_self_signed

from .helpers import alert, drain, pump, store_events, target
from .rsyslog import free_port, received, rsyslogd


def _documents(lines: list[str]) -> list[tuple[str, dict[str, object]]]:
    pairs = [line.split(" ", 1) for line in lines]
    return [(msgid, json.loads(msg)) for msgid, msg in pairs]


def test_events_arrive_as_json_messages_in_order(store: SqlStore, tmp_path: Path) -> None:
    """rsyslogd receives every event once, in order, MSGID `event`, MSG the ECS JSON."""
    ids = store_events(store, 40)
    port = free_port()
    with rsyslogd(tmp_path, port) as out:
        drain(pump(store, target("rs", "syslog", host="127.0.0.1", port=port, batch=15)))
        docs = _documents(received(out, 40))
    assert [d["event"]["id"] for _, d in docs] == ids  # type: ignore[index]
    assert {msgid for msgid, _ in docs} == {"event"}


def test_receiver_down_then_back_loses_nothing(store: SqlStore, tmp_path: Path) -> None:
    """With rsyslogd down the batch fails and the cursor stays; once it is up all arrive."""
    ids = store_events(store, 10)
    port = free_port()
    forwarder = pump(store, target("rs", "syslog", host="127.0.0.1", port=port))
    with pytest.raises(ForwardError, match="ConnectionRefused"):
        forwarder.step()
    ids += store_events(store, 10, start=10)  # events keep arriving meanwhile
    with rsyslogd(tmp_path, port) as out:
        drain(forwarder)
        docs = _documents(received(out, 20))
    assert [d["event"]["id"] for _, d in docs] == ids  # type: ignore[index]


def test_cef_messages_escape_hostile_fields(store: SqlStore, tmp_path: Path) -> None:
    """CEF: header and extension escaping keep a CR/LF or `|`/`=` in a field inert."""
    store_events(store, 1, user="eve\r\nCEF:0|forged|x=1")
    store.detections.save([alert(1)], [])
    port = free_port()
    conf = target(
        "rs", "syslog", host="127.0.0.1", port=port, format="cef", kinds=["events", "alerts"]
    )
    with rsyslogd(tmp_path, port) as out:
        drain(pump(store, conf))
        event_line, alert_line = received(out, 2)
    assert event_line.startswith("event CEF:0|apiwatch|apiwatch|1|http_request|http_request|1|")
    assert "suser=eve\\r\\nCEF:0|forged|x\\=1" in event_line
    assert "src=203.0.113.7" in event_line
    assert alert_line.startswith("alert CEF:0|apiwatch|apiwatch|1|credential-stuffing|")
    assert "|8|" in alert_line and "externalId=alert-1" in alert_line


def test_tls_delivers_to_rsyslog_gtls(store: SqlStore, tmp_path: Path) -> None:
    """Over TLS (rsyslog's gtls driver), verified against the receiver's certificate."""
    ids = store_events(store, 5)
    cert, key = write_self_signed(tmp_path)
    port = free_port()
    conf = target("rs", "syslog", host="127.0.0.1", port=port, protocol="tls", ca_file=str(cert))
    with rsyslogd(tmp_path, port, tls=(cert, key)) as out:
        drain(pump(store, conf))
        docs = _documents(received(out, 5))
    assert [d["event"]["id"] for _, d in docs] == ids  # type: ignore[index]
