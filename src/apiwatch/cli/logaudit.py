"""``apiwatch audit``: what existing logs are missing for API10, as a table or JSON."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from apiwatch.cli._common import log_format_option, login_patterns_of
from apiwatch.cli._tables import console, print_table
from apiwatch.logaudit import NGINX_ECS_LOG_FORMAT, FileAudit, audit_file
from apiwatch.model import EventDecodeError
from apiwatch.model import printable_text as safe

__all__ = ["audit"]

EXIT_MISSING = 3
_HELP = f"""Audit existing logs against OWASP API10: what they are missing.

For each of FILES (any format scan reads, plain or gzip) it reports which essentials are
present (client IP, user agent, account, time with zone, route, status, login outcome, request
id), which are absent or unusable (one private load-balancer address for every client; times
without a zone; no account on failed logins; logins that all answer 200), what leaks
(passwords, tokens, session ids, card numbers: the field and line numbers, never the value),
and which detections are impossible as a result, each with its fix.

An nginx log_format with every essential, which scan and audit read as ECS:

\b
{NGINX_ECS_LOG_FORMAT}

Exit codes: 0 done, 1 error, {EXIT_MISSING} something missing (with --fail-on-missing).
"""
_STYLES = {
    "present": "green",
    "partial": "yellow",
    "absent": "red",
    "unusable": "red",
    "unknown": "dim",
}


def _shown(text: str) -> str:
    return escape(safe(text))


def _share(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def _essentials(result: FileAudit) -> Table:
    title = (
        f"{_shown(result.file)}: {_shown(result.format)}, {result.lines:,} lines sampled, "
        f"{result.parsed:,} parsed"
    )
    table = Table(title=title, show_lines=True, title_justify="left")
    for column in ("essential", "status", "seen", "what was seen", "fix"):
        table.add_column(column, overflow="fold")
    for f in result.findings:
        style = _STYLES.get(f.status, "")
        table.add_row(
            f.essential,
            Text(f.status, style=style),
            _share(f.share),
            _shown(f.detail),
            _shown(f.fix or "-"),
        )
    return table


def _leaks(result: FileAudit) -> Table:
    table = Table(
        title=f"{len(result.leaks)} kinds of secrets in the log",
        show_lines=True,
        title_justify="left",
    )
    for column in ("secret", "where", "lines", "first lines", "fix"):
        table.add_column(column, overflow="fold")
    for leak in result.leaks:
        table.add_row(
            Text(leak.kind, style="red"),
            _shown(leak.field),
            f"{leak.count:,}",
            ", ".join(map(str, leak.lines)),
            _shown(leak.fix),
        )
    return table


def _print(out: Console, result: FileAudit) -> None:
    if not result.parsed:
        out.print(f"{_shown(result.file)}: no line could be read as a log event")
        return
    print_table(out, _essentials(result))
    if result.leaks:
        print_table(out, _leaks(result))
    if result.impossible:
        out.print("[bold]Impossible with this log:[/] " + ", ".join(result.impossible))
    out.print()


@click.command(help=_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@log_format_option("Log format; auto detects it per file, as scan does.")
@click.option(
    "--lines",
    "max_lines",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Read at most this many lines of each file (a sample).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object per file per line instead of tables.",
)
@click.option(
    "--login-path",
    "login_paths",
    multiple=True,
    metavar="REGEX",
    help="Access logs: a path regex of login routes (repeatable; replaces the defaults).",
)
@click.option(
    "--fail-on-missing",
    is_flag=True,
    help=f"Exit with code {EXIT_MISSING} when an essential is absent or unusable, "
    "or a secret leaks (for CI).",
)
def audit(  # noqa: PLR0917 - one parameter per click option
    files: tuple[str, ...],
    fmt: str | None,
    max_lines: int,
    as_json: bool,
    login_paths: tuple[str, ...],
    fail_on_missing: bool,
) -> None:
    """Audit existing logs against OWASP API10 (see the command's help)."""
    logins = login_patterns_of(login_paths)
    out = console()
    failing = False
    for path in files:
        try:
            result = audit_file(path, max_lines=max_lines, format=fmt, logins=logins)
        except OSError as exc:
            raise click.ClickException(f"{path}: cannot read ({exc.strerror or exc})") from None
        except EventDecodeError as exc:
            raise click.ClickException(f"{path}: {exc}") from None
        failing |= bool(result.leaks) or any(
            f.status in {"absent", "unusable"} for f in result.findings
        )
        if as_json:
            sys.stdout.write(json.dumps(result.to_json()) + "\n")
        else:
            _print(out, result)
    if fail_on_missing and failing:
        raise SystemExit(EXIT_MISSING)
