"""The store commands: keys, verify, rotate-key, keygen, expire, events, and settings."""

from __future__ import annotations

import base64
import json
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from apiwatch.cli import cli
from apiwatch.model import Event, EventMeta, Source, User, UserAgent, encode_event
from apiwatch.store import Batch, StoredLine, open_store


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    for name in ("APIWATCH_DB", "APIWATCH_DATA_KEY", "APIWATCH_PORT"):
        monkeypatch.delenv(name, raising=False)
    return f"sqlite:///{tmp_path / 'store.db'}"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _fill(url: str, count: int) -> None:
    store = open_store(url)
    lines = []
    for i in range(count):
        event = Event(
            event=EventMeta(action="authn_login_fail", outcome="failure"),
            source=Source(ip=f"192.0.2.{i % 200}"),
            user=User(name=f"user{i}"),
        )
        lines.append(StoredLine(event, encode_event(event)))
    store.events.append([Batch(lines[: count // 2], "api-1"), Batch(lines[count // 2 :], "api-1")])
    store.close()


def test_keys_create_prints_the_key_once_as_the_last_word(db: str) -> None:
    """`keys create` prints the secret as the last word; `keys list` never shows it."""
    code, out, _ = run("keys", "create", "--name", "api-1", "--scope", "ingest", "--db", db)
    assert code == 0
    secret = out.split()[-1]
    assert secret.startswith("aw_")
    code, listing, _ = run("keys", "list", "--db", db)
    assert "api-1" in listing
    assert secret not in listing
    store = open_store(db)
    assert store.keys.authenticate(secret) is not None
    store.close()


def test_keys_create_binds_an_ingest_key_to_services_and_networks(db: str) -> None:
    """`keys create --service ... --network ...` makes a bound key, says so, and `keys list`
    shows the binding."""
    code, out, err = run("keys", "create", "--name", "shop-sensor", "--scope", "ingest",
                         "--service", "shop", "--service", "api", "--network", "10.0.0.0/8",
                         "--db", db)  # fmt: skip
    assert code == 0
    assert "for services api, shop from networks 10.0.0.0/8" in out
    assert "note:" not in err
    store = open_store(db)
    key = store.keys.authenticate(out.split()[-1])
    store.close()
    assert key is not None
    assert (key.services, key.networks) == (frozenset({"shop", "api"}), ("10.0.0.0/8",))
    _, listing, _ = run("keys", "list", "--db", db)
    assert "api,shop" in listing and "10.0.0.0/8" in listing


def test_an_unbound_ingest_key_comes_with_a_note_recommending_a_binding(db: str) -> None:
    """An ingest key made without --service works as before, and stderr recommends binding it;
    the secret is still the last word of stdout."""
    code, out, err = run("keys", "create", "--name", "api-1", "--scope", "ingest", "--db", db)
    assert code == 0 and out.split()[-1].startswith("aw_")
    assert "--service" in err and "any address" in err
    _, _, err = run("keys", "create", "--name", "reader", "--scope", "read", "--db", db)
    assert "--service" not in err


def test_a_binding_that_is_not_one_is_a_one_line_error(db: str) -> None:
    """A network that is not one is refused on one line, naming it, and no key is made."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("apiwatch")), "keys", "create", "--name", "x",
         "--scope", "ingest", "--network", "10.0.0.0/99", "--db", db],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "apiwatch: network: '10.0.0.0/99' is not a network (e.g. 10.0.0.0/8)"
    )
    assert "Traceback" not in result.stderr
    store = open_store(db)
    assert store.keys.all() == []
    store.close()


def test_key_file_is_created_owner_only_and_announced_once(db: str, tmp_path: Path) -> None:
    """The first command on a new store creates a 0600 key file beside it and says so once."""
    _, _, err = run("keys", "create", "--name", "a", "--scope", "read", "--db", db)
    assert "created the data and signing keys" in err
    key_file = tmp_path / "store.db.keys"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "store.db").stat().st_mode) == 0o600
    _, _, err = run("keys", "list", "--db", db)
    assert "created" not in err


def test_duplicate_key_name_and_bad_scope_are_one_line_errors(db: str) -> None:
    """A repeated key name or an unknown scope is a clear one-line error, exit code non-zero."""
    run("keys", "create", "--name", "api-1", "--scope", "ingest", "--db", db)
    result = CliRunner().invoke(
        cli, ["keys", "create", "--name", "api-1", "--scope", "ingest", "--db", db]
    )
    assert result.exit_code != 0
    result = CliRunner().invoke(cli, ["keys", "create", "--name", "x", "--scope", "root"])
    assert result.exit_code == 2
    assert "Invalid value for '--scope'" in result.output


def test_revoke_stops_the_key(db: str) -> None:
    """A revoked key no longer authenticates; revoking an unknown key fails clearly."""
    _, out, _ = run("keys", "create", "--name", "gone", "--scope", "read", "--db", db)
    assert run("keys", "revoke", "gone", "--db", db)[0] == 0
    store = open_store(db)
    assert store.keys.authenticate(out.split()[-1]) is None
    store.close()
    result = CliRunner().invoke(cli, ["keys", "revoke", "nobody", "--db", db])
    assert result.exit_code == 1
    assert "no active key called 'nobody'" in result.output


def test_verify_passes_then_names_the_edited_record(db: str, tmp_path: Path) -> None:
    """`verify` exits 0 with a summary when intact, 1 naming the record edited in the file."""
    _fill(db, 40)
    code, out, _ = run("verify", "--db", db)
    assert (code, out.strip()) == (0, "intact: 40 records, 1 signed checkpoint")  # one, singular
    with sqlite3.connect(tmp_path / "store.db") as connection:
        connection.execute("UPDATE events SET source_ip = NULL WHERE seq = 17")
    code, _, err = run("verify", "--db", db)
    assert code == 1
    assert "record 17" in err


def test_verify_names_a_deleted_record(db: str, tmp_path: Path) -> None:
    """Deleting a row in the SQLite file is reported as that record deleted."""
    _fill(db, 30)
    with sqlite3.connect(tmp_path / "store.db") as connection:
        connection.execute("DELETE FROM events WHERE seq = 9")
    code, _, err = run("verify", "--db", db)
    assert code == 1
    assert "record 9 is deleted" in err


def test_rotate_key_keeps_events_readable_and_verifiable(db: str) -> None:
    """After rotate-key the events still read back and the chain still verifies."""
    _fill(db, 20)
    code, out, _ = run("rotate-key", "--db", db)
    assert code == 0
    assert "20 records re-encrypted" in out
    assert run("verify", "--db", db)[0] == 0
    code, out, _ = run("events", "--db", db, "--user", "user3")
    assert json.loads(out)["user"]["name"] == "user3"


def test_events_command_filters_and_is_audited(db: str) -> None:
    """`events --ip CIDR` prints matching ECS lines and the read lands in the access audit."""
    _fill(db, 20)
    code, out, _ = run("events", "--db", db, "--ip", "192.0.2.0/29", "--limit", "50")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert {line["source"]["ip"] for line in lines} == {f"192.0.2.{i}" for i in range(8)}
    store = open_store(db)
    [read] = store.audit.reads()
    store.close()
    assert read.key_name.startswith("cli:")
    assert read.criteria == "source.ip=192.0.2.0/29"
    assert read.returned == 8


def test_keygen_prints_a_256_bit_key() -> None:
    """`keygen` prints base64 of 32 random bytes."""
    code, out, _ = run("keygen")
    assert code == 0
    assert len(base64.b64decode(out.strip())) == 32


def test_settings_file_env_and_flag_precedence(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """apiwatch.toml sets the store, APIWATCH_DB overrides it, --db overrides both."""
    from apiwatch.cli._config import load_settings

    (tmp_path / "apiwatch.toml").write_text('db = "sqlite:///from-file.db"\nport = 9000\n')
    assert load_settings(None).db == "sqlite:///from-file.db"
    assert load_settings(None).port == 9000
    monkeypatch.setenv("APIWATCH_DB", "sqlite:///from-env.db")
    assert load_settings(None).db == "sqlite:///from-env.db"
    assert load_settings(None, db="sqlite:///from-flag.db").db == "sqlite:///from-flag.db"


def test_unknown_setting_names_file_and_key(db: str, tmp_path: Path) -> None:
    """A typo in apiwatch.toml is an error naming the file and the key."""
    (tmp_path / "apiwatch.toml").write_text("prot = 9000\n")
    result = CliRunner().invoke(cli, ["keys", "list"])
    assert result.exit_code != 0
    assert "unknown setting prot" in str(result.exception) + result.output


def test_bad_db_url_is_a_clear_error(db: str) -> None:
    """A store URL of an unknown kind is rejected with the accepted forms."""
    result = CliRunner().invoke(cli, ["keys", "list", "--db", "mysql://x"])
    assert result.exit_code != 0
    assert "not a sqlite:/// or postgresql:// URL" in str(result.exception) + result.output


def test_events_audit_records_the_account_as_its_blind_index(db: str) -> None:
    """`events --user` records the account in the read audit as its blind index, not the name."""
    _fill(db, 4)
    code, out, _ = run("events", "--user", "user1", "--db", db)
    assert code == 0 and out.count("\n") == 1
    store = open_store(db)
    [read] = store.audit.reads()
    assert read.criteria == "user.name=#" + store.keyring.blind_index("user1").hex()
    store.close()


@pytest.mark.parametrize(
    "command",
    [
        ["verify"],
        ["events"],
        ["rotate-key"],
        ["expire", "--days", "3"],
        ["keys", "list"],
        ["keys", "revoke", "x"],
    ],
)
def test_read_only_commands_never_create_a_store(
    db: str, tmp_path: Path, command: list[str]
) -> None:
    """Commands that use a store fail clearly on a missing one and create neither it nor keys."""
    result = CliRunner().invoke(cli, [*command, "--db", db])
    assert result.exit_code != 0
    assert "no apiwatch store at" in str(result.exception)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_verify_without_the_key_file_does_not_make_new_keys(db: str, tmp_path: Path) -> None:
    """verify on an existing store whose key file is gone is an error, not a fresh key file."""
    _fill(db, 4)
    (tmp_path / "store.db.keys").rename(tmp_path / "elsewhere.keys")
    result = CliRunner().invoke(cli, ["verify", "--db", db])
    assert result.exit_code != 0
    assert "store.db.keys is missing" in str(result.exception)
    assert not (tmp_path / "store.db.keys").exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("retention_days = 0", "retention_days must be 1 or more, not 0"),
        ("retention_days = -3", "retention_days must be 1 or more, not -3"),
        ("port = 70000", "port must be from 0 to 65535, not 70000"),
        ('log_level = "loud"', "log_level must be one of critical, error, warning, info"),
    ],
)
def test_out_of_range_settings_name_the_setting_and_the_file(
    db: str, tmp_path: Path, setting: str, message: str
) -> None:
    """A setting outside its allowed values is an error naming the file and the setting."""
    (tmp_path / "apiwatch.toml").write_text(setting + "\n")
    result = CliRunner().invoke(cli, ["keys", "list", "--db", db])
    assert result.exit_code != 0
    assert str(result.exception).startswith(f"apiwatch.toml: {message}")


def test_out_of_range_environment_setting_names_the_variable(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """APIWATCH_RETENTION_DAYS=0 is an error naming the variable."""
    monkeypatch.setenv("APIWATCH_RETENTION_DAYS", "0")
    result = CliRunner().invoke(cli, ["keys", "list", "--db", db])
    assert "APIWATCH_RETENTION_DAYS: retention_days must be 1 or more" in str(result.exception)


def test_revoke_help_says_when_the_key_stops_working() -> None:
    """`keys revoke --help` tells that the collector notices a revocation within seconds."""
    code, out, _ = run("keys", "revoke", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "within a few seconds (the collector caches verified keys for 5 s)" in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@db.example/logs", "postgresql://u@db.example/logs"),
        (
            "postgresql://u@db.example/logs?password=pw&sslmode=require",
            "postgresql://u@db.example/logs?sslmode=require",
        ),
        ("postgresql://u:a@b@db.example/logs?password=pw", "postgresql://u@db.example/logs"),
        ("sqlite:///./apiwatch.db", "sqlite:///./apiwatch.db"),
    ],
)
def test_serve_never_prints_the_store_password(url: str, shown: str) -> None:
    """The store URL serve prints has no password, neither user:pass@ nor ?password=."""
    from apiwatch.cli._config import Settings
    from apiwatch.cli.serve import _safe_url

    assert _safe_url(Settings(db=url)) == shown


HOSTILE_AGENT = (
    "curl\x1b]0;owned\x07 \x7f del \x85 nel \x9b[31m csi \u202etxt\u202c \u2066iso\u2069 "
    "\u200e\u200f marks \u2028ls \u2029ps \u061c alm \ufeff bom \U000e0041 tag \u00e9t\u00e9"
)
TERMINAL_HOSTILE = [
    *(chr(c) for c in range(0x20)), "\x7f", *(chr(c) for c in range(0x80, 0xA0)),
    "\u200e", "\u200f", *(chr(c) for c in range(0x202A, 0x202F)),
    *(chr(c) for c in range(0x2066, 0x206A)), "\u2028", "\u2029",
]  # fmt: skip


def test_events_escapes_what_would_drive_a_terminal(db: str) -> None:
    """`events` writes C0/C1 controls, DEL, bidi marks and line separators stored in an event as
    JSON \\u escapes: nothing reaches the terminal raw, and each line is the same JSON value."""
    event = Event(event=EventMeta(action="http_request"), source=Source(ip="192.0.2.1"),
                  user_agent=UserAgent(original=HOSTILE_AGENT))  # fmt: skip
    # The sender's own line is what is kept: here with a tab between tokens, as JSON allows.
    line = encode_event(event).replace(b'"user_agent":', b'"user_agent":\t', 1)
    assert b"\t" in line
    store = open_store(db)
    store.events.append([Batch([StoredLine(event, line)], "api-1")])
    store.close()
    code, out, _ = run("events", "--db", db)
    assert code == 0
    for char in TERMINAL_HOSTILE:
        assert char not in out.rstrip("\n"), repr(char)
    (printed,) = out.splitlines()
    assert json.loads(printed)["user_agent"]["original"] == HOSTILE_AGENT
    assert "\u00e9t\u00e9" in printed  # printable text stays as it is
