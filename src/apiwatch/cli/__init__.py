"""The ``apiwatch`` command line.

Every command's errors are one clear line on stderr with a non-zero exit code, never a traceback
for a mistake of the user's (`click.ClickException` and `ApiwatchError` are turned into that).
"""

from __future__ import annotations

import os
import sys

try:
    import click
except ImportError:  # `pip install apiwatch` is the sensor alone: say what brings the CLI
    raise SystemExit(
        "apiwatch: the command line needs the cli extra: pip install 'apiwatch[cli]'"
    ) from None

from apiwatch import __version__
from apiwatch.model import ApiwatchError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


def _register() -> None:
    from apiwatch.cli.anchor import anchor, move_signing_key  # noqa: PLC0415
    from apiwatch.cli.backup import backup, restore  # noqa: PLC0415
    from apiwatch.cli.configcmd import config  # noqa: PLC0415
    from apiwatch.cli.decisions import allowlist, decisions  # noqa: PLC0415
    from apiwatch.cli.explain import explain  # noqa: PLC0415
    from apiwatch.cli.incidents import alerts, incidents  # noqa: PLC0415
    from apiwatch.cli.keys import keys  # noqa: PLC0415
    from apiwatch.cli.logaudit import audit  # noqa: PLC0415
    from apiwatch.cli.rules import rules  # noqa: PLC0415
    from apiwatch.cli.scan import scan  # noqa: PLC0415
    from apiwatch.cli.serve import serve  # noqa: PLC0415
    from apiwatch.cli.ship import ship  # noqa: PLC0415
    from apiwatch.cli.simulate import simulate  # noqa: PLC0415
    from apiwatch.cli.status import status  # noqa: PLC0415
    from apiwatch.cli.storecmds import events, expire, keygen, rotate_key, verify  # noqa: PLC0415
    from apiwatch.cli.users import users  # noqa: PLC0415

    for command in (keys, rules, scan, serve, simulate, events, expire, keygen, rotate_key, verify,
                    decisions, allowlist, anchor, move_signing_key):  # fmt: skip
        cli.add_command(command)
    for command in (incidents, alerts, explain, status, ship):  # see and act (issue 12)
        cli.add_command(command)
    cli.add_command(backup)
    cli.add_command(restore)
    cli.add_command(config)
    cli.add_command(audit)
    cli.add_command(users)


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
