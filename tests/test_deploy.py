"""The deployment examples in deploy/ work as shipped: the example apiwatch.toml passes
`apiwatch config check` and shows every setting, the systemd unit verifies, and the Dockerfile
and compose file refer to what exists (no Docker engine here: their structure is checked)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from apiwatch.cli._config import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
APIWATCH = Path(sys.executable).with_name("apiwatch")
SETTINGS = [field.name for field in dataclasses.fields(Settings)]


def _apiwatch(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(APIWATCH), *args], cwd=cwd, capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr
    return result


def test_the_example_settings_pass_config_check(tmp_path: Path) -> None:
    """deploy/apiwatch.toml is valid as shipped: `apiwatch config check` accepts it."""
    result = _apiwatch("config", "check", "--config", str(DEPLOY / "apiwatch.toml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ": ok: " in result.stdout and "1 response policy" in result.stdout


@pytest.mark.parametrize("setting", SETTINGS)
def test_every_setting_is_in_the_example_and_the_readme(setting: str) -> None:
    """Each apiwatch.toml setting appears in deploy/apiwatch.toml (set or commented) and is
    named in the README."""
    example = (DEPLOY / "apiwatch.toml").read_text()
    tables = {
        "respond": "[respond]",
        "placeholders": "[placeholders]",
        "forward": "[[forward]]",
        "sources": "[[sources]]",
    }
    name = tables.get(setting, f"{setting} =")
    assert re.search(rf"^(# )?{re.escape(name)}", example, re.MULTILINE), setting
    assert f"`{setting}`" in (ROOT / "README.md").read_text(), setting


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    """deploy/apiwatch.service passes `systemd-analyze verify` (with its command pointed at this
    installation's apiwatch); its commands are apiwatch commands that exist."""
    unit = (DEPLOY / "apiwatch.service").read_text()
    commands = re.findall(r"^Exec\w+=/opt/apiwatch/bin/apiwatch (\S+(?: \S+)?) --config", unit,
                          re.MULTILINE)  # fmt: skip
    assert commands == ["config check", "serve"]
    for command in commands:
        assert _apiwatch(*command.split(), "--help").returncode == 0
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    copy = tmp_path / "apiwatch.service"
    copy.write_text(unit.replace("/opt/apiwatch/bin/apiwatch", str(APIWATCH)))
    checked = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True,
                             text=True, timeout=60, check=False)  # fmt: skip
    assert (checked.returncode, checked.stderr.strip()) == (0, "")


def test_the_dockerfile_copies_what_exists_and_installs_real_extras() -> None:
    """Every COPY source of deploy/Dockerfile exists (from the repository root), the extras it
    installs are defined, and its command is an apiwatch command that exists."""
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for sources in re.findall(r"^COPY (.+) \S+$", dockerfile, re.MULTILINE):
        for source in sources.split():
            assert (ROOT / source).exists(), source
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    [installed] = re.findall(r"pip install --no-cache-dir '\.\[([a-z,]+)\]'", dockerfile)
    assert set(installed.split(",")) <= set(extras)
    [entrypoint] = re.findall(r"^ENTRYPOINT (.+)$", dockerfile, re.MULTILINE)
    [command] = re.findall(r"^CMD (.+)$", dockerfile, re.MULTILINE)
    assert json.loads(entrypoint) == ["apiwatch"]
    assert _apiwatch(json.loads(command)[0], "--help").returncode == 0


def test_the_compose_file_runs_the_collector_on_postgresql() -> None:
    """deploy/compose.yaml has a PostgreSQL service and a collector built from the Dockerfile,
    started after the database is healthy, on a postgresql:// store, with every volume and
    secret it uses declared."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "collector"}
    assert services["db"]["image"].startswith("postgres:")
    collector = services["collector"]
    build = collector["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert collector["depends_on"]["db"]["condition"] == "service_healthy"
    command = collector["command"]
    assert command[0] == "serve"
    assert command[command.index("--db") + 1].startswith("postgresql://apiwatch@db/")
    for service in services.values():
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"]
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"]


def test_the_scaleout_compose_file_runs_every_role_on_one_store_and_bus() -> None:
    """deploy/compose-scaleout.yaml has NATS with JetStream on a volume, PostgreSQL, two ingest
    processes, one writer and two detect shards (1/2 and 2/2), every role built from the
    Dockerfile, sharing one postgresql:// store, one nats:// bus and one key volume, started
    after the database is healthy; the config file and roles they name exist, and every volume
    and secret is declared."""
    compose = yaml.safe_load((DEPLOY / "compose-scaleout.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"nats", "db", "ingest-1", "ingest-2", "writer", "detect-1",
                             "detect-2"}  # fmt: skip
    nats = services["nats"]
    assert nats["image"].startswith("nats:2.9")
    assert "-js" in nats["command"] and nats["volumes"][0].split(":")[0] in compose["volumes"]
    assert services["db"]["image"].startswith("postgres:")
    roles, shards = {}, []
    for name in ("ingest-1", "ingest-2", "writer", "detect-1", "detect-2"):
        service = services[name]
        build = service["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
        command = service["command"]
        assert command[:2] == ["serve", "--config"] and command[2].startswith("/etc/apiwatch/")
        roles[name] = command[command.index("--role") + 1]
        if "--shard" in command:
            shards.append(command[command.index("--shard") + 1])
        environment = service["environment"]
        assert environment["APIWATCH_DB"].startswith("postgresql://apiwatch@db/")
        assert environment["APIWATCH_BUS"] == "nats://nats:4222"
        assert service["volumes"] == ["apiwatch-home:/var/lib/apiwatch/home"]
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        assert "nats" in service["depends_on"]
    assert sorted(roles.values()) == ["detect", "detect", "ingest", "ingest", "writer"]
    assert sorted(shards) == ["1/2", "2/2"]  # every shard of 2, once
    assert roles["detect-1"] == roles["detect-2"] == "detect"
    help_text = _apiwatch("serve", "--help").stdout
    assert "ingest" in help_text and "--shard" in help_text
    for service in services.values():
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"]
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"]


def test_the_scaleout_writer_and_detect_publish_their_operations_port() -> None:
    """In deploy/compose-scaleout.yaml the writer and each detect shard publish the image's port
    (their /healthz, /readyz and /metrics) on a loopback port of their own, and keep its
    healthcheck."""
    services = yaml.safe_load((DEPLOY / "compose-scaleout.yaml").read_text())["services"]
    published = []
    for name in ("writer", "detect-1", "detect-2"):
        (mapping,) = services[name]["ports"]
        host, port, container = mapping.split(":")
        assert host == "127.0.0.1" and container == "8470"
        assert "healthcheck" not in services[name]
        published.append(port)
    others = {m.split(":")[1] for s in services.values() for m in s.get("ports", [])}
    assert len(set(published)) == 3 and len(others) == 5
