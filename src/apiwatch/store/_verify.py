"""`SqlStore.verify`: what the store can prove about itself, and what an anchor adds.

Three checks, each naming the first problem it finds in one line (never a traceback: a value of
the wrong type in any column — text where a number belongs — is reported as tampering):

1. the event chain: every record from where retention left off links to the one before it, its
   clear columns and decrypted payload match its digest, every checkpoint is validly signed and
   matches the record it names, and the newest record is covered by one;
2. the ledger (`apiwatch.store._ledger`): the chain over the writes to the read audit, API keys,
   alerts, incidents, decisions and the allowlist, and every such row against its latest entry;
3. each anchor given (`apiwatch.store._anchor`): it is signed by the key the store is checked
   with, and the checkpoint and ledger head it names are still there, with the same chain value.

What it cannot prove: a store with no signed checkpoint proves nothing (an empty store and one
emptied by hand look alike: the report has ``checkpoints == 0``); the newest transactions
removed together with their checkpoints leave a shorter, consistent store, and whoever holds the
signing key can rewrite and re-sign anything — both only an anchor kept elsewhere catches, and
only up to the heads it holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apiwatch.model import ApiwatchError, plural
from apiwatch.store import _ledger
from apiwatch.store._anchor import Anchor, SignedHead
from apiwatch.store._rows import COLUMNS, digest_of
from apiwatch.store.base import VerifyReport
from apiwatch.store.chain import GENESIS, ChainChecker, checkpoint_message, expiry_message
from apiwatch.store.crypto import DecryptError

if TYPE_CHECKING:
    from apiwatch.store._database import Database

__all__ = ["TamperedError", "Verifier"]

_WRONG_TYPE = (TypeError, ValueError, OverflowError)
_KEY_ID, _PAYLOAD, _EVENT_ID, _CHAIN = (COLUMNS.index(name) for name in
                                        ("key_id", "payload", "event_id", "chain"))  # fmt: skip


class TamperedError(ApiwatchError):
    """Something verify relies on was altered (raised inside `SqlStore.verify`, reported there)."""


def _blob(value: object) -> bytes:
    """A BLOB/BYTEA column's bytes; TypeError for anything else (``bytes(5)`` is not a blob)."""
    if isinstance(value, bytes | memoryview | bytearray):
        return bytes(value)
    raise TypeError(type(value).__name__)


def _whole(value: object) -> int:
    """An INTEGER column's value; TypeError for text, floats, blobs."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(type(value).__name__)


class Verifier:
    """What `SqlStore.verify` runs over a `Database` (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.keyring = db.keyring

    # -- the whole -------------------------------------------------------------------------------

    def verify(self, anchors: Sequence[Anchor] = ()) -> VerifyReport:
        """Check the event chain, the ledger, and ``anchors`` (see the module docstring)."""
        try:
            report = self._verify_events()
            if self._retention_seq() != report.expired_records:
                # Retention expired records while the rows were walked: what looked deleted
                # was expired. Once more, from the new start.
                report = self._verify_events()
            if report.ok:
                report = self._verify_ledger(report)
            if report.ok:
                report = self._verify_anchors(report, anchors)
        except _WRONG_TYPE as exc:
            problem = (f"a stored value has the wrong type ({type(exc).__name__}): the "
                       "database was edited by hand")  # fmt: skip
            report = VerifyReport(False, 0, 0, problem=problem)
        return replace(report, notes=[*report.notes, *self._notes(anchors)])

    def _notes(self, anchors: Sequence[Anchor]) -> list[str]:
        notes = []
        if self.keyring.signing_inline:
            notes.append("the signing key is inside the key file: whoever can read that file "
                         "and edit the database can rewrite history unnoticed (move it apart: "
                         "apiwatch move-signing-key)")  # fmt: skip
        elif not self.keyring.can_sign:
            notes.append(
                "checked with the public key recorded in the key file (the signing key file is "
                "not here): an anchor checks against a key kept elsewhere"
            )
        if not anchors:
            notes.append("no anchor given: the newest transactions could have been removed "
                         "together with their checkpoints")  # fmt: skip
        started = self._db.read_all("SELECT v FROM meta WHERE k = 'ledger_started'")
        if started:
            at, _, adopted = str(started[0][0]).partition(":")
            if adopted.isdigit() and int(adopted) and at.isdigit():
                when = datetime.fromtimestamp(int(at) / 1e6, UTC).date().isoformat()
                rows, were = plural(int(adopted), "row"), "was" if int(adopted) == 1 else "were"
                notes.append(f"{rows} written before the ledger began ({when}) {were} taken "
                             "as found then")  # fmt: skip
        return notes

    # -- events ----------------------------------------------------------------------------------

    def _retention_seq(self) -> int | None:
        try:
            return self._retention_start()[0]
        except TamperedError:
            return None

    def _verify_events(self) -> VerifyReport:
        checkpoints = self._db.read_all("SELECT seq, chain, signed_at, signature FROM checkpoints "
                                     "ORDER BY seq")  # fmt: skip
        bad = self._bad_checkpoint(checkpoints)
        if bad is not None:
            return VerifyReport(False, 0, len(checkpoints), problem=bad[1], problem_seq=bad[0])
        try:
            start_seq, start_chain = self._retention_start()
        except TamperedError as exc:
            return VerifyReport(False, 0, len(checkpoints), problem=str(exc), problem_seq=1)
        checker = ChainChecker(start_seq, start_chain)
        marks = {int(seq): _blob(chain) for seq, chain, _, _ in checkpoints}
        for row in self._db.iter_rows(start_seq):
            if not self._check_row(checker, row, marks):
                break
        tip = int(checkpoints[-1][0]) if checkpoints else 0
        if checker.problem is None and checker.expected_seq <= tip:
            checker.fail(checker.expected_seq, f"record {checker.expected_seq} is deleted "
                         f"(checkpoint {tip} signed records up to {tip})")  # fmt: skip
        last = checker.expected_seq - 1
        if checker.problem is None and last > tip and not self._signed(last, checker.previous):
            checker.fail(tip + 1, f"record {tip + 1} is not covered by a signed checkpoint "
                         f"(the last checkpoint is at record {tip})")  # fmt: skip
        return VerifyReport(
            ok=checker.problem is None,
            records=checker.rows,
            checkpoints=len(checkpoints),
            expired_records=start_seq,
            problem=checker.problem,
            problem_seq=checker.problem_seq,
        )

    def _signed(self, seq: int, chain: bytes) -> bool:
        """Whether a valid checkpoint signs ``chain`` at ``seq``. Rows past the checkpoints read
        at the start are fine if a transaction committed them meanwhile, with its checkpoint;
        without one, anyone could rewrite the unsigned tail and recompute its hash chain."""
        rows = self._db.read_all(
            f"SELECT seq, chain, signed_at, signature FROM checkpoints WHERE seq = {self._db.mark}",
            (seq,),
        )
        if not rows or _blob(rows[0][1]) != chain:
            return False
        message = checkpoint_message(seq, chain, _whole(rows[0][2]))
        return self.keyring.signature_ok(message, _blob(rows[0][3]))

    def _bad_checkpoint(self, checkpoints: list[Any]) -> tuple[int, str] | None:
        previous = 0
        for seq, chain, signed_at, signature in checkpoints:
            try:
                message = checkpoint_message(_whole(seq), _blob(chain), _whole(signed_at))
                valid = seq > previous and self.keyring.signature_ok(message, _blob(signature))
            except _WRONG_TYPE:
                valid = False
            if not valid:
                return int(seq), f"checkpoint at record {seq} is not validly signed"
            previous = int(seq)
        return None

    def _check_row(self, checker: ChainChecker, row: Any, marks: dict[int, bytes]) -> bool:
        seq = _whole(row[0])
        try:
            key_id, payload = _whole(row[_KEY_ID]), _blob(row[_PAYLOAD])
            event_id, stored_chain = _blob(row[_EVENT_ID]), _blob(row[_CHAIN])
        except _WRONG_TYPE:
            return checker.fail(seq, f"record {seq} was altered: a column holds a value of the "
                                "wrong type")  # fmt: skip
        try:
            plaintext = self.keyring.decrypt(key_id, payload, event_id)
        except DecryptError as exc:
            return checker.fail(seq, f"record {seq}: {exc}")
        values = [bytes(v) if isinstance(v, memoryview) else v for v in row]
        try:
            digest = digest_of(values, plaintext)
        except _WRONG_TYPE:  # a value MessagePack cannot frame: no column of ours holds one
            return checker.fail(seq, f"record {seq} was altered: a column holds a value of the "
                                "wrong type")  # fmt: skip
        if not checker.feed(seq, digest, stored_chain):
            return False
        signed = marks.get(seq)
        if signed is not None and signed != stored_chain:
            return checker.fail(seq, f"record {seq} does not match its signed checkpoint")
        return True

    def _retention_start(self) -> tuple[int, bytes]:
        """Where the chain resumes after retention: the checkpoint records were expired up to.

        Raises `TamperedError` when the retention record is not one this store's key signed.
        """
        rows = self._db.read_all("SELECT v FROM meta WHERE k = 'expired_through'")
        if not rows:
            return 0, GENESIS
        try:
            through, cutoff, done, signature = str(rows[0][0]).split(":")
            seq = int(through)
            valid = self.keyring.signature_ok(
                expiry_message(seq, int(cutoff), int(done)), bytes.fromhex(signature)
            )
        except ValueError:
            valid = False
        if not valid:
            raise TamperedError("the retention record is not validly signed: records were "
                                "deleted from the start of the store by hand")  # fmt: skip
        chain = self._db.read_all(
            f"SELECT chain FROM checkpoints WHERE seq = {self._db.mark}", (seq,)
        )
        return seq, _blob(chain[0][0]) if chain else GENESIS

    # -- the ledger ------------------------------------------------------------------------------

    def _verify_ledger(self, report: VerifyReport) -> VerifyReport:
        with self._db.snapshot() as connection:
            scan = self._db.scan
            started = list(scan(connection, "SELECT v FROM meta WHERE k = 'ledger_started'"))
            heads = list(scan(connection, "SELECT seq, chain, signed_at, signature "
                              "FROM ledger_heads ORDER BY seq"))  # fmt: skip
            rows = scan(connection, "SELECT seq, kind, ref, digest, chain FROM ledger "
                        "ORDER BY seq")  # fmt: skip

            def table_rows(table: str) -> tuple[list[str], Iterator[Any]]:
                cursor = connection.cursor()
                cursor.execute(f"SELECT * FROM {table}")
                return [str(c[0]).lower() for c in cursor.description], iter(cursor)

            try:
                checked = _ledger.check(rows, heads, self.keyring, table_rows)
            finally:
                rows.close()  # a check that stopped early: end the scan before the connection
        problem = checked.problem
        if problem is None and not started:
            problem = ("the ledger's start record is missing: it was deleted by hand (or the "
                       "store was not opened with its signing key since apiwatch began keeping "
                       "the ledger)")  # fmt: skip
        report = replace(report, ledger_entries=checked.entries)
        if problem is not None:
            report = replace(report, ok=False, problem=problem, problem_seq=None)
        return report

    # -- anchors ---------------------------------------------------------------------------------

    def _verify_anchors(self, report: VerifyReport, anchors: Sequence[Anchor]) -> VerifyReport:
        for anchor in anchors:
            problem, seq = self._anchor_problem(anchor)
            if problem is not None:
                return replace(report, ok=False, problem=problem, problem_seq=seq)
            report = replace(report, anchors=report.anchors + 1)
        return report

    def _anchor_problem(self, anchor: Anchor) -> tuple[str | None, int | None]:
        if anchor.public_key != self.keyring.public_key_bytes():
            replaced = (
                f"{anchor.where}: signed with another key than this store's: the store's "
                "signing key was replaced (or the anchor is another store's)"
            )
            return replaced, None
        for message, signature in anchor.messages():
            if not self.keyring.signature_ok(message, signature):
                return f"{anchor.where}: not validly signed", None
        heads = (("checkpoints", "checkpoint at record", anchor.events),
                 ("ledger_heads", "ledger head at entry", anchor.ledger))  # fmt: skip
        for table, noun, head in heads:
            missing = self._head_problem(table, noun, head, anchor.where)
            if missing is not None:
                return missing, head.seq if head and table == "checkpoints" else None
        return None, None

    def _head_problem(
        self, table: str, noun: str, head: SignedHead | None, where: str
    ) -> str | None:
        if head is None:
            return None
        rows = self._db.read_all(f"SELECT chain FROM {table} WHERE seq = {self._db.mark}",
                              (head.seq,))  # fmt: skip
        if not rows:
            return (f"the {noun} {head.seq}, signed at {head.signed_at} ({where}), is missing: "
                    "the store was truncated or rolled back to an older state")  # fmt: skip
        if _blob(rows[0][0]) != head.chain:
            return (f"the {noun} {head.seq} differs from the one signed at {head.signed_at} "
                    f"({where}): history up to it was rewritten")  # fmt: skip
        return None

    def latest_heads(self) -> Anchor:
        """The store's newest signed heads as an anchor (checked by `verify` before export)."""
        events = self._db.read_all("SELECT seq, chain, signed_at, signature FROM checkpoints "
                                "ORDER BY seq DESC LIMIT 1")  # fmt: skip
        ledger = self._db.read_all("SELECT seq, chain, signed_at, signature FROM ledger_heads "
                                "ORDER BY seq DESC LIMIT 1")  # fmt: skip
        return Anchor(self.keyring.public_key_bytes(), _head(events), _head(ledger))


def _head(rows: list[Any]) -> SignedHead | None:
    if not rows:
        return None
    seq, chain, signed_at, signature = rows[0]
    return SignedHead(_whole(seq), _blob(chain), _whole(signed_at), _blob(signature))
