"""`apiwatch verify --anchor`, `apiwatch anchor export`, `apiwatch move-signing-key`, and what
`verify` says when it can prove nothing, on both back ends."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from apiwatch.cli import cli
from apiwatch.store import Keyring, open_store

from ..store.conftest import KINDS, fresh_backend
from ..store.helpers import Backend, batch, lines


@pytest.fixture(params=KINDS)
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    monkeypatch.chdir(tmp_path)
    for name in ("APIWATCH_DB", "APIWATCH_DATA_KEY", "APIWATCH_KEY_FILE",
                 "APIWATCH_SIGNING_KEY_FILE", "APIWATCH_ANCHOR_FILE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APIWATCH_KEY_FILE", str(tmp_path / "store.keys"))
    with fresh_backend(request.param, tmp_path) as found:
        yield found


def url(backend: Backend) -> str:
    return f"sqlite:///{backend.target}" if backend.kind == "sqlite" else backend.target


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def fill(backend: Backend, transactions: int) -> None:
    """``transactions`` commits of four events, with the keys the commands use."""
    store = open_store(url(backend), key_file=Path(os.environ["APIWATCH_KEY_FILE"]))
    for _ in range(transactions):
        store.events.append([batch(lines(4))])
    store.close()


def test_exported_anchor_catches_an_emptied_store(backend: Backend, tmp_path: Path) -> None:
    """After `anchor export`, deleting every event and checkpoint makes `verify` say nothing is
    proven, and `verify --anchor` fail naming the missing checkpoint."""
    fill(backend, 2)
    anchor = tmp_path / "elsewhere.anchor"
    code, _, err = run("anchor", "export", "--out", str(anchor), "--db", url(backend))
    assert (code, err.strip()) == (0, f"anchor appended to {anchor}")
    code, out, _ = run("verify", "--anchor", str(anchor), "--db", url(backend))
    assert (code, out.strip()) == (0, "intact: 8 records, 2 signed checkpoints; matches 1 anchor")
    backend.sql("DELETE FROM events")
    backend.sql("DELETE FROM checkpoints")
    code, out, _ = run("verify", "--db", url(backend))
    assert code == 0
    assert out.startswith("no signed checkpoint: nothing proven")
    assert "intact" not in out
    code, _, err = run("verify", "--anchor", str(anchor), "--db", url(backend))
    assert code == 1
    assert "TAMPERED: the checkpoint at record 8" in err
    assert "truncated or rolled back" in err


def test_export_prints_one_anchor_line_and_refuses_a_tampered_store(backend: Backend) -> None:
    """`anchor export` prints one JSON line; on a store that fails verify it exports nothing."""
    fill(backend, 1)
    code, out, _ = run("anchor", "export", "--db", url(backend))
    assert code == 0
    doc = json.loads(out)
    assert (doc["format"], doc["events"]["seq"]) == ("apiwatch-anchor/1", 4)
    backend.sql("UPDATE events SET status = 500 WHERE seq = 2")
    code, out, err = run("anchor", "export", "--db", url(backend))
    assert (code, out) == (1, "")
    assert "TAMPERED: record 2 was altered" in err


def test_type_confused_row_is_one_line_not_a_traceback(backend: Backend) -> None:
    """`verify` on a row whose number column holds text exits 1 with one TAMPERED line."""
    fill(backend, 1)
    if backend.kind == "postgres":
        backend.sql("ALTER TABLE events ALTER COLUMN key_id TYPE text")
    backend.sql("UPDATE events SET key_id = 'abc' WHERE seq = 3")
    code, _, err = run("verify", "--db", url(backend))
    assert code == 1
    [tampered] = [line for line in err.splitlines() if line.startswith("TAMPERED")]
    assert "wrong type" in tampered
    assert "Traceback" not in err


def test_a_broken_anchor_file_is_one_clear_error(backend: Backend, tmp_path: Path) -> None:
    """An anchor file that is not one is refused before the store is read."""
    fill(backend, 1)
    bad = tmp_path / "bad.anchor"
    bad.write_text("{}\n")
    result = CliRunner().invoke(cli, ["verify", "--anchor", str(bad), "--db", url(backend)])
    assert result.exit_code == 1
    assert str(result.exception) == f"anchor {bad} line 1: not an apiwatch anchor"


def test_old_layout_warns_until_the_signing_key_is_moved(backend: Backend, tmp_path: Path) -> None:
    """A key file that holds the signing key works with a warning on every command;
    `move-signing-key` moves the key out and the warning stops."""
    old = Keyring.load_or_create(tmp_path / "store.keys")  # the layout before the split
    backend.open(old).close()
    fill(backend, 1)
    code, _, err = run("verify", "--db", url(backend))
    assert code == 0
    assert "warning: the signing key is inside" in err
    code, out, _ = run("move-signing-key", "--db", url(backend))
    assert code == 0
    assert "the signing key is now in" in out
    assert "signing_key" not in json.loads((tmp_path / "store.keys").read_text())
    fill(backend, 1)
    code, out, err = run("verify", "--db", url(backend))
    assert (code, out.strip()) == (0, "intact: 8 records, 2 signed checkpoints")
    assert "warning" not in err


def test_serve_refuses_to_start_without_the_signing_key(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A collector whose signing key file is missing stops at start with one line, instead of
    refusing every batch it is sent."""
    fill(backend, 1)
    monkeypatch.setenv("APIWATCH_SIGNING_KEY_FILE", str(tmp_path / "not-here.signing"))
    result = CliRunner().invoke(cli, ["serve", "--no-detect", "--port", "0", "--db", url(backend)])
    assert result.exit_code == 1
    assert "not-here.signing is missing: the collector signs" in str(result.exception)
