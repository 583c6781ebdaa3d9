"""The ``apiwatch`` command line.

Every command's errors are one clear line on stderr with a non-zero exit code, never a traceback
for a mistake of the user's (`click.ClickException` and `ApiwatchError` are turned into that).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import MutableMapping
from typing import Any

try:
    import click
except ImportError:  # `pip install apiwatch` is the sensor alone: say what brings the CLI
    raise SystemExit(
        "apiwatch: the command line needs the cli extra: pip install 'apiwatch[cli]'"
    ) from None

from apiwatch import __version__
from apiwatch.model import ApiwatchError

__all__ = ["cli", "main"]


class _Group(click.Group):
    """The ``apiwatch`` group: a command's module is imported when the command is run, not
    when the command line starts, so ``apiwatch scan`` does not import the store, server and
    shipping code of every other command (a third of its start-up). Listing the commands
    (``--help``, `commands`) imports them all."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lazy: dict[str, str] = {}
        super().__init__(*args, **kwargs)

    @property
    def commands(self) -> MutableMapping[str, click.Command]:
        """Every command, by name (their modules imported)."""
        for name in list(self._lazy):
            self._load(name)
        return self._commands

    @commands.setter
    def commands(self, commands: MutableMapping[str, click.Command]) -> None:
        self._commands = commands

    def add_lazy(self, name: str, target: str) -> None:
        """Register the command ``name`` as ``module:attribute``, imported when first used."""
        self._lazy[name] = target
        self._commands.pop(name, None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    def _load(self, name: str) -> click.Command | None:
        target = self._lazy.pop(name, None)
        if target is not None:
            module, _, attribute = target.partition(":")
            command = getattr(importlib.import_module(module), attribute)
            self._commands[name] = command
        return self._commands.get(name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="apiwatch")
def cli() -> None:
    """apiwatch: security logging and monitoring for Python APIs (OWASP API10).

    Add the sensor to your app (see the README), then use these commands.
    """


@cli.command()
@click.option(
    "--users",
    default=30,
    show_default=True,
    type=click.IntRange(min=20),
    help="Ordinary users in the simulated shop (their traffic surrounds the attacks).",
)
@click.option("--raw", is_flag=True, help="Print only the ECS JSON lines the sensor writes.")
@click.option(
    "--dir",
    "workdir",
    default="apiwatch-demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the demo's collector keeps its store.",
)
@click.option(
    "--console/--no-console",
    default=None,
    help="End by serving the web console over the demo's store on 127.0.0.1 until Ctrl-C "
    "(default: when the output is a terminal; --no-console makes `make demo` end at once).",
)
@click.option(
    "--console-port", default=8470, show_default=True, type=click.IntRange(1, 65535),
    help="The console's port.",
)  # fmt: skip
def demo(users: int, raw: bool, workdir: str, console: bool | None, console_port: int) -> None:
    """Replay a simulated attack mix through a sample shop and show the incidents found.

    Starts `apiwatch serve`'s app (live detection, SQLite) and a sample FastAPI shop whose sensor
    ships to it, on free ports of 127.0.0.1; replays a simulated scenario as real HTTP requests
    (ordinary users, benign traps such as an office NAT and a crawler, and brute force,
    credential stuffing, password spraying, object enumeration, a scanner, an error flood and a
    stolen token); prints the incidents the collector found with the accounts compromised and
    objects exposed; then runs the engine offline over a 4-hour simulated log with all ten
    attack types (distributed stuffing and logging that stopped included) and scores it.
    Last, on a terminal, the web console serves the demo's incidents on http://127.0.0.1:8470
    (the login is printed) until Ctrl-C.
    """
    from pathlib import Path  # noqa: PLC0415

    from apiwatch.cli.demo import run_demo  # noqa: PLC0415 - needs the demo extra

    run_demo(users=users, raw=raw, workdir=Path(workdir), console=console,
             console_port=console_port)  # fmt: skip


# Each command other than ``demo``, in the order ``commands`` lists them: name -> where it is.
_COMMANDS = {
    "keys": "keys:keys",
    "rules": "rules:rules",
    "scan": "scan:scan",
    "serve": "serve:serve",
    "simulate": "simulate:simulate",
    "events": "storecmds:events",
    "expire": "storecmds:expire",
    "keygen": "storecmds:keygen",
    "rotate-key": "storecmds:rotate_key",
    "verify": "storecmds:verify",
    "decisions": "decisions:decisions",
    "allowlist": "decisions:allowlist",
    "anchor": "anchor:anchor",
    "move-signing-key": "anchor:move_signing_key",
    "incidents": "incidents:incidents",  # see and act (issue 12): incidents ... ship
    "alerts": "incidents:alerts",
    "explain": "explain:explain",
    "status": "status:status",
    "ship": "ship:ship",
    "backup": "backup:backup",
    "restore": "backup:restore",
    "config": "configcmd:config",
    "audit": "logaudit:audit",
    "users": "users:users",
}


def _register() -> None:
    for name, target in _COMMANDS.items():
        cli.add_lazy(name, f"apiwatch.cli.{target}")


_register()


def main() -> None:
    """Console entry point: one ``apiwatch: …`` line per error, exit code 1 (2 for usage errors).

    Anything unexpected is one line too, naming its type; ``APIWATCH_DEBUG=1`` shows the
    traceback instead (for a bug report).
    """
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        _show(exc)
        sys.exit(exc.exit_code)
    except ApiwatchError as exc:
        click.echo(f"apiwatch: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        if os.environ.get("APIWATCH_DEBUG"):
            raise
        click.echo(f"apiwatch: unexpected error ({type(exc).__name__}: {exc}); run again with "
                   "APIWATCH_DEBUG=1 for the details to report", err=True)  # fmt: skip
        sys.exit(1)


def _show(exc: click.ClickException) -> None:
    """click's message in apiwatch's style: usage errors keep their usage and help hint."""
    context = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and context is not None:
        click.echo(context.get_usage(), err=True)
        click.echo(f"Try '{context.command_path} {context.help_option_names[0]}' for help.",
                   err=True)  # fmt: skip
    message = exc.format_message()
    click.echo(message if message.startswith("apiwatch") else f"apiwatch: {message}", err=True)
