"""The ``apiwatch`` command line.

Every command's errors are one clear line on stderr with a non-zero exit code, never a traceback
for a mistake of the user's (`click.ClickException` and `ApiwatchError` are turned into that).
"""

from __future__ import annotations

import sys

import click

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
@click.option("--requests", "burst", default=6, show_default=True,
              help="Failed logins the simulated attacker sends.")  # fmt: skip
@click.option("--raw", is_flag=True, help="Print only the ECS JSON lines (no table).")
@click.option(
    "--dir",
    "workdir",
    default="apiwatch-demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the demo's collector keeps its store.",
)
def demo(burst: int, raw: bool, workdir: str) -> None:
    """Run a collector and a sample FastAPI shop whose sensor ships to it, and show the events.

    Starts `apiwatch serve`'s app on SQLite and the shop under uvicorn on free ports on
    127.0.0.1, sends ordinary traffic, a burst of failed logins, an attack tool probe and a
    log-injection attempt, prints every ECS line the sensor wrote, then what the collector stored
    (queried over its API) and whether its hash chain verifies.
    """
    from pathlib import Path  # noqa: PLC0415

    from apiwatch.cli.demo import run_demo  # noqa: PLC0415 - needs the demo extra

    run_demo(burst=burst, raw=raw, workdir=Path(workdir))


def _register() -> None:
    from apiwatch.cli.keys import keys  # noqa: PLC0415
    from apiwatch.cli.rules import rules  # noqa: PLC0415
    from apiwatch.cli.scan import scan  # noqa: PLC0415
    from apiwatch.cli.serve import serve  # noqa: PLC0415
    from apiwatch.cli.simulate import simulate  # noqa: PLC0415
    from apiwatch.cli.storecmds import events, expire, keygen, rotate_key, verify  # noqa: PLC0415

    for command in (keys, rules, scan, serve, simulate, events, expire, keygen, rotate_key, verify):
        cli.add_command(command)


_register()


def main() -> None:
    """Console entry point: one line per user error, exit code 1 (2 for usage errors)."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ApiwatchError as exc:
        click.echo(f"apiwatch: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
