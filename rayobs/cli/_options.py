"""What the commands share on the command line: output formats, enum choices, cluster options.

One ``OutputFormat`` (text or JSON) for every command that prints a result,
and one way to write ``--format``, ``--address`` and ``--timeout``, so the
same option reads and behaves the same in every command.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, TypeVar

import click

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}

Command = TypeVar("Command", bound=Callable[..., Any])  # what an option decorates


class OutputFormat(str, Enum):
    """How a command prints its result: for people, or for scripts."""

    TEXT = "text"
    JSON = "json"


class EnumChoice(click.Choice[str]):
    """The values of ``enum`` as choices, and ``aliases`` that stand for one of them.

    An alias is accepted and converted to its member's value, but not listed
    among the choices: old spellings keep working without being offered.
    """

    def __init__(self, enum: type[Enum], aliases: Mapping[str, Enum] | None = None) -> None:
        super().__init__([str(member.value) for member in enum])
        self.aliases = {name: str(member.value) for name, member in (aliases or {}).items()}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if isinstance(value, str) and value in self.aliases:
            value = self.aliases[value]
        return super().convert(value, param, ctx)


def format_option(
    help: str = "Output format.", *, table_alias: bool = False
) -> Callable[[Command], Command]:
    """``--format text|json`` (default text) into the parameter ``output_format``.

    ``table_alias``: also accept ``table`` for ``text``, the name ``rayobs
    memory`` and ``rayobs top`` used for it before.
    """
    aliases = {"table": OutputFormat.TEXT} if table_alias else None
    return click.option(
        "--format",
        "output_format",
        type=EnumChoice(OutputFormat, aliases),
        default=OutputFormat.TEXT.value,
        show_default=True,
        help=f"{help} 'table' means text." if table_alias else help,
    )


def address_option(more: str = "") -> Callable[[Command], Command]:
    """``--address A``: a running cluster, as ``rayobs._cluster.parse_address`` reads it."""
    return click.option(
        "--address",
        metavar="A",
        help="A running cluster: its GCS address (127.0.0.1:6379) or dashboard URL "
        "(http://127.0.0.1:8265). Default: RAY_ADDRESS, then the local cluster." + more,
    )


def timeout_option(
    help: str = "Seconds to wait for the cluster to answer.",
) -> Callable[[Command], Command]:
    """``--timeout S``: 1 to 120 seconds, 8 by default."""
    return click.option(
        "--timeout",
        type=click.FloatRange(min=1.0, max=120.0),
        default=8.0,
        show_default=True,
        help=help,
    )
