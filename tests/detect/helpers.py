"""Rule files and events for the detection tests: small YAML written to a temporary directory,
events decoded from the ECS wire form so that they are what the engine really receives."""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apiwatch.detect import Engine, RuleSet, load_rules
from apiwatch.model import Event, decode_event
from apiwatch.model.alert import Alert

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CURL = "curl/8.5.0"
_dirs = itertools.count()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def load(tmp_path: Path, text: str, *, clean: bool = True) -> RuleSet:
    """Load ``text`` (YAML, dedented) as the only rule file of a fresh directory."""
    folder = tmp_path / f"rules{next(_dirs)}"
    folder.mkdir()
    (folder / "rules.yml").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    ruleset = load_rules([folder])
    if clean:
        assert not ruleset.problems, [str(p) for p in ruleset.problems]
    return ruleset


def detection(name: str, body: str, *, options: str = "") -> str:
    """A detection rule document: ``body`` is the YAML under ``detection:``."""
    extra = f"apiwatch: {options}\n" if options else ""
    return (
        f"title: {name}\nname: {name}\nlogsource: {{category: webserver}}\n{extra}"
        f"detection:\n{textwrap.indent(textwrap.dedent(body).strip(), '  ')}\n"
    )


def correlation(name: str, body: str) -> str:
    """A correlation rule document: ``body`` is the YAML under ``correlation:``."""
    inner = textwrap.indent(textwrap.dedent(body).strip(), "  ")
    return f"title: {name}\nname: {name}\ncorrelation:\n{inner}\n"


def rules(*documents: str) -> str:
    return "---\n".join(documents)


def event(
    t: float = 0,
    *,
    ip: str | None = "203.0.113.5",
    action: str = "http_request",
    method: str = "GET",
    path: str | None = "/api/v1/items",
    query: str | None = None,
    status: int | None = 200,
    user: str | None = None,
    ua: str | None = CURL,
    service: str | None = "shop-api",
    labels: dict[str, str] | None = None,
    **more: Any,
) -> Event:
    """One event as the sensor would ship it (dotted ``more`` keys add any other ECS field)."""
    doc: dict[str, Any] = {"@timestamp": at(t).isoformat(), "event.action": action}
    fields = {
        "source.ip": ip,
        "http.request.method": method,
        "url.path": path,
        "url.query": query,
        "http.response.status_code": status,
        "user.name": user,
        "user_agent.original": ua,
        "service.name": service,
    }
    doc.update({k: v for k, v in fields.items() if v is not None})
    if labels:
        doc["labels"] = labels
    doc.update(more)
    return decode_event(doc)


def login(t: float, ip: str, user: str | None, *, ok: bool, ua: str = CURL) -> Event:
    """A login attempt (``user`` None: an access-log line, which names no account)."""
    action = "authn_login_success" if ok else "authn_login_fail"
    return event(t, ip=ip, action=action, method="POST", path="/api/v1/login",
                 status=200 if ok else 401, user=user, ua=ua)  # fmt: skip


def run(ruleset: RuleSet, events: Iterable[Event], **options: Any) -> Engine:
    """A fresh engine (no reorder buffer unless ``lateness`` is given) fed ``events``, flushed."""
    options.setdefault("lateness", 0)
    engine = Engine(ruleset, **options)
    engine.feed_all(events)
    engine.flush()
    return engine


def alerts_of(engine: Engine, rule: str | None = None) -> list[Alert]:
    """The alerts ``engine`` raised (of ``rule``), oldest first."""
    found = [a for a in engine.take_alerts() if rule is None or a.rule == rule]
    return sorted(found, key=lambda a: (a.first_seen, a.id))
