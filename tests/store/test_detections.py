"""Alerts and incidents in the store: upsert by id, filters and pages, encrypted at rest."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from apiwatch.model import ConfigError
from apiwatch.model.alert import Alert, Incident
from apiwatch.store import DetectionFilter, Keyring, SqlStore
from apiwatch.store.crypto import DecryptError

from .helpers import T0, Backend, batch, lines

ATTACKER = "203.0.113.9"
ACCOUNT = "dana.private-account"
NEW_TABLES = ("alerts", "incidents", "incident_rules", "detection_attackers")


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def an_alert(
    name: str,
    *,
    rule: str = "credential-stuffing-source",
    severity: str = "high",
    last: datetime = T0,
    attackers: tuple[str, ...] = (ATTACKER,),
    accounts: tuple[str, ...] = (ACCOUNT,),
) -> Alert:
    return Alert(
        id=f"al-{name}",
        rule=rule,
        title="Credential stuffing from one source",
        severity=severity,
        timestamp=last,
        first_seen=last - minutes(5),
        last_seen=last,
        incident=f"inc-{name}",
        group={"source.ip": attackers[0]} if attackers else {},
        count=20,
        attackers=list(attackers),
        accounts=list(accounts),
        user_agents=["python-requests/2.32"],
    )


def an_incident(
    name: str,
    *,
    rules: tuple[str, ...] = ("credential-stuffing-source",),
    severity: str = "critical",
    last: datetime = T0,
    attackers: tuple[str, ...] = (ATTACKER,),
    compromised: tuple[str, ...] = (ACCOUNT,),
    requests: int = 21,
) -> Incident:
    return Incident(
        id=f"inc-{name}",
        title="Successful login from a credential-stuffing source",
        severity=severity,
        first_seen=last - minutes(5),
        last_seen=last,
        rules=list(rules),
        alerts=len(rules),
        attackers=list(attackers),
        accounts_targeted=sorted({ACCOUNT, "erin", *compromised}),
        accounts_compromised=list(compromised),
        requests=requests,
        attacker_evidence={
            ip: [
                "15 failed logins against 15 accounts never logged into from here",
                "no successful login",
            ]
            for ip in attackers
        },
        account_evidence={a: ["logged in from an attacking address"] for a in compromised},
    )


def all_incidents(store: SqlStore, criteria: DetectionFilter | None = None) -> list[Incident]:
    return store.detections.incidents(criteria or DetectionFilter(), cursor=None, limit=1000).items


def all_alerts(store: SqlStore, criteria: DetectionFilter | None = None) -> list[Alert]:
    return store.detections.alerts(criteria or DetectionFilter(), cursor=None, limit=1000).items


def test_alerts_and_incidents_round_trip(store: SqlStore) -> None:
    """Saved alerts and incidents read back equal to what was saved, and by id, with each
    attacker's and account's evidence."""
    alert, incident = an_alert("a"), an_incident("a")
    store.detections.save([alert], [incident])
    assert all_alerts(store) == [alert]
    assert all_incidents(store) == [incident]
    assert store.detections.incident("inc-a") == incident
    assert store.detections.incident("inc-nope") is None


def test_saving_an_id_again_updates_the_record(store: SqlStore) -> None:
    """A record saved again under its id replaces the stored one: one record, the new content."""
    store.detections.save([an_alert("a")], [an_incident("a", compromised=())])
    grown = an_incident("a", last=T0 + minutes(3), compromised=(ACCOUNT,), requests=40,
                        attackers=(ATTACKER, "198.51.100.4"))  # fmt: skip
    store.detections.save([], [grown])
    assert all_incidents(store) == [grown]
    assert all_incidents(store, DetectionFilter(attacker_ip="198.51.100.4")) == [grown]


def test_saving_the_same_records_twice_changes_nothing(store: SqlStore, backend: Backend) -> None:
    """Saving is idempotent: a repeat leaves one record and one index row per attacker."""
    records = ([an_alert("a")], [an_incident("a", rules=("r1", "r2"))])
    store.detections.save(*records)
    store.detections.save(*records)
    assert all_alerts(store) == records[0]
    assert all_incidents(store) == records[1]
    assert backend.sql("SELECT COUNT(*) FROM detection_attackers")[0][0] == 2
    assert backend.sql("SELECT COUNT(*) FROM incident_rules")[0][0] == 2


def test_an_older_version_of_a_record_is_ignored(store: SqlStore) -> None:
    """A record whose last_seen is before the stored one's does not overwrite it."""
    newer = an_incident("a", last=T0 + minutes(10), requests=99)
    store.detections.save([], [newer])
    store.detections.save([], [an_incident("a", last=T0, requests=5)])
    assert all_incidents(store) == [newer]


def _spread(store: SqlStore) -> None:
    store.detections.save(
        [
            an_alert("1", rule="brute-force-account", severity="medium", last=T0),
            an_alert("2", rule="credential-stuffing-source", severity="high", last=T0 + minutes(1)),
            an_alert("3", rule="scanner", severity="low", last=T0 + minutes(2),
                     attackers=("2001:db8::7",)),
            an_alert("4", rule="logging-stopped", severity="high", last=T0 + minutes(3),
                     attackers=()),
        ],
        [
            an_incident("1", rules=("brute-force-account",), severity="medium", last=T0),
            an_incident("2", rules=("credential-stuffing-source", "account-takeover-source"),
                        severity="critical", last=T0 + minutes(1), attackers=("198.51.100.4",)),
            an_incident("3", rules=("scanner",), severity="low", last=T0 + minutes(2),
                        attackers=("2001:db8::7", "2001:db8::8")),
            an_incident("4", rules=("logging-stopped",), severity="high", last=T0 + minutes(3),
                        attackers=()),
        ],
    )  # fmt: skip


FILTER_CASES = [
    (DetectionFilter(), ["1", "2", "3", "4"], ["1", "2", "3", "4"]),
    (DetectionFilter(since=T0 + minutes(1)), ["2", "3", "4"], ["2", "3", "4"]),
    (DetectionFilter(until=T0 + minutes(2)), ["1", "2"], ["1", "2"]),
    (DetectionFilter(severity="high"), ["2", "4"], ["2", "4"]),
    (DetectionFilter(severity="informational"), ["1", "2", "3", "4"], ["1", "2", "3", "4"]),
    (DetectionFilter(rule="scanner"), ["3"], ["3"]),
    (DetectionFilter(rule="account-takeover-source"), [], ["2"]),
    (DetectionFilter(attacker_ip=ATTACKER), ["1", "2"], ["1"]),
    (DetectionFilter(attacker_ip="198.51.100.0/24"), [], ["2"]),
    (DetectionFilter(attacker_ip="2001:db8::/32"), ["3"], ["3"]),
    (DetectionFilter(severity="medium", since=T0 + minutes(1), until=T0 + minutes(3)), ["2"],
     ["2"]),
]  # fmt: skip


@pytest.mark.parametrize(("criteria", "alerts", "incidents"), FILTER_CASES)
def test_filters_select_the_matching_records(
    store: SqlStore, criteria: DetectionFilter, alerts: list[str], incidents: list[str]
) -> None:
    """Each filter (time on last_seen, least severity, rule, attacker address or network) holds."""
    _spread(store)
    assert [a.id for a in all_alerts(store, criteria)] == [f"al-{n}" for n in alerts]
    assert [i.id for i in all_incidents(store, criteria)] == [f"inc-{n}" for n in incidents]


def test_pages_walk_every_record_once_in_last_seen_order(store: SqlStore) -> None:
    """Pages of two give every incident once, oldest last_seen first, and end with no cursor."""
    store.detections.save([], [an_incident(str(n), last=T0 + minutes(n % 3)) for n in range(7)])
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = store.detections.incidents(DetectionFilter(), cursor=cursor, limit=2)
        seen += [i.id for i in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(f"inc-{n}" for n in range(7))
    assert len(seen) == 7
    times = [store.detections.incident(i).last_seen for i in seen]  # type: ignore[union-attr]
    assert times == sorted(times)


def test_a_record_updated_while_paging_is_not_missed(store: SqlStore) -> None:
    """An incident updated between two pages moves to the end, where the walk still finds it."""
    store.detections.save([], [an_incident(str(n), last=T0 + minutes(n)) for n in range(4)])
    first = store.detections.incidents(DetectionFilter(), cursor=None, limit=2)
    store.detections.save([], [an_incident("3", last=T0 + minutes(1), requests=1)])  # stale
    store.detections.save([], [an_incident("2", last=T0 + minutes(9))])
    rest = store.detections.incidents(DetectionFilter(), cursor=first.next_cursor, limit=10)
    assert [i.id for i in first.items] == ["inc-0", "inc-1"]
    assert [i.id for i in rest.items] == ["inc-3", "inc-2"]


@pytest.mark.parametrize("cursor", ["nope", "MTIz", "!!!", "OTk5OTk5OTk5OTk5OTk5OTk5OTk6eA"])
def test_a_cursor_the_store_did_not_give_is_refused(store: SqlStore, cursor: str) -> None:
    """Garbage, or a cursor without an id or out of range, is a `ConfigError` naming cursor."""
    with pytest.raises(ConfigError, match="cursor"):
        store.detections.alerts(DetectionFilter(), cursor=cursor, limit=10)


def test_filters_refuse_unknown_severities_and_bad_networks(store: SqlStore) -> None:
    """A severity that is not a Sigma level, or an attacker that is no address, is refused."""
    with pytest.raises(ConfigError, match="severity"):
        DetectionFilter(severity="urgent")
    with pytest.raises(ConfigError, match=r"attacker\.ip"):
        store.detections.incidents(DetectionFilter(attacker_ip="not-an-ip"), cursor=None, limit=1)


def test_payloads_are_ciphertext_and_only_filter_columns_are_clear(
    store: SqlStore, backend: Backend
) -> None:
    """No column of a stored alert or incident holds an account name; the payloads hold neither
    the account nor the attacker address nor any other string of the record."""
    store.detections.save([an_alert("a")], [an_incident("a")])
    for table in ("alerts", "incidents"):
        row = backend.sql(f"SELECT * FROM {table}")[0]  # noqa: S608 - a fixed table name
        for value in row:
            raw = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
            assert ACCOUNT.encode() not in raw
        (payload,) = backend.sql(f"SELECT payload FROM {table}")[0]  # noqa: S608
        for text in (ACCOUNT, ATTACKER, "erin", "python-requests", "credential", "severity"):
            assert text.encode() not in bytes(payload)


def test_a_payload_moved_to_another_record_does_not_decrypt(
    store: SqlStore, backend: Backend
) -> None:
    """Each payload is bound to its record's id: copied onto another row, reading it fails."""
    store.detections.save([], [an_incident("a"), an_incident("b", last=T0 + minutes(1))])
    (payload,) = backend.sql("SELECT payload FROM incidents WHERE id = 'inc-a'")[0]
    backend.sql("UPDATE incidents SET payload = ? WHERE id = 'inc-b'", (bytes(payload),))
    assert store.detections.incident("inc-a") == an_incident("a")
    with pytest.raises(DecryptError):
        store.detections.incident("inc-b")


def test_rotate_key_re_encrypts_alerts_and_incidents(store: SqlStore, backend: Backend) -> None:
    """After rotation every alert and incident is under the new key and still reads the same."""
    _spread(store)
    store.events.append([batch(lines(2))])
    assert store.rotate_key() == 2 + 4 + 4
    current = store.keyring.current
    for table in ("alerts", "incidents"):
        keys = {row[0] for row in backend.sql(f"SELECT key_id FROM {table}")}  # noqa: S608
        assert keys == {current}
    assert len(all_incidents(store)) == 4
    assert store.detections.incident("inc-2") is not None


def test_a_store_from_before_detections_gains_the_tables(
    backend: Backend, keyring: Keyring, tmp_path: Path
) -> None:
    """A store made by the previous version (no detection tables) opens, keeps its events and
    chain, and stores detections from then on."""
    old = backend.open(keyring)
    old.events.append([batch(lines(3))])
    old.close()
    for table in NEW_TABLES:  # what the previous version's schema did not have
        backend.sql(f"DROP TABLE {table}")
    reopened = backend.open(keyring)
    try:
        assert reopened.events.count() == 3
        assert reopened.verify().ok
        reopened.detections.save([an_alert("a")], [an_incident("a")])
        assert all_incidents(reopened) == [an_incident("a")]
    finally:
        reopened.close()


def test_append_reports_the_events_it_stored(store: SqlStore) -> None:
    """`AppendResult.events` lists the stored events only: no duplicates, nothing on a replay."""
    sent = lines(3)
    first = store.events.append([batch(sent[:2], idem="k")])[0]
    again = store.events.append([batch(sent)])[0]
    replay = store.events.append([batch(sent[:2], idem="k")])[0]
    assert [e.event.id for e in first.events] == [line.event.event.id for line in sent[:2]]
    assert [e.event.id for e in again.events] == [sent[2].event.event.id]
    assert replay.replayed
    assert list(replay.events) == []
