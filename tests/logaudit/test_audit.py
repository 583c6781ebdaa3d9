"""`apiwatch audit` on deliberately bad logs, on the simulator's logs and on a good ECS log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from apiwatch.logaudit import NGINX_ECS_LOG_FORMAT

from .helpers import audit, audit_json, essentials

SECRET = "Tr0ub4dor-and-3"
CARD = "4111111111111111"


def _behind_a_load_balancer(path: Path) -> Path:
    """Common Log Format (no user agent), every client the balancer's 10.0.0.5, every login
    answered 200, a password and a card number in query strings."""
    rows = []
    for i in range(60):
        second = f"{i % 60:02d}"
        target = f"/api/orders/{i}"
        method = "GET"
        if i % 3 == 0:
            method, target = "POST", "/api/login"
        if i == 7:
            target = f"/api/login?user=bob&password={SECRET}"
        if i == 11:
            target = f"/api/pay?card={CARD}"
        rows.append(
            f'10.0.0.5 - - [10/Oct/2026:13:55:{second} +0200] "{method} {target} HTTP/1.1" 200 42'
        )
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_log_behind_a_load_balancer_is_reported_with_its_fixes(tmp_path: Path) -> None:
    """One private address for all, no user agent, logins all 200, leaks: each reported."""
    document = audit_json(_behind_a_load_balancer(tmp_path / "access.log"))
    found = essentials(document)
    assert found["client IP"]["status"] == "unusable"
    assert "10.0.0.5" in found["client IP"]["detail"]
    assert "set_real_ip_from 10.0.0.5; real_ip_header X-Forwarded-For" in found["client IP"]["fix"]
    assert found["user agent"]["status"] == "absent"
    assert found["time with zone"]["status"] == "present"
    assert found["login outcome"]["status"] == "unusable"
    assert "none answered 401/403" in found["login outcome"]["detail"]
    assert found["request id"]["status"] == "absent"
    assert "credential-stuffing-source" in document["impossible"]
    assert "attack-tool-user-agent" in document["impossible"]
    leaks = {(leak["kind"], leak["field"]): leak["lines"] for leak in document["leaks"]}
    assert leaks[("password", "query parameter password")] == [8]
    assert leaks[("card number", "digits passing the Luhn check")] == [12]


def test_secrets_never_reach_the_output(tmp_path: Path) -> None:
    """Neither the table nor the JSON repeats a password or card number from the log."""
    log = _behind_a_load_balancer(tmp_path / "access.log")
    for args in ((str(log),), ("--json", str(log))):
        output = audit(*args).output
        assert SECRET not in output
        assert CARD not in output
    table = audit(str(log)).output
    assert "2 kinds of secrets in the log" in table
    assert "parameter" in table and "password" in table


def test_fail_on_missing_exits_3_for_ci(tmp_path: Path) -> None:
    """--fail-on-missing exits 3 when an essential is missing or something leaks."""
    result = audit("--fail-on-missing", str(_behind_a_load_balancer(tmp_path / "a.log")))
    assert result.exit_code == 3


def test_app_json_without_zone_or_accounts(tmp_path: Path) -> None:
    """ECS-ish app logs with local times and anonymous login failures: both named, with the
    sensor's options as the fix."""
    rows = []
    for i in range(40):
        failed = i % 2 == 0
        rows.append(
            {
                "@timestamp": f"2026-10-10T13:55:{i:02d}",
                "event": {
                    "action": "authn_login_fail" if failed else "authn_login_success",
                    "outcome": "failure" if failed else "success",
                },
                "source": {"ip": f"198.51.100.{i}"},
                "user_agent": {"original": "Mozilla/5.0"},
                "url": {"path": "/login"},
                "http": {"response": {"status_code": 401 if failed else 200}},
                **({} if failed else {"user": {"name": f"user{i}"}}),
            }
        )
    log = tmp_path / "app.ndjson"
    log.write_text("".join(json.dumps(row) + "\n" for row in rows))
    found = essentials(audit_json(log))
    assert found["time with zone"]["status"] == "unusable"
    assert "time.gmtime" in found["time with zone"]["fix"]
    assert found["account"]["status"] == "absent"
    assert found["account"]["detail"] == "0 of 20 failed logins name the account"
    assert "login_paths" in found["account"]["fix"]
    assert found["login outcome"]["status"] == "present"
    assert found["client IP"]["status"] == "present"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "apiwatch",
            "simulate",
            "--seed",
            "5",
            "--scale",
            "0.1",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out


def test_the_simulated_sensor_log_has_every_essential(simulated: Path) -> None:
    """The ECS events the sensor writes carry every essential and leak nothing."""
    result = audit("--json", "--fail-on-missing", str(simulated / "events.ndjson"))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert {item["status"] for item in document["essentials"]} == {"present"}
    assert document["leaks"] == []


def test_the_simulated_access_log_lacks_accounts_and_request_ids(simulated: Path) -> None:
    """The same traffic as an nginx combined log: no account on failed logins, no request id,
    everything else there."""
    found = essentials(audit_json(simulated / "access.log"))
    assert {name: item["status"] for name, item in found.items()} == {
        "client IP": "present",
        "user agent": "present",
        "account": "absent",
        "time with zone": "present",
        "route": "present",
        "status": "present",
        "login outcome": "present",
        "request id": "absent",
    }
    assert "$upstream_http_x_apiwatch_user" in found["account"]["fix"]


def test_a_file_in_no_known_format_is_one_clear_error(tmp_path: Path) -> None:
    """A log no format fits is refused with one line naming the file."""
    log = tmp_path / "weird.log"
    log.write_text("hello\nworld\n")
    done = subprocess.run(
        [sys.executable, "-m", "apiwatch", "audit", str(log)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"apiwatch: {log}: ")
    assert "Traceback" not in done.stderr


def test_the_documented_log_format_is_the_tested_one() -> None:
    """docs/cli.md shows exactly the log_format test_nginx_log_format.py runs nginx with."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    shown = doc.split("```nginx\n", 1)[1].split("```", 1)[0]
    assert shown.strip() == NGINX_ECS_LOG_FORMAT.strip()
