"""``apiwatch simulate``: a seeded scenario of shop traffic with labelled attacks, written to files
(nginx access log, ECS NDJSON, ground truth) and optionally replayed against a running app."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from apiwatch.cli._tables import console as table_console
from apiwatch.cli._tables import print_table
from apiwatch.model import ConfigError, plural
from apiwatch.simulate import (
    ATTACK_TYPES,
    DEFAULT_START,
    ReplayError,
    Scenario,
    ScenarioConfig,
    generate,
    replay,
    write_scenario,
)

__all__ = ["simulate"]

_EPILOG = f"""\b
Attack types: {", ".join(ATTACK_TYPES)}.
\b
Examples:
  apiwatch simulate --seed 7 --out sim7
  apiwatch simulate --lines 1000000 --out big      # a 1,000,000-line access.log
  apiwatch simulate --attacks scanner,brute_force --no-traps
  apiwatch simulate --replay http://127.0.0.1:8000 --limit 500
"""


def _attacks(value: str) -> tuple[str, ...]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    if names == ["all"]:
        return ATTACK_TYPES
    if names == ["none"]:
        return ()
    unknown = [name for name in names if name not in ATTACK_TYPES]
    if unknown:
        raise click.BadParameter(
            f"unknown {', '.join(unknown)}; choose from all, none, {', '.join(ATTACK_TYPES)}",
            param_hint="--attacks",
        )
    return tuple(names)


def _start(value: str | None) -> datetime:
    if value is None:
        return DEFAULT_START
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time (e.g. 2026-11-02T08:00:00Z)", param_hint="--start"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _config(
    *,
    seed: int,
    scale: float,
    lines: int | None,
    attacks: str,
    traps: bool,
    start: str | None,
    hours: float,
) -> ScenarioConfig:
    try:
        return ScenarioConfig(
            seed=seed,
            start=_start(start),
            duration=timedelta(hours=hours),
            scale=scale,
            lines=lines,
            attacks=_attacks(attacks),
            traps=traps,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def _write(scenario: Scenario, outdir: Path, console: Console) -> list[tuple[Path, int]]:
    counts = scenario.truth.counts
    total = counts["shop_requests"] + counts["ecs_events"]
    columns = (
        TextColumn("writing {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(str(outdir), total=total)
        paths = write_scenario(scenario, outdir, progress=lambda n: progress.advance(task, n))
    return [
        (paths.access_log, counts["shop_requests"]),
        (paths.events, counts["ecs_events"]),
        (paths.truth, 1),
    ]


def _summary(scenario: Scenario, written: list[tuple[Path, int]], console: Console) -> None:
    truth = scenario.truth
    files = Table(
        title=f"seed {truth.seed}: {truth.start:%Y-%m-%d %H:%M} to {truth.end:%Y-%m-%d %H:%M} UTC"
    )
    for column in ("file", "lines", "size"):
        files.add_column(column, justify="right" if column != "file" else "left")
    for path, lines in written:
        files.add_row(escape(str(path)), f"{lines:,}", _human(path.stat().st_size))
    print_table(console, files)
    attacks = Table(title=plural(len(truth.attacks), "attack"))
    for column in (
        "id",
        "attackers",
        "requests",
        "targeted",
        "compromised",
        "exposed",
        "window",
        "visible in",
    ):
        attacks.add_column(column)
    for attack in truth.attacks:
        attackers = ", ".join(attack.attackers[:2]) + (
            f" (+{len(attack.attackers) - 2})" if len(attack.attackers) > 2 else ""
        )
        attacks.add_row(
            escape(attack.id),
            escape(attackers or f"({attack.service} silent)"),
            f"{attack.requests:,}",
            str(len(attack.accounts_targeted) or "-"),
            escape(", ".join(attack.accounts_compromised) or "-"),
            str(len(attack.objects_exposed) or "-"),
            f"{attack.first_seen:%H:%M}-{attack.last_seen:%H:%M}",
            ", ".join(attack.formats),
        )
    print_table(console, attacks)
    for trap in truth.traps:
        console.print(
            f"trap [bold]{trap.kind}[/]: {escape(trap.description)} ({escape(', '.join(trap.ips))})"
        )


@click.command(epilog=_EPILOG)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Seed: the same seed and options always give byte-identical files.",
)
@click.option(
    "--out",
    "outdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("apiwatch-sim"),
    show_default=True,
    help="Directory for access.log, events.ndjson and truth.json.",
)
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Multiply the 300 regular users (1 gives about 60,000 events).",
)
@click.option(
    "--lines",
    type=click.IntRange(min=1000),
    metavar="N",
    help="Exactly N shop requests (access.log lines); sizes the population itself, "
    "overriding --scale. The attacks, traps and 20 regular users set a floor: about 13,000 "
    "with all of them, 1,500 with --attacks none --no-traps.",
)
@click.option(
    "--attacks",
    default="all",
    show_default=True,
    metavar="A,B,...",
    help="Comma-separated attack types to include, or 'all' or 'none'.",
)
@click.option(
    "--no-traps", is_flag=True, help="Leave out the benign traps (office NAT, crawler, probe, ...)."
)
@click.option(
    "--start",
    metavar="ISO",
    help="Start of the scenario (default 2026-11-02T08:00:00Z; a time without offset is UTC).",
)
@click.option(
    "--hours",
    type=click.FloatRange(min=3, max=168),
    default=4.0,
    show_default=True,
    help="Length of the scenario in event time (the attacks keep their sizes).",
)
@click.option(
    "--replay",
    "replay_url",
    metavar="URL",
    help="Then send the shop's requests to the app at URL (X-Forwarded-For carries "
    "the simulated client).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    metavar="F",
    help="Replay pace: 1 = real time, 60 = an hour per minute (default: as fast as "
    "the app answers).",
)
@click.option(
    "--limit", type=click.IntRange(min=1), metavar="N", help="Replay only the first N requests."
)
def simulate(
    *,
    seed: int,
    outdir: Path,
    scale: float,
    lines: int | None,
    attacks: str,
    no_traps: bool,
    start: str | None,
    hours: float,
    replay_url: str | None,
    speed: float | None,
    limit: int | None,
) -> None:
    """Generate realistic shop API traffic with labelled attacks, for testing detection.

    Writes DIR/access.log (nginx combined format), DIR/events.ndjson (the ECS events the apiwatch
    sensor would emit, plus a billing service that stops logging) and DIR/truth.json (every
    attack's IPs, accounts targeted and compromised, objects exposed, time window, and the benign
    traps that must not be reported). Try `apiwatch scan DIR/events.ndjson` on the result.
    """
    config = _config(
        seed=seed,
        scale=scale,
        lines=lines,
        attacks=attacks,
        traps=not no_traps,
        start=start,
        hours=hours,
    )
    err = Console(stderr=True, highlight=False)
    started = time.perf_counter()
    with err.status("generating the scenario..."):
        scenario = generate(config)
    written = _write(scenario, outdir, err)
    out = table_console()
    _summary(scenario, written, out)
    err.print(f"done in {time.perf_counter() - started:.1f} s")
    if replay_url:
        _replay(scenario, replay_url, speed, limit, err)


def _replay(
    scenario: Scenario, url: str, speed: float | None, limit: int | None, console: Console
) -> None:
    total = scenario.truth.counts["shop_requests"]
    total = min(total, limit) if limit else total
    columns = (
        TextColumn("replaying to {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(escape(url), total=total)
            result = replay(
                scenario,
                url,
                speed=speed,
                limit=limit,
                progress=lambda n: progress.advance(task, n),
            )
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from None
    statuses = ", ".join(f"{code}: {count:,}" for code, count in sorted(result.statuses.items()))
    console.print(
        f"replayed {plural(result.sent, 'request')} to {escape(url)} in {result.seconds:.1f} s "
        f"({statuses or 'no answers'}); {result.mismatched:,} answered differently from the "
        f"simulation, {result.errors:,} got no answer"
    )
