"""Every command's `--help` explains: each command has a text, each option says what it takes
(a help text, and a metavar that names the value, not click's bare TEXT, except for free text)."""

from __future__ import annotations

from collections.abc import Iterator

import click
from click.testing import CliRunner

from apiwatch.cli import cli

FREE_TEXT = {("keys", "create", "--name"), ("decisions", "add", "--reason"),
             ("decisions", "delete", "--reason"), ("allowlist", "add", "--reason")}  # fmt: skip


def _commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield path


def _command(path: tuple[str, ...]) -> click.Command:
    found: click.Command = cli
    for name in path:
        assert isinstance(found, click.Group)
        found = found.commands[name]
    return found


def test_every_option_of_every_command_has_a_help_text_and_names_its_value() -> None:
    """No option is listed bare: each has a help text, and a string option's metavar says what
    it wants (ADDRESS|CIDR, DURATION...) unless its value is free text."""
    paths = list(_commands(cli))
    assert len(paths) > 30
    for path in paths:
        command = _command(path)
        assert (command.help or "").strip(), path
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            assert (param.help or "").strip(), (path, param.opts)
            texty = isinstance(param.type, click.types.StringParamType) and not param.is_flag
            if texty and (*path, param.opts[0]) not in FREE_TEXT:
                assert param.metavar, (path, param.opts)


def test_every_help_page_prints_without_a_traceback() -> None:
    """`apiwatch COMMAND --help` exits 0 for every command and subcommand."""
    for path in _commands(cli):
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Traceback" not in result.output
        assert result.output.startswith("Usage: "), path
