"""``apiwatch scan`` on wrapped and non-nginx logs: the client is the real address."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from apiwatch.cli import cli

IP = "198.51.100.23"
AGENT = "sqlmap/1.8.11#stable"


def scan(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["scan", *map(str, args)])


def access(second: int) -> str:
    return (
        f'{IP} - - [02/Nov/2026:08:00:{second:02d} +0000] "GET /api/v1/items?id={second} '
        f'HTTP/1.1" 404 12 "-" "{AGENT}"'
    )


def test_a_syslog_wrapped_access_log_names_the_real_client(tmp_path: Path) -> None:
    """Syslog-prefixed nginx lines give incidents whose attacker is the client, never "Nov",
    and whose accounts hold no address."""
    log = tmp_path / "syslog.log"
    log.write_text("".join(f"Nov  2 08:00:{s:02d} web1 nginx[42]: {access(s)}\n" for s in range(6)))
    result = scan("--json", log)
    assert result.exit_code == 0, result.output
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert found and all(i["attackers"] == [IP] for i in found)
    assert all(not i["accounts_targeted"] for i in found)


def test_a_docker_json_log_is_scanned_like_its_nginx_twin(tmp_path: Path) -> None:
    """The same lines inside Docker json-file records give the same incidents as plain."""
    plain = tmp_path / "plain.log"
    plain.write_text("".join(f"{access(s)}\n" for s in range(6)))
    docker = tmp_path / "docker.log"
    docker.write_text(
        "".join(json.dumps({"log": f"{access(s)}\n", "stream": "stdout"}) + "\n" for s in range(6))
    )
    rules = [[json.loads(x)["rule"] for x in scan("--json", p).stdout.splitlines()]
             for p in (plain, docker)]  # fmt: skip
    assert rules[0] and rules[0] == rules[1]


def test_an_unknown_file_names_the_formats_tried_and_the_option(tmp_path: Path) -> None:
    """A file in no known format exits 1 with one line naming formats tried and --format."""
    odd = tmp_path / "notes.txt"
    odd.write_text("dear diary\n")
    result = scan(odd)
    assert result.exit_code == 1
    message = result.stderr.replace("\n", " ")
    assert "traefik" in message and "haproxy" in message and "--format" in message
    assert "Traceback" not in result.output
