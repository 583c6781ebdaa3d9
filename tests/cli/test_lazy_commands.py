"""The ``apiwatch`` group imports a command's module only when that command is used."""

from __future__ import annotations

import subprocess
import sys

from apiwatch.cli import cli


def test_every_command_is_listed_under_its_own_name() -> None:
    """Each lazily registered command resolves to the command of that name."""
    commands = cli.commands
    assert len(commands) > 20
    for name, command in commands.items():
        assert command.name == name


def test_running_scan_imports_no_other_command() -> None:
    """`apiwatch scan --help` leaves the modules of the other commands unimported."""
    code = (
        "import sys\n"
        "from apiwatch.cli import main\n"
        "sys.argv = ['apiwatch', 'scan', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('apiwatch.cli.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = result.stdout.strip().splitlines()[-1]
    assert "'apiwatch.cli.scan'" in loaded
    for other in ("serve", "ship", "simulate", "incidents", "decisions", "backup"):
        assert f"'apiwatch.cli.{other}'" not in loaded
