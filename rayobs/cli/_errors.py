"""The CLI's one error path: a one-line message and exit code 2, never a traceback."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

EXIT_BAD_INPUT = 2


class CliError(click.ClickException):
    """Bad input or an unusable environment: printed as ``rayobs: error: ...``, exit 2."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file: Any = None) -> None:
        click.echo(f"rayobs: error: {self.format_message()}", err=True)


def fail(message: str) -> NoReturn:
    """Stop the command with a one-line message and exit code 2."""
    raise CliError(message)


def missing_extra(package: str, extra: str) -> NoReturn:
    fail(f"this command needs {package}: pip install 'rayobs[{extra}]'")


def run(command: click.Command, argv: list[str] | None = None) -> Any:
    """Run ``command``; turn anything unexpected into one line and exit 2."""
    try:
        return command.main(args=argv, prog_name="rayobs", standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("rayobs: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # last resort: the message, not a traceback
        click.echo(f"rayobs: error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
