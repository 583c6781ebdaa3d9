"""The key file: created owner-only, reused, refused with a clear error when corrupt or open to
other users."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import stat
from pathlib import Path

import pytest

from apiwatch.model import ConfigError
from apiwatch.store import Keyring
from apiwatch.store.crypto import data_key_id


def test_key_file_is_created_owner_only(tmp_path: Path) -> None:
    """A new key file has mode 0600 and is reported as newly created."""
    path = tmp_path / "sub" / "apiwatch.db.keys"
    keyring = Keyring.load_or_create(path)
    assert keyring.created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_existing_key_file_is_reused(tmp_path: Path) -> None:
    """Loading again gives the same keys and does not rewrite the file."""
    path = tmp_path / "keys"
    first = Keyring.load_or_create(path)
    written = path.read_bytes()
    second = Keyring.load_or_create(path)
    assert not second.created
    assert (second.data_keys, second.index_key) == (first.data_keys, first.index_key)
    assert second.public_key_bytes() == first.public_key_bytes()
    assert path.read_bytes() == written


def test_creation_never_overwrites_a_key_file_written_meanwhile(tmp_path: Path) -> None:
    """When another process created the file first, its keys are used, not replaced."""
    path = tmp_path / "keys"
    first = Keyring.load_or_create(path)
    racing = Keyring._create(path)  # what a second process does after its exists() check
    assert racing.data_keys == first.data_keys
    assert Keyring.load(path).data_keys == first.data_keys


def good_document(tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "template"
    Keyring.load_or_create(path)
    doc: dict[str, object] = json.loads(path.read_text())
    return doc


@pytest.mark.parametrize(
    "corrupt",
    [
        "not json at all",
        "[]",
        '"text"',
        "{}",
        '{"data_keys": [], "current": 1, "index_key": "", "signing_key": ""}',
        "BAD-BASE64",
        "SHORT-SIGNING-KEY",
        "MISSING-CURRENT-KEY",
        "\udcff binary",
    ],
)
def test_corrupt_key_file_is_a_config_error_naming_it(tmp_path: Path, corrupt: str) -> None:
    """Every way a key file can be damaged gives one ConfigError that names the file."""
    path = tmp_path / "damaged.keys"
    doc = good_document(tmp_path)
    if corrupt == "BAD-BASE64":
        doc["index_key"] = "***"
        corrupt = json.dumps(doc)
    elif corrupt == "SHORT-SIGNING-KEY":
        doc["signing_key"] = base64.b64encode(b"short").decode()
        corrupt = json.dumps(doc)
    elif corrupt == "MISSING-CURRENT-KEY":
        doc["current"] = 7
        corrupt = json.dumps(doc)
    path.write_bytes(corrupt.encode("utf-8", "surrogateescape"))
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        Keyring.load(path)
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        Keyring.load_or_create(path)


def test_unreadable_key_file_is_a_config_error(tmp_path: Path) -> None:
    """A key file the process may not read is a ConfigError naming it."""
    path = tmp_path / "keys"
    Keyring.load_or_create(path)
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything
        path.chmod(0o600)
        path.write_text("{")
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        Keyring.load(path)


def test_data_key_from_the_environment_is_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """APIWATCH_DATA_KEY becomes the current data key; a malformed one is a ConfigError."""
    key = os.urandom(32)
    monkeypatch.setenv("APIWATCH_DATA_KEY", base64.b64encode(key).decode())
    keyring = Keyring.load_or_create(tmp_path / "keys")
    assert keyring.data_keys[keyring.current] == key
    monkeypatch.setenv("APIWATCH_DATA_KEY", "c2hvcnQ=")
    with pytest.raises(ConfigError, match="32 bytes"):
        Keyring.load_or_create(tmp_path / "keys")


def test_data_key_ids_are_fingerprints_of_the_keys(tmp_path: Path) -> None:
    """A data key's id is derived from the key, so one id never names two different keys."""
    keyring = Keyring.load_or_create(tmp_path / "keys")
    assert keyring.current == data_key_id(keyring.data_keys[keyring.current])
    new_id = keyring.new_data_key()
    assert new_id == data_key_id(keyring.data_keys[new_id])
    assert Keyring.load(tmp_path / "keys").data_keys == keyring.data_keys


def test_environment_data_key_is_never_written_to_the_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rotating while APIWATCH_DATA_KEY is set saves the new key but never the variable's."""
    path = tmp_path / "keys"
    Keyring.load_or_create(path)
    env_key = os.urandom(32)
    monkeypatch.setenv("APIWATCH_DATA_KEY", base64.b64encode(env_key).decode())
    keyring = Keyring.load_or_create(path)
    env_id = keyring.current
    new_id = keyring.new_data_key()
    saved = Keyring.load(path)
    assert env_id not in saved.data_keys
    assert base64.b64encode(env_key).decode() not in path.read_text()
    assert (saved.current, saved.data_keys[new_id]) == (new_id, keyring.data_keys[new_id])


def test_rotating_without_the_variable_never_reuses_an_environment_keys_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key added after an environment key gets an id of its own: both still decrypt."""
    path = tmp_path / "keys"
    Keyring.load_or_create(path)
    env_key = os.urandom(32)
    monkeypatch.setenv("APIWATCH_DATA_KEY", base64.b64encode(env_key).decode())
    env_id, sealed = Keyring.load_or_create(path).encrypt(b"secret", b"ad")
    monkeypatch.delenv("APIWATCH_DATA_KEY")
    later = Keyring.load_or_create(path)
    new_id = later.new_data_key()
    assert new_id != env_id
    monkeypatch.setenv("APIWATCH_DATA_KEY", base64.b64encode(env_key).decode())
    again = Keyring.load_or_create(path)
    assert again.decrypt(env_id, sealed, b"ad") == b"secret"
    assert again.data_keys[new_id] == later.data_keys[new_id]


def test_key_file_with_counter_ids_still_loads(tmp_path: Path) -> None:
    """A key file from before fingerprint ids loads with the ids stored in it, and rotates on."""
    old, older = os.urandom(32), os.urandom(32)
    current = Keyring.load_or_create(tmp_path / "new")
    path = tmp_path / "old-keys"
    path.write_text(
        json.dumps(
            {
                "format": "apiwatch-keys/1",
                "current": 2,
                "data_keys": {
                    "1": base64.b64encode(older).decode(),
                    "2": base64.b64encode(old).decode(),
                },
                "index_key": base64.b64encode(current.index_key).decode(),
                "signing_key": base64.b64encode(current.signing_key.private_bytes_raw()).decode(),
            }
        )
    )
    path.chmod(0o600)  # as apiwatch writes its key files
    keyring = Keyring.load(path)
    assert (keyring.current, keyring.data_keys) == (2, {1: older, 2: old})
    new_id = keyring.new_data_key()
    assert new_id not in (1, 2)
    assert Keyring.load(path).data_keys[1] == older


def test_unwritable_key_file_location_is_a_config_error(tmp_path: Path) -> None:
    """A key file that cannot be created is a ConfigError naming it, not an OSError."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=re.escape(str(blocker / "keys"))):
        Keyring.load_or_create(blocker / "keys")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_key_file_others_may_read_is_refused_with_the_chmod_to_run(
    tmp_path: Path, mode: int
) -> None:
    """A key file group or others may read is refused, in one line saying the chmod to run."""
    path = tmp_path / "keys"
    Keyring.load_or_create(path)
    path.chmod(mode)
    with pytest.raises(ConfigError) as refused:
        Keyring.load_or_create(path)
    assert str(refused.value) == (
        f"key file {path}: other users may read or change it (mode {mode:03o}); "
        f"run: chmod 600 {path}"
    )
    path.chmod(0o600)
    assert Keyring.load_or_create(path).data_keys


def test_key_file_in_a_directory_others_may_write_draws_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An owner-only key file in a directory others may write to loads, with one warning saying
    the chmod that stops them from swapping it."""
    directory = tmp_path / "shared"
    directory.mkdir()
    path = directory / "keys"
    Keyring.load_or_create(path)
    directory.chmod(0o777)
    with caplog.at_level(logging.WARNING, logger="apiwatch.store"):
        Keyring.load_or_create(path)
    assert [r.getMessage().rpartition("run: ")[2] for r in caplog.records] == [
        f"chmod go-w {directory}"
    ]
