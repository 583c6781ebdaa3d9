"""``apiwatch rules lint|test``: check rule files and run their golden cases."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from apiwatch.detect import RuleSet, builtin_dir, load_rules, sigmahq_dir
from apiwatch.model import plural

__all__ = ["rules"]


def _load(dirs: tuple[Path, ...], builtin: bool, sigmahq: bool) -> RuleSet:
    paths: list[Path] = list(dirs)
    if builtin or not paths:
        paths.insert(0, builtin_dir())
    if sigmahq:
        paths.append(sigmahq_dir())
    for path in paths:
        if not path.exists():
            raise click.BadParameter(f"no such file or directory: {path}", param_hint="DIR")
    return load_rules(paths)


_DIRS = click.argument("dirs", nargs=-1, type=click.Path(exists=True, path_type=Path))
_BUILTIN = click.option(
    "--builtin/--no-builtin",
    default=False,
    help="Include the built-in pack (the default when no DIR is given).",
)
_SIGMAHQ = click.option("--sigmahq", is_flag=True, help="Include the optional SigmaHQ web pack.")


@click.group()
def rules() -> None:
    """Check detection rules (Sigma YAML and apiwatch extensions) and run their golden cases."""


@rules.command()
@_DIRS
@_BUILTIN
@_SIGMAHQ
def lint(dirs: tuple[Path, ...], builtin: bool, sigmahq: bool) -> None:
    """Load every rule under DIR... and report each problem as FILE:LINE [KEY]: message.

    Errors (invalid YAML or Sigma, unknown rule references, bad levels or durations) make the
    exit code 1. Rules that are valid Sigma but that apiwatch cannot evaluate (a field its
    events never carry) are listed as "unsupported" with the reason; they do not fail the lint.
    Without DIR, lints the built-in pack.
    """
    ruleset = _load(dirs, builtin, sigmahq)
    console = _console()
    for problem in ruleset.problems:
        style = "red" if problem.kind == "error" else "yellow"
        console.print(f"[{style}]{escape(str(problem))}[/]")
    errors = len(ruleset.errors)
    console.print(
        f"{plural(ruleset.files, 'file')}, {plural(ruleset.documents, 'document')}, "
        f"{plural(len(ruleset.rules), 'rule')} loaded, {plural(errors, 'error')}, "
        f"{len(ruleset.unsupported)} unsupported"
    )
    if errors:
        raise SystemExit(1)


@rules.command("test")
@_DIRS
def test_(dirs: tuple[Path, ...]) -> None:
    """Run the golden cases of the rules in DIR (default: the built-in pack).

    Cases live in DIR/tests/<rule>/<case>/ as events.ndjson (ECS NDJSON) and expected.json (the
    alerts the rule must raise; [] for a case where it must stay silent). Exit code 1 when a case
    fails or a rule that raises alerts has no positive case.
    """
    from apiwatch.detect.golden import rules_without_cases, run_cases  # noqa: PLC0415

    targets = list(dirs) or [builtin_dir()]
    console = _console()
    failed = 0
    for target in targets:
        ruleset = load_rules([target])
        if ruleset.errors:
            for problem in ruleset.errors:
                console.print(f"[red]{escape(str(problem))}[/]")
            failed += len(ruleset.errors)
            continue
        results = run_cases(target, ruleset=ruleset)
        for result in results:
            mark = "[green]pass[/]" if result.passed else "[red]FAIL[/]"
            console.print(f"{mark} {escape(result.rule)}/{escape(result.case)}")
            if not result.passed:
                console.print(escape(result.message))
        missing = rules_without_cases(target, ruleset)
        for key in missing:
            console.print(f"[red]no golden case[/] for rule {escape(key)}")
        # Per directory: a clean pack's summary must not carry an earlier one's failures.
        failing = sum(not result.passed for result in results)
        console.print(
            f"{escape(str(target))}: {plural(len(results), 'case')}, {failing} failed, "
            f"{plural(len(missing), 'rule')} without a positive case"
        )
        failed += failing + len(missing)
    if failed:
        raise SystemExit(1)


def _console() -> Console:
    # emoji=False: escape() stops [markup] in rule text, not ":emoji:" codes, which must print as-is
    return Console(highlight=False, soft_wrap=True, emoji=False)
