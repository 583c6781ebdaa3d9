"""``apiwatch users``: console users added, listed, re-passworded and deleted in the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from apiwatch.cli import cli
from apiwatch.server.console._passwords import verify
from apiwatch.store import open_store

PASSWORD = "a long enough passphrase"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/users.db"
    monkeypatch.setenv("APIWATCH_DB", url)
    monkeypatch.setenv("APIWATCH_KEY_FILE", str(tmp_path / "keys"))
    monkeypatch.setenv("APIWATCH_CONSOLE_PASSWORD", PASSWORD)
    return url


def run(*args: str, password: str | None = None) -> Result:
    env = {"APIWATCH_CONSOLE_PASSWORD": password} if password is not None else None
    return CliRunner().invoke(cli, list(args), env=env)


def _hash(db: str, tmp_path: Path, name: str) -> str | None:
    store = open_store(db, key_file=tmp_path / "keys")
    try:
        user = store.console.user(name)
        return None if user is None else f"{user.role} {user.password_hash}"
    finally:
        store.close()


def test_users_are_added_listed_repassworded_and_deleted(db: str, tmp_path: Path) -> None:
    """add stores an argon2 hash with the role; list shows no hash; passwd replaces it;
    delete removes the user."""
    added = run("users", "add", "alice", "--role", "analyst")
    assert added.exit_code == 0, added.output
    role, stored = str(_hash(db, tmp_path, "alice")).split(" ", 1)
    assert role == "analyst"
    assert stored.startswith("$argon2id$")
    assert verify(stored, PASSWORD)
    listed = run("users", "list")
    assert "alice" in listed.output
    assert "analyst" in listed.output
    assert "argon2" not in listed.output
    changed = run("users", "passwd", "alice", password="another long passphrase")
    assert changed.exit_code == 0, changed.output
    assert verify(str(_hash(db, tmp_path, "alice")).split(" ", 1)[1], "another long passphrase")
    assert run("users", "delete", "alice").exit_code == 0
    assert _hash(db, tmp_path, "alice") is None
    gone = run("users", "delete", "alice")
    assert gone.exit_code == 1
    assert "no console user called 'alice'" in gone.output


def test_a_short_password_or_a_taken_name_is_refused(db: str) -> None:
    """A password under 12 characters and a second user of the same name are refused clearly."""
    short = run("users", "add", "bob", "--role", "viewer", password="short")
    assert short.exit_code == 1
    assert "at least 12 characters" in short.output
    assert run("users", "add", "bob", "--role", "viewer").exit_code == 0
    again = run("users", "add", "bob", "--role", "admin")
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_an_unknown_role_is_a_usage_error(db: str) -> None:
    """--role takes only viewer, analyst, admin."""
    result = run("users", "add", "carol", "--role", "root")
    assert result.exit_code == 2
    assert "viewer" in result.output
