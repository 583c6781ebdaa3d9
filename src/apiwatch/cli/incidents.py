"""``apiwatch incidents list|show`` and ``apiwatch alerts list``: what detection found, from
the store.

Filters: ``--since``/``--until`` (a time ago or ISO 8601) bound ``last_seen``; ``--severity``
that level and above; ``--rule`` a rule name; ``--ip`` an attacker address or network;
``--account`` an account targeted or compromised (caseless; names are encrypted at rest, so
this one is applied after decryption). ``--json`` prints every field (lists empty rather than
left out). Every read is recorded in the store's read audit: incidents name accounts.

``incidents show ID`` prints the incident's extent, why each attacker and each compromised
account is named (their evidence, in words), its alerts (the evidence: which rule, over
which group, how many events, which attackers, accounts and objects) and the decisions taken on
it (in force, expired, deleted or simulated alike).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from apiwatch.cli._common import since_callback, store_options
from apiwatch.cli._tables import print_table
from apiwatch.cli._views import (
    all_detections,
    complete,
    console,
    echo_json,
    moment,
    opened,
    who,
)
from apiwatch.cli.scan import _table as incident_table
from apiwatch.cli.scan import incident_json
from apiwatch.model import Decision
from apiwatch.model import printable_text as safe
from apiwatch.model.alert import SEVERITIES, Alert, Incident
from apiwatch.store import DecisionFilter, DetectionFilter, ReadRecord, SqlStore

__all__ = ["alerts", "incident_alerts", "incidents"]

_LIST_LIMIT = 100


def _shown(text: str) -> str:
    return escape(safe(text))


def _filter_options(function: Any) -> Any:
    for option in reversed((
        click.option("--since", callback=since_callback, metavar="TIME",
                     help="Last seen at or after: 30m, 1h, 2d ago or ISO 8601 (UTC)."),
        click.option("--until", callback=since_callback, metavar="TIME",
                     help="Last seen before: a time ago or ISO 8601 (UTC)."),
        click.option("--severity", type=click.Choice(SEVERITIES), help="This level and above."),
        click.option("--rule", metavar="NAME", help="A rule name."),
        click.option("--ip", "attacker_ip", metavar="ADDRESS|CIDR",
                     help="An attacker address or network."),
        click.option("--account", metavar="NAME",
                     help="An account targeted or compromised (caseless)."),
        click.option("--limit", type=click.IntRange(min=1), default=_LIST_LIMIT,
                     show_default=True, help="At most this many, the most recent."),
        click.option("--json", "as_json", is_flag=True, help="Print a JSON array."),
    )):  # fmt: skip
        function = option(function)
    return function


_FILTERS = ("since", "until", "severity", "rule", "attacker_ip", "account")


def _none(what: str, options: dict[str, Any]) -> str:
    """``no incidents match the filters`` / ``no incidents in the store``."""
    filtered = any(options[name] is not None for name in _FILTERS)
    return f"no {what} " + ("match the filters" if filtered else "in the store")


def _criteria(options: dict[str, Any]) -> DetectionFilter:
    return DetectionFilter(since=options["since"], until=options["until"],
                           severity=options["severity"], rule=options["rule"],
                           attacker_ip=options["attacker_ip"])  # fmt: skip


def _names_account(names: list[str], account: str) -> bool:
    wanted = account.casefold()
    return any(name.casefold() == wanted for name in names)


def _read(
    store: SqlStore,
    what: str,
    read: Callable[..., Any],
    options: dict[str, Any],
    accounts_of: Callable[[Any], list[str]],
) -> list[Any]:
    """The records matching the options (the newest ``--limit``), the read audited."""
    criteria = _criteria(options)
    account = options["account"]
    # Account names are only in the encrypted payload: with --account, every match of the
    # other criteria is read, and --limit applies after the account filter.
    found = all_detections(read, criteria, None if account else options["limit"])
    if account:
        found = [r for r in found if _names_account(accounts_of(r), account)][-options["limit"] :]
    shown = criteria.describe() + (f" account={account}" if account else "")
    store.audit.record(ReadRecord(datetime.now(UTC), who(), what, shown, len(found)))
    return found


# -- incidents ---------------------------------------------------------------------------------


@click.group()
def incidents() -> None:
    """Incidents detection found: attackers, accounts targeted and compromised, objects."""


@incidents.command("list")
@_filter_options
@store_options
def list_incidents(config: str | None, db: str | None, **options: Any) -> None:
    """Incidents matching every filter given, oldest last seen first."""
    with opened(config, db) as store:
        found: list[Incident] = _read(
            store, "incidents", store.detections.incidents, options,
            lambda i: [*i.accounts_targeted, *i.accounts_compromised],
        )  # fmt: skip
    if options["as_json"]:
        echo_json([incident_json(incident) for incident in found])
        return
    print_table(console(), incident_table(found), empty=_none("incidents", options))


@incidents.command("show")
@click.argument("incident_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON object: the incident, its alerts and its decisions.")  # fmt: skip
@store_options
def show_incident(incident_id: str, as_json: bool, config: str | None, db: str | None) -> None:
    """One incident with its evidence (its alerts) and the decisions taken on it."""
    with opened(config, db) as store:
        found = store.detections.incident(incident_id)
        if found is None:
            raise click.ClickException(f"no incident {safe(incident_id)} in the store")
        evidence = incident_alerts(store, found)
        decided = store.decisions.every(_everything(incident=found.id))
        store.audit.record(ReadRecord(datetime.now(UTC), who(), "incident",
                                     f"id={found.id}", 1))  # fmt: skip
    if as_json:
        echo_json({**incident_json(found), "evidence": [complete(a) for a in evidence],
                   "decisions": [complete(d) for d in decided]})  # fmt: skip
        return
    out = console()
    print_table(out, _extent(found))
    if found.attacker_evidence or found.account_evidence:
        print_table(out, why_table(found))
    print_table(out, alert_table(evidence, title="evidence (alerts)"),
                empty="evidence: no alerts stored for it")  # fmt: skip
    print_table(out, decision_table(decided, title="decisions taken"),
                empty="decisions taken: none")  # fmt: skip


def _everything(**criteria: Any) -> DecisionFilter:
    return DecisionFilter(include_expired=True, include_deleted=True, include_simulated=True,
                          **criteria)  # fmt: skip


def incident_alerts(store: SqlStore, incident: Incident) -> list[Alert]:
    """The stored alerts of ``incident``: an alert's ``last_seen`` lies within its incident's
    first and last seen, so only that window is read (and filtered on the incident id)."""
    window = DetectionFilter(since=incident.first_seen,
                             until=incident.last_seen + timedelta(microseconds=1))  # fmt: skip
    return [
        a
        for a in all_detections(store.detections.alerts, window, None)
        if a.incident == incident.id
    ]


def _listed(values: list[str], most: int = 20) -> str:
    more = f" (+{len(values) - most} more)" if len(values) > most else ""
    return _shown(", ".join(values[:most]) + more) if values else "-"


def _extent(incident: Incident) -> Table:
    table = Table(title=_shown(f"{incident.severity}: {incident.title}"), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in (
        ("id", _shown(incident.id)),
        ("rules", _listed(incident.rules)),
        ("first / last seen", f"{moment(incident.first_seen)} / {moment(incident.last_seen)}"),
        ("alerts / requests", f"{incident.alerts} / {incident.requests}"),
        ("attackers", _listed(incident.attackers)),
        ("user agents", _listed(incident.user_agents, 5)),
        ("accounts targeted", _listed(incident.accounts_targeted)),
        ("accounts compromised", _listed(incident.accounts_compromised)),
        ("objects exposed", _listed(incident.objects_exposed)),
    ):
        table.add_row(name, value)
    return table


def why_table(incident: Incident, most: int = 50) -> Table:
    """Why each attacker (and each compromised account) is named, first ``most`` of each."""
    attackers = list(incident.attacker_evidence.items())
    accounts = [(a, incident.account_evidence[a]) for a in incident.accounts_compromised
                if a in incident.account_evidence]  # fmt: skip
    hidden = max(len(attackers) - most, 0)
    table = Table(title="why each is named" + (f" (first {most}; --json: all)" if hidden else ""))
    table.add_column("attacker / account", overflow="fold")
    table.add_column("evidence", overflow="fold")
    for name, why in [*attackers[:most], *accounts[:most]]:
        table.add_row(_shown(name), _shown("; ".join(why)) or "-")
    return table


def alert_table(found: list[Alert], *, title: str) -> Table:
    """Alerts as a table: the rule and group, when, how many events, who and what."""
    table = Table(title=f"{title}: {len(found)}", show_lines=True)
    for column in ("severity", "rule / id", "group", "first / last seen", "events",
                   "attackers", "accounts", "objects"):  # fmt: skip
        table.add_column(column)
    for a in found:
        group = ", ".join(f"{key}={value}" for key, value in a.group.items())
        table.add_row(_shown(a.severity), f"{_shown(a.rule)}\n{_shown(a.id)}", _shown(group) or "-",
                      f"{moment(a.first_seen)}\n{moment(a.last_seen)}", str(a.count),
                      _listed(a.attackers, 10), _listed(a.accounts, 10),
                      _listed(a.objects, 10))  # fmt: skip
    return table


def decision_table(found: list[Decision], *, title: str) -> Table:
    """Decisions as a table, with their state now (in force, expired, deleted, simulated)."""
    now = datetime.now(UTC)
    table = Table(title=f"{title}: {len(found)}")
    for column in ("id", "type", "scope", "value", "state", "until", "reason"):
        table.add_column(column)
    for d in found:
        table.add_row(str(d.id), _shown(d.type), d.scope, _shown(d.value), decision_state(d, now),
                      moment(d.until), _shown(d.reason))  # fmt: skip
    return table


def decision_state(decision: Decision, now: datetime) -> str:
    """``in force``, ``deleted``, ``simulated`` or ``expired``."""
    if decision.deleted is not None:
        return "deleted"
    if decision.simulated:
        return "simulated"
    return "in force" if decision.until > now else "expired"


# -- alerts ------------------------------------------------------------------------------------


@click.group()
def alerts() -> None:
    """Alerts: one rule firing for one group (an address, an account, all traffic)."""


@alerts.command("list")
@_filter_options
@store_options
def list_alerts(config: str | None, db: str | None, **options: Any) -> None:
    """Alerts matching every filter given, oldest last seen first."""
    with opened(config, db) as store:
        found: list[Alert] = _read(
            store, "alerts", store.detections.alerts, options, lambda a: a.accounts
        )
    if options["as_json"]:
        echo_json([complete(alert) for alert in found])
        return
    print_table(console(), alert_table(found, title="alerts"), empty=_none("alerts", options))
