"""``apiwatch decisions`` and ``apiwatch allowlist``: bans and flags by hand, on the store itself.

A decision added here is stored like one that response takes, so bouncers and sensors get it on
their next pull of ``/v1/decisions/stream``; a delete reaches them the same way. Values are
checked (addresses, CIDR networks, durations) and a ban on an allowlisted value or an internal
network is refused, saying why. Listing decisions is recorded in the read audit (their reasons
may name accounts).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click
import msgspec
from rich.table import Table

from apiwatch.cli._common import store_options
from apiwatch.cli._tables import console, print_table
from apiwatch.cli._views import opened, who
from apiwatch.model import DECISION_TYPES, AllowEntry, Decision, go_duration, plural_noun
from apiwatch.model import printable_text as safe
from apiwatch.store import DecisionFilter, ReadRecord, SqlStore

__all__ = ["allowlist", "decisions"]


def _target_options(function: Any) -> Any:
    """``--ip``, ``--range`` and ``--account``: exactly one is given."""
    for name, dest, meta, text in (
        ("--account", "account", "NAME", "An account name (user.name)."),
        ("--range", "network", "CIDR", "A network, e.g. 198.51.100.0/24."),
        ("--ip", "ip", "ADDRESS", "An address, e.g. 203.0.113.9."),
    ):
        function = click.option(name, dest, metavar=meta, help=text)(function)
    return function


def _target(ip: str | None, network: str | None, account: str | None) -> tuple[str, str]:
    given = [(scope, value) for scope, value in (("Ip", ip), ("Range", network),
             ("Username", account)) if value is not None]  # fmt: skip
    if len(given) != 1:
        raise click.UsageError("give exactly one of --ip, --range, --account")
    return given[0]


_store = opened
_who = who


def _complete(record: msgspec.Struct) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(record)
    for field in msgspec.structs.fields(record):
        data.setdefault(field.encode_name, msgspec.to_builtins(getattr(record, field.name)))
    return data


def _table(*headers: str) -> Table:
    """A table printed with `print_table`: its cells wrap between words, never inside one."""
    return Table(*headers)


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _state(decision: Decision, now: datetime) -> str:
    if decision.deleted is not None:
        return "deleted"
    if decision.simulated:
        return "simulated"
    if decision.until <= now:
        return "expired"
    return go_duration((decision.until - now).total_seconds())


# -- decisions ---------------------------------------------------------------------------------


@click.group()
def decisions() -> None:
    """List, add and delete ban and flag decisions (served to bouncers and sensors)."""


@decisions.command("list")
@click.option("--all", "everything", is_flag=True,
              help="Also deleted, expired and simulated decisions.")  # fmt: skip
@click.option("--ip", metavar="ADDRESS|CIDR", help="Only decisions covering this address.")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON array with every field (until, incident ...).")  # fmt: skip
@store_options
def list_decisions(
    everything: bool, ip: str | None, as_json: bool, config: str | None, db: str | None
) -> None:
    """Decisions in force (or --all), oldest first."""
    now = datetime.now(UTC)
    criteria = DecisionFilter(at=now, ip=ip, include_expired=everything,
                              include_deleted=everything, include_simulated=everything)  # fmt: skip
    with _store(config, db) as store:
        found = store.decisions.every(criteria)
        shown = " ".join(part for part in ("all" if everything else "", f"ip={ip}" if ip else "")
                         if part) or "in force"  # fmt: skip
        store.audit.record(ReadRecord(now, _who(), "decisions", shown, len(found)))
    if as_json:
        click.echo(json.dumps([_complete(d) for d in found], indent=2))
        return
    table = _table("id", "type", "scope", "value", "left", "origin", "reason")
    for d in found:
        # safe(): a flagged account's name and a reason quoting an incident title came from
        # events, and the terminal must not take their control characters as commands.
        table.add_row(str(d.id), safe(d.type), d.scope, safe(d.value), _state(d, now),
                      safe(d.origin), safe(d.reason))  # fmt: skip
    print_table(console(markup=False), table, empty=_no_decisions(everything, ip))


def _no_decisions(everything: bool, ip: str | None) -> str:
    """``no decision in force covers 203.0.113.9``, ``no decisions at all`` ..."""
    kind = "decision" if everything else "decision in force"
    if ip:
        return f"no {kind} covers {safe(ip)}"
    return "no decisions at all" if everything else "no decisions in force"


@decisions.command("add")
@_target_options
@click.option("--duration", required=True, metavar="DURATION",
              help="How long: e.g. 30m, 4h, 1h30m, 7d.")  # fmt: skip
@click.option("--type", "kind", type=click.Choice(DECISION_TYPES),
              help="ban (default for --ip, --range), captcha, throttle, flag (default for "
              "--account).")  # fmt: skip
@click.option("--reason", required=True, help="Why (kept, encrypted, with the decision).")
@store_options
def add_decision(
    *,
    ip: str | None,
    network: str | None,
    account: str | None,
    duration: str,
    kind: str | None,
    reason: str,
    config: str | None,
    db: str | None,
) -> None:
    """Ban an address or network, or flag an account, for a while.

    Refused, saying why, for an allowlisted value or one in an internal network (loopback,
    RFC 1918, CGNAT, link-local, ULA).
    """
    from apiwatch.respond import manual_decision  # noqa: PLC0415 - only this command needs it

    scope, value = _target(ip, network, account)
    with _store(config, db) as store:
        decision = manual_decision(scope, value, allowlist=store.allowlist, duration=duration,
                                   reason=reason, now=datetime.now(UTC), type=kind)  # fmt: skip
        added = store.decisions.add([decision], by=_who())[0]
    left = go_duration((added.until - added.created).total_seconds())
    click.echo(f"added decision {added.id}: {added.type} {added.scope} {added.value} for {left} "
               f"(until {_moment(added.until)})")  # fmt: skip


_DELETE_REASON = "lifted by hand"


@decisions.command("delete")
@click.argument("decision_id", metavar="[ID]", type=click.IntRange(min=1), required=False)
@_target_options
@click.option("--reason", default=_DELETE_REASON, show_default=True,
              help="Why (written to the collector's log with who deleted it).")  # fmt: skip
@store_options
def delete_decision(
    *,
    decision_id: int | None,
    ip: str | None,
    network: str | None,
    account: str | None,
    reason: str,
    config: str | None,
    db: str | None,
) -> None:
    """Delete a decision by its ID, or every one in force on exactly an address (--ip), a
    network (--range) or an account (--account), like `fail2ban-client unbanip`: bouncers drop
    them on their next pull."""
    given = [v for v in (ip, network, account) if v is not None]
    if (decision_id is None) == (not given):
        raise click.UsageError("give a decision ID or one of --ip, --range, --account")
    by = f"{_who()} ({safe(reason)})"
    with _store(config, db) as store:
        if decision_id is not None:
            found = store.decisions.delete(decision_id, at=datetime.now(UTC), by=by)
            if found is None:
                raise click.ClickException(
                    f"no decision {decision_id} in force (unknown or deleted)"
                )
            click.echo(
                f"deleted decision {found.id}: {found.type} {found.scope} {safe(found.value)}"
            )
            return
        scope, value = _target(ip, network, account)
        _delete_on(store, scope, value, by)


def _delete_on(store: SqlStore, scope: str, value: str, by: str) -> None:
    """Delete what is in force on exactly ``value``; say what still covers an address."""
    now = datetime.now(UTC)
    wanted = store.decisions.every(DecisionFilter(at=now, scopes=(scope,), value=value))
    deleted = [d for d in wanted if store.decisions.delete(d.id, at=now, by=by) is not None]
    if not deleted:
        raise click.ClickException(f"no decision in force on {scope} {safe(value)}")
    for d in deleted:
        click.echo(f"deleted decision {d.id}: {d.type} {d.scope} {safe(d.value)}")
    if scope != "Username":
        covering = [d for d in store.decisions.every(DecisionFilter(at=now, ip=value))
                    if d.scope == "Range" and d.id not in {x.id for x in deleted}]  # fmt: skip
        for d in covering:
            click.echo(
                f"note: decision {d.id} on the range {d.value} still covers {value}; "
                f"`apiwatch decisions delete --range {d.value}` lifts it",
                err=True,
            )


@decisions.command("explain")
@click.argument("value", metavar="IP|ACCOUNT")
@click.option("--all", "everything", is_flag=True,
              help="Also expired, deleted and simulated decisions.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@store_options
@click.pass_context
def explain_decisions(context: click.Context, /, **options: Any) -> None:
    """Why an address or account is banned or flagged (same as `apiwatch explain`)."""
    from apiwatch.cli.explain import explain  # noqa: PLC0415 - explain imports this module's peers

    context.invoke(explain, **options)


# -- the allowlist ------------------------------------------------------------------------------


@click.group()
def allowlist() -> None:
    """Addresses, networks and accounts no decision may act on."""


@allowlist.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@store_options
def list_allowed(as_json: bool, config: str | None, db: str | None) -> None:
    """Every allowlist entry, oldest first."""
    with _store(config, db) as store:
        entries = store.allowlist.entries()
    if as_json:
        click.echo(json.dumps([_complete(entry) for entry in entries], indent=2))
        return
    table = _table("id", "scope", "value", "reason", "since")
    for entry in entries:
        table.add_row(str(entry.id), entry.scope, safe(entry.value), safe(entry.reason),
                      _moment(entry.created))  # fmt: skip
    print_table(console(markup=False), table, empty="the allowlist is empty")


@allowlist.command("add")
@_target_options
@click.option("--reason", required=True, help="Why it must never be banned.")
@store_options
def add_allowed(
    *,
    ip: str | None,
    network: str | None,
    account: str | None,
    reason: str,
    config: str | None,
    db: str | None,
) -> None:
    """Allowlist an address, network or account (again: replace its reason)."""
    from apiwatch.respond import manual_allow_entry  # noqa: PLC0415 - only this command needs it

    scope, value = _target(ip, network, account)
    with _store(config, db) as store:
        entry = manual_allow_entry(scope, value, reason=reason, now=datetime.now(UTC))
        stored = store.allowlist.add(entry, by=_who())
        still = _decisions_on(store, stored)
    click.echo(f"allowlisted {stored.scope} {stored.value} (entry {stored.id}): {stored.reason}")
    if still:
        ids = ", ".join(str(d.id) for d in still)
        one = len(still) == 1
        click.echo(f"note: {plural_noun(len(still), 'decision')} {ids} still "
                   f"{'applies' if one else 'apply'} to it; `apiwatch decisions delete ID` "
                   f"{'lifts it' if one else 'lifts them'}", err=True)  # fmt: skip


def _decisions_on(store: SqlStore, entry: AllowEntry) -> list[Decision]:
    """The decisions in force on what an entry now protects: on the account, or on an address
    or range that contains the entry's or lies inside it (the first thousand of each)."""
    if entry.scope == "Username":
        wanted = [DecisionFilter(scopes=("Username",), value=entry.value)]
    else:
        wanted = [DecisionFilter(ip=entry.value), DecisionFilter(ip=entry.value, contains=False)]
    found = {
        d.id: d for criteria in wanted for d in store.decisions.query(criteria, limit=1000).items
    }
    return sorted(found.values(), key=lambda decision: decision.id)


@allowlist.command("delete")
@_target_options
@store_options
def delete_allowed(
    *,
    ip: str | None,
    network: str | None,
    account: str | None,
    config: str | None,
    db: str | None,
) -> None:
    """Remove the entry for exactly this address, network or account."""
    scope, value = _target(ip, network, account)
    with _store(config, db) as store:
        done = store.allowlist.delete(scope, value, by=_who())
    if not done:
        raise click.ClickException(f"no allowlist entry for exactly {value}")
    click.echo(f"removed {value} from the allowlist")
