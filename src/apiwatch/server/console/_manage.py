"""The console's pages about decisions, rules, sources and the audit log, and every action
(POST, CSRF-checked): incident state, ban, decisions, allowlist."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from apiwatch.detect.golden import find_cases
from apiwatch.model import ConfigError
from apiwatch.respond import DecisionRefusedError, manual_allow_entry, manual_decision
from apiwatch.server._state import ServerState, server_state
from apiwatch.server.console import _data
from apiwatch.server.console._auth import Principal, signed_in_user
from apiwatch.server.console._routing import ConsoleRouter, render
from apiwatch.store import (
    INCIDENT_STATES,
    DecisionFilter,
    DetectionFilter,
    IncidentState,
)

__all__ = ["add_manage_pages"]

_SCOPES = {"ip": "Ip", "range": "Range", "username": "Username"}
#: What a finished action says on the page it returns to (never text from the request).
DONE = {
    "banned": "The decision was added; bouncers get it on their next pull.",
    "deleted": "The decision was deleted; bouncers get it as deleted on their next pull.",
    "state": "The incident's state was recorded.",
    "allowlisted": "The allowlist entry was added.",
    "unlisted": "The allowlist entry was removed.",
}


def add_manage_pages(console: ConsoleRouter) -> None:
    _decisions(console)
    _allowlist(console)
    _incident_actions(console)
    _others(console)


def _field(form: FormData, name: str, limit: int = 1000) -> str:
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > limit:
        raise ConfigError(f"{name}: at most {limit} characters")
    return text


def _scope(form: FormData) -> str:
    scope = _SCOPES.get(_field(form, "scope", 20), "")
    if not scope:
        raise ConfigError("scope: ip, range or username")
    return scope


def _back(form: FormData, default: str) -> str:
    """Where to return: a path of this console only (never another site)."""
    back = _field(form, "back", 500)
    ok = back.startswith("/") and not back.startswith("//") and "\\" not in back
    return back if ok and back.isprintable() else default


def _redirect(path: str, done: str) -> Response:
    joiner = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{joiner}done={done}", status_code=303)


def _refused(request: Request, who: Principal, message: str, back: str) -> Response:
    return render(request, "error.html", who, 409, message=message, back=back)


def _decisions(console: ConsoleRouter) -> None:
    @console.route("GET", "/decisions", "viewer")
    async def decisions(request: Request) -> Response:
        """Decisions in force (or all, with ``all=1``), and the allowlist."""
        who = signed_in_user(request)
        state = server_state(request)
        everything = request.query_params.get("all") == "1"
        criteria = DecisionFilter(include_expired=everything, include_deleted=everything)

        def read() -> tuple[list[Any], list[Any]]:
            found = state.store.decisions.every(criteria, most=_data.MOST_DECISIONS)
            found.sort(key=lambda d: -d.id)
            allowed = state.store.allowlist.entries()
            scope = "all" if everything else "in force"
            _data.audit(state, who, "decisions", scope, len(found) + len(allowed))
            return found, allowed

        found, allowed = await run_in_threadpool(read)
        return render(request, "decisions.html", who, decisions=found, allowlist=allowed,
                      everything=everything, now=datetime.now(UTC), done=DONE.get(
                          request.query_params.get("done", "")), nav="decisions")  # fmt: skip

    @console.route("POST", "/decisions", "analyst")
    async def add(request: Request) -> Response:
        """Ban an address or network, or flag an account, for a while."""
        who = signed_in_user(request)
        form = await request.form()
        back = _back(form, "/decisions")
        try:
            scope = _scope(form)
            await run_in_threadpool(
                _decide, server_state(request), who, scope, _field(form, "value"),
                _field(form, "duration", 40) or "4h", _field(form, "reason") or "by hand",
                _field(form, "incident", 200), _field(form, "type", 20) or None,
            )  # fmt: skip
        except (ConfigError, DecisionRefusedError) as exc:
            return _refused(request, who, str(exc), back)
        return _redirect(back, "banned")

    @console.route("POST", "/decisions/{decision_id}/delete", "analyst")
    async def delete(request: Request, decision_id: int) -> Response:
        """Delete a decision (unban)."""
        who = signed_in_user(request)
        form = await request.form()
        back = _back(form, "/decisions")
        store = server_state(request).store
        found = await run_in_threadpool(
            lambda: store.decisions.delete(
                decision_id, at=datetime.now(UTC), by=f"console {who.user}"
            )
        )
        if found is None:
            return _refused(request, who, "No decision with this id, or it is already deleted.",
                            back)  # fmt: skip
        return _redirect(back, "deleted")


def _decide(  # noqa: PLR0917 - the form's fields, in order
    state: ServerState, who: Principal, scope: str, value: str, duration: str, reason: str,
    incident: str, kind: str | None,
) -> Any:  # fmt: skip
    decision = manual_decision(scope, value, allowlist=state.store.allowlist, duration=duration,
                               now=datetime.now(UTC), type=kind, incident=incident,
                               reason=f"{reason} (by {who.user} in the console)")  # fmt: skip
    return state.store.decisions.add([decision], by=f"console {who.user}")[0]


def _allowlist(console: ConsoleRouter) -> None:
    @console.route("POST", "/allowlist", "admin")
    async def allow(request: Request) -> Response:
        """Allowlist an address, network or account (no decision may act on it)."""
        who = signed_in_user(request)
        form = await request.form()
        back = _back(form, "/decisions")
        try:
            reason = _field(form, "reason") or "false positive"
            entry = manual_allow_entry(
                _scope(form), _field(form, "value"), reason=reason, now=datetime.now(UTC)
            )
        except ConfigError as exc:
            return _refused(request, who, str(exc), back)
        store = server_state(request).store
        await run_in_threadpool(lambda: store.allowlist.add(entry, by=f"console {who.user}"))
        return _redirect(back, "allowlisted")

    @console.route("POST", "/allowlist/delete", "admin")
    async def unlist(request: Request) -> Response:
        """Remove an allowlist entry."""
        who = signed_in_user(request)
        form = await request.form()
        scope, value = _field(form, "scope", 20), _field(form, "value")
        store = server_state(request).store
        done = await run_in_threadpool(
            lambda: store.allowlist.delete(scope, value, by=f"console {who.user}")
        )
        if not done:
            return _refused(request, who, "No allowlist entry for exactly this value.",
                            "/decisions")  # fmt: skip
        return _redirect("/decisions", "unlisted")


def _incident_actions(console: ConsoleRouter) -> None:
    @console.route("POST", "/incidents/{incident_id}/state", "analyst")
    async def set_state(request: Request, incident_id: str) -> Response:
        """Acknowledge, resolve, reopen, or mark as false positive (which then offers an
        allowlist entry for its addresses)."""
        who = signed_in_user(request)
        form = await request.form()
        status = _field(form, "status", 40)
        back = f"/incidents/{incident_id}"
        if status not in INCIDENT_STATES:
            return _refused(request, who, f"status: one of {', '.join(INCIDENT_STATES)}", back)
        store = server_state(request).store
        state = IncidentState(incident_id[:200], status, who.user, datetime.now(UTC),
                              _field(form, "note"))  # fmt: skip
        await run_in_threadpool(store.console.set_incident_state, state)
        if status == "false_positive":
            return RedirectResponse(f"{_quoted(back)}?offer=allowlist&done=state", 303)
        return _redirect(_quoted(back), "state")


def _quoted(path: str) -> str:
    return quote(path, safe="/")


@cache
def _cases(directory: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for case in find_cases(Path(directory)):
        found.setdefault(case.rule, []).append(case.name)
    return found


def _rules_table(state: ServerState, who: Principal) -> list[dict[str, Any]]:
    hits: Counter[str] = Counter()
    last: dict[str, datetime] = {}
    cursor: str | None = None
    for _ in range(20):  # at most 20,000 alerts
        page = state.store.detections.alerts(DetectionFilter(), cursor=cursor, limit=1000)
        for alert in page.items:
            hits[alert.rule] += 1
            last[alert.rule] = max(last.get(alert.rule, alert.last_seen), alert.last_seen)
        cursor = page.next_cursor
        if cursor is None:
            break
    _data.audit(state, who, "alerts", "rules page", sum(hits.values()))
    rules = state.detector.engine.ruleset.rules if state.detector else {}
    rows = []
    for key, rule in sorted(rules.items()):
        meta = rule.meta
        cases = _cases(str(Path(meta.path).parent)).get(key, []) if meta.path else []
        rows.append({"key": key, "title": meta.title, "level": meta.level, "enabled": True,
                     "hits": hits.get(key, 0), "last": last.get(key), "cases": cases})  # fmt: skip
    return rows


def _others(console: ConsoleRouter) -> None:
    @console.route("GET", "/rules", "viewer")
    async def rules(request: Request) -> Response:
        """The rules live detection runs: hits, last fired, golden cases."""
        who = signed_in_user(request)
        state = server_state(request)
        rows = await run_in_threadpool(_rules_table, state, who)
        return render(request, "rules.html", who, rules=rows, detecting=state.detector is not None,
                      nav="rules")  # fmt: skip

    @console.route("GET", "/sources", "viewer")
    async def sources(request: Request) -> Response:
        """Every sending source with its last event; a silent one is shown as a problem."""
        who = signed_in_user(request)
        state = server_state(request)
        now = datetime.now(UTC)

        def read() -> list[Any]:
            found = state.store.events.sources(now)
            _data.audit(state, who, "sources", "all", len(found))
            return [(s, now - s.last_seen > _data.SILENT_AFTER) for s in found]

        rows = await run_in_threadpool(read)
        return render(request, "sources.html", who, sources=rows, nav="sources")

    @console.route("GET", "/audit", "admin")
    async def audit(request: Request) -> Response:
        """The read audit: who read which event data, when, how much."""
        who = signed_in_user(request)
        store = server_state(request).store
        records = await run_in_threadpool(store.audit.reads, 500)
        return render(request, "audit.html", who, reads=records, nav="audit")
