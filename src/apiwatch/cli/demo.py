"""``apiwatch demo``: a sample FastAPI shop with the sensor, real uvicorn, real HTTP traffic."""

from __future__ import annotations

import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import click

from apiwatch.cli._demo_tail import tailed_source, write_and_wait
from apiwatch.cli._serving import Running
from apiwatch.cli._tables import print_table
from apiwatch.model import plural
from apiwatch.sensor import EcsFormatter, LoggingOutput
from apiwatch.sensor._outputs import EVENTS_LOGGER

__all__ = ["run_demo"]


def _require_extra() -> None:
    try:
        import fastapi  # noqa: F401, PLC0415
        import uvicorn  # noqa: F401, PLC0415
    except ImportError:
        raise click.ClickException(
            "apiwatch demo needs the demo extra: pip install 'apiwatch[demo]'"
        ) from None


class _Capture(logging.Handler):
    """Keeps each ECS line the sensor writes, and echoes it."""

    def __init__(self, echo: bool) -> None:
        super().__init__()
        self.setFormatter(EcsFormatter())
        self.lines: list[str] = []
        self.echo = echo

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        self.lines.append(line)
        if self.echo:
            click.echo(line)


LIVE_ATTACKS = (
    "brute_force",
    "credential_stuffing",
    "password_spraying",
    "object_enumeration",
    "scanner",
    "error_flood",
    "token_reuse",
)
"""Attacks replayed through the live shop. Distributed stuffing (its baseline needs half an hour
of history) and logging that stopped (a second service) are shown by the 4-hour offline scan."""


def _replay(scenario: Any, base: str) -> None:
    from rich.progress import Progress  # noqa: PLC0415

    from apiwatch.simulate import replay  # noqa: PLC0415

    total = sum(1 for _ in scenario.shop_requests())
    with Progress(transient=True) as progress:
        task = progress.add_task("replaying the scenario through the shop", total=total)
        result = replay(scenario, base, progress=lambda n: progress.update(task, completed=n))
    click.echo(f"# replayed {plural(result.sent, 'request')} in {result.seconds:.1f} s", err=True)


def _wait_for_incidents(collector: str, read_key: str) -> list[dict[str, Any]]:
    """Poll /v1/incidents until the live engine has settled (no change for 2 s, at most 30 s)."""
    import httpx  # noqa: PLC0415

    headers = {"Authorization": f"Bearer {read_key}"}
    last: list[dict[str, Any]] = []
    stable_since = time.monotonic()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{collector}/v1/incidents", params={"limit": 500}, headers=headers, timeout=10
        )
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        if items != last:
            last, stable_since = items, time.monotonic()
        elif items and time.monotonic() - stable_since >= 2:
            break
        time.sleep(0.5)
    return last


def _incident_table(title: str, incidents: list[dict[str, Any]]) -> None:
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console(markup=False, width=max(Console().width, 120))
    table = Table(title=title, show_lines=True)
    for column in ("severity", "incident", "attackers", "targeted", "compromised", "exposed"):
        table.add_column(column)
    for inc in sorted(incidents, key=lambda i: str(i.get("first_seen", ""))):
        attackers = list(inc.get("attackers") or [])
        more = f" (+{len(attackers) - 3})" if len(attackers) > 3 else ""
        compromised = inc.get("accounts_compromised") or []
        exposed = inc.get("objects_exposed") or []
        table.add_row(
            str(inc.get("severity", "")),
            f"{inc.get('title', '')}\n{', '.join(inc.get('rules') or [])}",
            (", ".join(attackers[:3]) + more) or "-",
            str(len(inc.get("accounts_targeted") or [])),
            ", ".join(compromised) or "-",
            ", ".join(exposed[:6]) or "-",
            style="bold red" if compromised or exposed else None,
        )
    print_table(console, table)


def _offline(rule_types: dict[str, str]) -> None:
    """The full 4-hour scenario (all ten attacks, the benign traps) through the engine offline."""
    import msgspec  # noqa: PLC0415

    from apiwatch.detect import Engine, builtin_dir, load_rules  # noqa: PLC0415
    from apiwatch.simulate import generate, score  # noqa: PLC0415

    scenario = generate(seed=7)
    engine = Engine(load_rules([builtin_dir()]))
    engine.feed_all(scenario.events())
    engine.flush()
    incidents = engine.incidents()
    _incident_table(
        f"Offline: the engine over a simulated 4-hour log ({engine.stats.events:,} ECS events, "
        "what `apiwatch scan` does)",
        [msgspec.to_builtins(incident) for incident in incidents],
    )
    click.echo(score(scenario.truth, incidents, format="ecs", rule_types=rule_types).report())


def _capture_events(echo: bool) -> _Capture:
    """The sensor's ECS lines, kept (and echoed with ``--raw``) instead of logged."""
    capture = _Capture(echo=echo)
    events_logger = logging.getLogger(EVENTS_LOGGER)
    events_logger.handlers[:] = [capture]
    events_logger.setLevel(logging.INFO)
    events_logger.propagate = False
    return capture


def run_demo(
    *, users: int, raw: bool, workdir: Path, console: bool | None = None, console_port: int = 8470
) -> None:
    """Collector with live detection on SQLite, the shop shipping to it, a simulated attack mix
    replayed as real HTTP requests; then the incidents found, an offline scan, and verify; then
    (``console``, by default when stdout is a terminal) the web console over the demo's store
    until Ctrl-C."""
    _require_extra()
    from apiwatch.cli._demo_response import Webhook, response_config  # noqa: PLC0415
    from apiwatch.cli._shop import build_shop  # noqa: PLC0415
    from apiwatch.detect import builtin_dir, load_rules  # noqa: PLC0415
    from apiwatch.server import ServerSettings, create_app  # noqa: PLC0415
    from apiwatch.simulate import generate  # noqa: PLC0415

    capture = _capture_events(raw)
    scenario = generate(seed=7, users=users, attacks=LIVE_ATTACKS)
    store, ingest_key, read_key = _fresh_store(workdir)
    _, bouncer_key = store.keys.create("demo-enforcing-sensor", ["bouncer"])
    webhook = Webhook()
    tailed = tailed_source(workdir)  # a legacy API's nginx log, tailed by the collector
    settings = ServerSettings(
        respond=response_config(webhook),
        respond_environ=webhook.environ,
        sources=(tailed,),
        sources_state_dir=f"{workdir}/demo.db.sources",
    )
    collector = Running(create_app(store, settings))
    try:
        shop = Running(
            build_shop(
                scenario,
                collector=collector.url,
                api_key=ingest_key,
                spool_dir=str(workdir / "spool"),
                # The demo shows what the sensor writes, beside what it ships.
                outputs=[LoggingOutput(install_handler=False)],
            )
        )
        if not raw:
            click.echo(
                f"# collector with live detection on {collector.url} (SQLite "
                f"{workdir / 'demo.db'}), sample shop on {shop.url}",
                err=True,
            )
        try:
            _replay(scenario, shop.url)
        finally:
            shop.stop()  # lifespan shutdown flushes the sensor's shipper into the collector
        incidents = _wait_for_incidents(collector.url, read_key)
        outcome = _response_act(scenario, collector.url, ingest_key, bouncer_key, read_key, workdir)
        tail = write_and_wait(tailed, collector.url, read_key)
        time.sleep(2)  # let any (unexpected) second message about the incident arrive
    finally:
        collector.stop()
        webhook.close()
        report = store.verify()
        store.close()
    if raw:
        return
    rules = load_rules([builtin_dir()]).rules
    rule_types = {key: rule.meta.attack for key, rule in rules.items() if rule.meta.attack}
    _incident_table(
        f"Live: {len(capture.lines):,} security events from the shop's sensor; "
        f"{plural(len(incidents), 'incident')} found by the collector",
        incidents,
    )
    import msgspec  # noqa: PLC0415

    from apiwatch.model import Incident  # noqa: PLC0415
    from apiwatch.simulate import score  # noqa: PLC0415

    found = [msgspec.convert(item, Incident) for item in incidents]
    click.echo(score(scenario.truth, found, format="ecs", rule_types=rule_types).report())
    _offline(rule_types)
    _response_summary(outcome, webhook, tail)
    apiwatch = command_name()
    click.echo(
        f"hash chain: {'intact' if report.ok else 'BROKEN'}; look around with\n"
        f"  {apiwatch} events --db sqlite:///{workdir / 'demo.db'} --action authn_login_fail\n"
        f"  {apiwatch} simulate --out sim && {apiwatch} scan sim/events.ndjson\n"
        f"  {apiwatch} verify --db sqlite:///{workdir / 'demo.db'}"
    )
    _console_at_the_end(workdir, console, console_port)


def _console_at_the_end(workdir: Path, console: bool | None, port: int) -> None:
    """The web console over the demo's store until Ctrl-C: when asked, else when stdout is a
    terminal (so that the demo still ends on its own in CI and in a pipe)."""
    if console is None:
        console = sys.stdout.isatty()
    if not console:
        click.echo("(the web console was not started: stdout is not a terminal; `--console` "
                   "starts it)")  # fmt: skip
        return
    from apiwatch.cli._demo_console import serve_console  # noqa: PLC0415

    serve_console(workdir, port)


def command_name() -> str:
    """How to type this installation's ``apiwatch`` from here: the bare name when PATH finds
    this very command, else its path (``.venv/bin/apiwatch`` after ``make demo``)."""
    installed = Path(sys.executable).with_name("apiwatch")
    found = shutil.which("apiwatch")
    if found is not None and Path(found).resolve() == installed.resolve():
        return "apiwatch"
    try:
        return str(installed.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(installed)


def _response_act(  # noqa: PLR0917 - the demo's parts, in the order they were made
    scenario: Any, collector: str, ingest_key: str, bouncer_key: str, read_key: str, workdir: Path
) -> Any:
    """A second shop whose sensor enforces the collector's decisions; stuffing until refused."""
    from apiwatch.cli._demo_response import stuff_until_refused  # noqa: PLC0415
    from apiwatch.cli._shop import build_shop  # noqa: PLC0415

    shop = Running(
        build_shop(
            scenario,
            collector=collector,
            api_key=ingest_key,
            decisions_key=bouncer_key,
            decisions_interval=0.5,
            spool_dir=str(workdir / "spool-enforcing"),
        )
    )
    click.echo("# response: credential stuffing against a shop whose sensor enforces decisions",
               err=True)  # fmt: skip
    try:
        return stuff_until_refused(shop.url, collector, read_key, scenario.accounts)
    finally:
        shop.stop()


def _response_summary(outcome: Any, webhook: Any, tail: Any) -> None:
    from apiwatch.cli._demo_response import ATTACKER  # noqa: PLC0415

    messages = webhook.about(ATTACKER)
    opened = [body for _, body in webhook.messages if body.get("event") == "incident.opened"]
    updates = len(webhook.messages) - len(opened)
    served = sum(1 for status in outcome.user_statuses if status == 200)
    delay = "never" if outcome.refused_after is None else f"{outcome.refused_after:.1f} s"
    click.echo(
        f"Response: {ATTACKER} stuffed credentials "
        f"({plural(outcome.attempts, 'failed login')}); its "
        f"incident led to a ban that the shop's sensor enforced {delay} after the alert "
        f"(403 for every further request). Webhook messages about the incident: {len(messages)} "
        f"(signature {'verified' if messages and all(ok for ok, _ in messages) else 'NOT verified'}"
        f"); {plural(len(opened), 'incident')} notified in all, with "
        f"{plural(updates, 'escalation update')}. The real user was served "
        f"{served} of {plural(len(outcome.user_statuses), 'login')}."
    )
    _tail_summary(tail)


def _tail_summary(tail: Any) -> None:
    incident = tail.incident
    if incident is None:
        click.echo(f"Live source: {tail.lines} lines written to {tail.log} (rotated half-way) "
                   "raised NO incident")  # fmt: skip
        return
    click.echo(
        f"Live source: {tail.lines} lines written to {tail.log} (rotated half-way), a legacy "
        f"API's nginx log the collector tails ([[sources]]): incident "
        f'"{incident["title"]}" ({incident["severity"]}) from '
        f"{', '.join(incident['attackers'])}."
    )


def _fresh_store(workdir: Path) -> tuple[Any, str, str]:
    from apiwatch.store import open_store  # noqa: PLC0415

    workdir.mkdir(parents=True, exist_ok=True)
    for old in workdir.glob("demo.db*"):
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink()
    store = open_store(f"sqlite:///{workdir / 'demo.db'}")
    _, ingest_key = store.keys.create("demo-sensor", ["ingest"])
    _, read_key = store.keys.create("demo-reader", ["read"])
    return store, ingest_key, read_key
