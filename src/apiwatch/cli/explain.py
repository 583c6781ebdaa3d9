"""``apiwatch explain VALUE`` (also ``apiwatch decisions explain``): why an address or an
account is banned or flagged.

For an address: the decisions on it (an ``Ip`` decision on it, or a ``Range`` decision holding
it), each with its policy (the first part of its reason), rule and incident, and that incident's
extent and the alerts naming the address (the evidence); the incidents naming it as an attacker
that led to no decision; why each incident names it (its own evidence, in words: "3 failed
logins against 3 accounts never logged into from here; no successful login"); and the allowlist
entry that protects it, if any. For an account name:
the decisions on the account and their incidents. ``--all`` includes expired, deleted and
simulated decisions. The read is recorded in the read audit.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import click

from apiwatch.cli._common import store_options
from apiwatch.cli._tables import print_table
from apiwatch.cli._views import all_detections, console, echo_json, opened, who
from apiwatch.cli._views import complete as as_json_record
from apiwatch.cli.incidents import alert_table, decision_table, incident_alerts
from apiwatch.cli.scan import _table as incident_table
from apiwatch.cli.scan import incident_json
from apiwatch.model import AllowEntry, Decision, parse_address, parse_network, plural
from apiwatch.model import printable_text as safe
from apiwatch.model.alert import Alert, Incident
from apiwatch.store import DecisionFilter, DetectionFilter, ReadRecord, SqlStore

__all__ = ["explain"]


def _is_address(value: str) -> bool:
    """An address or a network (`parse_network` takes both)."""
    try:
        parse_network(value)
    except ValueError:
        return False
    return True


def _allow_scope(value: str, *, address: bool) -> str:
    if not address:
        return "Username"
    return "Range" if "/" in value else "Ip"


def _decisions(store: SqlStore, value: str, *, address: bool, everything: bool) -> list[Decision]:
    base = (
        DecisionFilter(ip=value) if address else DecisionFilter(scopes=("Username",), value=value)
    )
    return store.decisions.every(
        dataclasses.replace(
            base,
            include_expired=everything,
            include_deleted=everything,
            include_simulated=everything,
        ),
    )


def _explained(
    store: SqlStore, value: str, decided: list[Decision], *, address: bool
) -> tuple[list[Incident], list[Alert], list[Incident]]:
    """The incidents behind ``decided``, their alerts naming ``value`` (all of them for an
    account), and the other incidents naming ``value`` as an attacker."""
    behind: dict[str, Incident] = {}
    for decision in decided:
        if decision.incident and decision.incident not in behind:
            found = store.detections.incident(decision.incident)
            if found is not None:
                behind[found.id] = found
    evidence = [
        alert
        for incident in behind.values()
        for alert in incident_alerts(store, incident)
        if not address or _names(alert, value)
    ]
    others: list[Incident] = []
    if address:
        named = all_detections(store.detections.incidents, DetectionFilter(attacker_ip=value), 20)
        others = [incident for incident in named if incident.id not in behind]
    return list(behind.values()), evidence, others


def _names(alert: Alert, value: str) -> bool:
    if value in alert.attackers or value in alert.group.values():
        return True
    try:
        network = parse_network(value)
        return any(_in(attacker, network) for attacker in alert.attackers)
    except ValueError:
        return False


def _in(attacker: str, network: object) -> bool:
    try:
        return parse_address(attacker) in network  # type: ignore[operator]
    except (ValueError, TypeError):
        return False


@click.command()
@click.argument("value", metavar="IP|ACCOUNT")
@click.option("--all", "everything", is_flag=True,
              help="Also expired, deleted and simulated decisions.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@store_options
def explain(
    value: str, everything: bool, as_json: bool, config: str | None, db: str | None
) -> None:
    """Why an address (or network, or account) is banned or flagged: each decision, its policy,
    its incident and the evidence; or the incidents naming it, and its allowlist entry."""
    value = value.strip()
    address = _is_address(value)
    with opened(config, db) as store:
        decided = _decisions(store, value, address=address, everything=everything)
        behind, evidence, others = _explained(store, value, decided, address=address)
        allowed = store.allowlist.allow_match(_allow_scope(value, address=address), value)
        store.audit.record(ReadRecord(datetime.now(UTC), who(), "explain", f"value={value}",
                                     len(decided) + len(behind) + len(others)))  # fmt: skip
    if as_json:
        echo_json({
            "value": value,
            "decisions": [dict(as_json_record(d), policy=_policy(d)) for d in decided],
            "incidents": [incident_json(i) for i in behind],
            "evidence": [as_json_record(a) for a in evidence],
            "why": _why(value, [*behind, *others]),
            "other_incidents": [incident_json(i) for i in others],
            "allowlisted": as_json_record(allowed) if allowed is not None else None,
        })  # fmt: skip
        return
    _print(value, everything, decided, (behind, evidence, others), allowed)


def _why(value: str, incidents: list[Incident]) -> dict[str, list[str]]:
    """Per incident id, why it names ``value`` (an attacker's or an account's evidence)."""
    out = {}
    for incident in incidents:
        why = incident.attacker_evidence.get(value) or incident.account_evidence.get(value)
        if why:
            out[incident.id] = list(why)
    return out


def _policy(decision: Decision) -> str:
    """The policy a decision came from: responder reasons read ``policy: why; offence N``."""
    if decision.origin != "apiwatch":
        return decision.origin
    return decision.reason.split(":", 1)[0] if ":" in decision.reason else ""


def _print(
    value: str,
    everything: bool,
    decided: list[Decision],
    found: tuple[list[Incident], list[Alert], list[Incident]],
    allowed: AllowEntry | None,
) -> None:
    behind, evidence, others = found
    out = console()
    shown = safe(value)
    if allowed is not None:
        click.echo(f"{shown} is allowlisted ({allowed.scope} {safe(allowed.value)}): "
                   f"{safe(allowed.reason)}")  # fmt: skip
    if not decided:
        click.echo(
            f"{shown}: no decision" + ("" if everything else " in force (--all: past ones too)")
        )
    for d in decided:
        rule = f", rule {safe(d.scenario)}" if d.scenario else ""
        incident = f", incident {safe(d.incident)}" if d.incident else ", added by hand"
        click.echo(f"decision {d.id}: {safe(d.type)} {d.scope} {safe(d.value)} until "
                   f"{d.until.isoformat(timespec='seconds')} (policy {safe(_policy(d)) or '-'}"
                   f"{rule}{incident}): {safe(d.reason)}")  # fmt: skip
    if decided:
        print_table(out, decision_table(decided, title="decisions"))
    if behind:
        print_table(out, incident_table(behind))
        print_table(out, alert_table(evidence, title=f"evidence naming {shown}"))
    if others:
        names = "names" if len(others) == 1 else "name"
        click.echo(f"{plural(len(others), 'other incident')} {names} {shown} as an attacker:")
        print_table(out, incident_table(others))
    for incident_id, why in _why(value, [*behind, *others]).items():
        click.echo(f"why incident {safe(incident_id)} names {shown}: {safe('; '.join(why))}")
