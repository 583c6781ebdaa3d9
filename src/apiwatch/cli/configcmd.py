"""``apiwatch config check``: the settings, the response table and the rules checked as
``apiwatch serve`` would check them at start, without opening a store or listening.

Exit 0 with one summary line on stdout; else the first problem, one ``apiwatch:`` line naming
the file (or variable, or flag) and the key (rule-file errors list every file).
"""

from __future__ import annotations

from pathlib import Path

import click

from apiwatch.cli._common import settings_for
from apiwatch.cli._config import Settings
from apiwatch.cli._roles import check_role
from apiwatch.model import plural
from apiwatch.store._filemode import check_private_file

__all__ = ["config"]


@click.group()
def config() -> None:
    """Check the settings (apiwatch.toml, APIWATCH_* variables)."""


@config.command()
@click.option("--config", "config_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Settings file (default ./apiwatch.toml when present).")  # fmt: skip
def check(config_file: str | None) -> None:
    """Validate the settings, the [respond] table, the [[forward]] tables, the TLS pair and
    the rules the collector would load, without starting anything."""
    from apiwatch.bus import bus_label  # noqa: PLC0415
    from apiwatch.cli.serve import _safe_url, server_settings  # noqa: PLC0415 - server extra
    from apiwatch.server import load_ruleset  # noqa: PLC0415 - the server extra

    settings = settings_for(config_file)
    role = check_role(settings)
    collector = server_settings(settings)
    _check_tls(settings)
    parts = [f"store {_safe_url(settings)}", f"listening on {settings.host}:{settings.port}"]
    if role != "all":
        parts.append(f"role {role} on {bus_label(settings.bus or '')} ({settings.bus_stream})")
    if settings.detect:
        ruleset = load_ruleset(collector)
        unsupported = len(ruleset.unsupported)
        left_out = f" ({unsupported} unsupported, left out)" if unsupported else ""
        parts.append(f"detecting with {plural(len(ruleset.rules), 'rule')}{left_out}")
    else:
        parts.append("detection off")
    if collector.sources:
        parts.append(plural(len(collector.sources), "live source"))
    if collector.respond is not None:
        policies = len(collector.respond.policies)
        parts.append(plural(policies, "response policy", "response policies"))
    if collector.forward:
        names = ", ".join(target.name for target in collector.forward)
        parts.append(f"forwarding to {names}")
    source = config_file or ("apiwatch.toml" if Path("apiwatch.toml").exists() else "defaults")
    click.echo(f"{source}: ok: {'; '.join(parts)}")


def _check_tls(settings: Settings) -> None:
    from apiwatch.cli._listen import check_tls  # noqa: PLC0415

    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise click.UsageError("tls_cert and tls_key go together")
    if settings.tls_cert and settings.tls_key:
        check_private_file(Path(settings.tls_key), "TLS key", group_may_read=True)
        check_tls(settings.tls_cert, settings.tls_key)
