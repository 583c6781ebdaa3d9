"""Tamper evidence that survives a stolen key file: the signing key kept apart from the store,
and anchors (signed heads kept elsewhere) that `verify` checks, on both back ends.

The intruder here can edit the database and read the key file beside it; in the old layout
that file also holds the signing key.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from apiwatch.model import ConfigError
from apiwatch.store import Anchor, Keyring, ReadRecord, SqlStore, open_store, read_anchors
from apiwatch.store._rows import COLUMNS, digest_of
from apiwatch.store.chain import checkpoint_message, link

from .helpers import T0, Backend, batch, lines

CHAIN = COLUMNS.index("chain")


def url_of(backend: Backend) -> str:
    return f"sqlite:///{backend.target}" if backend.kind == "sqlite" else backend.target


def fill(store: SqlStore, transactions: int = 3) -> None:
    """``transactions`` commits of four events: records 1-4, 5-8, ...; a checkpoint each."""
    for _ in range(transactions):
        store.events.append([batch(lines(4))])


def rewrite_history(backend: Backend, key_file: Path, seq: int) -> None:
    """What an intruder does with the database and the key file: edit record ``seq``, recompute
    the chain after it, and re-sign every checkpoint with the signing key found in the key file
    (or, when there is none, with a key of their own)."""
    stolen = Keyring.load(key_file)
    signer = stolen.signing_key or Ed25519PrivateKey.generate()
    backend.sql("UPDATE events SET status = 204 WHERE seq = ?", (seq,))
    chain = backend.row(seq - 1)[CHAIN] if seq > 1 else bytes(32)
    last = backend.sql("SELECT MAX(seq) FROM events")[0][0]
    for number in range(seq, last + 1):
        row = backend.row(number)
        plain = stolen.decrypt(row[12], row[13], row[1])
        chain = link(chain, number, digest_of(row, plain))
        backend.sql("UPDATE events SET chain = ? WHERE seq = ?", (chain, number))
    for number, signed_at in backend.sql("SELECT seq, signed_at FROM checkpoints"):
        chain = backend.row(number)[CHAIN]
        signature = signer.sign(checkpoint_message(number, chain, signed_at))
        backend.sql("UPDATE checkpoints SET chain = ?, signature = ? WHERE seq = ?",
                    (chain, signature, number))  # fmt: skip


# -- the signing key kept apart ------------------------------------------------------------------


def test_new_store_keeps_its_signing_key_apart(backend: Backend, tmp_path: Path) -> None:
    """By default the key file beside the store holds no private signing key; the signing key
    file lives elsewhere, owner-only."""
    key_file = tmp_path / "data" / "store.keys"
    store = open_store(url_of(backend), key_file=key_file)
    store.close()
    assert "signing_key" not in json.loads(key_file.read_text())
    signing = store.keyring.signing_path
    assert signing is not None
    assert signing.is_file()
    assert key_file.parent not in signing.parents
    assert stat.S_IMODE(signing.stat().st_mode) == 0o600


def test_stolen_key_file_cannot_rewrite_history(backend: Backend, tmp_path: Path) -> None:
    """Rewriting a record with everything in the key file no longer verifies: the checkpoints
    can only be re-signed with a key verify does not accept."""
    key_file = tmp_path / "store.keys"
    store = open_store(url_of(backend), key_file=key_file)
    fill(store)
    store.close()
    rewrite_history(backend, key_file, 6)
    reopened = open_store(url_of(backend), key_file=key_file, create=False)
    try:
        report = reopened.verify()
    finally:
        reopened.close()
    assert not report.ok
    assert "is not validly signed" in (report.problem or "")


def test_verify_works_without_the_signing_key_but_nothing_can_be_signed(
    backend: Backend, tmp_path: Path
) -> None:
    """Without the signing key file a store still verifies (with the public key), and a write
    that must sign is refused with one line naming the missing file."""
    key_file, signing = tmp_path / "store.keys", tmp_path / "apart" / "signing"
    store = open_store(url_of(backend), key_file=key_file, signing_key_file=signing)
    fill(store, 1)
    store.close()
    signing.rename(tmp_path / "elsewhere")
    reader = open_store(url_of(backend), key_file=key_file, signing_key_file=signing)
    try:
        report = reader.verify()
        assert (report.ok, report.records) == (True, 4)
        with pytest.raises(ConfigError, match=f"the signing key file {signing} is missing"):
            reader.events.append([batch(lines(1))])
    finally:
        reader.close()


def test_old_key_file_keeps_working_and_the_key_can_be_moved_out(
    backend: Backend, tmp_path: Path
) -> None:
    """A key file holding the signing key (the old layout) still opens, appends and verifies;
    `move_signing_key` takes the key out, and the store goes on as before."""
    key_file = tmp_path / "store.keys"
    old = Keyring.load_or_create(key_file)  # the layout every store had before the split
    store = backend.open(old)
    fill(store, 1)
    store.close()
    store = open_store(url_of(backend), key_file=key_file)
    assert store.keyring.signing_inline
    assert any("signing key is inside the key file" in note for note in store.verify().notes)
    store.close()
    store.keyring.move_signing_key(tmp_path / "apart" / "signing")
    assert "signing_key" not in json.loads(key_file.read_text())
    moved = open_store(url_of(backend), key_file=key_file,
                       signing_key_file=tmp_path / "apart" / "signing")  # fmt: skip
    try:
        assert not moved.keyring.signing_inline
        fill(moved, 1)
        report = moved.verify()
        assert (report.ok, report.records) == (True, 8)
    finally:
        moved.close()


def test_signing_key_of_another_store_is_refused(backend: Backend, tmp_path: Path) -> None:
    """A signing key file that does not match the key file's public key is one clear error."""
    key_file, signing = tmp_path / "store.keys", tmp_path / "signing"
    open_store(url_of(backend), key_file=key_file, signing_key_file=signing).close()
    other = tmp_path / "other-signing"
    open_store(f"sqlite:///{tmp_path / 'other.db'}", key_file=tmp_path / "other.keys",
               signing_key_file=other).close()  # fmt: skip
    with pytest.raises(ConfigError, match="does not belong to the key file"):
        open_store(url_of(backend), key_file=key_file, signing_key_file=other)


# -- anchors ---------------------------------------------------------------------------------------


@pytest.fixture
def old_layout(backend: Backend, tmp_path: Path) -> SqlStore:
    """A store whose key file holds the signing key: the intruder has everything."""
    store = backend.open(Keyring.load_or_create(tmp_path / "store.keys"))
    yield store
    store.close()


def test_anchor_catches_history_rewritten_with_the_signing_key(
    old_layout: SqlStore, backend: Backend, tmp_path: Path
) -> None:
    """With the signing key stolen a rewrite verifies on its own, but not against an anchor
    exported before it."""
    fill(old_layout)
    anchor = old_layout.latest_heads()
    rewrite_history(backend, tmp_path / "store.keys", 6)
    assert old_layout.verify().ok  # what the store alone can prove
    report = old_layout.verify([anchor])
    assert (report.ok, report.problem_seq) == (False, 12)
    assert "checkpoint at record 12 differs" in (report.problem or "")
    assert "history up to it was rewritten" in (report.problem or "")


def test_emptied_store_proves_nothing_and_fails_against_an_anchor(
    old_layout: SqlStore, backend: Backend
) -> None:
    """Deleting every event and checkpoint is not "intact": without an anchor nothing is
    proven, and against one the anchored checkpoint is missing."""
    fill(old_layout)
    anchor = old_layout.latest_heads()
    backend.sql("DELETE FROM events")
    backend.sql("DELETE FROM checkpoints")
    alone = old_layout.verify()
    assert (alone.ok, alone.proven, alone.checkpoints) == (True, False, 0)
    report = old_layout.verify([anchor])
    assert not report.ok
    assert "checkpoint at record 12" in (report.problem or "")
    assert "is missing: the store was truncated or rolled back" in (report.problem or "")


def test_anchor_catches_a_rollback_to_an_older_state(
    old_layout: SqlStore, backend: Backend
) -> None:
    """Removing the newest transaction with its checkpoint verifies alone, not against an anchor
    exported after it."""
    fill(old_layout, 2)
    fill(old_layout, 1)
    anchor = old_layout.latest_heads()
    backend.sql("DELETE FROM events WHERE seq > 8")
    backend.sql("DELETE FROM checkpoints WHERE seq > 8")
    assert old_layout.verify().ok
    report = old_layout.verify([anchor])
    assert (report.ok, report.problem_seq) == (False, 12)
    assert "truncated or rolled back" in (report.problem or "")


def test_anchor_catches_a_rolled_back_ledger(old_layout: SqlStore, backend: Backend) -> None:
    """Undoing a key revocation together with its ledger entry and head is consistent alone,
    but not against an anchor that holds the ledger head after the revocation."""
    fill(old_layout, 1)
    old_layout.keys.create("stolen", ["admin"])
    before = backend.sql("SELECT MAX(seq) FROM ledger_heads")[0][0]
    old_layout.keys.revoke("stolen")
    anchor = old_layout.latest_heads()
    backend.sql("DELETE FROM ledger WHERE seq > ?", (before,))
    backend.sql("DELETE FROM ledger_heads WHERE seq > ?", (before,))
    backend.sql("UPDATE api_keys SET revoked_at = NULL")
    assert old_layout.verify().ok
    report = old_layout.verify([anchor])
    assert not report.ok
    assert "ledger head at entry" in (report.problem or "")


def test_anchor_catches_a_replaced_signing_key(old_layout: SqlStore, tmp_path: Path) -> None:
    """An anchor made with the store's key refuses a store checked with another key."""
    fill(old_layout, 1)
    anchor = old_layout.latest_heads()
    forged = Anchor(Ed25519PrivateKey.generate().public_key().public_bytes_raw(), anchor.events,
                    anchor.ledger)  # fmt: skip
    report = old_layout.verify([forged])
    assert not report.ok
    assert "signed with another key than this store's" in (report.problem or "")


def test_intact_store_matches_its_anchors(old_layout: SqlStore) -> None:
    """A store that only grew since its anchors verifies against all of them."""
    fill(old_layout, 1)
    first = old_layout.latest_heads()
    old_layout.audit.record(ReadRecord(T0, "r", "events", "all", 1))
    fill(old_layout, 1)
    second = old_layout.latest_heads()
    fill(old_layout, 1)
    report = old_layout.verify([first, second])
    assert (report.ok, report.anchors, report.records) == (True, 2, 12)


def test_anchor_file_is_appended_as_the_store_grows(backend: Backend, tmp_path: Path) -> None:
    """With an anchor file the store appends its newest signed heads (and at close), and the
    file then catches a later truncation."""
    anchors = tmp_path / "second-location" / "anchors"
    anchors.parent.mkdir()
    store = open_store(url_of(backend), key_file=tmp_path / "keys", anchor_file=anchors)
    fill(store, 3)
    store.close()
    found = read_anchors(anchors)
    assert found[-1].events is not None
    assert found[-1].events.seq == 12
    store = open_store(url_of(backend), key_file=tmp_path / "keys", create=False)
    try:
        assert store.verify(found).ok
        backend.sql("DELETE FROM events WHERE seq > 8")
        backend.sql("DELETE FROM checkpoints WHERE seq > 8")
        assert not store.verify(found).ok
    finally:
        store.close()


@pytest.mark.parametrize(
    "content",
    ["", "not json\n", '{"format": "apiwatch-anchor/1", "public_key": "00"}\n', "\xff"],
)
def test_a_file_that_is_not_an_anchor_is_one_clear_error(tmp_path: Path, content: str) -> None:
    """An empty, malformed or foreign anchor file is a ConfigError naming the file."""
    path = tmp_path / "anchor"
    path.write_text(content, encoding="latin-1")
    with pytest.raises(ConfigError, match=f"anchor {path}"):
        read_anchors(path)
