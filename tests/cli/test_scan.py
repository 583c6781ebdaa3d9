"""``apiwatch scan``: the detection engine over log files, run as a user runs it."""

from __future__ import annotations

import gzip
import ipaddress
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from apiwatch.cli import cli
from apiwatch.model import Event
from apiwatch.simulate import GroundTruth, ScenarioConfig, ScenarioPaths, write_scenario

APIWATCH = Path(sys.executable).with_name("apiwatch")
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
SCANNER_IP = "203.0.113.250"
REQUIRED = {
    "id",
    "rule",
    "title",
    "severity",
    "first_seen",
    "last_seen",
    "attackers",
    "accounts_targeted",
    "accounts_compromised",
    "objects_exposed",
}
# SigmaHQ "Potential CVE-2023-23752 Exploitation Attempt" (Joomla): GET + cs-uri-query|contains|all
JOOMLA_RULE = "0e1ebc5a-15d0-4bf6-8199-b2535397433a"


def line(
    t: float,
    ip: str,
    target: str,
    status: int = 200,
    *,
    method: str = "GET",
    ua: str = BROWSER,
    user: str = "-",
) -> str:
    """One nginx ``combined`` line, ``t`` seconds after 08:00 UTC."""
    when = (T0 + timedelta(seconds=t)).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{ip} - {user} [{when}] "{method} {target} HTTP/1.1" {status} 512 "-" "{ua}"\n'


def benign(start: float = 0, count: int = 20) -> list[str]:
    """Ordinary browsing by a few customers."""
    return [
        line(start + i * 7, f"192.0.2.{10 + i % 4}", f"/api/v1/products/{i % 5}")
        for i in range(count)
    ]


def scanner(start: float = 300, count: int = 6) -> list[str]:
    """An sqlmap run against the product search."""
    ua = "sqlmap/1.8.11#stable (https://sqlmap.org)"
    return [
        line(start + i, SCANNER_IP, f"/api/v1/products?q={i}", 200, ua=ua) for i in range(count)
    ]


def failed_logins(ip: str, path: str, count: int = 30, start: float = 600) -> list[str]:
    """``count`` POSTs to ``path`` answered 401 from ``ip``, five seconds apart."""
    return [line(start + i * 5, ip, path, 401, method="POST") for i in range(count)]


def write(path: Path, lines: Iterable[str]) -> Path:
    path.write_text("".join(lines), encoding="utf-8")
    return path


def scan(*args: str | Path, stdin: bytes | None = None) -> Result:
    """``apiwatch scan ARGS`` through click, stdout and stderr kept apart."""
    return CliRunner().invoke(cli, ["scan", *map(str, args)], input=stdin)


def incidents(result: Result) -> list[dict[str, Any]]:
    """The JSON objects ``scan --json`` printed, one per line; the command must have succeeded."""
    assert result.exit_code == 0, result.output
    return [json.loads(text) for text in result.stdout.splitlines() if text.strip()]


def flat(text: str) -> str:
    """Whitespace collapsed: the stderr console wraps its summary at the terminal width."""
    return " ".join(text.split())


def union(found: list[dict[str, Any]], key: str) -> set[str]:
    return {value for incident in found for value in incident[key]}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> ScenarioPaths:
    """A small seeded scenario (every attack, a tenth of the users) as the three files."""
    return write_scenario(ScenarioConfig(seed=3, scale=0.1), tmp_path_factory.mktemp("sim"))


@pytest.fixture(scope="module")
def truth(scenario: ScenarioPaths) -> GroundTruth:
    return GroundTruth.load(scenario.truth)


@pytest.fixture(scope="module")
def nginx_json(scenario: ScenarioPaths) -> Result:
    """``scan --json`` of the scenario's access log (run once, read by several tests)."""
    return scan("--json", scenario.access_log)


def test_json_has_one_complete_object_per_incident(scenario: ScenarioPaths) -> None:
    """Every ``--json`` line is one incident with the documented keys, ISO 8601 UTC times in
    order, and IP addresses as attackers."""
    result = scan("--json", scenario.events)
    found = incidents(result)
    assert len(found) >= 5
    assert len({incident["id"] for incident in found}) == len(found)
    for incident in found:
        assert set(incident) >= REQUIRED, incident.keys()
        assert incident["rule"] == incident["rules"][0]
        assert incident["severity"] in {"low", "medium", "high", "critical"}
        first = datetime.fromisoformat(incident["first_seen"])
        last = datetime.fromisoformat(incident["last_seen"])
        assert first.utcoffset() == timedelta(0) and last.utcoffset() == timedelta(0)
        assert first <= last
        for ip in incident["attackers"]:
            ipaddress.ip_address(ip)
        for key in ("accounts_targeted", "accounts_compromised", "objects_exposed"):
            assert isinstance(incident[key], list)
    assert f"{len(found)} incidents" in flat(result.stderr)


def test_ecs_input_names_exactly_the_compromised_accounts(
    scenario: ScenarioPaths, truth: GroundTruth
) -> None:
    """From the sensor's ECS events, the incidents name exactly the accounts the ground truth
    says were taken over, each in an incident of the attack that took it."""
    found = incidents(scan("--json", "--quiet", scenario.events))
    compromised = {name for attack in truth.attacks for name in attack.accounts_compromised}
    assert compromised
    assert union(found, "accounts_compromised") == compromised
    for attack in truth.attacks:
        if attack.accounts_compromised:
            assert any(
                set(attack.attackers) & set(incident["attackers"])
                and set(attack.accounts_compromised) <= set(incident["accounts_compromised"])
                for incident in found
            ), attack.id


def test_nginx_input_finds_the_scanner_and_the_enumeration(
    nginx_json: Result, truth: GroundTruth
) -> None:
    """From the access log alone, the scanner is an attack-tool incident and the object
    enumeration an incident naming every object the truth says was exposed."""
    found = incidents(nginx_json)
    attacks = {attack.id: attack for attack in truth.attacks}
    scanner_ip = attacks["scanner"].attackers[0]
    assert any(
        scanner_ip in i["attackers"] and "attack-tool-user-agent" in i["rules"] for i in found
    )
    enumeration = attacks["object_enumeration"]
    hit = [i for i in found if "object-enumeration" in i["rules"]]
    assert len(hit) == 1
    assert hit[0]["attackers"] == enumeration.attackers
    assert set(enumeration.objects_exposed) <= set(hit[0]["objects_exposed"])
    assert hit[0]["severity"] == "critical"


def test_table_lists_every_incident(scenario: ScenarioPaths, nginx_json: Result) -> None:
    """The default output is a table naming each incident the JSON output has, by id and title."""
    found = incidents(nginx_json)
    result = scan("--quiet", scenario.access_log)
    assert result.exit_code == 0, result.output
    assert f"{len(found)} incidents" in result.stdout
    for incident in found:
        assert incident["id"] in result.stdout
    assert "Object enumeration" in result.stdout
    assert not result.stdout.lstrip().startswith("{")


def test_several_files_are_read_oldest_first(tmp_path: Path, scenario: ScenarioPaths) -> None:
    """Files given newest first are read oldest first: no event is late and the incidents are
    those of the single file they were cut from."""
    lines = scenario.access_log.read_text(encoding="utf-8").splitlines(keepends=True)
    middle = len(lines) // 2
    older = write(tmp_path / "access.log.1", lines[:middle])
    newer = write(tmp_path / "access.log", lines[middle:])
    whole = scan("--json", scenario.access_log)
    parts = scan("--json", newer, older)
    assert incidents(parts) == incidents(whole)
    assert f"{len(lines):,} events" in flat(parts.stderr)
    assert "0 late" in flat(parts.stderr)


def test_format_is_detected_and_can_be_forced(tmp_path: Path) -> None:
    """nginx and ECS files are told apart without --format; forcing the wrong format makes every
    line a skipped bad line and finds nothing."""
    access = write(tmp_path / "access.log", benign() + scanner())
    ecs = tmp_path / "events.ndjson"
    docs = [
        {
            "@timestamp": (T0 + timedelta(seconds=i)).isoformat(),
            "event": {"action": "http_request"},
            "source": {"ip": SCANNER_IP},
            "http": {"request": {"method": "GET"}, "response": {"status_code": 200}},
            "url": {"path": "/api/v1/products"},
            "user_agent": {"original": "sqlmap/1.8.11#stable"},
        }
        for i in range(3)
    ]
    ecs.write_text("".join(json.dumps(doc) + "\n" for doc in docs), encoding="utf-8")
    for path in (access, ecs):
        found = incidents(scan("--json", path))
        assert [i["rule"] for i in found] == ["attack-tool-user-agent"], path
        assert found[0]["attackers"] == [SCANNER_IP]
    assert incidents(scan("--json", "--format", "nginx", access)) == incidents(
        scan("--json", access)
    )
    forced = scan("--json", "--format", "ecs", access)
    assert incidents(forced) == []
    assert "26 bad lines skipped" in flat(forced.stderr)
    assert incidents(scan("--json", "--format", "nginx", ecs)) == []


def test_gzip_input_is_read_by_its_magic_bytes(tmp_path: Path) -> None:
    """A gzip-compressed log, even one not named .gz, gives the incidents of the plain file."""
    plain = write(tmp_path / "access.log", benign() + scanner())
    packed = tmp_path / "access.log.1"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    named = tmp_path / "access.log.2.gz"
    named.write_bytes(packed.read_bytes())
    expected = incidents(scan("--json", plain))
    assert expected
    assert incidents(scan("--json", packed)) == expected
    assert incidents(scan("--json", named)) == expected


def test_dash_reads_stdin(tmp_path: Path) -> None:
    """``-`` scans standard input, with the same result as the file."""
    plain = write(tmp_path / "access.log", benign() + scanner())
    expected = incidents(scan("--json", plain))
    assert incidents(scan("--json", "-", stdin=plain.read_bytes())) == expected


def test_bad_lines_are_reported_by_number_and_the_scan_goes_on(tmp_path: Path) -> None:
    """Malformed lines are skipped with FILE:LINE on stderr, and the lines after them are still
    scanned."""
    lines = benign(count=5)
    lines.insert(2, "this is not a log line\n")
    lines.insert(5, '192.0.2.1 - - [02/Nov/2026:08:00:09 +0000] "GET / HTTP/1.1" 2000 1 "-" "x"\n')
    path = write(tmp_path / "access.log", lines + scanner())
    result = scan("--json", path)
    found = incidents(result)
    assert [i["rule"] for i in found] == ["attack-tool-user-agent"]
    err = flat(result.stderr)
    assert f"{path}:3: skipped: not an access log line" in err
    assert f"{path}:6: skipped: not an access log line: $status is not 3 digits" in err
    assert "2 bad lines skipped" in err


def test_past_ten_bad_lines_are_counted_not_shown(tmp_path: Path) -> None:
    """After ten shown bad lines the rest are only counted, so a wrong file cannot flood stderr."""
    path = write(tmp_path / "access.log", benign(count=5) + ["garbage\n"] * 15)
    result = scan("--json", path)
    assert result.exit_code == 0, result.output
    err = flat(result.stderr)
    assert err.count("skipped: not an access log line") == 10
    assert "further bad lines are counted, not shown" in err
    assert "15 bad lines skipped" in err


def test_fail_on_high_exits_3_only_when_a_high_incident_exists(tmp_path: Path) -> None:
    """With --fail-on high the real command exits 3 when an incident is high or worse (after
    printing it), and 0 on benign traffic."""
    attacked = write(tmp_path / "attacked.log", benign() + scanner())
    quiet = write(tmp_path / "benign.log", benign(count=60))
    env = {**os.environ, "COLUMNS": "200"}
    run = [str(APIWATCH), "scan", "--fail-on", "high", "--json"]
    bad = subprocess.run(
        [*run, str(attacked)], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert bad.returncode == 3, bad.stderr
    assert json.loads(bad.stdout.splitlines()[0])["severity"] == "high"
    good = subprocess.run(
        [*run, str(quiet)], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert good.returncode == 0, good.stderr
    assert good.stdout == ""
    assert scan("--fail-on", "critical", attacked).exit_code == 0


def test_login_path_decides_what_is_a_login(tmp_path: Path) -> None:
    """Failed POSTs to a custom route are logins only with --login-path, which replaces the
    default routes."""
    custom = write(tmp_path / "custom.log", failed_logins("198.51.100.7", "/api/v2/authenticate"))
    default = write(tmp_path / "default.log", failed_logins("198.51.100.8", "/api/v1/login"))
    assert incidents(scan("--json", custom)) == []
    found = incidents(scan("--json", "--login-path", r"/authenticate$", custom))
    assert [i["rule"] for i in found] == ["login-failures-source"]
    assert found[0]["attackers"] == ["198.51.100.7"]
    assert [i["rule"] for i in incidents(scan("--json", default))] == ["login-failures-source"]
    assert incidents(scan("--json", "--login-path", r"/authenticate$", default)) == []


def test_login_failure_size_tells_failed_logins_answered_200(tmp_path: Path) -> None:
    """An API answering failed logins with 200 and a 48-byte error body: with --login-failure
    naming that size, the stuffing is seen (and carries its evidence); without, it is not, and
    the same route's real successes (a larger body) stay successes."""

    def sized(t: float, ip: str, size: int) -> str:
        return line(t, ip, "/api/v1/login", 200, method="POST").replace(
            " 200 512 ", f" 200 {size} "
        )

    lines = [sized(600 + i * 5, "198.51.100.9", 48) for i in range(30)]
    lines += [sized(610 + i * 11, f"192.0.2.{20 + i}", 900) for i in range(5)]
    log = write(tmp_path / "access.log", sorted(lines, key=lambda text: text.split("[")[1]))
    assert incidents(scan("--json", log)) == []
    found = incidents(scan("--json", "--login-failure", "/api/v1/login$:<=64", log))
    assert union(found, "attackers") == {"198.51.100.9"}
    why = found[0]["attacker_evidence"]["198.51.100.9"]
    assert any("30 failed logins" in reason for reason in why), why
    bad = scan("--login-failure", "/login$:lots", log)
    assert bad.exit_code == 2
    assert "--login-failure" in bad.stderr and "expected N, <=N or N-M" in bad.stderr


def test_invalid_login_path_is_a_usage_error(tmp_path: Path) -> None:
    """A --login-path that is not a regular expression exits 2 naming the option."""
    path = write(tmp_path / "access.log", benign(count=3))
    result = scan("--login-path", "(", path)
    assert result.exit_code == 2
    assert "--login-path" in result.stderr and "not a valid regular expression" in result.stderr


def test_hostile_log_text_is_printed_never_interpreted(tmp_path: Path) -> None:
    """ANSI escapes, HTML, rich [markup] and :emoji: codes from a log reach the table and stderr
    as literal text: no escape byte is written and no markup becomes style."""
    hostile_ua = "\x1b[31mEvil <script>alert(1)</script> [bold]x[/bold]"
    lines = [
        line(i * 5, "198.51.100.7", "/api/[red]v1[/red]/login", 401, method="POST", ua=hostile_ua)
        for i in range(30)
    ]
    owner = "[red]owned[/red]\x1b[31m:smile:"
    lines.append(
        line(200, "198.51.100.7", "/api/[red]v1[/red]/login", 200, method="POST", user=owner)
    )
    lines.append("\x1b[2J[blink]bad[/blink] :warning: line\n")
    path = write(tmp_path / "hostile.log", lines)
    table = scan(path)
    assert table.exit_code == 0, table.output
    assert "\x1b" not in table.stdout and "\x1b" not in table.stderr
    # (the table may fold a long cell over two lines, so the parts are looked for one by one)
    for part in ("[red]owned[/red]", r"\x1b[31m", ":smile"):
        assert part in table.stdout, part
    assert "\N{SMILING FACE WITH OPEN MOUTH}" not in table.stdout
    assert r"'\x1b[2J[blink]bad[/blink] :warning: line'" in table.stderr
    assert "\N{WARNING SIGN}" not in table.stderr
    result = scan("--json", path)
    assert "\x1b" not in result.stdout
    (incident,) = incidents(result)
    assert incident["accounts_compromised"] == [r"[red]owned[/red]\x1b[31m:smile:"]
    assert incident["user_agents"] == [r"\x1b[31mEvil <script>alert(1)</script> [bold]x[/bold]"]


def test_rules_option_adds_a_user_rule(tmp_path: Path) -> None:
    """A Sigma rule from --rules DIR runs beside the built-in pack and its alert is an incident."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "debug.yml").write_text(
        textwrap.dedent(
            """\
            title: Debug endpoint probed
            name: debug-endpoint-probe
            level: high
            logsource: {category: webserver}
            detection:
              selection:
                cs-uri-stem|startswith: /internal/debug
              condition: selection
            """
        ),
        encoding="utf-8",
    )
    path = write(
        tmp_path / "access.log", [*benign(), line(500, "192.0.2.99", "/internal/debug/vars")]
    )
    assert incidents(scan("--json", path)) == []
    (incident,) = incidents(scan("--json", "--rules", rules, path))
    assert incident["rules"] == ["debug-endpoint-probe"]
    assert incident["title"] == "Debug endpoint probed"
    assert incident["severity"] == "high"
    assert incident["attackers"] == ["192.0.2.99"]


def test_a_broken_user_rule_stops_the_scan_with_its_location(tmp_path: Path) -> None:
    """A rule error in --rules is reported as FILE:LINE before anything is scanned (exit 1)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    bad = rules / "bad.yml"
    bad.write_text(
        "title: Bad\nname: bad\nlevel: severe\ndetection:\n  s:\n    url.path: /x\n"
        "  condition: s\n",
        encoding="utf-8",
    )
    result = scan("--rules", rules, write(tmp_path / "a.log", benign(count=2)))
    assert result.exit_code == 1
    assert f"{bad}:3 [level]" in result.stderr
    assert "Traceback" not in result.output


def test_sigmahq_option_runs_the_sigmahq_pack(tmp_path: Path) -> None:
    """With --sigmahq a request matching SigmaHQ's Joomla CVE-2023-23752 rule is an incident
    naming that rule's id; without it the rule does not run."""
    probe = line(400, "203.0.113.77", "/api/index.php/v1/config/application?public=true", 200)
    path = write(tmp_path / "access.log", [*benign(), probe])
    assert incidents(scan("--json", path)) == []
    found = incidents(scan("--json", "--sigmahq", path))
    (incident,) = [i for i in found if "203.0.113.77" in i["attackers"]]
    assert JOOMLA_RULE in incident["rules"]
    assert incident["severity"] == "high"
    assert not [i for i in found if "203.0.113.77" not in i["attackers"]]


def test_a_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    """A file that is not there exits 1 with one line naming it, from the real command, also
    when it is one of several files."""
    present = write(tmp_path / "access.log", benign(count=3))
    missing = tmp_path / "nope.log"
    for files in ([missing], [present, missing]):
        result = subprocess.run(
            [str(APIWATCH), "scan", *map(str, files)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            f"apiwatch: cannot read {missing}: No such file or directory"
        ]
        assert result.stdout == ""


def test_a_directory_or_an_unknown_format_is_one_clear_line(tmp_path: Path) -> None:
    """A directory, or a file in no known format, exits 1 with one line naming it."""
    odd = write(tmp_path / "notes.txt", ["dear diary\n"])
    folder = scan(tmp_path)
    assert folder.exit_code == 1
    assert f"cannot read {tmp_path}: Is a directory" in folder.stderr
    unknown = scan(odd)
    assert unknown.exit_code == 1
    assert f"{odd}: cannot tell the log format" in unknown.stderr
    assert "Traceback" not in folder.output + unknown.output


def test_hostile_ecs_values_reach_the_table_as_escapes(tmp_path: Path) -> None:
    """ECS files keep control characters as written: the table shows them escaped, never raw."""
    hostile_ip = "203.0.113.9\x1b]0;owned\x07\x1b[2J"
    events = [
        {
            "@timestamp": (T0 + timedelta(seconds=i)).isoformat(),
            "event": {"action": "http_request"},
            "source": {"ip": hostile_ip},
            "http": {"request": {"method": "GET"}, "response": {"status_code": 200}},
            "url": {"path": "/api/v1/products", "query": f"q={i}"},
            "user_agent": {"original": "sqlmap/1.8.11#stable (https://sqlmap.org)"},
        }
        for i in range(6)
    ]
    path = write(tmp_path / "hostile.ndjson", (json.dumps(e) + "\n" for e in events))
    table = scan("--format", "ecs", path)
    assert table.exit_code == 0, table.output
    assert "\x1b" not in table.stdout
    assert r"\x1b]0;owned\x07\x1b[2J" in flat(table.stdout).replace(" ", "")


# A child limited to 768 MiB of address space (a scan needs ~50 MiB) by the shell's ulimit.
_IN_768_MIB = ["/bin/sh", "-c", 'ulimit -v 786432 && exec "$0" "$@"']


def test_a_two_line_file_with_an_event_in_year_9999_scans_in_bounded_memory(
    tmp_path: Path,
) -> None:
    """One event now and one dated 9999: the scan finishes within 768 MiB of address space
    (unbounded baseline sampling once filled gigabytes)."""
    lines = [
        {"@timestamp": stamp, "event": {"action": "authn_login_fail", "outcome": "failure"},
         "source": {"ip": "203.0.113.9"}, "user": {"name": "alice"}, "service": {"name": "shop"}}
        for stamp in ("2026-11-02T08:00:00Z", "9999-01-01T00:00:00Z")
    ]  # fmt: skip
    path = tmp_path / "two.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = subprocess.run(
        [*_IN_768_MIB, str(APIWATCH), "scan", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 events in" in result.stderr


def test_placeholders_file_gives_expand_its_values(tmp_path: Path) -> None:
    """--placeholders FILE fills a rule's ``expand`` placeholder (without it the rule does not
    run), and a malformed file is one clear line (exit 2)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "admin.yml").write_text(
        "title: Admin console probed\nname: admin-probe\nlevel: high\n"
        "logsource: {category: webserver}\n"
        "detection:\n  s:\n    url.path|expand: '%admin_paths%'\n  condition: s\n",
        encoding="utf-8",
    )
    values = tmp_path / "placeholders.yml"
    values.write_text("admin_paths: [/wp-admin*, /phpmyadmin]\n", encoding="utf-8")
    probe = line(400, "203.0.113.77", "/wp-admin/install.php", 404)
    log = write(tmp_path / "access.log", [*benign(), probe])
    found = incidents(scan("--json", "--rules", rules, "--placeholders", values, log))
    assert any("admin-probe" in json.dumps(i) for i in found)
    assert not any(
        "admin-probe" in json.dumps(i) for i in incidents(scan("--json", "--rules", rules, log))
    )
    values.write_text("- not a mapping\n", encoding="utf-8")
    result = scan("--rules", rules, "--placeholders", values, log)
    assert result.exit_code == 2
    assert "expected a mapping" in result.stderr
    assert "Traceback" not in result.output


class _Cycle:
    """A reference cycle, as the cyclic collector alone can free."""

    def __init__(self) -> None:
        self.me = self


def test_scan_pauses_the_cyclic_collector_but_still_collects_and_restores_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`feed_all` runs the engine with the cyclic garbage collector paused, collects every
    `COLLECT_EVERY` events (cycles made meanwhile are freed), flushes, and leaves the collector
    as it found it, also when feeding fails."""
    import gc
    import weakref

    from apiwatch.cli import scan as scan_cli
    from apiwatch.detect import Engine, builtin_dir, load_rules
    from apiwatch.simulate import ScenarioConfig, generate

    monkeypatch.setattr(scan_cli, "COLLECT_EVERY", 500)
    events = list(generate(ScenarioConfig(users=40, attacks=("scanner",), traps=False)).events())
    assert len(events) > 1_000
    cycles: list[weakref.ref[_Cycle]] = []
    collections: list[int] = []

    def counted(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            collections.append(len(cycles))

    def stream() -> Iterator[Event]:
        for event in events:
            assert not gc.isenabled()
            cycles.append(weakref.ref(_Cycle()))  # garbage at once, but only to the collector
            yield event

    engine = Engine(load_rules([builtin_dir()]))
    gc.callbacks.append(counted)
    try:
        scan_cli.feed_all(engine, stream())
    finally:
        gc.callbacks.remove(counted)
    assert gc.isenabled()
    assert collections[:2] == [500, 1000]  # every 500 events, nothing in between
    assert all(ref() is None for ref in cycles[:1000])  # freed by those collections
    assert engine.stats.events == len(events)  # fed and flushed

    def failing() -> Iterator[Event]:
        yield events[0]
        raise OSError("disk read error")

    with pytest.raises(OSError, match="disk read error"):
        scan_cli.feed_all(Engine(load_rules([builtin_dir()])), failing())
    assert gc.isenabled()
