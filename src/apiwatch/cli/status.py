"""``apiwatch status``: is the collector up, and its state as its store holds it, like
``fail2ban-client status`` or ``cscli metrics``.

It first asks the collector (``--url``, else where its settings make it listen) for
``/healthz`` and ``/readyz`` and prints ``live, ready``, ``live, NOT READY (why)`` or
``UNREACHABLE (why)``; then, read from the store (which needs no running collector): the events
stored and the ingest rate over the last hour; each source (API key, ``service.name``,
``host.name``) with its first and last event and its events in the last hour, those with no
event for longer than ``--silent-after`` (15m by default) marked ``SILENT``; the incidents last
seen since ``--since`` (24h ago by default) by severity; and the decisions in force by scope.
``--json`` prints the same as one JSON object (the probe under ``collector``).

Exit codes: 0 the collector is live and ready (or ``--no-probe``), 1 an error (the store cannot
be read), 2 a usage error, 3 the collector is unreachable or not ready (the rest is printed
all the same). Silent sources do not change the exit code; scripts read ``--json``'s
``silent`` list.
"""

from __future__ import annotations

import ssl
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from apiwatch.cli._common import (
    ca_file_option,
    parse_since,
    settings_for,
    since_callback,
    store_options,
)
from apiwatch.cli._probe import collector_url, probe
from apiwatch.cli._tables import print_table
from apiwatch.cli._views import all_detections, console, echo_json, moment, opened, who
from apiwatch.detect import parse_duration
from apiwatch.model import printable_text as safe
from apiwatch.model.alert import SEVERITIES
from apiwatch.store import DetectionFilter, ReadRecord, SourceInfo, SqlStore

__all__ = ["EXIT_DOWN", "status"]

EXIT_DOWN = 3


def _silence(value: str) -> timedelta:
    try:
        return timedelta(seconds=parse_duration(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--silent-after") from None


def _gather(store: SqlStore, since: datetime, silent_after: timedelta) -> dict[str, Any]:
    now = datetime.now(UTC)
    sources = store.events.sources(now)
    found = all_detections(store.detections.incidents, DetectionFilter(since=since), None)
    by_severity = Counter(incident.severity for incident in found)
    last = max((source.last_seen for source in sources), default=None)
    return {
        "now": moment(now),
        "events": store.events.count(),
        "events_last_hour": sum(source.events_last_hour for source in sources),
        "last_event": moment(last) if last else None,
        "sources": [_source(source, now, silent_after) for source in sources],
        "silent": [_name(s) for s in sources if now - s.last_seen > silent_after],
        "incidents_since": moment(since),
        "incidents": {level: by_severity.get(level, 0) for level in reversed(SEVERITIES)},
        "decisions_in_force": store.decisions.active_counts(now),
    }


def _name(source: SourceInfo) -> str:
    return f"{source.key_name}/{source.service or '-'}/{source.host or '-'}"


def _source(source: SourceInfo, now: datetime, silent_after: timedelta) -> dict[str, Any]:
    return {
        "key": source.key_name,
        "service": source.service,
        "host": source.host,
        "first_seen": moment(source.first_seen),
        "last_seen": moment(source.last_seen),
        "events": source.events,
        "events_last_hour": source.events_last_hour,
        "silent": now - source.last_seen > silent_after,
    }


@click.command()
@click.option(
    "--silent-after",
    default="15m",
    show_default=True,
    metavar="DURATION",
    help="A source with no event for longer than this is marked SILENT.",
)
@click.option(
    "--since",
    default="24h",
    show_default=True,
    callback=since_callback,
    metavar="TIME",
    help="Count incidents last seen since: a time ago or ISO 8601.",
)
@click.option(
    "--url",
    envvar="APIWATCH_URL",
    metavar="URL",
    help="The collector to probe (/healthz, /readyz), e.g. https://collector:8470. Also "
    "APIWATCH_URL. Default: where the settings make `apiwatch serve` listen (host, port).",
)
@ca_file_option
@click.option("--no-probe", is_flag=True,
              help="Read the store only; do not ask the collector (exit code 0 or 1).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@store_options
def status(  # noqa: PLR0917 - one parameter per click option
    silent_after: str,
    since: datetime | None,
    url: str | None,
    verify: ssl.SSLContext | bool,
    no_probe: bool,
    as_json: bool,
    config: str | None,
    db: str | None,
) -> None:
    """Is the collector up (/healthz, /readyz), and its state from its store: ingest rate,
    sources (silent ones marked), incidents by severity, decisions in force.

    Exit codes: 0 the collector is live and ready (or --no-probe), 1 an error, 3 the collector
    is unreachable or not ready.
    """
    quiet_for = _silence(silent_after)
    answer = None if no_probe else probe(url or collector_url(settings_for(config, db=db)),
                                         verify=verify)  # fmt: skip
    if answer is not None and not as_json:  # said first: it stands even if the store cannot
        click.echo(f"collector {safe(answer.url)}: {answer.describe()}")
    with opened(config, db) as store:
        state = _gather(store, since or parse_since("24h"), quiet_for)
        store.audit.record(ReadRecord(datetime.now(UTC), who(), "status", "sources incidents", 0))
    if as_json:
        echo_json({"collector": answer.as_json() if answer else None, **state})
    else:
        _print(state, silent_after)
    if answer is not None and not answer.up:
        raise SystemExit(EXIT_DOWN)


def _cell(text: str) -> str:
    return escape(safe(text))


def _print(state: dict[str, Any], silent_after: str) -> None:
    rate = state["events_last_hour"] / 60
    last = state["last_event"] or "never"
    click.echo(
        f"events stored: {state['events']:,}; last hour: {state['events_last_hour']:,} "
        f"({rate:,.1f}/min); last event: {last}"
    )
    silent = state["silent"]
    if silent:
        click.echo(f"SILENT for over {silent_after}: {safe(', '.join(silent))}")
    table = Table(title=f"sources: {len(state['sources'])}")
    for column in (
        "key",
        "service",
        "host",
        "first seen",
        "last seen",
        "events",
        "last hour",
        "state",
    ):
        table.add_column(column)
    for s in state["sources"]:
        table.add_row(
            _cell(s["key"]),
            _cell(s["service"]) or "-",
            _cell(s["host"]) or "-",
            s["first_seen"],
            s["last_seen"],
            f"{s['events']:,}",
            f"{s['events_last_hour']:,}",
            "SILENT" if s["silent"] else "ok",
        )
    print_table(console(), table, empty="sources: none (no event stored yet)")
    counts = ", ".join(f"{level} {count}" for level, count in state["incidents"].items())
    click.echo(f"incidents last seen since {state['incidents_since']}: {counts}")
    decided = state["decisions_in_force"]
    shown = ", ".join(f"{scope} {count}" for scope, count in sorted(decided.items())) or "none"
    click.echo(f"decisions in force: {shown}")
