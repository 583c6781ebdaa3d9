"""At rest: payloads and account names are encrypted; the README's clear columns stay clear."""

from __future__ import annotations

from pathlib import Path

from apiwatch.store import Keyring, SqlStore
from apiwatch.store._rows import COLUMNS, ip_bytes, micros

from .helpers import T0, UA, Backend, batch, line

SECRET_USER = "carol.secret-account"
SECRET_PATH = "/api/v1/patients/884213/records"


def test_payload_is_ciphertext(store: SqlStore, backend: Backend) -> None:
    """The raw payload column contains none of the event's strings (user, path, user agent)."""
    store.events.append([batch([line(user=SECRET_USER, path=SECRET_PATH)])])
    payload = backend.row(1)[COLUMNS.index("payload")]
    assert isinstance(payload, bytes)
    for text in (SECRET_USER, SECRET_PATH, UA, "Firefox", "@timestamp", "authn"):
        assert text.encode() not in payload


def test_account_name_is_nowhere_in_clear(store: SqlStore, backend: Backend) -> None:
    """user_idx is a keyed hash, not the name, and no column of the row holds the name."""
    store.events.append([batch([line(user=SECRET_USER)])])
    row = backend.row(1)
    user_idx = row[COLUMNS.index("user_idx")]
    assert user_idx == store.keyring.blind_index(SECRET_USER)
    assert user_idx != SECRET_USER.encode()
    for value in row:
        raw = value if isinstance(value, bytes) else str(value).encode()
        assert SECRET_USER.encode() not in raw


def test_blind_index_depends_on_the_key(tmp_path: Path, keyring: Keyring) -> None:
    """Another store's index key gives another blind index for the same name."""
    other = Keyring.load_or_create(tmp_path / "other-keys")
    assert keyring.blind_index(SECRET_USER) != other.blind_index(SECRET_USER)


def test_clear_columns_hold_what_the_readme_lists(store: SqlStore, backend: Backend) -> None:
    """ts, key name, service, host, source IP, action, outcome, status and path stay in clear."""
    sent = line(
        ip="198.51.100.4", path="/login", action="authn_login_fail", outcome="failure", status=401
    )
    store.events.append([batch([sent], key="edge-1")])
    row = dict(zip(COLUMNS, backend.row(1), strict=True))
    bookkeeping = {"seq", "event_id", "user_idx", "key_id", "payload", "chain"}
    assert set(COLUMNS) - bookkeeping == {
        "ts", "key_name", "service", "host", "source_ip", "action", "outcome", "status", "path"
    }  # fmt: skip
    assert row["ts"] == micros(T0)
    assert row["key_name"] == "edge-1"
    assert (row["service"], row["host"]) == ("shop", "web-1")
    assert row["source_ip"] == ip_bytes("198.51.100.4")
    assert (row["action"], row["outcome"], row["status"]) == ("authn_login_fail", "failure", 401)
    assert row["path"] == "/login"
    assert row["key_id"] == store.keyring.current


def test_payload_is_bound_to_its_event_id(store: SqlStore, backend: Backend) -> None:
    """A payload moved under another event id no longer decrypts (AES-GCM associated data)."""
    store.events.append([batch([line(), line()])])
    first, second = backend.row(1), backend.row(2)
    index = COLUMNS.index("payload")
    backend.sql("UPDATE events SET payload = ? WHERE seq = 1", (second[index],))
    report = store.verify()
    assert (report.ok, report.problem_seq) == (False, 1)
    assert first[index] != second[index]
