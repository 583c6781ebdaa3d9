"""``apiwatch scan FILE...``: the detection engine over log files, offline."""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import msgspec
import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from apiwatch.cli._common import log_format_option, login_path_option, unreadable
from apiwatch.cli._config import load_settings, synthetic_traffic
from apiwatch.cli._tables import console, print_table
from apiwatch.detect import (
    Engine,
    RuleSet,
    builtin_dir,
    load_rules,
    parse_duration,
    placeholder_values,
    sigmahq_dir,
)
from apiwatch.model import ApiwatchError, ConfigError, Event, plural
from apiwatch.model import printable_text as safe
from apiwatch.model.alert import SEVERITIES, Incident, severity_rank
from apiwatch.sources import (
    FORMATS,
    FormatUnknownError,
    LogFile,
    LoginPatterns,
)
from apiwatch.sources.geoip import GeoIP

__all__ = ["COLLECT_EVERY", "feed_all", "incident_json", "scan"]

EXIT_FINDINGS = 3
_SHOW_ERRORS = 10


def incident_json(incident: Incident) -> dict[str, object]:
    """One incident as ``scan --json`` prints it (ISO 8601 times, the primary rule first)."""
    data = msgspec.to_builtins(incident)
    data["rule"] = incident.rules[0] if incident.rules else ""
    for key in ("attackers", "accounts_targeted", "accounts_compromised", "objects_exposed"):
        data.setdefault(key, [])
    for key in ("attacker_evidence", "account_evidence"):
        data.setdefault(key, {})
    return {"id": data.pop("id"), "rule": data.pop("rule"), **data}


@contextmanager
def _reading(path: str) -> Iterator[None]:
    """A file that cannot be read, or whose format cannot be told, is one clear line (exit 1)."""
    try:
        yield
    except OSError as exc:
        raise unreadable(path, exc) from None
    except FormatUnknownError as exc:
        raise click.ClickException(
            f"{path}: {exc}; if it is one of them, name it with --format ({', '.join(FORMATS)})"
        ) from None
    except ApiwatchError as exc:
        raise click.ClickException(f"{path}: {exc}") from None


def read_placeholders(path: Path) -> dict[str, list[str]]:
    """``expand`` placeholder values from YAML: ``name: value`` or ``name: [values]``."""
    hint = "--placeholders"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return placeholder_values(data, str(path))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0]
        raise click.BadParameter(f"{path}: {reason}", param_hint=hint) from None
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


def _first_time(path: str, fmt: str | None, logins: LoginPatterns | None) -> float:
    """The first event's time in a file, to read several files oldest first."""
    if path == "-":
        return float("-inf")
    with _reading(path), LogFile(path) as log:
        for event in log.events(format=fmt, logins=logins):
            return event.timestamp.timestamp()
    return float("inf")


class _Errors:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.count = 0
        self.name = ""

    def __call__(self, line: int, message: str) -> None:
        self.count += 1
        if self.count <= _SHOW_ERRORS:
            self.console.print(f"[yellow]{escape(self.name)}:{line}: skipped: {escape(message)}[/]")
        elif self.count == _SHOW_ERRORS + 1:
            self.console.print("[yellow]... further bad lines are counted, not shown[/]")


def _events(
    paths: list[str],
    fmt: str | None,
    logins: LoginPatterns | None,
    progress: Progress | None,
    errors: _Errors,
) -> Iterator[Event]:
    for path in paths:
        errors.name = path
        with _reading(path), LogFile(path) as log:
            task = None
            if progress is not None:
                task = progress.add_task(
                    Path(path).name if path != "-" else "stdin", total=log.size
                )
            for count, event in enumerate(log.events(format=fmt, logins=logins, on_error=errors)):
                if task is not None and not count & 1023:
                    progress.update(task, completed=log.position())  # type: ignore[union-attr]
                yield event
            if task is not None:
                progress.update(task, completed=log.size or log.position())  # type: ignore[union-attr]


def _engine(
    ruleset: RuleSet, lateness: float, geoip: tuple[Path, ...], config: Path | None
) -> Engine:
    """The engine, with the synthetic traffic and GeoIP databases ``--config`` and ``--geoip``
    name (a flag's databases replace the file's)."""
    synthetic = None
    databases: tuple[str | Path, ...] = geoip
    if config is not None:
        try:
            settings = load_settings(str(config))
            synthetic = synthetic_traffic(settings)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--config") from None
        databases = databases or settings.geoip
    try:
        lookup = GeoIP(databases) if databases else None
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--geoip") from None
    return Engine(ruleset, lateness=lateness, synthetic=synthetic, geo=lookup)


def _follow(
    files: list[str], engine: Engine, fmt: str | None, logins: LoginPatterns | None, *,
    as_json: bool, err: Console,
) -> None:  # fmt: skip
    """``--follow``: tail the files (or stdin), printing incidents as they open."""
    from apiwatch.cli._follow import follow  # noqa: PLC0415

    encoder = msgspec.json.Encoder()

    def report(incident: Incident, escalated: bool) -> None:
        if as_json:
            sys.stdout.write(encoder.encode(incident_json(incident)).decode() + "\n")
        else:
            attackers = ", ".join(incident.attackers[:5]) or "-"
            word = "escalated" if escalated else "new"
            sys.stdout.write(
                f"{word} incident {safe(incident.id)}: {safe(incident.severity)}: "
                f"{safe(incident.title)} (attackers: {safe(attackers)})\n"
            )
        sys.stdout.flush()

    if files == ["-"]:
        _follow_stdin(engine, fmt, logins, report, _Errors(err))
        return
    if "-" in files:
        raise click.UsageError("--follow reads files or stdin ('-' alone), not both")
    stats = follow(files, engine, format=fmt, logins=logins, report=report)
    err.print(
        f"{stats.parsed:,} events, {stats.refused:,} bad lines skipped, "
        f"{len(engine.incidents())} incidents"
    )


def _follow_stdin(
    engine: Engine, fmt: str | None, logins: LoginPatterns | None,
    report: Callable[[Incident, bool], None], errors: _Errors,
) -> None:  # fmt: skip
    """stdin with --follow: each incident is reported when it opens, not at the end."""
    from apiwatch.cli._follow import follow_stream  # noqa: PLC0415

    errors.name = "-"
    with _reading("-"), LogFile("-") as log:
        follow_stream(log.events(format=fmt, logins=logins, on_error=errors), engine, report)


def _shown(text: str) -> str:
    """Log text for the terminal: rich markup escaped and non-printables (ESC, C1 controls,
    bidi overrides) written as escapes. ECS files hold whatever the producer wrote, and rich
    passes ESC through, so an attacker-chosen account name could drive the terminal."""
    return escape(safe(text))


def _table(incidents: list[Incident]) -> Table:
    table = Table(title=plural(len(incidents), "incident"), show_lines=True)
    for column in (
        "severity",
        "incident",
        "first seen / last seen",
        "attackers",
        "accounts targeted",
        "compromised",
        "objects exposed",
    ):
        table.add_column(column)
    for inc in incidents:
        attackers = ", ".join(inc.attackers[:5]) + (
            f" (+{len(inc.attackers) - 5})" if len(inc.attackers) > 5 else ""
        )
        table.add_row(
            _shown(inc.severity),
            "\n".join(map(_shown, (inc.title, inc.id, ", ".join(inc.rules)))),
            f"{inc.first_seen:%Y-%m-%d %H:%M:%S}\n{inc.last_seen:%Y-%m-%d %H:%M:%S}",
            _shown(f"{len(inc.attackers)}: {attackers}" if inc.attackers else "-"),
            str(len(inc.accounts_targeted)) if inc.accounts_targeted else "-",
            _shown(", ".join(inc.accounts_compromised) or "-"),
            _shown(", ".join(inc.objects_exposed[:10]) or "-"),
        )
    return table


@click.command()
@click.argument("files", nargs=-1, required=True)
@log_format_option(
    "Log format; auto detects it per file from its first lines, inside syslog, CRI or "
    "Docker JSON wrappers too (see docs/detection.md)."
)
@click.option(
    "--rules",
    "rule_dirs",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Extra rule directory or file (repeatable); the built-in pack is always loaded.",
)
@click.option("--sigmahq", is_flag=True, help="Also run the optional SigmaHQ web server pack.")
@click.option(
    "--placeholders",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="YAML mapping of Sigma expand placeholders to their values (admin_ips: [10.0.0.1]).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object per incident per line instead of a table.",
)
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITIES),
    default=None,
    help=f"Exit with code {EXIT_FINDINGS} when an incident is at least this severe (for CI).",
)
@login_path_option
@click.option(
    "--login-failure",
    "login_failures",
    multiple=True,
    metavar="ROUTE:SIZE",
    help="Access logs: a login route whose failures answer 200 with an error body of SIZE bytes "
    "(N, <=N or N-M), e.g. '/api/login$:<=64' (repeatable).",
)
@click.option(
    "--lateness",
    default=None,
    metavar="DURATION",
    help="How far out of time order events may be (access logs are written when a response "
    "ends); default 60s, and 2s with --follow, where it is how long an incident may wait.",
)
@click.option(
    "--geoip",
    "geoip",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="MaxMind-format database (.mmdb: country or city, and ASN; repeatable) to tell a "
    "login from a country or network new for the account, where events carry no source.geo.",
)
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="apiwatch.toml whose detection settings apply: geoip, monitor_accounts, "
    "monitor_agents, monitor_networks, test_accounts, loadtest_networks.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary on stderr.")
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="Keep reading FILES (glob patterns too) as they grow, through rotation, and print "
    "each incident when it opens; stdin ('-') is read as it comes. Stops on Ctrl-C.",
)
def scan(  # noqa: PLR0917 - one parameter per click option
    files: tuple[str, ...],
    fmt: str | None,
    rule_dirs: tuple[Path, ...],
    sigmahq: bool,
    placeholders: Path | None,
    as_json: bool,
    fail_on: str | None,
    logins: LoginPatterns,
    login_failures: tuple[str, ...],
    lateness: str | None,
    geoip: tuple[Path, ...],
    config: Path | None,
    quiet: bool,
    follow: bool,
) -> None:
    """Run the detection rules over log FILES and print the incidents found.

    FILES are access logs (nginx/Apache combined or common, Traefik, Caddy, Envoy, AWS ALB,
    HAProxy, ...), nginx/Apache error logs or ECS NDJSON (what the apiwatch sensor writes),
    plain or gzip, "-" for stdin, syslog/CRI/Docker-wrapped or not. Several files are read
    oldest first.
    Access logs name no account, so login attempts are inferred from POSTs to login-looking
    routes (…/login, …/signin, …/session, …/sessions, …/token, …/oauth/token, or those of
    --login-path; 401/403 failed, 2xx/3xx succeeded, or failed when --login-failure gives the
    route's error body size) and incidents have fewer details than from ECS events.

    With --follow, the files are tailed as the collector tails them (docs/sources.md) and
    each incident is printed as it opens (a JSON line with --json), until Ctrl-C or SIGTERM.

    Exit codes: 0 done, 1 error, 3 an incident at or above --fail-on.
    """
    # emoji=False: escape() stops [markup] in log text, not ":emoji:" codes, which must print as-is
    err = Console(stderr=True, highlight=False, emoji=False, quiet=quiet)
    try:
        window = parse_duration(lateness or ("2s" if follow else "60s"))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--lateness") from exc
    try:
        logins = logins.with_failures(login_failures)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--login-failure") from None
    packs = [builtin_dir(), *rule_dirs, *([sigmahq_dir()] if sigmahq else [])]
    ruleset = load_rules(packs, read_placeholders(placeholders) if placeholders else None)
    if ruleset.errors:
        raise click.ClickException("rule errors:\n" + "\n".join(map(str, ruleset.errors)))
    paths = (
        sorted(files, key=lambda p: _first_time(p, fmt, logins)) if len(files) > 1 else list(files)
    )
    engine = _engine(ruleset, window, geoip, config)
    errors = _Errors(err)
    started = time.perf_counter()
    if follow:
        _follow(list(files), engine, fmt, logins, as_json=as_json, err=err)
        _fail_on(fail_on, engine.incidents())
        return
    show = not quiet and sys.stderr.isatty()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, disable=not show, transient=True) as progress:
        feed_all(engine, _events(paths, fmt, logins, progress if show else None, errors))
    elapsed = time.perf_counter() - started
    incidents = engine.incidents()
    if as_json:
        encoder = msgspec.json.Encoder()
        for incident in incidents:
            sys.stdout.write(encoder.encode(incident_json(incident)).decode() + "\n")
    else:
        print_table(console(), _table(incidents), empty="no incidents found")
    stats = engine.stats
    err.print(
        f"{plural(stats.events, 'event')} in {elapsed:.1f} s "
        f"({stats.events / max(elapsed, 1e-9):,.0f}/s), {plural(errors.count, 'bad line')} "
        f"skipped, {stats.late:,} late, {plural(len(ruleset.rules), 'rule')}, "
        f"{plural(len(incidents), 'incident')}"
    )
    _fail_on(fail_on, incidents)


COLLECT_EVERY = 1_000_000
"""Events between two collections of the cyclic garbage collector in `feed_all`."""


def feed_all(engine: Engine, events: Iterable[Event]) -> None:
    """Feed ``events`` to ``engine`` and flush it, with the cyclic garbage collector paused.

    Detection keeps no reference cycles; what it keeps (the reorder buffer, correlation windows,
    the login memory) is what CPython's collector walks again and again as events come and go:
    about a tenth of a scan's time on a million lines. Paused, and run every `COLLECT_EVERY`
    events instead, it still frees any cycle a scan makes; the collector's setting is restored
    at the end (`scan --follow`, a long-running process, keeps it on)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for count, event in enumerate(events, 1):
            engine.feed(event)
            if not count % COLLECT_EVERY:
                gc.collect()
        engine.flush()
    finally:
        if was_enabled:
            gc.enable()


def _fail_on(severity: str | None, incidents: list[Incident]) -> None:
    """Exit with `EXIT_FINDINGS` when an incident is at least ``severity``."""
    if severity is not None and any(
        severity_rank(i.severity) >= severity_rank(severity) for i in incidents
    ):
        raise SystemExit(EXIT_FINDINGS)
