"""``apiwatch decisions`` and ``apiwatch allowlist`` on the store: add, list, delete, and the
clear one-line errors for bad values and for values no decision may act on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from apiwatch.cli import cli
from apiwatch.model import Decision
from apiwatch.store import open_store


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An existing, empty store; APIWATCH_DB points at it."""
    monkeypatch.chdir(tmp_path)
    for name in ("APIWATCH_DATA_KEY", "APIWATCH_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("APIWATCH_DB", url)
    open_store(url).close()
    return url


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_a_missing_store_is_refused_not_created(tmp_path: Path) -> None:
    """With no store at --db, the commands say so and create nothing."""
    url = f"sqlite:///{tmp_path / 'none.db'}"
    for args in (
        ("decisions", "list"),
        ("allowlist", "list"),
        ("decisions", "add", "--ip", "203.0.113.9", "--duration", "1h", "--reason", "x"),
    ):
        result = run(*args, "--db", url)
        assert result.exit_code == 1
        assert "no apiwatch store" in result.output
    assert not (tmp_path / "none.db").exists()


def test_add_list_and_delete_a_ban(db: str) -> None:
    """A ban added by hand is listed with its time left, then deleted, then only --all shows it."""
    added = run("decisions", "add", "--ip", "203.0.113.9", "--duration", "4h",
                "--reason", "credential stuffing")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert added.output.startswith("added decision 1: ban Ip 203.0.113.9 for 4h0m0s")
    listing = run("decisions", "list", "--json")
    (item,) = json.loads(listing.output)
    assert (item["id"], item["value"], item["origin"]) == (1, "203.0.113.9", "manual")
    assert item["reason"] == "credential stuffing"
    table = run("decisions", "list").output
    assert "203.0.113.9" in table
    assert "3h59m" in table
    deleted = run("decisions", "delete", "1")
    assert deleted.exit_code == 0
    assert deleted.output.strip() == "deleted decision 1: ban Ip 203.0.113.9"
    assert json.loads(run("decisions", "list", "--json").output) == []
    (gone,) = json.loads(run("decisions", "list", "--all", "--json").output)
    assert gone["deleted"] is not None
    again = run("decisions", "delete", "1")
    assert again.exit_code == 1
    assert "no decision 1 in force" in again.output


def test_a_decision_added_by_hand_reaches_the_bouncer_stream(db: str) -> None:
    """What the CLI adds is what the stream serves: bouncers get it on their next pull."""
    run("decisions", "add", "--range", "198.51.100.77/24", "--duration", "30m", "--reason", "x")
    run("decisions", "add", "--account", "Dana", "--duration", "1d", "--reason", "takeover")
    store = open_store(db)
    try:
        new = store.decisions.changes(None, now=datetime.now(UTC)).new
    finally:
        store.close()
    assert [(d.scope, d.value, d.type) for d in new] == [
        ("Range", "198.51.100.0/24", "ban"), ("Username", "Dana", "flag")]  # fmt: skip


def test_list_filters_by_address_and_is_audited(db: str) -> None:
    """--ip finds the ranges containing the address; the listing is in the read audit."""
    run("decisions", "add", "--range", "198.51.100.0/24", "--duration", "1h", "--reason", "x")
    run("decisions", "add", "--ip", "203.0.113.9", "--duration", "1h", "--reason", "x")
    found = json.loads(run("decisions", "list", "--ip", "198.51.100.7", "--json").output)
    assert [item["value"] for item in found] == ["198.51.100.0/24"]
    store = open_store(db)
    try:
        reads = store.audit.reads()
    finally:
        store.close()
    assert reads[0].what == "decisions"
    assert reads[0].key_name.startswith("cli:")
    assert (reads[0].criteria, reads[0].returned) == ("ip=198.51.100.7", 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ip", "203.0.113.300"), "not an IP address: '203.0.113.300'"),
        (("--range", "198.51.100.0/33"), "not a network (CIDR): '198.51.100.0/33'"),
        (("--ip", "203.0.113.9", "--duration", "4 hours"), "duration: '4 hours' is not a duration"),
        (("--ip", "203.0.113.9", "--duration", "20000d"), "too long"),
        (("--ip", "203.0.113.9", "--reason", " "), "reason: say why"),
    ],
)
def test_bad_values_are_one_clear_line(db: str, args: tuple[str, ...], message: str) -> None:
    """A bad address, network, duration or reason: exit 1 with one line naming it."""
    defaults = {"--duration": "4h", "--reason": "x"}
    given = list(args)
    for option, value in defaults.items():
        if option not in given:
            given += [option, value]
    result = run("decisions", "add", *given)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "target",
    [
        ("--ip", "2002:a00:1::1"),  # 6to4 of 10.0.0.1
        ("--ip", "64:ff9b::10.1.2.3"),  # NAT64
        ("--ip", "::ffff:0:192.168.0.9"),  # IPv4-translated
        ("--ip", "2001:0:a00:1::1"),  # Teredo server 10.0.0.1
        ("--range", "2002:a00::/24"),  # 6to4 of 10.0.0.0/8
    ],
)
def test_embedded_internal_values_are_refused_and_nothing_is_stored(
    db: str, target: tuple[str, str]
) -> None:
    """IPv4 carried inside IPv6 is protected like the IPv4 address itself: one line, exit 1."""
    result = run("decisions", "add", *target, "--duration", "1h", "--reason", "x")
    assert result.exit_code == 1
    assert "internal network" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert json.loads(run("decisions", "list", "--json").output) == []


def test_an_embedded_public_address_is_banned_as_given(db: str) -> None:
    """A 6to4 address carrying a public IPv4 address is banned as that IPv6 address."""
    added = run("decisions", "add", "--ip", "2002:cb00:7105::1", "--duration", "1h",
                "--reason", "x")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "ban Ip 2002:cb00:7105::1" in added.output


def test_exactly_one_target_is_a_usage_error(db: str) -> None:
    """None or two of --ip/--range/--account is a usage error (exit 2)."""
    for targets in ((), ("--ip", "203.0.113.9", "--account", "dana")):
        result = run("decisions", "add", *targets, "--duration", "1h", "--reason", "x")
        assert result.exit_code == 2
        assert "exactly one of --ip, --range, --account" in result.output


def test_allowlisted_and_internal_values_are_refused_saying_why(db: str) -> None:
    """A ban inside an allowlisted range, or on an internal network, is refused with why."""
    added = run("allowlist", "add", "--range", "192.0.2.0/24", "--reason", "office NAT")
    assert added.exit_code == 0
    refused = run("decisions", "add", "--ip", "192.0.2.7", "--duration", "1h", "--reason", "x")
    assert refused.exit_code == 1
    assert "192.0.2.7 is allowlisted (by the entry 192.0.2.0/24): office NAT" in refused.output
    internal = run("decisions", "add", "--ip", "10.20.30.40", "--duration", "1h", "--reason", "x")
    assert internal.exit_code == 1
    assert "internal network 10.0.0.0/8" in internal.output
    account = run("allowlist", "add", "--account", "monitor", "--reason", "synthetic checks")
    assert account.exit_code == 0
    flagged = run("decisions", "add", "--account", "MONITOR", "--duration", "1h", "--reason", "x")
    assert "allowlisted" in flagged.output
    assert json.loads(run("decisions", "list", "--json").output) == []


def test_allowlist_add_list_delete(db: str) -> None:
    """Entries are listed; deleting one needs its exact value; a miss is a clear error."""
    run("allowlist", "add", "--ip", "203.0.113.10", "--reason", "partner")
    run("allowlist", "add", "--range", "192.0.2.0/24", "--reason", "office")
    listed = json.loads(run("allowlist", "list", "--json").output)
    assert [(e["scope"], e["value"], e["reason"]) for e in listed] == [
        ("Ip", "203.0.113.10", "partner"), ("Range", "192.0.2.0/24", "office")]  # fmt: skip
    assert "203.0.113.10" in run("allowlist", "list").output
    missed = run("allowlist", "delete", "--ip", "192.0.2.1")
    assert missed.exit_code == 1
    assert "no allowlist entry for exactly 192.0.2.1" in missed.output
    removed = run("allowlist", "delete", "--range", "192.0.2.0/24")
    assert removed.output.strip() == "removed 192.0.2.0/24 from the allowlist"
    assert len(json.loads(run("allowlist", "list", "--json").output)) == 1


def test_allowlisting_a_banned_value_points_at_the_decisions_still_in_force(db: str) -> None:
    """The decisions already on an address inside a newly allowed range are named."""
    run("decisions", "add", "--ip", "203.0.113.9", "--duration", "1h", "--reason", "x")
    result = CliRunner().invoke(
        cli, ["allowlist", "add", "--range", "203.0.113.0/24", "--reason", "office"]
    )
    assert result.exit_code == 0
    assert "note: decision 1 still applies to it" in result.stderr


def test_control_characters_from_events_are_listed_escaped(db: str) -> None:
    """A flagged account named with terminal escapes (from an event) is listed, never run."""
    now = datetime.now(UTC)
    store = open_store(db)
    try:
        store.decisions.add([Decision(
            id=0, type="flag", scope="Username", value="eve\x1b]0;owned\x07\x1b[2J",
            created=now, until=now + timedelta(hours=1), reason="Stuffing \x1b[31mred",
        )])  # fmt: skip
    finally:
        store.close()
    for result in (run("decisions", "list"), run("decisions", "delete", "1")):
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output
        assert r"\x1b" in result.output
