"""The options every command shares: one OutputFormat, enum choices with aliases, one
--address and --timeout."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from rayobs.cli import COMMANDS, cli
from rayobs.cli._options import EnumChoice, OutputFormat

# command path -> whether `--format table` is accepted (the name memory and top used for text)
FORMATTED = {
    ("diagnose",): False,
    ("exit-code",): False,
    ("inspect",): False,
    ("memory",): True,
    ("memory", "diff"): True,
    ("profile", "report"): False,
    ("top",): True,
}


def _command(path: tuple[str, ...]) -> click.Command:
    context = click.Context(cli)
    command: click.Command | None = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.get_command(context, name)
    assert command is not None
    return command


def _option(command: click.Command, name: str) -> click.Option:
    (option,) = [p for p in command.params if isinstance(p, click.Option) and p.name == name]
    return option


def _every_command() -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name in COMMANDS:
        command = _command((name,))
        found.append(((name,), command))
        if isinstance(command, click.Group):
            found.extend(((name, sub), _command((name, sub))) for sub in command.commands)
    return found


def test_every_format_option_is_the_one_enum() -> None:
    with_format = {
        path
        for path, command in _every_command()
        if any(p.name == "output_format" for p in command.params)
    }
    assert with_format == set(FORMATTED)
    for path in FORMATTED:
        option = _option(_command(path), "output_format")
        assert isinstance(option.type, EnumChoice)
        assert list(option.type.choices) == [f.value for f in OutputFormat], path
        assert option.default == OutputFormat.TEXT.value


@pytest.mark.parametrize("path", list(FORMATTED), ids=" ".join)
@pytest.mark.parametrize("given", [*(f.value for f in OutputFormat), "table", "yaml"])
def test_every_member_and_the_table_alias(path: tuple[str, ...], given: str) -> None:
    option = _option(_command(path), "output_format")
    accepted = given != "yaml" and (given != "table" or FORMATTED[path])
    if accepted:
        expected = OutputFormat.TEXT.value if given == "table" else given
        assert option.type.convert(given, option, None) == expected
    else:
        with pytest.raises(click.BadParameter, match="is not one of 'text', 'json'"):
            option.type.convert(given, option, None)


def test_an_alias_is_not_offered() -> None:
    help_text = CliRunner().invoke(cli, ["memory", "--help"]).output
    assert "[text|json]" in " ".join(help_text.split())
    assert "'table' means text" in help_text


@pytest.mark.parametrize("path", [("diagnose",), ("memory",), ("memory", "snapshot"), ("top",)])
def test_address_and_timeout_read_the_same_everywhere(path: tuple[str, ...]) -> None:
    command = _command(path)
    address = _option(command, "address")
    assert address.help is not None
    assert address.help.startswith(
        "A running cluster: its GCS address (127.0.0.1:6379) or dashboard URL "
        "(http://127.0.0.1:8265). Default: RAY_ADDRESS, then the local cluster."
    )
    timeout = _option(command, "timeout")
    assert isinstance(timeout.type, click.FloatRange)
    assert (timeout.type.min, timeout.type.max, timeout.default) == (1.0, 120.0, 8.0)
